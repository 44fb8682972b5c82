// A stacked bar chart of events per time bucket and type, drawn on a canvas
// (no library: a few dozen lines do, and nothing is fetched from elsewhere).
/* global window */

export const TYPE_COLORS = {
  blocked_ip: '#d9534f',
  rate_limited: '#f0ad4e',
  auth_failed: '#9b59b6',
  suspicious: '#5bc0de',
  scan_detected: '#2e86de',
  challenge: '#27ae60',
};

/**
 * series: [{ t, type, events }]; from/to epoch ms; stepMs the bucket size.
 * Returns the total drawn (tests and the legend use it).
 */
export function drawChart(canvas, series, from, to, stepMs) {
  const ratio = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || canvas.width;
  const cssH = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(cssW * ratio);
  canvas.height = Math.round(cssH * ratio);
  const g = canvas.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, cssW, cssH);

  const start = Math.floor(from / stepMs) * stepMs;
  const n = Math.max(1, Math.ceil((to - start) / stepMs));
  const stacks = Array.from({ length: n }, () => ({}));
  let total = 0;
  for (const p of series) {
    const i = Math.floor((p.t - start) / stepMs);
    if (i < 0 || i >= n) continue;
    stacks[i][p.type] = (stacks[i][p.type] ?? 0) + p.events;
    total += p.events;
  }
  const max = Math.max(1, ...stacks.map((s) => Object.values(s).reduce((a, b) => a + b, 0)));

  const left = 44;
  const bottom = 22;
  const top = 8;
  const w = cssW - left - 8;
  const h = cssH - top - bottom;
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#8a94a6';
  g.strokeStyle = '#2a3242';
  g.lineWidth = 1;
  // Whole-number gridlines at a round step (1, 2, 5, 10, 20, ...), about four of them.
  const raw = Math.max(1, max / 4);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const tick = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const yMax = Math.ceil(max / tick) * tick;
  for (let v = 0; v <= yMax; v += tick) {
    const y = top + h - (h * v) / yMax;
    g.beginPath();
    g.moveTo(left, y + 0.5);
    g.lineTo(left + w, y + 0.5);
    g.stroke();
    g.fillText(String(v), 4, y + 4);
  }
  const bw = w / n;
  stacks.forEach((s, i) => {
    let y = top + h;
    for (const type of Object.keys(TYPE_COLORS)) {
      const v = s[type] ?? 0;
      if (v === 0) continue;
      const bh = (h * v) / yMax;
      g.fillStyle = TYPE_COLORS[type];
      g.fillRect(left + i * bw + 1, y - bh, Math.max(1, bw - 2), bh);
      y -= bh;
    }
  });
  g.fillStyle = '#8a94a6';
  const labels = 6;
  for (let k = 0; k <= labels; k++) {
    const t = start + ((n * stepMs) * k) / labels;
    const d = new Date(t);
    const text = stepMs >= 3_600_000 ? `${d.getHours()}:00` : `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
    g.fillText(text, Math.min(left + (w * k) / labels, left + w - 30), top + h + 15);
  }
  canvas.dataset.total = String(total);
  return total;
}
