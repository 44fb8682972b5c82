// The benchmark report's charts: horizontal bars, logwarden beside its peer,
// on a log scale (the figures span several decades: CrowdSec's hundreds of
// lines/s against logwarden's hundreds of thousands; milliseconds against a
// 10 s poll).
import { Canvas, type Rgb } from './png-canvas.js';

export interface ChartRow {
  label: string;
  bars: Array<{ name: string; value: number; peer: boolean }>;
}

const OURS: Rgb = [31, 119, 180];
const PEER: Rgb = [255, 127, 14];
const INK: Rgb = [30, 30, 30];
const GRID: Rgb = [225, 225, 225];
const MUTED: Rgb = [110, 110, 110];

const SCALE = 2;
const LINE = 7 * SCALE; // glyph height plus spacing
const BAR = 16;

export function compact(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  // Trailing zeros of the decimals only: "1.50" → "1.5", "100" stays.
  const trim = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2)).replace(/\.(\d*?)0+$/, '.$1').replace(/\.$/, '');
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e3) return `${trim(v / 1e3)}k`;
  return trim(v);
}

/** A PNG of one horizontal bar chart, log-scaled; undefined when no row has a positive value. */
export function barChart(title: string, unit: string, rows: ChartRow[]): Buffer | undefined {
  const values = rows.flatMap((r) => r.bars.map((b) => b.value)).filter((v) => Number.isFinite(v) && v > 0);
  if (values.length === 0) return undefined;
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values)) + 0.15));
  const labelChars = Math.min(46, Math.max(...rows.map((r) => r.label.length), ...rows.flatMap((r) => r.bars.map((b) => b.name.length + 2))));
  const left = 16 + Canvas.textWidth('x'.repeat(labelChars), SCALE) + 12;
  const width = Math.max(900, left + 520);
  const plotW = width - left - 90;
  const top = 16 + 2 * LINE + 10;
  const rowH = (r: ChartRow): number => LINE + r.bars.length * (BAR + 4) + 10;
  const height = top + rows.reduce((n, r) => n + rowH(r), 0) + LINE + 24;
  const c = new Canvas(width, height);
  c.text(16, 16, title, INK, SCALE);
  // Legend
  c.fillRect(16, 16 + LINE + 2, 10, 10, OURS);
  c.text(30, 16 + LINE + 2, 'logwarden', MUTED, SCALE);
  const px = 30 + Canvas.textWidth('logwarden', SCALE) + 20;
  c.fillRect(px, 16 + LINE + 2, 10, 10, PEER);
  c.text(px + 14, 16 + LINE + 2, `peer  (log scale, ${unit})`, MUTED, SCALE);
  const xOf = (v: number): number => left + ((Math.log10(v) - lo) / (hi - lo)) * plotW;
  const bottom = height - LINE - 16;
  for (let d = lo; d <= hi; d++) {
    const x = xOf(10 ** d);
    c.fillRect(x, top - 4, 1, bottom - top + 4, GRID);
    const label = compact(10 ** d);
    c.text(x - Canvas.textWidth(label, SCALE) / 2, bottom + 6, label, MUTED, SCALE);
  }
  let y = top;
  const fit = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}~` : s);
  for (const r of rows) {
    c.text(16, y, fit(r.label, labelChars), INK, SCALE);
    y += LINE;
    for (const b of r.bars) {
      c.text(28, y + (BAR - 5 * SCALE) / 2, fit(b.name, labelChars - 2), MUTED, SCALE);
      const ok = Number.isFinite(b.value) && b.value > 0;
      const x1 = ok ? Math.max(left + 2, xOf(b.value)) : left;
      if (ok) c.fillRect(left, y, x1 - left, BAR, b.peer ? PEER : OURS);
      c.text(x1 + 6, y + (BAR - 5 * SCALE) / 2, ok ? compact(b.value) : 'n/a', INK, SCALE);
      y += BAR + 4;
    }
    y += 10;
  }
  return c.png();
}
