// Kafka's LZ4 and ZSTD codecs for kafkajs, which ships GZIP only. Registered for
// every Kafka client of the process, whatever its own producer compression: a
// detector must read what an ingester wrote with another codec. Both are
// prebuilt native libraries from npm (lz4-napi: LZ4 frames, as Kafka's LZ4
// codec writes them; @mongodb-js/zstd); a platform without a build of them
// can still use gzip, and is told when it asks for one it lacks.
import { createRequire } from 'node:module';
import kafkajs, { CompressionTypes } from 'kafkajs';
import { componentLogger } from '../log.js';

const log = componentLogger('bus.kafka');
const require = createRequire(import.meta.url);

type Codec = { compress(encoder: { buffer: Buffer }): Promise<Buffer>; decompress(buffer: Buffer): Promise<Buffer> };
type LZ4 = { compressFrame(b: Buffer): Promise<Buffer>; decompressFrame(b: Buffer): Promise<Buffer> };
type ZSTD = { compress(b: Buffer, level?: number): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> };

/** zstd's level 3 is its own default: most of the ratio for a fraction of the CPU of higher levels. */
const ZSTD_LEVEL = 3;

const loaded = new Map<'lz4' | 'zstd', string | true>();

function load<T>(name: 'lz4' | 'zstd', pkg: string, register: (m: T) => Codec, type: CompressionTypes): void {
  try {
    const m = require(pkg) as T;
    const codec = register(m);
    (kafkajs.CompressionCodecs as Record<number, () => Codec>)[type] = () => codec;
    loaded.set(name, true);
  } catch (err) {
    loaded.set(name, (err as Error).message);
    log.warn({ err: (err as Error).message, pkg }, `the ${name} codec is not available on this platform`);
  }
}

let registered = false;

/** Registers the codecs once; says which could not be loaded and why. */
export function registerCodecs(): ReadonlyMap<'lz4' | 'zstd', string | true> {
  if (registered) return loaded;
  registered = true;
  load<LZ4>('lz4', 'lz4-napi', (m) => ({ compress: (e) => m.compressFrame(e.buffer), decompress: (b) => m.decompressFrame(b) }), CompressionTypes.LZ4);
  load<ZSTD>('zstd', '@mongodb-js/zstd', (m) => ({ compress: (e) => m.compress(e.buffer, ZSTD_LEVEL), decompress: (b) => m.decompress(b) }), CompressionTypes.ZSTD);
  return loaded;
}

export type Compression = 'none' | 'gzip' | 'lz4' | 'zstd';

export const COMPRESSION_TYPES: Readonly<Record<Compression, CompressionTypes>> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};
