// The strip chart: any numeric variables plotted live over the last minutes with uPlot. Every
// trace is sampled at 10 Hz (the latest value, held between updates), so all traces share one
// time axis; the window keeps at most 10 minutes (6000 samples a trace).
import uPlot from '../vendor/uPlot.esm.js';

const COLORS = [
  '#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22',
  '#393b79', '#ad494a', '#637939', '#7b4173', '#e6550d', '#3182bd', '#843c39', '#31a354', '#756bb1', '#636363',
];
const SAMPLE_MS = 100;

export class StripChart {
  /**
   * @param {HTMLElement} host where the plot goes
   * @param {import('./pvws-client.js').PvwsClient} client
   * @param {(pvs: string[]) => void} onChange told when traces are added or removed
   */
  constructor(host, client, onChange = () => {}) {
    this.host = host;
    this.client = client;
    this.onChange = onChange;
    this.traces = []; // { pv, label, last, unwatch, color }
    this.xs = [];
    this.ys = [];
    this.windowS = 120;
    this.plot = undefined;
    this.paused = false;
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    new ResizeObserver(() => this.resize()).observe(host);
  }

  has(pv) {
    return this.traces.some((t) => t.pv === pv);
  }

  get pvs() {
    return this.traces.map((t) => t.pv);
  }

  add(pv, label) {
    if (this.has(pv)) return;
    if (this.traces.length >= COLORS.length) throw new Error(`at most ${COLORS.length} traces`);
    const used = new Set(this.traces.map((t) => t.color));
    const t = { pv, label, last: null, color: COLORS.find((c) => !used.has(c)) };
    t.unwatch = this.client.watch(pv, (v) => {
      const x = v ? Number(v.value) : NaN;
      t.last = v && Number.isFinite(x) ? x : null;
    });
    this.traces.push(t);
    this.ys.push(this.xs.map(() => null));
    this.rebuild();
    this.onChange(this.pvs);
  }

  remove(pv) {
    const i = this.traces.findIndex((t) => t.pv === pv);
    if (i < 0) return;
    this.traces[i].unwatch();
    this.traces.splice(i, 1);
    this.ys.splice(i, 1);
    this.rebuild();
    this.onChange(this.pvs);
  }

  clear() {
    this.xs.length = 0;
    for (const y of this.ys) y.length = 0;
    this.draw();
  }

  setWindow(seconds) {
    this.windowS = seconds;
    this.trim(Date.now() / 1000);
    this.draw();
  }

  /** Samples every trace's latest value. */
  sample() {
    if (this.paused || this.traces.length === 0) return;
    const now = Date.now() / 1000;
    this.xs.push(now);
    this.traces.forEach((t, i) => this.ys[i].push(t.last));
    this.trim(now);
    if (!document.hidden) this.draw();
  }

  trim(now) {
    let n = 0;
    const from = now - this.windowS;
    while (n < this.xs.length && this.xs[n] < from) n++;
    if (n > 0) {
      this.xs.splice(0, n);
      for (const y of this.ys) y.splice(0, n);
    }
  }

  draw() {
    if (this.plot) this.plot.setData([this.xs, ...this.ys]);
  }

  size() {
    const w = Math.max(240, this.host.clientWidth);
    return { width: w, height: Math.max(160, Math.min(320, Math.round(w * 0.5))) };
  }

  resize() {
    if (this.plot) this.plot.setSize(this.size());
  }

  rebuild() {
    this.plot?.destroy();
    this.plot = undefined;
    this.host.classList.toggle('empty', this.traces.length === 0);
    if (this.traces.length === 0) return;
    const opts = {
      ...this.size(),
      scales: { x: { time: true } },
      series: [{}, ...this.traces.map((t) => ({ label: t.label, stroke: t.color, width: 1.5, spanGaps: false, points: { show: false } }))],
      axes: [{}, { size: 64 }],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
    };
    this.plot = new uPlot(opts, [this.xs, ...this.ys], this.host);
  }
}
