// The tree as PyRogue's DebugTree shows it: one table row per device, variable and command;
// devices collapse; each variable shows its live value (editable when writable), mode, type and
// units, alarm state by colour, its description on hover, and its PV name one click from the
// clipboard. Only the rows on screen are subscribed.
import { parseDisp, formatValue } from './format.js';
import { variableWidget, commandWidget } from './editors.js';
import { drawSparkline } from './array-plot.js';

const el = (tag, cls, props = {}) => Object.assign(document.createElement(tag), cls ? { className: cls } : {}, props);
const PLOTTABLE = new Set(['float', 'int', 'enum', 'bool']);
const COPY_ICON =
  '<svg width="13" height="13" viewBox="0 0 16 16" aria-hidden="true"><rect x="5" y="5" width="9" height="10" rx="1.5" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M3 11V2.5A1.5 1.5 0 0 1 4.5 1H11" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>';

export class TreeView {
  /**
   * @param {HTMLTableSectionElement} tbody
   * @param {object} tree the served tree (GET /api/tree)
   * @param {{ client, readOnly: boolean, notify(msg: string, isError?: boolean): void,
   *           chart: { has(pv): boolean, add(pv, label): void, remove(pv): void },
   *           showArray(pv, label): void }} ctx
   */
  constructor(tbody, tree, ctx) {
    this.tbody = tbody;
    this.ctx = ctx;
    this.rows = [];
    this.byPath = new Map();
    this.filter = '';
    this.showHidden = false;
    this.watching = new Map(); // pv → unwatch
    this.dirty = new Set();
    this.frame = 0;
    this.build(tree.tree, 0, undefined, false);
    this.tbody.replaceChildren(...this.rows.map((r) => r.el));
    // the root and, for a small tree, its devices start open
    const leaves = this.rows.filter((r) => r.node.kind !== 'device').length;
    // (the framework's own devices, such as the config processes, start closed)
    for (const r of this.rows) r.expanded = r.depth === 0 || (r.depth === 1 && leaves < 300 && !r.node.groups.includes('Builtin'));
    this.refresh();
  }

  build(node, depth, parent, hiddenAbove) {
    const row = { node, depth, parent, children: [], expanded: false, hidden: hiddenAbove || node.hidden, value: undefined };
    row.el = this.rowElement(row);
    this.rows.push(row);
    this.byPath.set(node.path, row);
    parent?.children.push(row);
    if (node.kind === 'device') for (const c of node.children) this.build(c, depth + 1, row, row.hidden);
    return row;
  }

  rowElement(row) {
    const n = row.node;
    const tr = el('tr', `row ${n.kind}`);
    tr.dataset.path = n.path;
    tr.style.setProperty('--depth', String(row.depth));
    const name = el('td', 'name');
    if (n.kind === 'device') {
      const t = el('button', 'toggle', { type: 'button', textContent: '▸' });
      t.setAttribute('aria-label', `expand ${n.name}`);
      t.addEventListener('click', () => this.toggle(row));
      name.append(t, el('span', 'label', { textContent: n.name }));
      name.addEventListener('dblclick', () => this.toggle(row));
      row.toggleEl = t;
    } else name.append(el('span', 'label', { textContent: n.name }));
    if (n.description) name.title = n.description;
    if (n.hidden) tr.classList.add('is-hidden');
    const value = el('td', 'value');
    const mode = el('td', 'mode', { textContent: n.kind === 'variable' ? n.mode : n.kind === 'command' ? 'cmd' : '' });
    const type = el('td', 'type', { textContent: n.kind === 'variable' ? n.type : n.kind === 'command' ? (n.argType ?? '') + (n.retType ? ` → ${n.retType}` : '') : '' });
    const units = el('td', 'units', { textContent: n.units ?? '' });
    const pv = el('td', 'pv');
    const plot = el('td', 'plot');
    if (n.kind === 'device') {
      value.append(el('span', 'desc', { textContent: n.description }));
    } else if (n.kind === 'variable') {
      row.fmt = parseDisp(n.disp);
      row.widget = variableWidget(n, row.fmt, this.ctx);
      value.append(row.widget.el);
      if (n.editor === 'array') {
        const c = el('canvas', 'spark', { width: 80, height: 20, title: 'show as a plot' });
        c.addEventListener('click', () => this.ctx.showArray(n.pv, n.path));
        value.prepend(c);
        row.spark = c;
      }
      if (PLOTTABLE.has(n.editor)) {
        const box = el('input', 'plot-toggle', { type: 'checkbox', title: `plot ${n.name} in the strip chart` });
        box.setAttribute('aria-label', `plot ${n.name}`);
        box.addEventListener('change', () => {
          try {
            if (box.checked) this.ctx.chart.add(n.pv, n.path);
            else this.ctx.chart.remove(n.pv);
          } catch (e) {
            box.checked = false;
            this.ctx.notify(e.message, true);
          }
        });
        plot.append(box);
        row.plotBox = box;
      }
    } else {
      row.widget = commandWidget(n, this.ctx);
      value.append(row.widget.el);
    }
    if (n.pv) {
      const b = el('button', 'copy', { type: 'button', innerHTML: COPY_ICON, title: `copy ${n.pv}` });
      b.setAttribute('aria-label', `copy PV name ${n.pv}`);
      b.addEventListener('click', () => copyText(n.pv).then(() => this.ctx.notify(`copied ${n.pv}`), (e) => this.ctx.notify(e.message, true)));
      pv.append(b);
      tr.dataset.pv = n.pv;
    }
    row.valueCell = value;
    tr.append(name, value, mode, type, units, pv, plot);
    return tr;
  }

  toggle(row, open = !row.expanded) {
    row.expanded = open;
    this.refresh();
  }

  setAll(open) {
    for (const r of this.rows) if (r.node.kind === 'device') r.expanded = open || r.depth === 0;
    this.refresh();
  }

  setFilter(text) {
    this.filter = text.trim().toLowerCase();
    this.refresh();
  }

  setShowHidden(on) {
    this.showHidden = on;
    this.refresh();
  }

  /** Which rows show: hidden nodes only with the toggle; with a filter, matches and their devices. */
  refresh() {
    const f = this.filter;
    const match = (r) => r.node.name.toLowerCase().includes(f) || r.node.path.toLowerCase().includes(f);
    const shown = new Set();
    if (f) {
      const visit = (r, forced) => {
        if (r.hidden && !this.showHidden) return false;
        const self = forced || match(r);
        let any = self;
        for (const c of r.children) any = visit(c, self && r.node.kind === 'device') || any;
        if (any) shown.add(r);
        return any;
      };
      visit(this.rows[0], false);
    } else {
      const visit = (r) => {
        if (r.hidden && !this.showHidden) return;
        shown.add(r);
        if (r.expanded) for (const c of r.children) visit(c);
      };
      visit(this.rows[0]);
    }
    for (const r of this.rows) {
      r.el.hidden = !shown.has(r);
      if (r.toggleEl) {
        const open = f ? shown.has(r) : r.expanded;
        r.toggleEl.textContent = open ? '▾' : '▸';
        r.toggleEl.setAttribute('aria-expanded', String(open));
      }
    }
    this.resubscribe(shown);
  }

  /** Watches exactly the PVs of the shown rows. */
  resubscribe(shown) {
    const want = new Map();
    for (const r of shown) if (r.node.kind === 'variable' || r.node.kind === 'command') want.set(r.node.pv, r);
    for (const [pv, unwatch] of this.watching) {
      if (!want.has(pv)) {
        unwatch();
        this.watching.delete(pv);
      }
    }
    for (const [pv, r] of want) {
      if (!this.watching.has(pv)) this.watching.set(pv, this.ctx.client.watch(pv, (v) => this.changed(r, v)));
    }
  }

  changed(row, v) {
    row.value = v;
    this.dirty.add(row);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.paint());
  }

  /** Shows the rows that changed since the last frame. */
  paint() {
    this.frame = 0;
    for (const r of this.dirty) {
      const v = r.value;
      const cell = r.valueCell;
      cell.dataset.severity = v ? v.severity ?? 'NONE' : 'DISCONNECTED';
      if (v && v.status) cell.title = `${v.severity}: ${v.status}`;
      else cell.removeAttribute('title');
      // disconnected: the last value stays, in the disconnected style
      if (!v) continue;
      r.widget.setReadonly?.(!!v.readonly);
      if (r.node.kind !== 'variable') continue;
      r.widget.update(v, formatValue(v, r.node, r.fmt));
      if (r.spark) drawSparkline(r.spark, v.value);
    }
    this.dirty.clear();
  }

  /** The strip chart's traces changed (its checkboxes follow). */
  chartChanged(pvs) {
    const set = new Set(pvs);
    for (const r of this.rows) if (r.plotBox) r.plotBox.checked = set.has(r.node.pv);
  }
}

/** Copies text to the clipboard (the Clipboard API where the page may use it, else a selection). */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const ta = el('textarea', '', { value: text });
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.append(ta);
  ta.select();
  const ok = document.execCommand('copy');
  ta.remove();
  if (!ok) throw new Error('the browser refused to copy');
}
