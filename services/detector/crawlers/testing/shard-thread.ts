// A piscina task module shaped like a detector shard (services/detector/worker.ts):
// it holds one verifier for the thread's life and answers each task
// synchronously, so a test can show that lookups started by one task have
// ended by a later one (DNS answers run on the thread's event loop between tasks).
import { workerData } from 'node:worker_threads';
import { CrawlerVerifier, type CrawlerStatus, type VerifierOptions, type VerifierStats } from '../verify.js';

const verifier = new CrawlerVerifier((workerData as { crawlers: VerifierOptions }).crawlers);

export default function run(task: Array<{ ip: string; user_agent: string }>): { statuses: CrawlerStatus[]; stats: VerifierStats } {
  return { statuses: task.map((r) => verifier.status(r.ip, r.user_agent)), stats: verifier.stats() };
}
