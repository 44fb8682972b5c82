// A tiny RGBA rasteriser for the benchmark report's charts: filled
// rectangles and text in a 3×5 pixel font drawn at an integer scale. Text is
// upper-cased (the font has capitals only); a character it lacks is drawn as '?'.
import { encodePng } from './png.js';

export type Rgb = readonly [number, number, number];

const GLYPHS: Record<string, string> = {
  '0': '###,#.#,#.#,#.#,###', '1': '.#.,##.,.#.,.#.,###', '2': '###,..#,###,#..,###', '3': '###,..#,.##,..#,###',
  '4': '#.#,#.#,###,..#,..#', '5': '###,#..,###,..#,###', '6': '###,#..,###,#.#,###', '7': '###,..#,.#.,.#.,.#.',
  '8': '###,#.#,###,#.#,###', '9': '###,#.#,###,..#,###',
  A: '.#.,#.#,###,#.#,#.#', B: '##.,#.#,##.,#.#,##.', C: '.##,#..,#..,#..,.##', D: '##.,#.#,#.#,#.#,##.', E: '###,#..,##.,#..,###',
  F: '###,#..,##.,#..,#..', G: '.##,#..,#.#,#.#,.##', H: '#.#,#.#,###,#.#,#.#', I: '###,.#.,.#.,.#.,###', J: '..#,..#,..#,#.#,.#.',
  K: '#.#,#.#,##.,#.#,#.#', L: '#..,#..,#..,#..,###', M: '#.#,###,###,#.#,#.#', N: '##.,#.#,#.#,#.#,#.#', O: '.#.,#.#,#.#,#.#,.#.',
  P: '##.,#.#,##.,#..,#..', Q: '.#.,#.#,#.#,##.,.##', R: '##.,#.#,##.,#.#,#.#', S: '.##,#..,.#.,..#,##.', T: '###,.#.,.#.,.#.,.#.',
  U: '#.#,#.#,#.#,#.#,###', V: '#.#,#.#,#.#,#.#,.#.', W: '#.#,#.#,###,###,#.#', X: '#.#,#.#,.#.,#.#,#.#', Y: '#.#,#.#,.#.,.#.,.#.',
  Z: '###,..#,.#.,#..,###',
  ' ': '...,...,...,...,...', '.': '...,...,...,...,.#.', ',': '...,...,...,.#.,#..', ':': '...,.#.,...,.#.,...', ';': '...,.#.,...,.#.,#..',
  '-': '...,...,###,...,...', '/': '..#,..#,.#.,#..,#..', '%': '#.#,..#,.#.,#..,#.#', '(': '.#.,#..,#..,#..,.#.', ')': '.#.,..#,..#,..#,.#.',
  '[': '##.,#..,#..,#..,##.', ']': '.##,..#,..#,..#,.##', '+': '...,.#.,###,.#.,...', '=': '...,###,...,###,...', '<': '..#,.#.,#..,.#.,..#',
  '>': '#..,.#.,..#,.#.,#..', '_': '...,...,...,...,###', '×': '...,#.#,.#.,#.#,...', '÷': '.#.,...,###,...,.#.', '→': '...,..#,###,..#,...',
  '?': '###,..#,.#.,...,.#.', 'µ': '...,#.#,#.#,##.,#..', '#': '#.#,###,#.#,###,#.#', '|': '.#.,.#.,.#.,.#.,.#.', "'": '.#.,.#.,...,...,...',
  '"': '#.#,#.#,...,...,...', '*': '#.#,.#.,#.#,...,...', '!': '.#.,.#.,.#.,...,.#.', '~': '...,.##,##.,...,...', '&': '.#.,#.#,.#.,#.#,.##',
};

const FONT = new Map<string, boolean[][]>(Object.entries(GLYPHS).map(([ch, rows]) => [ch, rows.split(',').map((r) => [...r].map((c) => c === '#'))]));
const UNKNOWN = FONT.get('?') ?? [];

export const GLYPH_W = 3;
export const GLYPH_H = 5;

export class Canvas {
  readonly pixels: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.pixels = new Uint8Array(width * height * 4);
    this.fillRect(0, 0, width, height, background);
  }

  fillRect(x: number, y: number, w: number, h: number, [r, g, b]: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const i = (yy * this.width + xx) * 4;
        this.pixels[i] = r;
        this.pixels[i + 1] = g;
        this.pixels[i + 2] = b;
        this.pixels[i + 3] = 255;
      }
    }
  }

  /** Width in pixels of `text` at `scale` (one pixel column of spacing per glyph). */
  static textWidth(text: string, scale: number): number {
    return [...text].length * (GLYPH_W + 1) * scale - scale;
  }

  text(x: number, y: number, text: string, color: Rgb, scale = 2): void {
    let cx = x;
    for (const ch of text.toUpperCase()) {
      const g = FONT.get(ch) ?? UNKNOWN;
      for (let row = 0; row < GLYPH_H; row++) {
        for (let col = 0; col < GLYPH_W; col++) if (g[row]?.[col]) this.fillRect(cx + col * scale, y + row * scale, scale, scale, color);
      }
      cx += (GLYPH_W + 1) * scale;
    }
  }

  png(): Buffer {
    return encodePng(this.width, this.height, this.pixels);
  }
}
