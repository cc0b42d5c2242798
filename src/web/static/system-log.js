// The Root's SystemLog: PyRogue keeps it as a JSON list of entries (created, name, message,
// exception, traceBack, levelName); shown newest first, with a Clear button when ClearLog is served.

const el = (tag, cls, text) => Object.assign(document.createElement(tag), cls ? { className: cls } : {}, text !== undefined ? { textContent: text } : {});

export class SystemLogView {
  /**
   * @param {HTMLElement} list the <ol> to fill
   * @param {HTMLElement} count where the number of entries goes
   */
  constructor(list, count, client, pv) {
    this.list = list;
    this.count = count;
    this.last = '';
    client.watch(pv, (v) => this.render(v ? v.text ?? '' : undefined));
  }

  render(text) {
    if (text === undefined || text === this.last) return;
    this.last = text;
    let entries = [];
    try {
      entries = JSON.parse(text || '[]');
    } catch {
      entries = [{ created: Date.now() / 1000, name: '', message: text, levelName: 'WARNING' }];
    }
    if (!Array.isArray(entries)) entries = [];
    this.count.textContent = String(entries.length);
    const items = entries.slice(-200).reverse().map((e) => {
      const li = el('li', `log-${String(e.levelName || '').toLowerCase()}`);
      const when = new Date(Number(e.created) * 1000);
      li.append(
        el('time', 'log-time', Number.isFinite(when.getTime()) ? when.toLocaleTimeString() : ''),
        el('span', 'log-level', e.levelName || ''),
        el('span', 'log-name', e.name || ''),
        el('span', 'log-msg', e.message || ''),
      );
      if (e.exception || (Array.isArray(e.traceBack) && e.traceBack.length)) {
        const d = el('details', 'log-trace');
        d.append(el('summary', '', e.exception || 'trace'), el('pre', '', (e.traceBack || []).join('\n')));
        li.append(d);
      }
      return li;
    });
    this.list.replaceChildren(...items);
    if (items.length === 0) this.list.append(el('li', 'log-empty', 'No entries.'));
  }
}
