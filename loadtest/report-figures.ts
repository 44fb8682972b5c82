// What a benchmark reports to `npm run bench` (loadtest/report.ts): one JSON
// line per figure, appended to the file named by LOGWARDEN_BENCH_OUT. Without
// that variable (a bench run by hand) this does nothing: the bench's printed
// table stays its own output.
//
//   figure({ bench: 'parse', name: 'json parse+encode', value: 1.2e6, unit: 'lines/s',
//            peer: { name: 'JSON.parse+stringify', value: 4e5 }, better: 'higher', aim: 1e6 });
import { appendFileSync } from 'node:fs';

export interface Figure {
  /** The benchmark, as in its npm script `bench:<name>`. */
  bench: string;
  name: string;
  value: number;
  unit: string;
  /** The peer's figure for the same thing, measured in the same run (or documented: say so in `note`). */
  peer?: { name: string; value: number };
  better: 'higher' | 'lower';
  /** The target the project set for this figure (an issue's budget), in `unit`. */
  aim?: number;
  note?: string;
}

export const BENCH_OUT_ENV = 'LOGWARDEN_BENCH_OUT';

export function figure(f: Figure): void {
  const out = process.env[BENCH_OUT_ENV];
  if (!out) return;
  // Synchronous: benches end with process.exit, which would lose a pending write.
  appendFileSync(out, `${JSON.stringify(f)}\n`);
}

/** Whether `value` meets `aim` in the figure's direction. */
export function aimMet(f: Pick<Figure, 'value' | 'aim' | 'better'>): boolean | undefined {
  if (f.aim === undefined || !Number.isFinite(f.value)) return f.aim === undefined ? undefined : false;
  return f.better === 'higher' ? f.value >= f.aim : f.value <= f.aim;
}

/** The figures of a LOGWARDEN_BENCH_OUT file; lines that are not figures are skipped. */
export function parseFigures(text: string): Figure[] {
  const out: Figure[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const f = JSON.parse(line) as Omit<Figure, 'value'> & { value: number | null };
      // NaN and Infinity were written as null: a figure the bench could not measure.
      if (typeof f.bench === 'string' && typeof f.name === 'string' && typeof f.unit === 'string' && (typeof f.value === 'number' || f.value === null)) {
        out.push({ ...f, value: f.value ?? Number.NaN });
      }
    } catch {
      /* a torn last line of a bench that was killed */
    }
  }
  return out;
}
