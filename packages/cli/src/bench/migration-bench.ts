// `ringblock bench migration`: 3 → 4 nodes with a given amount of blocks stored. Reports migration
// throughput (MB/s), total time, bytes moved against the minimum the ring diff requires (blocks that
// gain the new node as an owner × 4 KiB), and client p99 during the migration against the steady
// state measured just before, with the same closed-loop load. Writes bench/results/migration.{json,md}.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import xxhash from 'xxhash-wasm';
import { LocalCluster } from '../local-cluster.js';
import { BLOCK_BYTES, fill, metricTotal } from './cluster-data.js';
import { runLoad, type LoadResult } from './load.js';
import { renderProfileMarkdown, summarizeProfiles, type CpuProfile, type ProfiledCase } from './profile.js';

/** Closed-loop clients measuring latency before and during the migration. */
const PROBE_CONCURRENCY = 8;
/** Length of each latency window while the migration runs (the worst window's p99 is reported). */
const PROBE_WINDOW_MS = 1_000;
/** How often the phase watcher asks the old nodes for the migration's phase. */
const PHASE_POLL_MS = 100;

export interface MigrationBenchOptions {
  resultsDir: string;
  workDir: string;
  megabytes: number;
  transferRate: string;
  /** Run the nodes under `node --cpu-prof` and write where their CPU went while transferring (migration-profile.md). */
  cpuProfile?: boolean;
}

interface RingJson {
  replicationFactor: number;
  tokens: { token: string; node: string }[];
}

/** Blocks whose owner set (per the published tokens) includes `node`: each must be sent to it once. */
async function blocksOwnedBy(url: string, node: string, blocks: number): Promise<number> {
  const ring = (await (await fetch(`${url}/cluster/ring`)).json()) as RingJson;
  const { h64 } = await xxhash();
  const tokens = ring.tokens.map((entry) => ({ token: BigInt(entry.token), node: entry.node })).sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
  let owned = 0;
  for (let index = 0; index < blocks; index++) {
    const position = h64(`m-${index}`);
    let low = 0;
    let high = tokens.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (tokens[middle]!.token < position) low = middle + 1;
      else high = middle;
    }
    const owners = new Set<string>();
    for (let step = 0; step < tokens.length && owners.size < ring.replicationFactor; step++) owners.add(tokens[(low + step) % tokens.length]!.node);
    if (owners.has(node)) owned++;
  }
  return owned;
}

function bytesMoved(urls: readonly string[]): Promise<number> {
  return metricTotal(urls, 'ringblock_migration_bytes_moved_total');
}

/** Milliseconds since the join at which the migration was first seen, first transferring, and gone. */
interface PhaseTimes {
  createdMs?: number;
  transferringMs?: number;
  endedMs?: number;
}

const TRANSFERRING = new Set(['transferring', 'awaitingDone', 'committing']);

/**
 * Watches the old nodes' /cluster until the migration has come and gone (or `stop` resolves): the
 * transfer phase starts when any node is past the prepare barrier and ends with the commit.
 * `times` fills in as the phases are seen.
 */
async function watchPhases(urls: readonly string[], startedMs: number, stop: Promise<unknown>, times: PhaseTimes = {}): Promise<PhaseTimes> {
  let stopped = false;
  void stop.finally(() => (stopped = true));
  while (!stopped && times.endedMs === undefined) {
    const phases = await Promise.all(urls.map(async (url) => {
      const body = (await (await fetch(`${url}/cluster`, { signal: AbortSignal.timeout(5_000) })).json()) as { migration: { phase: string } | null };
      return body.migration?.phase ?? null;
    }).map((phase) => phase.catch(() => 'unknown')));
    const nowMs = performance.now() - startedMs;
    const running = phases.some((phase) => phase !== null);
    if (running) times.createdMs ??= nowMs;
    if (phases.some((phase) => phase !== null && TRANSFERRING.has(phase))) times.transferringMs ??= nowMs;
    if (!running && times.createdMs !== undefined) times.endedMs = nowMs;
    await new Promise((resolve) => setTimeout(resolve, PHASE_POLL_MS));
  }
  // The ring settled before a poll saw the record gone: it ended by then.
  if (times.createdMs !== undefined) times.endedMs ??= performance.now() - startedMs;
  return times;
}

function probe(urls: readonly string[], durationMs: number, blocks: number): Promise<LoadResult> {
  return runLoad(urls, { name: 'get', method: 'GET', concurrency: PROBE_CONCURRENCY, durationMs, expectStatus: 200, path: (random) => `/block/m-${Math.floor(random() * blocks)}` });
}

/** One 3 → 4 migration on a fresh cluster with these node settings. */
interface MigrationRun {
  label: string;
  env: Record<string, string>;
  seconds: number;
  bytesMoved: number;
  minimumBytes: number;
  movedOverMinimum: number;
  throughputMBps: number;
  endToEndMBps: number;
  phases: { joinToMigrationSeconds: number | undefined; prepareSeconds: number | undefined; transferSeconds: number | undefined };
  steady: { opsPerSecond: number; p99Ms: number };
  /** Worst window p99 once the migration existed; withNodeStartP99Ms counts the new node's start-up too. */
  during: { p99Ms: number; samples: number; withNodeStartP99Ms: number };
  p99Ratio: number;
  /** The transfer phase on the machine's monotonic clock (µs, as V8 CPU profiles time their samples). */
  transferWindowUs?: { fromUs: number; toUs: number };
}

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

async function migrateOnce(options: MigrationBenchOptions, label: string, env: Record<string, string>, progress: (line: string) => void, nodeFlags: string[] = []): Promise<MigrationRun> {
  const blocks = Math.ceil((options.megabytes * 1024 * 1024) / BLOCK_BYTES);
  const dataDir = join(options.workDir, 'migration');
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const deviceSize = `${Math.max(256, Math.ceil(options.megabytes * 2.5))}M`;
  const cluster = await LocalCluster.start({ nodes: 3, basePort: 0, dataDir, deviceSize, env: { RINGBLOCK_LOG_LEVEL: 'warn', RINGBLOCK_SCRUB_INTERVAL: '0', ...env }, nodeFlags });
  try {
    const urls = cluster.nodes.map((node) => node.spec.url);
    progress(`${label}: filling ${blocks} blocks (${options.megabytes} MiB) at all…`);
    await fill(urls[0]!, blocks, 'm-', progress);
    progress(`${label}: steady-state GET latency…`);
    const steady = await probe(urls, 5_000, blocks);
    const movedBefore = await bytesMoved(urls);
    progress(`${label}: adding node-4…`);
    const started = performance.now();
    const startedUs = monotonicUs();
    const addition = cluster.addNode('node-4').then(() => cluster.waitSettled(30 * 60_000));
    const seen: PhaseTimes = {};
    const phases = watchPhases(urls, started, addition, seen);
    // Probe latency from the join until the ring settled (bounded by the migration itself), in
    // windows: those that start once the migration exists measure the migration; the ones before
    // it measure the new node's process starting on the same two cores (a pod elsewhere in k8s).
    const windows: { startMs: number; result: LoadResult }[] = [];
    let settled = false;
    void addition.then(() => (settled = true), () => (settled = true));
    while (!settled) windows.push({ startMs: performance.now() - started, result: await probe(urls, PROBE_WINDOW_MS, blocks) });
    await addition;
    const seconds = (performance.now() - started) / 1000;
    const times = await phases;
    const phaseSeconds = (from: number | undefined, to: number | undefined) => (from === undefined || to === undefined ? undefined : (to - from) / 1000);
    const transferSeconds = phaseSeconds(times.transferringMs, times.endedMs);
    const allUrls = cluster.nodes.map((node) => node.spec.url);
    const moved = (await bytesMoved(allUrls)) - movedBefore;
    const minimumBytes = (await blocksOwnedBy(allUrls[0]!, 'node-4', blocks)) * BLOCK_BYTES;
    const migrating = windows.filter((window) => times.createdMs !== undefined && window.startMs >= times.createdMs);
    const worstP99 = (list: readonly { result: LoadResult }[]) => Math.max(...list.map((window) => window.result.p99Ms));
    const duringP99 = worstP99(migrating.length > 0 ? migrating : windows);
    const withStartP99 = worstP99(windows);
    const run: MigrationRun = {
      label,
      env,
      seconds,
      bytesMoved: moved,
      minimumBytes,
      movedOverMinimum: moved / minimumBytes,
      throughputMBps: transferSeconds ? moved / 1e6 / transferSeconds : moved / 1e6 / seconds,
      endToEndMBps: moved / 1e6 / seconds,
      phases: { joinToMigrationSeconds: phaseSeconds(0, times.createdMs), prepareSeconds: phaseSeconds(times.createdMs, times.transferringMs), transferSeconds },
      steady: { opsPerSecond: steady.opsPerSecond, p99Ms: steady.p99Ms },
      during: { p99Ms: duringP99, samples: migrating.length, withNodeStartP99Ms: withStartP99 },
      p99Ratio: duringP99 / steady.p99Ms,
      ...(times.transferringMs !== undefined && times.endedMs !== undefined
        ? { transferWindowUs: { fromUs: startedUs + times.transferringMs * 1000, toUs: startedUs + times.endedMs * 1000 } }
        : {}),
    };
    progress(`${label}: client GET p99 per ${PROBE_WINDOW_MS / 1000} s window from the join: ${windows.map((window) => `${window.result.p99Ms.toFixed(1)}${migrating.includes(window) ? '' : ' (node starting)'}`).join(', ')} ms`);
    progress(`${label}: moved ${(moved / 1048576).toFixed(1)} MiB (minimum ${(minimumBytes / 1048576).toFixed(1)} MiB) in ${seconds.toFixed(1)} s, ${run.throughputMBps.toFixed(1)} MB/s while transferring; p99 ${steady.p99Ms.toFixed(2)} → ${duringP99.toFixed(2)} ms`);
    return run;
  } finally {
    await cluster.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * Two migrations, each on a fresh cluster: with the limits raised (the rate to `transferRate`) for
 * throughput and bytes moved, and with the default limits (64 MiB/s) for what users get by default:
 * client p99 during vs before.
 */
export async function runMigrationBench(options: MigrationBenchOptions, progress: (line: string) => void): Promise<void> {
  if (options.cpuProfile) {
    await profileMigration(options, progress);
    return;
  }
  const raised = await migrateOnce(options, 'limits raised', { RINGBLOCK_TRANSFER_RATE: options.transferRate, RINGBLOCK_TRANSFER_PACE_DELAY: '0' }, progress);
  const defaults = await migrateOnce(options, 'default limits', {}, progress);
  const blocks = Math.ceil((options.megabytes * 1024 * 1024) / BLOCK_BYTES);
  const result = {
    benchmark: 'migration',
    date: new Date().toISOString(),
    blocks,
    megabytesStored: options.megabytes,
    transferRate: options.transferRate,
    // Headline figures: throughput and bytes with the limits raised, client p99 with the defaults.
    seconds: raised.seconds,
    movedOverMinimum: raised.movedOverMinimum,
    throughputMBps: raised.throughputMBps,
    p99Ratio: defaults.p99Ratio,
    runs: [raised, defaults],
  };
  await mkdir(options.resultsDir, { recursive: true });
  await writeFile(join(options.resultsDir, 'migration.json'), `${JSON.stringify(result, null, 2)}\n`);
  const seconds = (value: number | undefined) => (value === undefined ? '?' : `${value.toFixed(1)} s`);
  const column = (pick: (run: MigrationRun) => string) => `${pick(raised)} | ${pick(defaults)}`;
  await writeFile(
    join(options.resultsDir, 'migration.md'),
    [
      '# Migration benchmark (3 → 4 nodes)',
      '',
      `${blocks} blocks (${options.megabytes} MiB of data, RF 3) on durable file devices, each run on a fresh cluster; GET probe of ${PROBE_CONCURRENCY} closed-loop clients. Limits raised: \`TRANSFER_RATE=${options.transferRate}\`, pacing off; defaults: 64 MiB/s per node, paced at a 5 ms event-loop delay. Produced by \`bench/migration\` on ${result.date}.`,
      '',
      '| figure | limits raised | default limits |',
      '|---|---|---|',
      `| migration time (join → ring settled) | ${column((run) => seconds(run.seconds))} |`,
      `| node start to proposal / prepare barrier / transfer until commit | ${column((run) => [run.phases.joinToMigrationSeconds, run.phases.prepareSeconds, run.phases.transferSeconds].map(seconds).join(' / '))} |`,
      `| bytes moved (stream bytes, incl. framing) | ${column((run) => `${(run.bytesMoved / 1048576).toFixed(1)} MiB`)} |`,
      `| minimum by the ring diff | ${column((run) => `${(run.minimumBytes / 1048576).toFixed(1)} MiB`)} |`,
      `| moved ÷ minimum | ${column((run) => run.movedOverMinimum.toFixed(3))} |`,
      `| throughput (bytes moved ÷ transfer phase) | ${column((run) => `${run.throughputMBps.toFixed(1)} MB/s`)} |`,
      `| end to end (bytes moved ÷ migration time) | ${column((run) => `${run.endToEndMBps.toFixed(1)} MB/s`)} |`,
      `| client GET p99 steady / during the migration (worst ${PROBE_WINDOW_MS / 1000} s window from proposal to commit) | ${column((run) => `${run.steady.p99Ms.toFixed(2)} ms / ${run.during.p99Ms.toFixed(2)} ms (${run.p99Ratio.toFixed(2)}×)`)} |`,
      `| … including the new node's process start on the same cores | ${column((run) => `${run.during.withNodeStartP99Ms.toFixed(2)} ms (${(run.during.withNodeStartP99Ms / run.steady.p99Ms).toFixed(2)}×)`)} |`,
      '',
    ].join('\n'),
  );
}

/**
 * One migration with the limits raised, every node under `node --cpu-prof`: where the CPU of the
 * four nodes went during the transfer phase, in migration-profile.md (migration.json is left alone:
 * sampling slows the nodes down).
 */
async function profileMigration(options: MigrationBenchOptions, progress: (line: string) => void): Promise<void> {
  const profileDir = join(options.workDir, 'profiles', 'migration');
  await rm(profileDir, { recursive: true, force: true });
  await mkdir(profileDir, { recursive: true });
  const env = { RINGBLOCK_TRANSFER_RATE: options.transferRate, RINGBLOCK_TRANSFER_PACE_DELAY: '0' };
  const run = await migrateOnce(options, 'limits raised, profiled', env, progress, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
  const files = (await readdir(profileDir)).filter((name) => name.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`no .cpuprofile was written in ${profileDir}`);
  const profiles = await Promise.all(files.map(async (name) => JSON.parse(await readFile(join(profileDir, name), 'utf8')) as CpuProfile));
  const profiled: ProfiledCase = { title: `3 → 4 transfer phase, ${run.throughputMBps.toFixed(1)} MB/s (bytes moved per second shown as ops/s: ${(run.bytesMoved / 1048576).toFixed(0)} MiB)`, opsPerSecond: run.throughputMBps, summary: summarizeProfiles(profiles, run.transferWindowUs) };
  const header = [
    '# Where the nodes spend their CPU during a migration',
    '',
    `3 → 4 nodes, ${options.megabytes} MiB stored, \`TRANSFER_RATE=${options.transferRate}\`, all four nodes under \`node --cpu-prof\`; self time summed over the nodes, only samples of the transfer phase. Produced by \`ringblock bench migration --cpu-prof\` on ${new Date().toISOString()}; the .cpuprofile files stay in \`${profileDir}\`.`,
  ].join('\n');
  await mkdir(options.resultsDir, { recursive: true });
  await writeFile(join(options.resultsDir, 'migration-profile.md'), renderProfileMarkdown(header, [profiled]));
  progress(`busiest parts: ${profiled.summary.categories.slice(0, 5).map((part) => `${part.name} ${(part.share * 100).toFixed(0)}%`).join(', ')}`);
}
