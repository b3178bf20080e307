// Runs a range of seeds in a worker thread and posts the failing ones back. The test harness
// (tap) tracks every promise with async hooks, which makes this promise-heavy simulation about
// three times slower; a worker thread has no such hooks. Results are the same either way.
import { parentPort, workerData } from 'node:worker_threads';
import { loadHasher } from '@ringblock/ring';
import { runSeed, type RunOptions } from './run.js';

export interface WorkerRequest {
  firstSeed: number;
  seeds: number;
  options: Omit<RunOptions, 'hasher' | 'trace'>;
}

export interface WorkerSeedResult {
  seed: number;
  violations: string[];
  faults: string[];
  summary: string;
}

export interface WorkerReply {
  failing: WorkerSeedResult[];
  ops: number;
  events: number;
}

const request = workerData as WorkerRequest;
const hasher = await loadHasher();
const reply: WorkerReply = { failing: [], ops: 0, events: 0 };
for (let seed = request.firstSeed; seed < request.firstSeed + request.seeds; seed++) {
  const result = await runSeed(seed, { ...request.options, hasher });
  reply.ops += result.ops.length;
  reply.events += result.events;
  if (result.violations.length > 0) reply.failing.push({ seed, violations: result.violations, faults: result.faults, summary: result.summary });
}
parentPort!.postMessage(reply);
