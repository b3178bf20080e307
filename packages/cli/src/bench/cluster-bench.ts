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
import { runLoad, type LoadCase, type LoadResult } from './load.js';

const KEYS = 5_000;
const CONCURRENCIES = [16, 64];

export interface ClusterBenchOptions {
  resultsDir: string;
  workDir: string;
  durationMs: number;
}

function cases(durationMs: number, query: (level: string) => string): (LoadCase & { level: string })[] {
  const body = randomBytes(4096);
  const key = (random: () => number) => `k-${Math.floor(random() * KEYS)}`;
  const list: (LoadCase & { level: string })[] = [];
  for (const concurrency of CONCURRENCIES) {
    list.push({ name: 'put', level: 'quorum', method: 'PUT', concurrency, durationMs, body, expectStatus: 201, path: (r) => `/block/${key(r)}${query('quorum')}` });
    list.push({ name: 'get', level: 'quorum', method: 'GET', concurrency, durationMs, expectStatus: 200, path: (r) => `/block/${key(r)}${query('quorum')}` });
    list.push({ name: 'get', level: 'one', method: 'GET', concurrency, durationMs, expectStatus: 200, path: (r) => `/block/${key(r)}${query('one')}` });
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

export async function runClusterBench(options: ClusterBenchOptions, progress: (line: string) => void): Promise<void> {
  const results: { target: string; level: string; result: LoadResult }[] = [];
  const run = async (target: string, urls: readonly string[], list: (LoadCase & { level: string })[]) => {
    for (const spec of list) {
      progress(`${target}: ${spec.name} ${spec.level} ×${spec.concurrency} for ${spec.durationMs / 1000}s…`);
      const result = await runLoad(urls, spec);
      progress(`  ${result.opsPerSecond.toFixed(0)} ops/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, errors ${result.errors}`);
      results.push({ target, level: spec.level, result });
    }
  };

  // Baseline first: a bare server in its own process.
  const script = fileURLToPath(new URL('./baseline-server.js', import.meta.url));
  const baseline = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [portLine] = (await once(baseline.stdout!, 'data')) as [Buffer];
  const baselineUrl = `http://127.0.0.1:${portLine.toString().trim()}`;
  try {
    await prefill([baselineUrl]);
    await run('baseline', [baselineUrl], cases(options.durationMs, () => ''));
  } finally {
    baseline.kill('SIGTERM');
    await once(baseline, 'exit');
  }

  const dataDir = join(options.workDir, 'cluster');
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const cluster = await LocalCluster.start({ nodes: 3, basePort: 0, dataDir, deviceSize: '256M', env: { RINGBLOCK_LOG_LEVEL: 'warn' } });
  try {
    const urls = cluster.nodes.map((node) => node.spec.url);
    await prefill(urls);
    await run('cluster', urls, cases(options.durationMs, (level) => `?consistency=${level}`));
  } finally {
    await cluster.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  await writeResults(options.resultsDir, results, options.durationMs);
}

async function writeResults(dir: string, results: { target: string; level: string; result: LoadResult }[], durationMs: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const find = (target: string, name: string, level: string, concurrency: number) =>
    results.find((entry) => entry.target === target && entry.result.name === name && entry.level === level && entry.result.concurrency === concurrency)!.result;
  const rows = [];
  for (const concurrency of CONCURRENCIES) {
    for (const [name, level, baseName] of [['put', 'quorum', 'put'], ['get', 'quorum', 'get'], ['get', 'one', 'get']] as const) {
      const cluster = find('cluster', name, level, concurrency);
      const base = find('baseline', baseName, 'quorum', concurrency);
      rows.push({ case: `${name.toUpperCase()} ${level}`, concurrency, cluster, baseline: base, ratio: cluster.opsPerSecond / base.opsPerSecond });
    }
  }
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version };
  const json = { benchmark: 'cluster', date: new Date().toISOString(), machine, durationMsPerCase: durationMs, keys: KEYS, nodes: 3, replicationFactor: 3, rows };
  await writeFile(join(dir, 'cluster.json'), `${JSON.stringify(json, null, 2)}\n`);
  const lines = [
    '# Cluster benchmark',
    '',
    `3 peers, RF 3, durable file devices, closed-loop load of 4 KiB blocks over ${KEYS} keys spread over all nodes, ${durationMs / 1000} s per case; baseline: a bare node:http server with a Map, same load generator, same run. Machine: ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}. Produced by \`bench/cluster\` on ${json.date}.`,
    '',
    '| case | concurrency | cluster ops/s | p50 ms | p99 ms | errors | baseline ops/s | baseline p99 ms | ratio |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((row) => `| ${row.case} | ${row.concurrency} | ${row.cluster.opsPerSecond.toFixed(0)} | ${row.cluster.p50Ms.toFixed(2)} | ${row.cluster.p99Ms.toFixed(2)} | ${row.cluster.errors} | ${row.baseline.opsPerSecond.toFixed(0)} | ${row.baseline.p99Ms.toFixed(2)} | ${(row.ratio * 100).toFixed(0)}% |`),
    '',
  ];
  await writeFile(join(dir, 'cluster.md'), lines.join('\n'));
}
