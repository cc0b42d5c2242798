// Value text for the page: numbers by the variable's display format ('{:.3f}', '{:#x}', '{:d}'),
// enums and booleans by label, arrays abbreviated.

/** The parts of a Python format spec the page honours: precision and integer base. */
export function parseDisp(disp) {
  const m = /\{[^}:]*:([^}]*)\}/.exec(disp || '');
  const spec = m ? m[1] : '';
  const p = /\.(\d+)/.exec(spec);
  const type = spec.slice(-1);
  return { precision: p ? Number(p[1]) : undefined, type, alt: spec.includes('#') };
}

/** A number as text by the format. */
export function formatNumber(x, fmt, isInt) {
  if (x === undefined || x === null) return '';
  if (typeof x === 'string') return x; // "NaN" from the server
  const { precision, type, alt } = fmt;
  if (isInt || Number.isInteger(x)) {
    if (type === 'x' || type === 'X') {
      const s = Math.trunc(x).toString(16);
      return (alt ? '0x' : '') + (type === 'X' ? s.toUpperCase() : s);
    }
    if (type === 'b') return (alt ? '0b' : '') + Math.trunc(x).toString(2);
    if (isInt) return String(x);
  }
  if (type === 'e' || type === 'E') return x.toExponential(precision ?? 6);
  if (precision !== undefined) return x.toFixed(precision);
  return String(Number(x.toPrecision(7)));
}

/** The text of a merged pvws value for a tree node's editor kind. */
export function formatValue(v, node, fmt) {
  if (!v) return '';
  switch (node.editor) {
    case 'enum':
    case 'bool':
      return v.text ?? String(v.value ?? '');
    case 'text':
      return v.text ?? (Array.isArray(v.value) ? JSON.stringify(v.value) : String(v.value ?? ''));
    case 'array': {
      const a = v.value;
      if (!a || typeof a.length !== 'number') return '';
      const isInt = !(a instanceof Float64Array || a instanceof Float32Array);
      const head = Array.from(a.subarray ? a.subarray(0, 4) : a.slice(0, 4), (x) => formatNumber(x, fmt, isInt));
      return `[${head.join(', ')}${a.length > 4 ? ', …' : ''}] (${a.length})`;
    }
    case 'int':
      return formatNumber(v.value, fmt, true);
    default:
      return formatNumber(v.value, fmt, false);
  }
}
