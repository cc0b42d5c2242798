// Arrays as plots: a sparkline in the tree row, and the full plot (uPlot, value against index) of
// the array picked in the side panel, live while it stays picked.
import uPlot from '../vendor/uPlot.esm.js';

/** Draws a small line of the array's values on a canvas (cheap: one per array row). */
export function drawSparkline(canvas, values) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width;
  const h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const n = values ? values.length : 0;
  if (n === 0) return;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = Number(values[i]);
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return;
  // a constant array: a line through the middle
  const span = hi - lo || 2;
  if (hi === lo) lo -= 1;
  ctx.strokeStyle = getComputedStyle(canvas).color || '#1f77b4';
  ctx.lineWidth = 1.25;
  ctx.beginPath();
  for (let i = 0; i < n; i++) {
    const px = n === 1 ? w / 2 : (i / (n - 1)) * (w - 2) + 1;
    const py = h - 2 - ((Number(values[i]) - lo) / span) * (h - 4);
    if (i === 0) ctx.moveTo(px, py);
    else ctx.lineTo(px, py);
  }
  ctx.stroke();
}

/** The side panel's plot of one array PV. */
export class ArrayPlot {
  constructor(panel, host, title, client) {
    this.panel = panel;
    this.host = host;
    this.title = title;
    this.client = client;
    this.plot = undefined;
    this.unwatch = undefined;
    this.pv = undefined;
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(host);
  }

  size() {
    const w = Math.max(240, this.host.clientWidth);
    return { width: w, height: Math.max(140, Math.min(260, Math.round(w * 0.4))) };
  }

  show(pv, label) {
    this.hide();
    this.pv = pv;
    this.panel.hidden = false;
    this.title.textContent = label;
    this.plot = new uPlot(
      {
        ...this.size(),
        scales: { x: { time: false } },
        series: [{ label: 'index' }, { label, stroke: '#1f77b4', width: 1.5, points: { show: true, size: 4 } }],
        axes: [{}, { size: 64 }],
        cursor: { drag: { x: false, y: false } },
      },
      [[], []],
      this.host,
    );
    this.unwatch = this.client.watch(pv, (v) => {
      const a = v && v.value && typeof v.value.length === 'number' ? Array.from(v.value, Number) : [];
      this.plot?.setData([a.map((_, i) => i), a]);
    });
  }

  hide() {
    this.unwatch?.();
    this.unwatch = undefined;
    this.plot?.destroy();
    this.plot = undefined;
    this.pv = undefined;
    this.panel.hidden = true;
  }
}
