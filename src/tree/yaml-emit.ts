// Writes configuration YAML the way PyRogue's dataToYaml does (block mappings, two-space indent,
// each value as its display string under the tag of its Python type), so PyRogue (PyYAML, YAML
// 1.1) reads pvtree's files unchanged: 0x1234 and True stay plain, a string that YAML 1.1 would
// read as something else ('On', '1.5', '') is quoted.

/** A leaf: the display text and the YAML type it stands for. */
export interface YamlLeaf {
  readonly tag: 'bool' | 'int' | 'float' | 'str';
  readonly text: string;
}

/** Nested mappings with leaves, in key order. */
export interface YamlTree {
  [key: string]: YamlTree | YamlLeaf;
}

export function isLeaf(x: YamlTree | YamlLeaf): x is YamlLeaf {
  return typeof (x as YamlLeaf).tag === 'string' && typeof (x as YamlLeaf).text === 'string';
}

// PyYAML's implicit resolvers (YAML 1.1)
const BOOL_RE = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|y|Y|n|N)$/;
const INT_RE = /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const FLOAT_RE =
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const NULL_RE = /^(?:~|null|Null|NULL|)$/;
const TIMESTAMP_RE = /^[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?/;

/** What YAML 1.1 makes of a plain scalar. */
function resolves(text: string): YamlLeaf['tag'] | 'null' | 'other' {
  if (BOOL_RE.test(text)) return 'bool';
  if (INT_RE.test(text)) return 'int';
  if (FLOAT_RE.test(text)) return 'float';
  if (NULL_RE.test(text)) return 'null';
  if (TIMESTAMP_RE.test(text) || text === '<<' || text === '=') return 'other';
  return 'str';
}

/** Plain style is safe for this text (no indicators, no ': ' or ' #', printable, no edge spaces). */
function plainOk(text: string): boolean {
  if (text === '' || text !== text.trim()) return false;
  if (/^[-?:,[\]{}#&*!|>'"%@`]/.test(text) && !/^[-?:][^\s]/.test(text)) return false;
  if (/^[-?:]\s/.test(text) || /^[-?:]$/.test(text)) return false;
  if (text.includes(': ') || text.includes(' #') || text.endsWith(':')) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\u0085\u2028\u2029]/.test(text)) return false;
  return true;
}

function quote(text: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\x00-\x1f\x7f\u0085\u2028\u2029]/.test(text)) return `'${text.replaceAll("'", "''")}'`;
  return JSON.stringify(text); // double-quoted; JSON escapes are valid YAML escapes
}

/** A scalar as YAML text: plain when it reads back as `tag`, else quoted (with the tag when not a string). */
export function scalarText(leaf: YamlLeaf): string {
  const { tag, text } = leaf;
  if (tag === 'float') {
    // Python's str() of non-finite floats; YAML spells them .nan / .inf
    if (text === 'nan') return '.nan';
    if (text === 'inf') return '.inf';
    if (text === '-inf') return '-.inf';
  }
  if (plainOk(text) && resolves(text) === tag) return text;
  // PyYAML writes a display text that does not read back as its type with an explicit tag
  // (`!!float '2'` for '{:.0f}' of 2.0), and reads it back as that type
  return tag === 'str' ? quote(text) : `!!${tag} ${quote(text)}`;
}

function keyText(k: string): string {
  return plainOk(k) && resolves(k) === 'str' ? k : quote(k);
}

/** The tree as a YAML document (ends with a newline; `{}` when empty). */
export function emitYaml(tree: YamlTree): string {
  const lines: string[] = [];
  const walk = (t: YamlTree, indent: string): void => {
    for (const [k, v] of Object.entries(t)) {
      if (isLeaf(v)) lines.push(`${indent}${keyText(k)}: ${scalarText(v)}`);
      else if (Object.keys(v).length === 0) lines.push(`${indent}${keyText(k)}: {}`);
      else {
        lines.push(`${indent}${keyText(k)}:`);
        walk(v, indent + '  ');
      }
    }
  };
  walk(tree, '');
  return lines.length ? lines.join('\n') + '\n' : '{}\n';
}
