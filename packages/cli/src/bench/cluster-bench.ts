// `ringblock bench cluster`: a 3-node cluster (RF 3, durable file devices) under closed-loop load of
// 4 KiB blocks at 16 and 64 concurrent requests spread over all nodes — PUT, GET quorum, GET one —
// beside a baseline measured in the same run with the same load generator: a bare node:http server
// keeping blocks in a Map. Writes bench/results/cluster.json and cluster.md.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { cpus } from 'node:os';
import { LocalCluster } from '../local-cluster.js';
import { CLIENT_CONCURRENCY, runClientCases } from './client-bench.js';
import { runLoad, type LoadCase, type LoadResult } from './load.js';
import { renderBenchChart } from './svg-chart.js';
import { processCpuMs } from './process-cpu.js';

export const KEYS = 5_000;
const CONCURRENCIES = [1, 16, 64, 256];
const LEVELS = ['one', 'quorum', 'all'] as const;
/** The cases the replication protocols are compared on (the headline figures of the issue). */
const PROTOCOL_CONCURRENCY = 64;
/** Nodes of the cluster the TypeScript client is benched on (RF 3). */
const CLIENT_NODES = 5;

export interface ClusterBenchOptions {
  resultsDir: string;
  workDir: string;
  durationMs: number;
}

export type Op = 'put' | 'get';
export interface BenchCase extends LoadCase {
  op: Op;
  level: string;
}

export function loadCase(op: Op, level: string, concurrency: number, durationMs: number, body: Buffer, query: string): BenchCase {
  const key = (random: () => number) => `k-${Math.floor(random() * KEYS)}`;
  const base = { op, level, name: `${op} ${level}`, concurrency, durationMs, path: (random: () => number) => `/block/${key(random)}${query}` };
  return op === 'put' ? { ...base, method: 'PUT', body, expectStatus: 201 } : { ...base, method: 'GET', expectStatus: 200 };
}

/** Every op at every level and concurrency; the baseline knows no levels (one case per op). */
function cases(durationMs: number, levels: readonly string[], concurrencies: readonly number[], ops: readonly Op[] = ['put', 'get']): BenchCase[] {
  const body = randomBytes(4096);
  const list: BenchCase[] = [];
  for (const concurrency of concurrencies) {
    for (const op of ops) for (const level of levels) list.push(loadCase(op, level, concurrency, durationMs, body, level === 'none' ? '' : `?consistency=${level}`));
  }
  return list;
}

/** Writes every key once (at `all`), so GETs find blocks. */
async function prefill(urls: readonly string[]): Promise<void> {
  const body = randomBytes(4096);
  const pool = new Pool(urls[0]!, { connections: 32 });
  await Promise.all(Array.from({ length: 32 }, async (_, worker) => {
    for (let index = worker; index < KEYS; index += 32) {
      const response = await pool.request({ method: 'PUT', path: `/block/k-${index}?consistency=all`, body });
      await response.body.dump();
      if (response.statusCode !== 201) throw new Error(`prefill of k-${index} answered ${response.statusCode}`);
    }
  }));
  await pool.close();
}

/** One measured case of one target (baseline, cluster, cluster over HTTP replication). */
export interface MeasuredCase {
  target: string;
  op: Op;
  level: string;
  result: LoadResult;
}

export async function runClusterBench(options: ClusterBenchOptions, progress: (line: string) => void): Promise<MeasuredCase[]> {
  const results: MeasuredCase[] = [];
  const run = async (target: string, urls: readonly string[], list: BenchCase[], pids: readonly number[]) => {
    for (const spec of list) {
      progress(`${target}: ${spec.op} ${spec.level} ×${spec.concurrency} for ${spec.durationMs / 1000}s…`);
      const cpuBefore = processCpuMs(pids);
      const result = await runLoad(urls, spec);
      const cpuAfter = processCpuMs(pids);
      // The servers' CPU per operation: a figure the machine's noise moves far less than ops/s.
      if (cpuBefore !== undefined && cpuAfter !== undefined && result.ops > 0) result.serverCpuUsPerOp = ((cpuAfter - cpuBefore) * 1000) / result.ops;
      progress(`  ${result.opsPerSecond.toFixed(0)} ops/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, errors ${result.errors}${result.serverCpuUsPerOp === undefined ? '' : `, server CPU ${result.serverCpuUsPerOp.toFixed(0)} µs/op`}, client CPU ${result.clientCpuUsPerOp.toFixed(0)} µs/op`);
      results.push({ target, op: spec.op, level: spec.level, result });
    }
  };

  // Baseline first: a bare server in its own process.
  const script = fileURLToPath(new URL('./baseline-server.js', import.meta.url));
  const baseline = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [portLine] = (await once(baseline.stdout!, 'data')) as [Buffer];
  const baselineUrl = `http://127.0.0.1:${portLine.toString().trim()}`;
  try {
    await prefill([baselineUrl]);
    await run('baseline', [baselineUrl], cases(options.durationMs, ['none'], CONCURRENCIES), baseline.pid === undefined ? [] : [baseline.pid]);
  } finally {
    baseline.kill('SIGTERM');
    await once(baseline, 'exit');
  }
  await withCluster(options.workDir, {}, async (urls, pids) => run('cluster', urls, cases(options.durationMs, LEVELS, CONCURRENCIES), pids));
  // The same cluster with one HTTP request per replica call: what the binary protocol buys.
  await withCluster(options.workDir, { RINGBLOCK_PEER_PROTOCOL: 'http' }, async (urls, pids) => run('cluster-http', urls, cases(options.durationMs, ['quorum'], [PROTOCOL_CONCURRENCY]), pids));
  // The client on more nodes than RF: with 3 nodes and RF 3 every node owns every block and
  // ring-aware routing has no hop to save; on 5 a plain call lands on a non-owner 2 times in 5.
  await withCluster(options.workDir, {}, async (urls) => void results.push(...(await runClientCases(urls, KEYS, options.durationMs, progress))), CLIENT_NODES);
  await writeResults(options.resultsDir, results, options.durationMs);
  return results;
}

/** A fresh cluster of `nodes` peers (file devices, durable, RF 3), prefilled, for the time of `use`; `nodeFlags` go to every peer's Node.js. */
export async function withCluster(workDir: string, env: Record<string, string>, use: (urls: readonly string[], pids: readonly number[]) => Promise<void>, nodes = 3, nodeFlags: string[] = []): Promise<void> {
  const dataDir = join(workDir, 'cluster');
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const cluster = await LocalCluster.start({ nodes, basePort: 0, dataDir, deviceSize: '256M', env: { RINGBLOCK_LOG_LEVEL: 'warn', ...env }, nodeFlags });
  try {
    const urls = cluster.nodes.map((node) => node.spec.url);
    await prefill(urls);
    await startupRepairsDone(urls);
    await use(urls, cluster.nodes.flatMap((node) => (node.pid === undefined ? [] : [node.pid])));
  } finally {
    await cluster.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Bound on waiting for the start-up anti-entropy rounds. */
const STARTUP_REPAIR_WAIT_MS = 120_000;

/**
 * Waits until every node has run its start-up anti-entropy round (one per node after the ring
 * settles: it reads every stored record once) so it does not fall into a measured case.
 */
async function startupRepairsDone(urls: readonly string[]): Promise<void> {
  const deadline = performance.now() + STARTUP_REPAIR_WAIT_MS;
  for (const url of urls) {
    for (;;) {
      const health = (await (await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) })).json()) as { antiEntropy?: { rounds: number; round: unknown } };
      if (!health.antiEntropy || (health.antiEntropy.rounds >= 1 && health.antiEntropy.round === null)) break;
      if (performance.now() > deadline) throw new Error(`${url}: the start-up anti-entropy round did not end within ${STARTUP_REPAIR_WAIT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

export interface Row {
  case: string;
  concurrency: number;
  cluster: LoadResult;
  baseline: LoadResult;
  ratio: number;
}

/** The goals of the cluster issue (#3) and of the speed issue (#9): ratio to the baseline, p99 bound, at 64 concurrent. */
const GOALS: { case: string; issue3: number; issue9: number }[] = [
  { case: 'PUT quorum', issue3: 0.4, issue9: 0.6 },
  { case: 'GET quorum', issue3: 0.5, issue9: 0.6 },
  { case: 'GET one', issue3: 0.7, issue9: 0.8 },
];
const P99_GOAL_MS = { issue3: 25, issue9: 15 };

const cpu = (result: LoadResult) => (result.serverCpuUsPerOp === undefined ? '—' : result.serverCpuUsPerOp.toFixed(0));
const clientCpu = (result: LoadResult) => result.clientCpuUsPerOp.toFixed(0);

async function writeResults(dir: string, results: readonly MeasuredCase[], durationMs: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const find = (target: string, op: Op, level: string, concurrency: number) => results.find((entry) => entry.target === target && entry.op === op && entry.level === level && entry.result.concurrency === concurrency)?.result;
  const rows: Row[] = [];
  for (const concurrency of CONCURRENCIES) {
    for (const op of ['put', 'get'] as const) {
      for (const level of LEVELS) {
        const cluster = find('cluster', op, level, concurrency)!;
        const baseline = find('baseline', op, 'none', concurrency)!;
        rows.push({ case: `${op.toUpperCase()} ${level}`, concurrency, cluster, baseline, ratio: cluster.opsPerSecond / baseline.opsPerSecond });
      }
    }
  }
  const protocols = (['put', 'get'] as const).map((op) => ({ case: `${op.toUpperCase()} quorum`, binary: find('cluster', op, 'quorum', PROTOCOL_CONCURRENCY)!, http: find('cluster-http', op, 'quorum', PROTOCOL_CONCURRENCY)! }));
  const clients = ([['put', 'quorum'], ['get', 'quorum'], ['get', 'one']] as const).map(([op, level]) => ({
    case: `${op.toUpperCase()} ${level}`,
    plain: find('client', op, level, CLIENT_CONCURRENCY)!,
    ringAware: find('client-ring-aware', op, level, CLIENT_CONCURRENCY)!,
  }));
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version };
  const json = { benchmark: 'cluster', date: new Date().toISOString(), machine, durationMsPerCase: durationMs, keys: KEYS, nodes: 3, replicationFactor: 3, rows, protocols, clients, clientNodes: CLIENT_NODES };
  await writeFile(join(dir, 'cluster.json'), `${JSON.stringify(json, null, 2)}\n`);
  const at64 = (name: string) => rows.find((row) => row.case === name && row.concurrency === 64)!;
  const goalLine = (goal: (typeof GOALS)[number]) => {
    const row = at64(goal.case);
    const mark = (ratio: number, p99: number) => (row.ratio >= ratio && row.cluster.p99Ms <= p99 ? 'met' : 'not met');
    return `| ${goal.case} | ${(row.ratio * 100).toFixed(0)}% | ${row.cluster.p99Ms.toFixed(1)} | ≥ ${goal.issue3 * 100}%, p99 ≤ ${P99_GOAL_MS.issue3} ms: ${mark(goal.issue3, P99_GOAL_MS.issue3)} | ≥ ${goal.issue9 * 100}%, p99 ≤ ${P99_GOAL_MS.issue9} ms: ${mark(goal.issue9, P99_GOAL_MS.issue9)} |`;
  };
  const lines = [
    '# Cluster benchmark',
    '',
    `3 peers, RF 3, durable file devices, closed-loop load of 4 KiB blocks over ${KEYS} keys spread over all nodes, ${durationMs / 1000} s per case; baseline: a bare node:http server with a Map, same load generator, same run. Machine: ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}. Produced by \`bench/cluster\` on ${json.date}.`,
    '',
    'Server CPU: user + system time of every node process (of the baseline server) per operation, from /proc — what a request costs, which the shared machine\'s noise moves far less than ops/s. Client CPU: the same for the load generator, which runs on the same cores; cores ÷ (server + client µs/op) is the most a case could reach on this machine.',
    '',
    '| case | concurrency | cluster ops/s | p50 ms | p99 ms | errors | node CPU µs/op | client CPU µs/op | baseline ops/s | baseline p99 ms | baseline CPU µs/op | client CPU µs/op | ratio |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((row) => `| ${row.case} | ${row.concurrency} | ${row.cluster.opsPerSecond.toFixed(0)} | ${row.cluster.p50Ms.toFixed(2)} | ${row.cluster.p99Ms.toFixed(2)} | ${row.cluster.errors} | ${cpu(row.cluster)} | ${clientCpu(row.cluster)} | ${row.baseline.opsPerSecond.toFixed(0)} | ${row.baseline.p99Ms.toFixed(2)} | ${cpu(row.baseline)} | ${clientCpu(row.baseline)} | ${(row.ratio * 100).toFixed(0)}% |`),
    '',
    `## Goals at ${PROTOCOL_CONCURRENCY} concurrent`,
    '',
    '| case | ratio | p99 ms | cluster issue (#3) | speed issue (#9) |',
    '|---|---|---|---|---|',
    ...GOALS.map(goalLine),
    '',
    `## Replication protocol at ${PROTOCOL_CONCURRENCY} concurrent (same run, a fresh cluster each)`,
    '',
    '| case | binary ops/s | binary p99 ms | HTTP ops/s | HTTP p99 ms | binary / HTTP |',
    '|---|---|---|---|---|---|',
    ...protocols.map((row) => `| ${row.case} | ${row.binary.opsPerSecond.toFixed(0)} | ${row.binary.p99Ms.toFixed(2)} | ${row.http.opsPerSecond.toFixed(0)} | ${row.http.p99Ms.toFixed(2)} | ${(row.binary.opsPerSecond / row.http.opsPerSecond).toFixed(2)}× |`),
    '',
    `## TypeScript client at ${CLIENT_CONCURRENCY} concurrent on ${CLIENT_NODES} nodes (RF 3): plain vs ring-aware (goal: ring-aware ≥ 1.3×)`,
    '',
    '| case | plain ops/s | plain p99 ms | ring-aware ops/s | ring-aware p99 ms | ring-aware / plain |',
    '|---|---|---|---|---|---|',
    ...clients.map((row) => `| ${row.case} | ${row.plain.opsPerSecond.toFixed(0)} | ${row.plain.p99Ms.toFixed(2)} | ${row.ringAware.opsPerSecond.toFixed(0)} | ${row.ringAware.p99Ms.toFixed(2)} | ${(row.ringAware.opsPerSecond / row.plain.opsPerSecond).toFixed(2)}× |`),
    '',
  ];
  await writeFile(join(dir, 'cluster.md'), lines.join('\n'));
  await writeFile(join(dir, 'cluster.svg'), renderClusterChart(rows, protocols, clients));
}

/** Every case beside its baseline, then the protocol and client comparisons, in one SVG. */
export function renderClusterChart(rows: readonly Row[], protocols: readonly { case: string; binary: LoadResult; http: LoadResult }[], clients: readonly { case: string; plain: LoadResult; ringAware: LoadResult }[]): string {
  const value = (series: string, result: LoadResult) => ({ series, opsPerSecond: result.opsPerSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms });
  const groups = [
    ...rows.map((row) => ({ label: `${row.case} ×${row.concurrency}`, values: [value('cluster', row.cluster), value('bare node:http baseline', row.baseline)] })),
    ...protocols.map((row) => ({ label: `${row.case} ×${PROTOCOL_CONCURRENCY} protocol`, values: [value('cluster', row.binary), value('cluster, HTTP replication', row.http)] })),
    ...clients.map((row) => ({ label: `${row.case} ×${CLIENT_CONCURRENCY} client`, values: [value('client, plain', row.plain), value('client, ring-aware', row.ringAware)] })),
  ];
  const series = [
    { name: 'cluster', color: '#1f77b4' },
    { name: 'bare node:http baseline', color: '#aaaaaa' },
    { name: 'cluster, HTTP replication', color: '#ff7f0e' },
    { name: 'client, plain', color: '#2ca02c' },
    { name: 'client, ring-aware', color: '#9467bd' },
  ];
  return renderBenchChart('ringblock cluster: 3 peers, RF 3, durable file devices, 4 KiB blocks', series, groups);
}
