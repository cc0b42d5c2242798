// RemoteVariableDump's line format, as Rogue's Variable::getDumpValue writes it:
// `Root.Dev.Reg = 4660`, arrays as `Root.Dev.Arr = 1 2 3`; integers in decimal, booleans as 1/0,
// floats with six significant digits (C++ stream defaults), strings as they are.

import type { RemoteVariable } from './remote-variable.ts';

function element(v: unknown, isFloat: boolean): string {
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (!isFloat) return String(v);
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
    // %g with precision 6: fixed or exponent form, trailing zeros dropped
    const exp = v === 0 ? 0 : Math.floor(Math.log10(Math.abs(v)));
    let s = exp < -4 || exp >= 6 ? v.toExponential(5) : v.toFixed(Math.max(0, 5 - exp));
    if (s.includes('e')) {
      const [m, e] = s.split('e');
      const mm = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
      const sign = e.startsWith('-') ? '-' : '+';
      s = `${mm}e${sign}${e.replace(/^[+-]/, '').padStart(2, '0')}`;
    } else if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
    return s;
  }
  return String(v);
}

/** One dump line (with its newline) for the variable's current value. */
export function dumpValue(v: RemoteVariable<unknown>): string {
  const val = v.value;
  const isFloat = v.typeInfo.base === 'Float';
  const parts = Array.isArray(val) || ArrayBuffer.isView(val)
    ? Array.from(val as ArrayLike<unknown>, (e) => element(e, isFloat))
    : [element(val, isFloat)];
  return `${v.path} = ${parts.join(' ')}\n`;
}
