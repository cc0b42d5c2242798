// EPICS access security files (.acf): a hand-written lexer and recursive-descent parser following
// the grammar of EPICS base's asLib.y / asLib_lex.l, producing a plain model (AcfConfig).
//
//   file      := item+                                  (an empty file is an error, as in an IOC)
//   item      := UAG '(' name ')' [ '{' name (',' name)* '}' ]
//              | HAG '(' name ')' [ '{' name (',' name)* '}' ]
//              | ASG '(' name ')' [ '{' (inp | rule)+ '}' ]
//   inp       := INPA..INPL '(' name ')'
//   rule      := RULE '(' integer ',' (NONE|READ|WRITE) [ ',' (TRAPWRITE|NOTRAPWRITE) ] ')'
//                [ '{' ( UAG '(' names ')' | HAG '(' names ')' | CALC '(' string ')' )+ '}' ]
//   name      := bare word of [A-Za-z0-9_-+:.[]<>;] | "quoted string" (no newline inside; a
//                backslash keeps the next character)
//   comments  := '#' to the end of the line
//
// Semantics checked as asLib does: a UAG / HAG / ASG name defined twice is an error (except an
// ASG(DEFAULT) given once: DEFAULT always exists, empty until the file fills it); a rule naming an
// undefined UAG or HAG is an error; a CALC that does not parse, or that assigns, is an error.
// Every error names the file, line and column.
import { CalcError, compileCalc, type CompiledCalc } from './calc.ts';

/** Access levels, ordered: a rule grants at most its level; the best passing rule wins. */
export const NONE = 0;
/** Access level: the client may read (get, monitor). */
export const READ = 1;
/** Access level: the client may read and write (put, RPC, command calls). */
export const WRITE = 2;
/** An access level: NONE, READ or WRITE. */
export type AccessLevel = typeof NONE | typeof READ | typeof WRITE;
export const ACCESS_NAMES = ['NONE', 'READ', 'WRITE'] as const;

export const DEFAULT_ASG = 'DEFAULT';
/** INPA … INPL: twelve inputs per ASG. */
export const INPUT_LETTERS = 'ABCDEFGHIJKL';

/** Where something was written in the file (1-based). */
export interface AcfPos {
  line: number;
  column: number;
}

export interface AcfUag {
  name: string;
  users: string[];
  pos: AcfPos;
}

export interface AcfHag {
  name: string;
  hosts: string[];
  pos: AcfPos;
}

export interface AcfRule {
  /** ASL: a rule of level 0 applies to level-0 fields only, level 1 to both (pvtree serves level 0). */
  level: number;
  access: AccessLevel;
  trapWrite: boolean;
  /** UAG names: the client's user must be in one of them (none listed: any user). */
  uags: string[];
  /** HAG names: the client's host must be in one of them (none listed: any host). */
  hags: string[];
  calc?: CompiledCalc;
  pos: AcfPos;
}

export interface AcfAsg {
  name: string;
  /** Index 0 = INPA … 11 = INPL; the input's PV name, or undefined. */
  inputs: Array<string | undefined>;
  rules: AcfRule[];
  pos: AcfPos;
}

/** A parsed access security file. */
export interface AcfConfig {
  /** The file it came from (for messages), if any. */
  file?: string;
  uags: Map<string, AcfUag>;
  hags: Map<string, AcfHag>;
  /** Always holds DEFAULT. */
  asgs: Map<string, AcfAsg>;
}

/** A syntax or meaning error in an access security file, with its position. */
export class AcfSyntaxError extends Error {
  override name = 'AcfSyntaxError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}:${column}: ${reason}`);
  }
}

type TokenKind = 'UAG' | 'HAG' | 'ASG' | 'RULE' | 'CALC' | 'INP' | 'INTEGER' | 'STRING' | '(' | ')' | '{' | '}' | ',' | 'EOF';

interface Token {
  kind: TokenKind;
  /** The text (a STRING's contents without quotes; INP: the letter). */
  text: string;
  line: number;
  column: number;
}

const NAME_CHAR = /[A-Za-z0-9_\-+:.[\]<>;]/;
const KEYWORDS = new Set(['UAG', 'HAG', 'ASG', 'RULE', 'CALC']);

/** Splits the file into tokens the way asLib_lex.l does (longest match; keywords exactly). */
function tokenize(text: string, fail: (line: number, col: number, why: string) => never): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    const column = i - lineStart + 1;
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '(' || c === ')' || c === '{' || c === '}' || c === ',') {
      out.push({ kind: c, text: c, line, column });
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let s = '';
      for (;;) {
        if (j >= n || text[j] === '\n') fail(line, column, 'newline in quoted string, closing quote missing');
        const d = text[j];
        if (d === '"') break;
        if (d === '\\') {
          // asLib keeps escapes as written: backslash and the character after it
          if (j + 1 >= n || text[j + 1] === '\n') fail(line, column, 'newline in quoted string, closing quote missing');
          s += d + text[j + 1];
          j += 2;
          continue;
        }
        s += d;
        j++;
      }
      out.push({ kind: 'STRING', text: s, line, column });
      i = j + 1;
      continue;
    }
    if (NAME_CHAR.test(c)) {
      let j = i;
      while (j < n && NAME_CHAR.test(text[j])) j++;
      const word = text.slice(i, j);
      let kind: TokenKind = 'STRING';
      if (/^[0-9]+$/.test(word)) kind = 'INTEGER';
      else if (KEYWORDS.has(word)) kind = word as TokenKind;
      else if (/^INP[A-L]$/.test(word)) kind = 'INP';
      out.push({ kind, text: kind === 'INP' ? word[3] : word, line, column });
      i = j;
      continue;
    }
    const shown = c >= ' ' && c <= '~' ? `'${c}'` : `0x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    fail(line, column, `invalid character ${shown}`);
  }
  out.push({ kind: 'EOF', text: '', line, column: i - lineStart + 1 });
  return out;
}

const describe = (t: Token): string =>
  t.kind === 'EOF' ? 'the end of the file' : t.kind === 'STRING' ? `'${t.text}'` : t.kind === 'INP' ? `INP${t.text}` : `'${t.text}'`;

class AcfParser {
  private i = 0;
  private readonly tokens: Token[];
  readonly config: AcfConfig;

  constructor(
    text: string,
    private readonly file: string,
  ) {
    this.tokens = tokenize(text, (l, c, why) => this.failAt(l, c, why));
    this.config = {
      file,
      uags: new Map(),
      hags: new Map(),
      asgs: new Map([[DEFAULT_ASG, { name: DEFAULT_ASG, inputs: new Array(12).fill(undefined), rules: [], pos: { line: 0, column: 0 } }]]),
    };
  }

  private failAt(line: number, column: number, why: string): never {
    throw new AcfSyntaxError(this.file, line, column, why);
  }

  private fail(t: Token, why: string): never {
    this.failAt(t.line, t.column, why);
  }

  private peek(): Token {
    return this.tokens[this.i];
  }

  private next(): Token {
    return this.tokens[this.i++];
  }

  private expect(kind: TokenKind, what?: string): Token {
    const t = this.next();
    if (t.kind !== kind) this.fail(t, `expected ${what ?? `'${kind}'`}, found ${describe(t)}`);
    return t;
  }

  private name(what: string): Token {
    return this.expect('STRING', what);
  }

  parse(): AcfConfig {
    const first = this.peek();
    if (first.kind === 'EOF') this.fail(first, 'no UAG, HAG or ASG in the file (an IOC refuses an empty access security file)');
    while (this.peek().kind !== 'EOF') {
      const t = this.next();
      if (t.kind === 'UAG') this.uag(t);
      else if (t.kind === 'HAG') this.hag(t);
      else if (t.kind === 'ASG') this.asg(t);
      else this.fail(t, `expected UAG, HAG or ASG, found ${describe(t)}`);
    }
    return this.config;
  }

  /** '(' name ')' */
  private head(what: string): Token {
    this.expect('(');
    const n = this.name(`a ${what} name`);
    this.expect(')');
    return n;
  }

  /** '{' name (',' name)* '}' when a body follows. */
  private list(what: string): string[] {
    if (this.peek().kind !== '{') return [];
    this.next();
    const out = [this.name(what).text];
    while (this.peek().kind === ',') {
      this.next();
      out.push(this.name(what).text);
    }
    this.expect('}', `',' or '}'`);
    return out;
  }

  private uag(kw: Token): void {
    const n = this.head('UAG');
    if (this.config.uags.has(n.text)) this.fail(n, `duplicate user access group named '${n.text}'`);
    const uag: AcfUag = { name: n.text, users: [], pos: { line: kw.line, column: kw.column } };
    this.config.uags.set(n.text, uag);
    uag.users = this.list('a user name');
  }

  private hag(kw: Token): void {
    const n = this.head('HAG');
    if (this.config.hags.has(n.text)) this.fail(n, `duplicate host access group named '${n.text}'`);
    const hag: AcfHag = { name: n.text, hosts: [], pos: { line: kw.line, column: kw.column } };
    this.config.hags.set(n.text, hag);
    hag.hosts = this.list('a host name');
  }

  private asg(kw: Token): void {
    const n = this.head('ASG');
    const old = this.config.asgs.get(n.text);
    let asg: AcfAsg;
    if (old && n.text === DEFAULT_ASG && old.rules.length === 0 && old.inputs.every((x) => x === undefined)) {
      asg = old;
      asg.pos = { line: kw.line, column: kw.column };
    } else if (old) {
      this.fail(n, `duplicate access security group named '${n.text}'`);
    } else {
      asg = { name: n.text, inputs: new Array(12).fill(undefined), rules: [], pos: { line: kw.line, column: kw.column } };
      this.config.asgs.set(n.text, asg);
    }
    if (this.peek().kind !== '{') return;
    this.next();
    let items = 0;
    for (;;) {
      const t = this.next();
      if (t.kind === 'INP') {
        this.expect('(');
        const pv = this.name('an input PV name');
        this.expect(')');
        asg.inputs[INPUT_LETTERS.indexOf(t.text)] = pv.text;
      } else if (t.kind === 'RULE') {
        asg.rules.push(this.rule(t));
      } else if (t.kind === '}' && items > 0) {
        return;
      } else {
        this.fail(t, `expected INPA..INPL or RULE${items > 0 ? " or '}'" : ''}, found ${describe(t)}`);
      }
      items++;
    }
  }

  private rule(kw: Token): AcfRule {
    this.expect('(');
    const lv = this.expect('INTEGER', 'the rule level (0 or 1)');
    this.expect(',');
    const acc = this.name('NONE, READ or WRITE');
    const access = ACCESS_NAMES.indexOf(acc.text as (typeof ACCESS_NAMES)[number]);
    if (access < 0) this.fail(acc, `access rights must be NONE, READ or WRITE, not '${acc.text}'`);
    let trapWrite = false;
    if (this.peek().kind === ',') {
      this.next();
      const opt = this.name('TRAPWRITE or NOTRAPWRITE');
      if (opt.text === 'TRAPWRITE') trapWrite = true;
      else if (opt.text !== 'NOTRAPWRITE') this.fail(opt, `log options must be TRAPWRITE or NOTRAPWRITE, not '${opt.text}'`);
    }
    this.expect(')', `')' or ','`);
    const rule: AcfRule = {
      level: Number(lv.text),
      access: access as AccessLevel,
      trapWrite,
      uags: [],
      hags: [],
      pos: { line: kw.line, column: kw.column },
    };
    if (this.peek().kind !== '{') return rule;
    this.next();
    let items = 0;
    for (;;) {
      const t = this.next();
      if (t.kind === 'UAG' || t.kind === 'HAG') {
        this.expect('(');
        const names: Token[] = [this.name(`a ${t.kind} name`)];
        while (this.peek().kind === ',') {
          this.next();
          names.push(this.name(`a ${t.kind} name`));
        }
        this.expect(')', `',' or ')'`);
        for (const nm of names) {
          const known = t.kind === 'UAG' ? this.config.uags.has(nm.text) : this.config.hags.has(nm.text);
          if (!known) this.fail(nm, `no ${t.kind === 'UAG' ? 'user' : 'host'} access group named '${nm.text}' defined`);
          (t.kind === 'UAG' ? rule.uags : rule.hags).push(nm.text);
        }
      } else if (t.kind === 'CALC') {
        this.expect('(');
        const s = this.name('a quoted CALC expression');
        this.expect(')');
        try {
          rule.calc = compileCalc(s.text);
        } catch (e) {
          if (!(e instanceof CalcError)) throw e;
          // the expression sits after the opening quote when it was quoted
          this.fail(s, `${e.message} in CALC expression "${s.text}" (at character ${e.offset + 1})`);
        }
      } else if (t.kind === '}' && items > 0) {
        return rule;
      } else {
        this.fail(t, `expected UAG, HAG or CALC${items > 0 ? " or '}'" : ''}, found ${describe(t)}`);
      }
      items++;
    }
  }
}

/**
 * Expands `$(NAME)` and `${NAME}` (with `$(NAME=default)`) from `macros`, as asInitFile does with
 * its substitutions. An undefined macro without a default is an error naming its position.
 */
export function expandMacros(text: string, macros: Readonly<Record<string, string>>, file = '<acf>'): string {
  let line = 1;
  let lineStart = 0;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      line++;
      lineStart = i + 1;
    }
    if (c === '$' && (text[i + 1] === '(' || text[i + 1] === '{')) {
      const close = text[i + 1] === '(' ? ')' : '}';
      const end = text.indexOf(close, i + 2);
      if (end < 0) throw new AcfSyntaxError(file, line, i - lineStart + 1, 'unterminated macro reference');
      const body = text.slice(i + 2, end);
      const eq = body.indexOf('=');
      const key = eq < 0 ? body : body.slice(0, eq);
      const value = macros[key] ?? (eq < 0 ? undefined : body.slice(eq + 1));
      if (value === undefined) throw new AcfSyntaxError(file, line, i - lineStart + 1, `macro '${key}' is not defined`);
      out += value;
      i = end;
      continue;
    }
    out += c;
  }
  return out;
}

/** Parses `NAME=value,NAME2=value2` (asSetSubstitutions' format). */
export function parseMacroList(list: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of list.split(',')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`bad macro definition '${p}' (use NAME=value)`);
    out[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
  }
  return out;
}

/** Parses the text of an access security file; throws AcfSyntaxError naming file, line and column. */
export function parseAcf(text: string, file = '<acf>', macros?: Readonly<Record<string, string>>): AcfConfig {
  const src = macros ? expandMacros(text, macros, file) : text;
  return new AcfParser(src, file).parse();
}
