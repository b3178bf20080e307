// A closed-loop load generator: `concurrency` workers, each sending its next request as soon as the
// previous one answered, for a fixed duration, spread over the target URLs. Latencies go to a
// bounded array; results are ops/s and latency quantiles.
import { Pool } from 'undici';

/** Bound on recorded latencies per case (beyond it, samples are dropped, counts still kept). */
const SAMPLES_MAX = 4_000_000;

export interface LoadCase {
  name: string;
  method: 'PUT' | 'GET';
  concurrency: number;
  durationMs: number;
  /** Path for the i-th request of a worker (e.g. `/block/k-17?consistency=one`). */
  path: (random: () => number) => string;
  body?: Buffer;
  expectStatus: number;
}

export interface LoadResult {
  name: string;
  concurrency: number;
  ops: number;
  errors: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU the servers (every node of a cluster) spent per operation, in µs, when measured. */
  serverCpuUsPerOp?: number;
  /**
   * CPU the load generator itself (this process: user + system, every thread) spent per operation,
   * in µs. It shares the machine's cores with the servers, so with it a case's CPU ceiling shows:
   * cores / (client + server µs per op).
   */
  clientCpuUsPerOp: number;
}

export async function runLoad(urls: readonly string[], spec: LoadCase): Promise<LoadResult> {
  const pools = urls.map((url) => new Pool(url, { connections: Math.ceil(spec.concurrency / urls.length) + 1, pipelining: 1, keepAliveTimeout: 4_000 }));
  let turn = 0;
  try {
    return await runClosedLoop(spec, async (random) => {
      const pool = pools[turn++ % pools.length]!;
      const response = await pool.request({ method: spec.method, path: spec.path(random), body: spec.body ?? null, headersTimeout: 30_000, bodyTimeout: 30_000 });
      await response.body.dump();
      return response.statusCode === spec.expectStatus;
    });
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
  }
}

/**
 * `concurrency` workers calling `call` back to back for `durationMs`; a call that throws or returns
 * false is an error. `random` is a cheap deterministic generator (the load shape is not measured).
 */
export async function runClosedLoop(spec: { name: string; concurrency: number; durationMs: number }, call: (random: () => number) => Promise<boolean>): Promise<LoadResult> {
  const cpuBefore = process.cpuUsage();
  const latencies = new Float64Array(Math.min(SAMPLES_MAX, spec.concurrency * spec.durationMs * 50));
  let samples = 0;
  let ops = 0;
  let errors = 0;
  let seed = 0x9e3779b9;
  const random = () => {
    // xorshift32
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const started = performance.now();
  const deadline = started + spec.durationMs;
  const worker = async () => {
    while (performance.now() < deadline) {
      const begin = performance.now();
      const ok = await call(random).catch(() => false);
      if (!ok) errors++;
      ops++;
      if (samples < latencies.length) latencies[samples++] = performance.now() - begin;
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, () => worker()));
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = latencies.subarray(0, samples).sort();
  const quantile = (q: number) => (samples ? sorted[Math.min(samples - 1, Math.floor(q * samples))]! : 0);
  return {
    name: spec.name,
    concurrency: spec.concurrency,
    ops,
    errors,
    opsPerSecond: (ops / elapsedMs) * 1000,
    p50Ms: quantile(0.5),
    p99Ms: quantile(0.99),
    maxMs: samples ? sorted[samples - 1]! : 0,
    clientCpuUsPerOp: ops > 0 ? (cpu.user + cpu.system) / ops : 0,
  };
}
