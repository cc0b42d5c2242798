// Commands: LocalCommand runs a function; RemoteCommand pokes a register (toggle, pulse …).

import { Node, type NodeOptions } from './node.ts';
import { type Base, type TypeInfo, type Value, VariableError, coerceValue, makeTypeStr, parseTypeStr } from './types.ts';
import { parseScalar } from './format.ts';
import { Field } from './field.ts';
import type { Block, BlockMember } from './block.ts';
import type { Device } from './device.ts';
import type { Root } from './root.ts';

/** What a command's function is called with: the root, its device, the command and the argument. */
export interface CommandArgs<A> {
  root: Root | undefined;
  dev: Device | undefined;
  cmd: BaseCommand<A, unknown>;
  arg: A | undefined;
}

/** Options common to every command. */
export interface CommandOptions<A> extends NodeOptions {
  /** typeStr-like name of the argument ('Int32', 'Float64', 'str' …); checked when parseable. */
  argType?: string;
  retType?: string;
  /** Default argument when call() gets none. */
  value?: A;
}

function tryParse(t: string | undefined): TypeInfo | undefined {
  if (t === undefined) return undefined;
  try { return parseTypeStr(t); } catch { return undefined; }
}

/**
 * A command of the tree: something a client can run, with an optional typed argument (PyRogue's
 * BaseCommand).
 */
export abstract class BaseCommand<A = unknown, R = unknown> extends Node {
  readonly argType: string | undefined;
  readonly retType: string | undefined;
  readonly defaultArg: A | undefined;
  private readonly _argInfo: TypeInfo | undefined;

  constructor(opts: CommandOptions<A>) {
    super(opts);
    this.argType = opts.argType;
    this.retType = opts.retType;
    this.defaultArg = opts.value;
    this._argInfo = tryParse(opts.argType);
  }

  get device(): Device | undefined { return this.parent as Device | undefined; }

  /**
   * Run the command; errors from the function or the hardware reject (and are recorded in the
   * root's SystemLog). On a disabled device nothing runs and the result is undefined (as PyRogue).
   */
  async call(arg?: A): Promise<R> {
    const dev = this.device as { enabled?: boolean } | undefined;
    if (dev && dev.enabled === false) return undefined as R;
    try {
      const a = arg === undefined ? this.defaultArg : this.checkArg(arg);
      return await this._invoke(a);
    } catch (e) {
      this.root?._log?.('error', (e as Error).message, this.path, e as Error);
      throw e;
    }
  }

  /** Validate/convert an argument against argType (strings are parsed, numbers range-checked). */
  checkArg(arg: unknown): A {
    const info = this._argInfo;
    if (!info) return arg as A;
    try {
      const raw = typeof arg === 'string' && info.base !== 'String' && info.length === undefined ? parseScalar(info, arg) : arg;
      return coerceValue(info, raw) as A;
    } catch (e) {
      throw new VariableError(`${this.path}: bad argument: ${(e as Error).message}`);
    }
  }

  protected abstract _invoke(arg: A | undefined): Promise<R>;
}

/** Options of a {@link LocalCommand}: its function. */
export interface LocalCommandOptions<A, R> extends CommandOptions<A> {
  function: (args: CommandArgs<A>) => R | Promise<R>;
}

/**
 * A command that runs a function of the program (PyRogue's LocalCommand).
 *
 * ```ts
 * dev.add(new LocalCommand({ name: 'Reset', function: async ({ dev }) => { … } }));
 * ```
 */
export class LocalCommand<A = unknown, R = unknown> extends BaseCommand<A, R> {
  private readonly _fn: LocalCommandOptions<A, R>['function'];

  constructor(opts: LocalCommandOptions<A, R>) {
    super(opts);
    if (typeof opts.function !== 'function') throw new VariableError(`LocalCommand ${opts.name}: function is required`);
    this._fn = opts.function;
  }

  protected async _invoke(arg: A | undefined): Promise<R> {
    return this._fn({ root: this.root, dev: this.device, cmd: this, arg });
  }
}

/**
 * What a {@link RemoteCommand} does when run, usually through its helpers (toggle, pulse, set …).
 */
export type RemoteCommandFunction = (args: CommandArgs<unknown> & { cmd: RemoteCommand }) => unknown;

/** Options of a {@link RemoteCommand}: where its bits are, and its function. */
export interface RemoteCommandOptions extends CommandOptions<unknown> {
  offset: number;
  bitSize?: number | number[];
  bitOffset?: number | number[];
  base?: Base;
  /** What a call does with the register; default RemoteCommand.touch (write arg, or 1). */
  function?: RemoteCommandFunction;
}

/** A command that acts on a register (PyRogue's RemoteCommand): toggle, pulse or write its bits. */
export class RemoteCommand extends BaseCommand<unknown, unknown> implements BlockMember {
  /** Commands are write-only registers: reads never overwrite their bits. */
  readonly mode = 'WO' as const;
  readonly verifyEn = false;
  readonly offset: number;
  readonly field: Field;
  readonly typeInfo: TypeInfo;
  private readonly _fn: RemoteCommandFunction;
  private _block: Block | undefined;
  private _value: Value;

  constructor(opts: RemoteCommandOptions) {
    super(opts);
    const base = opts.base ?? 'UInt';
    const bitSize = opts.bitSize ?? (base === 'Bool' ? 1 : 32);
    const bits = Array.isArray(bitSize) ? bitSize.reduce((a, b) => a + b, 0) : bitSize;
    this.offset = opts.offset;
    this.typeInfo = parseTypeStr(makeTypeStr(base, bits));
    this.field = new Field(this.typeInfo, { bitOffset: opts.bitOffset ?? 0, bitSize });
    this._value = base === 'Bool' ? false : base === 'String' ? '' : 0;
    this._fn = opts.function ?? RemoteCommand.touch;
  }

  get typeStr(): string { return this.typeInfo.typeStr; }
  get address(): number { return (this.parent as Device).address + this.offset; }

  /** @internal */
  _setBlock(b: Block | undefined): void {
    this._block = b;
    if (b) this.field.encode(b.shadow, b.view, this._value);
  }

  /** @internal */
  _blockRead(): void {}

  private _blk(): Block {
    const b = this._block ?? this.device?._blockOf(this);
    if (!b) throw new VariableError(`${this.path}: not attached to a device`);
    return b;
  }

  /** Write a value to the command's register. */
  async set(value: unknown, opts?: { write?: boolean; post?: boolean }): Promise<void> {
    let v: Value;
    try { v = coerceValue(this.typeInfo, value); } catch (e) {
      throw new VariableError(`${this.path}: ${(e as Error).message}`);
    }
    const b = this._blk();
    const old = this._value;
    this.field.encode(b.shadow, b.view, v);
    if (opts?.write !== false) {
      try {
        await b.write(false, opts?.post ? 'post' : 'write');
      } catch (e) {
        this.field.encode(b.shadow, b.view, old);
        throw e;
      }
    } else b.stale = true;
    this._value = v;
  }

  /** The register's last written value (commands are write-only). */
  get value(): Value { return this._value; }

  protected async _invoke(arg: unknown): Promise<unknown> {
    return this._fn({ root: this.root, dev: this.device, cmd: this, arg });
  }

  // PyRogue's stock command functions.
  /** Write the argument, or 1 when called without one. */
  static touch: RemoteCommandFunction = async ({ cmd, arg }) => { await cmd.set(arg ?? 1); };
  static touchZero: RemoteCommandFunction = async ({ cmd }) => { await cmd.set(0); };
  static touchOne: RemoteCommandFunction = async ({ cmd }) => { await cmd.set(1); };
  /** Write the argument (required). */
  static setArg: RemoteCommandFunction = async ({ cmd, arg }) => {
    if (arg === undefined) throw new VariableError(`${cmd.path} needs an argument`);
    await cmd.set(arg);
  };
  /** Write 1 then 0: a pulse. */
  static toggle: RemoteCommandFunction = async ({ cmd }) => { await cmd.set(1); await cmd.set(0); };
  /** Posted write of the argument (or 1): no wait for completion beyond acceptance. */
  static postedTouch: RemoteCommandFunction = async ({ cmd, arg }) => { await cmd.set(arg ?? 1, { post: true }); };
  /** A function writing a fixed value. */
  static createTouch(value: number): RemoteCommandFunction {
    return async ({ cmd }) => { await cmd.set(value); };
  }
}
