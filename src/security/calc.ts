// The EPICS calc expressions of access security rules (`CALC("A=1 && B<5")`): parsed once when the
// file is loaded, evaluated whenever an input changes.
//
// Supported (the expression language of EPICS base's postfix.c / calcPerform.c, minus assignment):
//   operands   numbers (1, 2.5, 1e-3, 0x1F), A..L (the ASG's INPA..INPL), VAL (the rule's previous
//              result), PI, D2R, R2D, INF, NAN, RNDM
//   unary      -x, !x (logical not), ~x and NOT x (bitwise not), and the functions ABS, SQRT/SQR,
//              EXP, LN/LOGE, LOG (base 10), FLOOR, CEIL, NINT, ISINF, SIN, COS, TAN, ASIN, ACOS,
//              ATAN, SINH, COSH, TANH
//   functions  MAX(a, b, …), MIN(a, b, …), FINITE(a, …), ISNAN(a, …), ATAN2(a, b), FMOD(a, b)
//   binary     by EPICS priority, lowest first, left to right within a level:
//                ?:                            conditional
//                || | OR XOR                   (|| logical; | OR bitwise; XOR bitwise)
//                && & AND << >> >>>            (&& logical; the rest bitwise / shifts)
//                = == != # < <= > >=           comparisons give 1 or 0
//                + -
//                * / %                         (% on 32-bit integers; x % 0 is NaN)
//                ^ **                          power
//   Names and operators are case-insensitive, as in EPICS. Bitwise operators work on 32-bit integers.
// Not supported: the store operator `:=` and `;`-separated statements (access security rejects
// stores too), and the string functions of sCalcout.
//
// A rule passes when its expression evaluates to 1 (strictly between 0.99 and 1.01, as asLib tests).

/** A compiled expression: `args` holds A..L (12 values), `val` the previous result. */
export type CalcFn = (args: ArrayLike<number>, val: number) => number;

export class CalcError extends Error {
  override name = 'CalcError';
  constructor(
    message: string,
    /** 0-based offset in the expression text. */
    readonly offset: number,
  ) {
    super(message);
  }
}

export interface CompiledCalc {
  readonly text: string;
  /** Bit n set when the expression reads input n (A = bit 0 … L = bit 11). */
  readonly inputsUsed: number;
  readonly evaluate: CalcFn;
}

type Node = (a: ArrayLike<number>, val: number) => number;

/** double → 32-bit integer the way calcPerform's d2i does (negative as signed, positive as unsigned). */
function d2i(x: number): number {
  return x < 0 ? Math.trunc(x) | 0 : Math.trunc(x) >>> 0 | 0;
}

const UNARY_FUNCTIONS: Record<string, (x: number) => number> = {
  ABS: Math.abs,
  SQRT: Math.sqrt,
  SQR: Math.sqrt,
  EXP: Math.exp,
  LN: Math.log,
  LOGE: Math.log,
  LOG: Math.log10,
  FLOOR: Math.floor,
  CEIL: Math.ceil,
  NINT: (x) => (x >= 0 ? Math.trunc(x + 0.5) : Math.trunc(x - 0.5)) | 0,
  ISINF: (x) => (x === Infinity || x === -Infinity ? 1 : 0),
  SIN: Math.sin,
  COS: Math.cos,
  TAN: Math.tan,
  ASIN: Math.asin,
  ACOS: Math.acos,
  ATAN: Math.atan,
  SINH: Math.sinh,
  COSH: Math.cosh,
  TANH: Math.tanh,
};

/** Functions taking a parenthesised argument list: name → [min args, max args, reducer]. */
const LIST_FUNCTIONS: Record<string, [number, number, (xs: number[]) => number]> = {
  MAX: [1, Infinity, (xs) => xs.reduce((m, x) => (m < x || Number.isNaN(x) ? x : m))],
  MIN: [1, Infinity, (xs) => xs.reduce((m, x) => (m > x || Number.isNaN(x) ? x : m))],
  FINITE: [1, Infinity, (xs) => (xs.every((x) => Number.isFinite(x)) ? 1 : 0)],
  ISNAN: [1, Infinity, (xs) => (xs.some((x) => Number.isNaN(x)) ? 1 : 0)],
  ATAN2: [2, 2, ([y, x]) => Math.atan2(y, x)],
  FMOD: [2, 2, ([a, b]) => a % b],
};

const CONSTANTS: Record<string, number> = {
  PI: Math.PI,
  D2R: Math.PI / 180,
  R2D: 180 / Math.PI,
  INF: Infinity,
  NAN: NaN,
};

const BINARY: Record<string, { prio: number; fn: (a: number, b: number) => number }> = {
  '||': { prio: 1, fn: (a, b) => (a !== 0 || b !== 0 ? 1 : 0) },
  '|': { prio: 1, fn: (a, b) => d2i(a) | d2i(b) },
  OR: { prio: 1, fn: (a, b) => d2i(a) | d2i(b) },
  XOR: { prio: 1, fn: (a, b) => d2i(a) ^ d2i(b) },
  '&&': { prio: 2, fn: (a, b) => (a !== 0 && b !== 0 ? 1 : 0) },
  '&': { prio: 2, fn: (a, b) => d2i(a) & d2i(b) },
  AND: { prio: 2, fn: (a, b) => d2i(a) & d2i(b) },
  '<<': { prio: 2, fn: (a, b) => d2i(a) << (d2i(b) & 31) },
  '>>': { prio: 2, fn: (a, b) => d2i(a) >> (d2i(b) & 31) },
  '>>>': { prio: 2, fn: (a, b) => d2i(a) >>> (d2i(b) & 31) },
  '=': { prio: 3, fn: (a, b) => (a === b ? 1 : 0) },
  '==': { prio: 3, fn: (a, b) => (a === b ? 1 : 0) },
  '!=': { prio: 3, fn: (a, b) => (a !== b ? 1 : 0) },
  '#': { prio: 3, fn: (a, b) => (a !== b ? 1 : 0) },
  '<': { prio: 3, fn: (a, b) => (a < b ? 1 : 0) },
  '<=': { prio: 3, fn: (a, b) => (a <= b ? 1 : 0) },
  '>': { prio: 3, fn: (a, b) => (a > b ? 1 : 0) },
  '>=': { prio: 3, fn: (a, b) => (a >= b ? 1 : 0) },
  '+': { prio: 4, fn: (a, b) => a + b },
  '-': { prio: 4, fn: (a, b) => a - b },
  '*': { prio: 5, fn: (a, b) => a * b },
  '/': { prio: 5, fn: (a, b) => a / b },
  '%': {
    prio: 5,
    fn: (a, b) => {
      const d = d2i(b);
      return d === 0 ? NaN : d2i(a) % d;
    },
  },
  '^': { prio: 6, fn: (a, b) => a ** b },
  '**': { prio: 6, fn: (a, b) => a ** b },
};
const MAX_PRIO = 6;

/** Binary operators by length, longest first (so `>>>` wins over `>>` and `>`, `**` over `*`). */
const BINARY_NAMES = Object.keys(BINARY).sort((a, b) => b.length - a.length);

/** Recursive-descent parser over the expression text, operand / operator context as in postfix.c. */
class CalcParser {
  private pos = 0;
  inputsUsed = 0;

  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.conditional();
    this.skipSpace();
    if (this.pos < this.src.length) {
      if (this.src.startsWith(':=', this.pos)) throw new CalcError('assignment (:=) is not allowed', this.pos);
      if (this.src[this.pos] === ';') throw new CalcError("';' (several expressions) is not supported", this.pos);
      if (this.src[this.pos] === ')') throw new CalcError("')' without '('", this.pos);
      throw new CalcError(`unexpected '${this.src.slice(this.pos, this.pos + 8)}'`, this.pos);
    }
    return node;
  }

  private skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos])) this.pos++;
  }

  /** Consumes `word` (case-insensitive) if the text continues with it. */
  private accept(word: string): boolean {
    this.skipSpace();
    if (this.src.slice(this.pos, this.pos + word.length).toUpperCase() === word) {
      this.pos += word.length;
      return true;
    }
    return false;
  }

  private expect(word: string): void {
    if (!this.accept(word)) {
      const here = this.pos < this.src.length ? `'${this.src[this.pos]}'` : 'the end';
      throw new CalcError(`expected '${word}' at ${here}`, this.pos);
    }
  }

  /** cond := binary(1) [ '?' cond ':' cond ] */
  private conditional(): Node {
    const test = this.binary(1);
    this.skipSpace();
    // '?' is the conditional; ':' alone ends a branch (':=' is rejected by parse())
    if (!this.accept('?')) return test;
    const yes = this.conditional();
    this.skipSpace();
    if (this.src.startsWith(':=', this.pos)) throw new CalcError('assignment (:=) is not allowed', this.pos);
    this.expect(':');
    const no = this.conditional();
    return (a, v) => (test(a, v) !== 0 ? yes(a, v) : no(a, v));
  }

  /** The operator at the cursor in operator context, if any (not consumed). */
  private peekOperator(): string | undefined {
    this.skipSpace();
    const rest = this.src.slice(this.pos, this.pos + 3).toUpperCase();
    for (const name of BINARY_NAMES) {
      if (!rest.startsWith(name)) continue;
      // ':=' is not '=' after ':' and '=' is not the start of ':='; nothing else overlaps
      return name;
    }
    return undefined;
  }

  /** Left-associative binary operators of priority `prio` and above. */
  private binary(prio: number): Node {
    if (prio > MAX_PRIO) return this.unary();
    let left = this.binary(prio + 1);
    for (;;) {
      const op = this.peekOperator();
      if (!op || BINARY[op].prio !== prio) return left;
      this.pos += op.length;
      const right = this.binary(prio + 1);
      const fn = BINARY[op].fn;
      const l = left;
      left = (a, v) => fn(l(a, v), right(a, v));
    }
  }

  /** An operand, possibly behind unary operators (which bind tighter than every binary one). */
  private unary(): Node {
    this.skipSpace();
    const at = this.pos;
    const c = this.src[this.pos];
    if (c === undefined) throw new CalcError('expression ends where an operand is needed', at);
    if (c === '-') {
      this.pos++;
      const x = this.unary();
      return (a, v) => -x(a, v);
    }
    if (c === '!') {
      this.pos++;
      const x = this.unary();
      return (a, v) => (x(a, v) === 0 ? 1 : 0);
    }
    if (c === '~') {
      this.pos++;
      const x = this.unary();
      return (a, v) => ~d2i(x(a, v));
    }
    if (c === '(') {
      this.pos++;
      const x = this.conditional();
      this.expect(')');
      return x;
    }
    if (/[0-9.]/.test(c)) return this.number();
    const m = /^[A-Za-z][A-Za-z0-9_]*/.exec(this.src.slice(this.pos));
    if (!m) throw new CalcError(`unexpected '${c}' where an operand is needed`, at);
    return this.named(m[0].toUpperCase(), at);
  }

  private number(): Node {
    const rest = this.src.slice(this.pos);
    const hex = /^0[xX][0-9A-Fa-f]+/.exec(rest);
    const dec = /^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(rest);
    const text = hex?.[0] ?? dec?.[0];
    if (!text) throw new CalcError(`bad number '${rest.slice(0, 8)}'`, this.pos);
    this.pos += text.length;
    const value = hex ? Number.parseInt(text.slice(2), 16) >>> 0 : Number(text);
    return () => value;
  }

  /**
   * A name in operand context. As in postfix.c the longest known name that starts here wins, so
   * `ABS(A)` is ABS, and single letters A..L are inputs even when more letters follow an operator.
   */
  private named(word: string, at: number): Node {
    const candidates = [
      ...Object.keys(UNARY_FUNCTIONS),
      ...Object.keys(LIST_FUNCTIONS),
      ...Object.keys(CONSTANTS),
      'VAL',
      'RNDM',
      'NOT',
    ].filter((n) => word.startsWith(n));
    candidates.sort((a, b) => b.length - a.length);
    // a single input letter may run into a word operator: AAND B is A AND B
    const letter = /^[A-L](?:$|AND|OR|XOR)/.test(word) ? word[0] : undefined;
    const name = candidates[0] ?? letter;
    if (!name) throw new CalcError(`unknown name '${word}'`, at);
    this.pos = at + name.length;
    if (name.length === 1) {
      const index = name.charCodeAt(0) - 65;
      this.inputsUsed |= 1 << index;
      return (a) => a[index];
    }
    if (name === 'VAL') return (_a, v) => v;
    if (name === 'RNDM') return () => Math.random();
    if (name in CONSTANTS) {
      const k = CONSTANTS[name];
      return () => k;
    }
    if (name === 'NOT') {
      const x = this.unary();
      return (a, v) => ~d2i(x(a, v));
    }
    const f1 = UNARY_FUNCTIONS[name];
    if (f1) {
      const x = this.unary();
      return (a, v) => f1(x(a, v));
    }
    const [min, max, fn] = LIST_FUNCTIONS[name];
    this.expect('(');
    const args: Node[] = [this.conditional()];
    while (this.accept(',')) args.push(this.conditional());
    this.expect(')');
    if (args.length < min || args.length > max) {
      throw new CalcError(`${name} takes ${min === max ? min : `at least ${min}`} argument${min === 1 ? '' : 's'}, not ${args.length}`, at);
    }
    const values: number[] = new Array(args.length);
    return (a, v) => {
      for (let i = 0; i < args.length; i++) values[i] = args[i](a, v);
      return fn(values);
    };
  }
}

/** Parses a CALC expression; throws CalcError (with the offset) when it is not valid. */
export function compileCalc(text: string): CompiledCalc {
  if (text.trim() === '') throw new CalcError('empty expression', 0);
  const p = new CalcParser(text);
  const node = p.parse();
  return { text, inputsUsed: p.inputsUsed, evaluate: node };
}

/** True when a CALC result makes its rule pass (asLib: 0.99 < result < 1.01). */
export function calcPasses(result: number): boolean {
  return result > 0.99 && result < 1.01;
}
