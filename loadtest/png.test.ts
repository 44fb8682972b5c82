import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { Canvas } from './png-canvas.js';
import { PNG_SIGNATURE, crc32, encodePng } from './png.js';
import { barChart, compact } from './report-charts.js';

interface Chunk {
  type: string;
  data: Buffer;
  crc: number;
}

/** A PNG read back independently of the encoder: chunks with their CRCs, and (8-bit RGBA, filter 0) its pixels. */
function decode(png: Buffer): { width: number; height: number; pixels: Buffer; chunks: Chunk[] } {
  assert.deepEqual(png.subarray(0, 8), Buffer.from('89504e470d0a1a0a', 'hex'), 'PNG signature');
  const chunks: Chunk[] = [];
  for (let p = 8; p < png.length; ) {
    const len = png.readUInt32BE(p);
    chunks.push({ type: png.toString('latin1', p + 4, p + 8), data: png.subarray(p + 8, p + 8 + len), crc: png.readUInt32BE(p + 8 + len) });
    p += 12 + len;
  }
  const ihdr = chunks[0];
  assert.equal(ihdr?.type, 'IHDR');
  assert.equal(chunks.at(-1)?.type, 'IEND');
  const width = ihdr.data.readUInt32BE(0);
  const height = ihdr.data.readUInt32BE(4);
  assert.deepEqual([...ihdr.data.subarray(8)], [8, 6, 0, 0, 0], 'RGBA, 8 bits, deflate, no interlace');
  const raw = inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  assert.equal(raw.length, height * (width * 4 + 1));
  const pixels = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (width * 4 + 1)], 0, 'filter type 0');
    raw.copy(pixels, y * width * 4, y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1));
  }
  return { width, height, pixels, chunks };
}

test('crc32 matches the reference values', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926); // the CRC-32 check value
  assert.equal(crc32(Buffer.from('IEND')), 0xae426082); // every PNG's last four bytes
  assert.equal(crc32(Buffer.alloc(0)), 0);
});

test('encodePng: signature, chunk CRCs, and the pixels decode back', () => {
  const w = 7;
  const h = 5;
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < rgba.length; i++) rgba[i] = (i * 37 + 11) & 0xff;
  const png = encodePng(w, h, rgba);
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
  const d = decode(png);
  assert.deepEqual([d.width, d.height], [w, h]);
  assert.deepEqual(d.chunks.map((c) => c.type), ['IHDR', 'IDAT', 'IEND']);
  for (const c of d.chunks) assert.equal(c.crc, crc32(Buffer.concat([Buffer.from(c.type, 'latin1'), c.data])), `CRC of ${c.type}`);
  assert.deepEqual(d.pixels, Buffer.from(rgba));
  assert.throws(() => encodePng(2, 2, new Uint8Array(15)), RangeError);
  assert.throws(() => encodePng(0, 2, new Uint8Array(0)), RangeError);
});

test('Canvas draws rectangles and text where it is asked to', () => {
  const c = new Canvas(40, 20, [255, 255, 255]);
  c.fillRect(2, 3, 4, 2, [10, 20, 30]);
  const at = (x: number, y: number): number[] => [...c.pixels.subarray((y * 40 + x) * 4, (y * 40 + x) * 4 + 4)];
  assert.deepEqual(at(2, 3), [10, 20, 30, 255]);
  assert.deepEqual(at(5, 4), [10, 20, 30, 255]);
  assert.deepEqual(at(6, 4), [255, 255, 255, 255]);
  c.text(10, 10, '1', [0, 0, 0], 1); // ".#." first row: the middle column only
  assert.deepEqual(at(11, 10), [0, 0, 0, 255]);
  assert.deepEqual(at(10, 10), [255, 255, 255, 255]);
  c.fillRect(35, 15, 100, 100, [1, 2, 3]); // clipped, not thrown
  assert.deepEqual(decode(c.png()).pixels, Buffer.from(c.pixels));
  assert.equal(Canvas.textWidth('abc', 2), 3 * 8 - 2);
});

test('barChart makes a decodable PNG with both colours, and nothing for no data', () => {
  const png = barChart('t', 'lines/s', [
    { label: 'parse: json', bars: [{ name: 'logwarden', value: 1.2e6, peer: false }, { name: 'JSON.parse', value: 4e5, peer: true }] },
    { label: 'replay', bars: [{ name: 'logwarden', value: 2e5, peer: false }, { name: 'CrowdSec', value: 300, peer: true }, { name: 'none', value: Number.NaN, peer: true }] },
  ]);
  assert.ok(png);
  const d = decode(png);
  const colours = new Set<string>();
  for (let i = 0; i < d.pixels.length; i += 4) colours.add(d.pixels.subarray(i, i + 3).toString('hex'));
  assert.ok(colours.has('1f77b4') && colours.has('ff7f0e'), 'logwarden and peer bars drawn');
  assert.equal(barChart('t', 'x', []), undefined);
  assert.equal(barChart('t', 'x', [{ label: 'a', bars: [{ name: 'b', value: 0, peer: false }] }]), undefined);
});

test('axis and bar labels are compact and keep their zeros', () => {
  assert.deepEqual([100, 350, 1000, 1500, 100_000, 420_000, 1_100_000, 0.5, 2.25, 10].map(compact), ['100', '350', '1k', '1.5k', '100k', '420k', '1.1M', '0.5', '2.25', '10']);
  assert.equal(compact(Number.NaN), 'n/a');
});
