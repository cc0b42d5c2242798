// The value cell's widgets: a live text for read-only variables, an editor by type for writable
// ones (number input honouring the limits, enum dropdown, boolean toggle, text), and a command's
// argument field, Exec button and result.
import { formatNumber } from './format.js';

const el = (tag, cls, props = {}) => Object.assign(document.createElement(tag), cls ? { className: cls } : {}, props);

/**
 * A number the user typed, checked against the variable's limits and kind. Returns
 * { value } or { error }.
 */
export function checkNumber(text, node) {
  const t = text.trim();
  if (t === '') return { error: 'enter a number' };
  const x = /^[-+]?0[xX][0-9a-fA-F]+$/.test(t) ? Number.parseInt(t, 16) : /^0[bB][01]+$/.test(t) ? Number.parseInt(t.slice(2), 2) : Number(t);
  if (!Number.isFinite(x)) return { error: `'${t}' is not a number` };
  if ((node.editor === 'int' || node.kind === 'command') && !Number.isInteger(x) && node.editor !== 'float') return { error: `'${t}' is not an integer` };
  const lo = node.minimum === undefined ? undefined : Number(node.minimum);
  const hi = node.maximum === undefined ? undefined : Number(node.maximum);
  if (lo !== undefined && x < lo) return { error: `${x} is below the minimum ${lo}` };
  if (hi !== undefined && x > hi) return { error: `${x} is above the maximum ${hi}` };
  return { value: x };
}

/** Shows a write's progress and outcome on an editor element. */
function track(input, promise, ctx, what) {
  input.classList.remove('invalid');
  input.classList.add('busy');
  input.removeAttribute('aria-invalid');
  return promise.then(
    () => {
      input.classList.remove('busy');
      input.title = '';
      ctx.notify(`${what}: done`);
    },
    (e) => {
      input.classList.remove('busy');
      input.classList.add('invalid');
      input.setAttribute('aria-invalid', 'true');
      input.title = e.message;
      ctx.notify(e.message, true);
    },
  );
}

/** A text-like input that writes on Enter and goes back to the live value on Escape. */
function textEditor(node, ctx, { type, parse, show }) {
  const input = el('input', `ed ed-${type}`, { type: type === 'number' ? 'text' : 'text', spellcheck: false });
  if (type === 'number') {
    input.inputMode = node.editor === 'int' ? 'numeric' : 'decimal';
    input.type = 'number';
    input.step = node.editor === 'int' ? '1' : 'any';
    if (node.minimum !== undefined) input.min = String(node.minimum);
    if (node.maximum !== undefined) input.max = String(node.maximum);
  }
  input.setAttribute('aria-label', `${node.name} value`);
  let dirty = false;
  let live = '';
  const commit = () => {
    if (!dirty) return;
    const p = parse(input.value);
    if (p.error) {
      input.classList.add('invalid');
      input.title = p.error;
      ctx.notify(`${node.name}: ${p.error}`, true);
      return;
    }
    dirty = false;
    input.classList.remove('dirty');
    track(input, ctx.client.write(node.pv, p.value), ctx, `${node.name} = ${input.value}`);
  };
  input.addEventListener('input', () => {
    dirty = true;
    input.classList.add('dirty');
    input.classList.remove('invalid');
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') commit();
    else if (e.key === 'Escape') {
      dirty = false;
      input.classList.remove('dirty', 'invalid');
      input.value = live;
    }
  });
  // spinner clicks and leaving a changed number field write too
  if (type === 'number') input.addEventListener('change', commit);
  return {
    el: input,
    setReadonly: lockable(input),
    update(v) {
      live = show(v);
      if (!dirty) input.value = live;
    },
  };
}

/** Disables an editor while the server says this client may not write the PV (access security). */
function lockable(control) {
  return (ro) => {
    control.disabled = ro;
    if (ro) control.title = 'read-only for this client';
    else if (control.title === 'read-only for this client') control.title = '';
  };
}

/**
 * The widget for a variable's value cell. `ctx`: { client, readOnly, notify(msg, isError) }.
 * Returns { el, update(value, text) }.
 */
export function variableWidget(node, fmt, ctx) {
  const writable = node.mode !== 'RO' && !ctx.readOnly;
  if (!writable || node.editor === 'none') {
    const span = el('span', 'val');
    return {
      el: span,
      update(_v, text) {
        span.textContent = text;
        if (text.length > 40) span.title = text;
      },
    };
  }
  switch (node.editor) {
    case 'enum': {
      const sel = el('select', 'ed ed-enum');
      sel.setAttribute('aria-label', `${node.name} value`);
      (node.enum || []).forEach((label, i) => sel.append(el('option', '', { value: String(i), textContent: label })));
      sel.addEventListener('change', () => track(sel, ctx.client.write(node.pv, Number(sel.value)), ctx, `${node.name} = ${sel.selectedOptions[0]?.textContent}`));
      return {
        el: sel,
        setReadonly: lockable(sel),
        update(v) {
          if (v && document.activeElement !== sel) sel.value = String(v.value);
        },
      };
    }
    case 'bool': {
      const label = el('label', 'ed-bool');
      const box = el('input', 'ed ed-check', { type: 'checkbox' });
      box.setAttribute('aria-label', `${node.name} value`);
      const text = el('span', 'val');
      label.append(box, text);
      box.addEventListener('change', () => track(box, ctx.client.write(node.pv, box.checked ? 1 : 0), ctx, `${node.name} = ${box.checked ? 'True' : 'False'}`));
      return {
        el: label,
        setReadonly: lockable(box),
        update(v, t) {
          box.checked = !!v && Number(v.value) !== 0;
          text.textContent = t;
        },
      };
    }
    case 'float':
    case 'int': {
      // hex and binary displays keep their text: the server parses '0x1f'
      const keepsText = fmt.type === 'x' || fmt.type === 'X' || fmt.type === 'b';
      return textEditor(node, ctx, {
        type: keepsText ? 'text' : 'number',
        parse: (t) => checkNumber(t, node),
        show: (v) => (v ? (keepsText ? formatNumber(v.value, fmt, true) : typeof v.value === 'number' ? formatNumber(v.value, { ...fmt, type: '' }, node.editor === 'int') : String(v.value)) : ''),
      });
    }
    case 'array':
      return textEditor(node, ctx, {
        type: 'text',
        parse: (t) => (t.trim() ? { value: t } : { error: 'enter values as [1, 2, 3]' }),
        show: (v) => (v && v.value && typeof v.value.length === 'number' ? `[${Array.from(v.value).join(', ')}]` : ''),
      });
    default:
      return textEditor(node, ctx, {
        type: 'text',
        parse: (t) => ({ value: t }),
        show: (v) => (v ? (v.text ?? String(v.value ?? '')) : ''),
      });
  }
}

/** A return value as text. */
function resultText(r) {
  if (r === null || r === undefined) return 'done';
  return typeof r === 'string' ? r : JSON.stringify(r);
}

/** The widget for a command: argument field (when it takes one), Exec, and the result or error. */
export function commandWidget(node, ctx) {
  const box = el('span', 'cmd');
  let arg;
  if (node.editor === 'bool') {
    arg = el('input', 'ed ed-check cmd-arg', { type: 'checkbox', checked: node.defaultArg === true });
  } else if (node.editor !== 'none') {
    const numeric = node.editor === 'int' || node.editor === 'float';
    arg = el('input', 'ed cmd-arg', { type: numeric ? 'number' : 'text', placeholder: node.argType || 'argument', spellcheck: false });
    if (numeric) arg.step = node.editor === 'int' ? '1' : 'any';
    if (node.defaultArg !== undefined && node.defaultArg !== '') arg.value = String(node.defaultArg);
  }
  if (arg) arg.setAttribute('aria-label', `${node.name} argument`);
  const button = el('button', 'exec', { type: 'button', textContent: 'Exec', disabled: ctx.readOnly });
  button.title = ctx.readOnly ? 'the server is read-only' : `run ${node.name}`;
  const result = el('output', 'result');
  let locked = ctx.readOnly;
  const run = () => {
    let value;
    if (arg) {
      if (node.editor === 'bool') value = arg.checked;
      else if (node.editor === 'int' || node.editor === 'float') {
        const p = checkNumber(arg.value, node);
        if (p.error) {
          result.className = 'result error';
          result.textContent = p.error;
          return;
        }
        value = p.value;
      } else value = arg.value;
    }
    button.disabled = true;
    result.className = 'result busy';
    result.textContent = '…';
    ctx.client.call(node.pv, value).then(
      (r) => {
        result.className = 'result ok';
        result.textContent = `→ ${resultText(r)}`;
        result.title = result.textContent;
      },
      (e) => {
        result.className = 'result error';
        result.textContent = e.message;
        result.title = e.message;
      },
    ).finally(() => (button.disabled = locked));
  };
  button.addEventListener('click', run);
  if (arg && arg.type !== 'checkbox') arg.addEventListener('keydown', (e) => e.key === 'Enter' && run());
  if (arg) box.append(arg);
  box.append(button, result);
  return {
    el: box,
    setReadonly(ro) {
      locked = ro;
      button.disabled = ro;
      if (arg) arg.disabled = ro;
      button.title = ro ? 'read-only for this client' : `run ${node.name}`;
    },
  };
}
