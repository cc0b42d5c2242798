// Process: PyRogue's device for long-running operations. Start/Stop commands, and
// Running / Progress / Message / Step / TotalSteps variables that operators watch (over EPICS too).

import { Device, type DeviceOptions } from './device.ts';
import { LocalCommand } from './command.ts';
import { LocalVariable } from './local-variable.ts';
import type { BaseVariable } from './variable.ts';
import type { Root } from './root.ts';

/** What a {@link Process}'s function is called with. */
export interface ProcessFunctionArgs {
  root: Root | undefined;
  dev: Process;
  /** argVariable's value, if one was given. */
  arg: unknown;
}

/** Options of a {@link Process}. */
export interface ProcessOptions extends DeviceOptions {
  /** The work; its result goes to returnVariable. Without one (and no _process override) a 100 s demo count runs, as in PyRogue. */
  function?: (args: ProcessFunctionArgs) => unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  argVariable?: BaseVariable<any>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  returnVariable?: BaseVariable<any>;
}

/**
 * A long-running job in the tree (PyRogue's Process): Start / Stop commands, Running, Progress and
 * Message variables, and an optional argument and return value.
 */
export class Process extends Device {
  readonly running: LocalVariable<boolean>;
  readonly progress: LocalVariable<number>;
  readonly message: LocalVariable<string>;
  readonly step: LocalVariable<number>;
  readonly totalSteps: LocalVariable<number>;
  readonly updatePeriod: LocalVariable<number>;
  private readonly _fn: ProcessOptions['function'];
  private readonly _argVar: BaseVariable<unknown> | undefined;
  private readonly _retVar: BaseVariable<unknown> | undefined;
  private _runEn = false;
  private _active = false;
  private _task: Promise<void> | undefined;

  constructor(opts: ProcessOptions) {
    super(opts);
    this._fn = opts.function;
    this._argVar = opts.argVariable;
    this._retVar = opts.returnVariable;
    this.running = new LocalVariable({ name: 'Running', mode: 'RO', value: false, description: 'Status values indicating if operation is running.' });
    this.progress = new LocalVariable({
      name: 'Progress', mode: 'RO', value: 0, typeStr: 'Float64', units: 'Pct', disp: '{:1.2f}',
      description: 'Percent complete: 0 - 100 %.',
    });
    this.message = new LocalVariable({ name: 'Message', mode: 'RO', value: '', description: "Process status message. Prefixed with 'Error:' if an error occurred." });
    this.step = new LocalVariable({ name: 'Step', mode: 'RO', value: 1, description: 'Current number of completed steps. Prefer setStep() or incrementSteps().' });
    this.totalSteps = new LocalVariable({ name: 'TotalSteps', mode: 'RO', value: 1, description: 'Total number of process steps. Prefer setTotalSteps().' });
    this.updatePeriod = new LocalVariable({
      name: 'UpdatePeriod', mode: 'RW', value: 1, typeStr: 'Float64', units: 's', hidden: true,
      description: 'updateGroup leak period in seconds.',
    });
    this.add(
      new LocalCommand({ name: 'Start', description: 'Start process. No Args.', function: () => this.startProcess() }),
      new LocalCommand({ name: 'Stop', description: 'Stop process. No Args.', function: () => this.stopProcess() }),
      this.running, this.progress, this.message, this.step, this.totalSteps, this.updatePeriod,
    );
    if (this._argVar && !this._argVar.parent) this.add(this._argVar);
    if (this._retVar && !this._retVar.parent) this.add(this._retVar);
  }

  /** False once Stop was requested: long `_process` loops check it. */
  get runEnable(): boolean { return this._runEn; }

  /** Starts the work in the background (the Start command); ignored with a warning while running. */
  startProcess(): void {
    if (this._active) {
      this.root?._log('warning', 'Process already running!', this.path);
      return;
    }
    this._active = true;
    this._runEn = true;
    this._task = this._run();
  }

  /** Asks the work to stop and waits for it (the Stop command). */
  async stopProcess(): Promise<void> {
    this._runEn = false;
    await this._task;
  }

  /** Resolves when the current run (if any) is over. */
  async done(): Promise<void> {
    await this._task;
  }

  private async _run(): Promise<void> {
    await this.running.set(true, { force: true });
    try {
      await this._process();
    } catch (e) {
      this.root?._log('error', (e as Error).message, this.path, e as Error);
      await this.message.set('Stopped after error!', { force: true });
    } finally {
      this._active = false;
      await this.running.set(false, { force: true });
    }
  }

  /** The work. Subclasses override; the default runs `function`, or PyRogue's 100 s demo count. */
  protected async _process(): Promise<void> {
    if (this._fn) {
      await this.message.set('Running', { force: true });
      await this.setStep(0);
      await this.setProgress(0);
      const arg = this._argVar ? await this._argVar.get() : undefined;
      const ret = await this._fn({ root: this.root, dev: this, arg });
      if (this._retVar) await this._retVar.set(ret as never);
      await this.message.set('Done', { force: true });
      await this.setProgress(1);
      return;
    }
    await this.message.set('Started', { force: true });
    await this.setStep(0);
    await this.setTotalSteps(100);
    for (let i = 0; i < 100 && this._runEn; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      await this.setStep(i + 1);
      await this.message.set(`Running for ${i} seconds.`, { force: true });
    }
    await this.message.set('Done', { force: true });
  }

  /** Fraction done, clamped to 0…1. */
  async setProgress(value: number): Promise<void> {
    await this.progress.set(Math.max(0, Math.min(Number(value) || 0, 1)), { force: true });
  }

  async setTotalSteps(value: number): Promise<void> {
    await this.totalSteps.set(value, { force: true });
    await this._updateProgress();
  }

  async setStep(value: number): Promise<void> {
    await this.step.set(value, { force: true });
    await this._updateProgress();
  }

  async incrementSteps(incr = 1): Promise<void> {
    await this.setStep(this.step.value + incr);
  }

  private async _updateProgress(): Promise<void> {
    const total = this.totalSteps.value;
    await this.setProgress(total <= 0 ? 0 : this.step.value / total);
  }
}
