// The engine benchmark (bench/engine at the repository root builds and runs it):
//   1. durable 4 KiB puts per second at concurrency 1, 16 and 64 (and overwrites at 64), beside a
//      baseline measured in the same run and directory: a loop of write + fdatasync per block;
//   2. the time to open (recover) a device holding 1,000,000 blocks, page cache warm and cold;
//   3. heap bytes per block with those 1,000,000 blocks open.
// Writes bench/results/engine.json and bench/results/engine.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, promises as fs, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deviceBytesForGroups, Engine, SLOTS_PER_GROUP } from '../src/index.js';
import type { BaselineOptions, PutsResult } from './measure.js';
import { baselineWriteSync, enginePuts, fileSystemOf } from './measure.js';

const ROOT = resolve(fileURLToPath(new URL('../../../../', import.meta.url)));
const DIR = process.env['RINGBLOCK_BENCH_DIR'] ?? join(ROOT, '.ringblock', 'bench');
const DURATION_MS = Number(process.env['RINGBLOCK_BENCH_SECONDS'] ?? 3) * 1000;
/** Every measurement runs this many times and the median is reported (the machine may be shared). */
const REPEATS = Number(process.env['RINGBLOCK_BENCH_REPEATS'] ?? 3);
const REOPEN_BLOCKS = Number(process.env['RINGBLOCK_BENCH_BLOCKS'] ?? 1_000_000);
const RESULTS = process.env['RINGBLOCK_BENCH_RESULTS'] ?? join(ROOT, 'bench', 'results');
const REOPEN_CHILD = fileURLToPath(new URL('./reopen.js', import.meta.url));

interface ReopenResult {
  openMs: number;
  heapBytesPerBlock: number;
  blocks: number;
  indexBytes: number;
}

function log(line: string): void {
  console.error(`[bench/engine] ${line}`);
}

async function fillDevice(path: string, blocks: number): Promise<{ seconds: number }> {
  await fs.rm(path, { force: true });
  const engine = await Engine.open(path, {
    create: true, sizeBytes: deviceBytesForGroups(Math.ceil(blocks / SLOTS_PER_GROUP) + 2), maxBatchOps: 4096, maxQueuedOps: 16384,
  });
  const data = Buffer.alloc(4096, 0x3c);
  const version = Buffer.from('0000000000000001', 'hex');
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 8192 }, async () => {
    while (next < blocks) {
      const n = next++;
      await engine.put(`fill-${n}`, version, data);
      if (n % 100_000 === 0) log(`  filled ${n} blocks`);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  await engine.close();
  return { seconds };
}

function reopen(path: string): ReopenResult {
  const output = execFileSync(process.execPath, ['--expose-gc', REOPEN_CHILD, path], { encoding: 'utf8' });
  return JSON.parse(output.trim().split('\n').pop()!) as ReopenResult;
}

/** Drops the page cache (root only) so the next open reads from the device; false when not allowed. */
function dropCaches(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

type Workload = { label: string; concurrency: number; overwriteKeys?: number };

const WORKLOADS: Workload[] = [
  { label: 'new blocks', concurrency: 1 },
  { label: 'new blocks', concurrency: 16 },
  { label: 'new blocks', concurrency: 64 },
  { label: 'overwrites', concurrency: 64, overwriteKeys: 10_000 },
];

const BASELINES: [keyof Baselines, BaselineOptions][] = [
  ['sparseFileHandle', { preallocated: false, api: 'filehandle' }],
  ['preallocatedFileHandle', { preallocated: true, api: 'filehandle' }],
  ['sparseCallback', { preallocated: false, api: 'callback' }],
];

/**
 * REPEATS passes, each measuring every baseline and then every engine workload, so that a busy
 * moment of a shared machine hits both sides; a workload's ratios are taken within each pass and
 * the medians reported.
 */
async function measureThroughput(): Promise<{ baseline: Baselines; puts: PutsFigure[] }> {
  const baselineRuns = new Map<keyof Baselines, { opsPerSecond: number; ops: number }[]>();
  const putRuns = WORKLOADS.map(() => [] as { result: PutsResult; goal: number; best: number }[]);
  for (let pass = 0; pass < REPEATS; pass++) {
    const passBaselines = {} as Baselines;
    for (const [name, options] of BASELINES) {
      passBaselines[name] = await baselineWriteSync(join(DIR, 'baseline'), DURATION_MS, options);
      baselineRuns.set(name, [...(baselineRuns.get(name) ?? []), passBaselines[name]]);
      log(`pass ${pass + 1}: baseline ${name} ${Math.round(passBaselines[name].opsPerSecond)}/s`);
    }
    const best = Math.max(...Object.values(passBaselines).map((b) => b.opsPerSecond));
    for (const [i, workload] of WORKLOADS.entries()) {
      const result = await enginePuts(join(DIR, 'engine-puts'), workload.concurrency, DURATION_MS, workload.overwriteKeys);
      putRuns[i]!.push({ result, goal: result.opsPerSecond / passBaselines.sparseFileHandle.opsPerSecond, best: result.opsPerSecond / best });
      log(`pass ${pass + 1}: engine ${workload.label} at ${workload.concurrency}: ${Math.round(result.opsPerSecond)}/s`);
    }
  }
  const baseline = {} as Baselines;
  for (const [name] of BASELINES) baseline[name] = median(baselineRuns.get(name)!, (r) => r.opsPerSecond);
  const puts = WORKLOADS.map((workload, i) => ({
    label: workload.label,
    ...median(putRuns[i]!, (run) => run.result.opsPerSecond).result,
    timesGoalBaseline: median(putRuns[i]!.map((run) => run.goal), (x) => x),
    timesBestBaseline: median(putRuns[i]!.map((run) => run.best), (x) => x),
  }));
  return { baseline, puts };
}

function median<T>(runs: T[], key: (run: T) => number): T {
  return [...runs].sort((a, b) => key(a) - key(b))[Math.floor(runs.length / 2)]!;
}

/** Runs `measure` REPEATS times and returns the run with the median `key`. */
async function medianOf<T>(measure: () => Promise<T>, key: (result: T) => number): Promise<T> {
  const runs: T[] = [];
  for (let i = 0; i < REPEATS; i++) runs.push(await measure());
  return median(runs, key);
}

type Baselines = Record<'sparseFileHandle' | 'preallocatedFileHandle' | 'sparseCallback', { opsPerSecond: number; ops: number }>;
type PutsFigure = PutsResult & { label: string; timesGoalBaseline: number; timesBestBaseline: number };

function markdown(report: ReturnType<typeof buildReport>): string {
  const { environment: env, baseline, puts, reopen: r } = report;
  const row = (p: PutsFigure) =>
    `| ${p.label} | ${p.concurrency} | ${Math.round(p.opsPerSecond)} | ${p.timesGoalBaseline.toFixed(1)}× | ${p.timesBestBaseline.toFixed(1)}× | ${p.latencyMsP50.toFixed(2)} | ${p.latencyMsP99.toFixed(2)} | ${p.opsPerBatchMean.toFixed(1)} |`;
  return [
    '# Engine benchmark',
    '',
    `Run ${report.date} on ${env.cpus} × ${env.cpuModel}, ${env.memoryGiB} GiB RAM, Node ${env.node}; load average at the start ${env.loadAverage}.`,
    `Directory \`${env.dir}\` on ${env.fileSystem.type} (${env.fileSystem.source}, mounted at ${env.fileSystem.mountPoint}); every file below is a regular file in it.`,
    '',
    '## Durable 4 KiB puts per second',
    '',
    `${env.repeats} passes; each pass runs every baseline and then every engine workload for ${env.durationSeconds} s (each on a fresh sparse file), and the`,
    'tables give medians over the passes — ratios are taken within a pass, so both sides share the machine\'s load at that moment.',
    'A put is counted when its promise resolved, i.e. after its data and header were fdatasync\'ed (one sync per group-commit',
    'round). The baselines, in the same directory: a sequential Node loop of one 4 KiB write + fdatasync per block.',
    '',
    '| baseline | writes/s |',
    '|---|---|',
    `| fs.promises FileHandle, fresh sparse file (the goal's baseline) | ${Math.round(baseline.sparseFileHandle.opsPerSecond)} |`,
    `| fs.promises FileHandle, preallocated file (no allocation to sync) | ${Math.round(baseline.preallocatedFileHandle.opsPerSecond)} |`,
    `| fs.write + fs.fdatasync callbacks (the API the engine uses), fresh sparse file | ${Math.round(baseline.sparseCallback.opsPerSecond)} |`,
    '',
    '| workload | concurrency | puts/s | × goal baseline | × best baseline of the pass | p50 ms | p99 ms | ops per round |',
    '|---|---|---|---|---|---|---|---|',
    ...puts.map(row),
    '',
    `Goal at concurrency 64: ≥ 10× the baseline — ${report.goals.putsAt64TimesBaseline ? 'met' : 'NOT met'}.`,
    '"overwrites": 64 callers overwriting 10,000 existing blocks (each put reads the stored header for its version check, and',
    'lands in the slot a superseded record left, so writes scatter).',
    '',
    `## Reopen with ${r.blocks} blocks`,
    '',
    `Filled with the engine itself (8192 callers, rounds of up to 4096 puts) in ${r.fillSeconds.toFixed(1)} s; device file ${(r.deviceBytes / 1024 ** 3).toFixed(2)} GiB.`,
    'Closed cleanly, so the checkpoint covers every record and opening reads headers only.',
    '',
    `Median of ${env.repeats} opens, each in a fresh process.`,
    '',
    '| page cache | open (recovery) | heap bytes per block |',
    '|---|---|---|',
    `| warm | ${(r.warm.openMs / 1000).toFixed(2)} s | ${r.warm.heapBytesPerBlock.toFixed(1)} |`,
    r.cold === undefined ? '| cold | not measured (cannot drop caches here) | |' : `| cold (after drop_caches) | ${(r.cold.openMs / 1000).toFixed(2)} s | ${r.cold.heapBytesPerBlock.toFixed(1)} |`,
    '',
    `Goals: open < 3 s — ${report.goals.reopenUnder3s ? 'met' : 'NOT met'}; ≤ 64 heap bytes per block — ${report.goals.heapPerBlockAtMost64 ? 'met' : 'NOT met'}.`,
    'Heap per block is `heapUsed + arrayBuffers` growth across the open, after `gc()`, in a fresh `node --expose-gc` process; the index',
    `itself (hash table + free-slot bitmap) is ${(r.warm.indexBytes / r.blocks).toFixed(1)} bytes per block.`,
    '',
  ].join('\n');
}

function buildReport(args: {
  dir: string;
  loadAverage: string;
  baseline: Baselines;
  puts: PutsFigure[];
  reopen: { blocks: number; deviceBytes: number; fillSeconds: number; warm: ReopenResult; cold: ReopenResult | undefined };
}) {
  const at64 = args.puts.find((p) => p.label === 'new blocks' && p.concurrency === 64)!;
  const coldOrWarm = args.reopen.cold ?? args.reopen.warm;
  return {
    date: new Date().toISOString(),
    environment: {
      dir: args.dir,
      fileSystem: fileSystemOf(args.dir),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
      loadAverage: args.loadAverage,
      durationSeconds: DURATION_MS / 1000,
      repeats: REPEATS,
    },
    baseline: args.baseline,
    puts: args.puts,
    reopen: args.reopen,
    goals: {
      putsAt64TimesBaseline: at64.timesGoalBaseline >= 10,
      reopenUnder3s: coldOrWarm.openMs < 3000 && args.reopen.warm.openMs < 3000,
      heapPerBlockAtMost64: args.reopen.warm.heapBytesPerBlock <= 64,
    },
  };
}

async function main(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  mkdirSync(RESULTS, { recursive: true });
  log(`directory ${DIR} (${JSON.stringify(fileSystemOf(DIR))})`);
  const loadAverage = loadavg().map((load) => load.toFixed(2)).join(' ');
  const { baseline, puts } = await measureThroughput();

  const reopenPath = join(DIR, 'engine-reopen');
  log(`reopen: filling a device with ${REOPEN_BLOCKS} blocks`);
  const fill = await fillDevice(reopenPath, REOPEN_BLOCKS);
  log(`  filled in ${fill.seconds.toFixed(1)} s`);
  const warm = await medianOf(async () => reopen(reopenPath), (r) => r.openMs);
  log(`  warm open ${warm.openMs.toFixed(0)} ms, ${warm.heapBytesPerBlock.toFixed(1)} heap bytes per block`);
  const cold = dropCaches() ? await medianOf(async () => (dropCaches(), reopen(reopenPath)), (r) => r.openMs) : undefined;
  if (cold !== undefined) log(`  cold open ${cold.openMs.toFixed(0)} ms`);
  const deviceBytes = (await fs.stat(reopenPath)).size;
  if (existsSync(reopenPath)) await fs.rm(reopenPath);

  const report = buildReport({ dir: DIR, loadAverage, baseline, puts, reopen: { blocks: REOPEN_BLOCKS, deviceBytes, fillSeconds: fill.seconds, warm, cold } });
  writeFileSync(join(RESULTS, 'engine.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(RESULTS, 'engine.md'), markdown(report));
  log(`wrote ${join(RESULTS, 'engine.json')} and engine.md`);
  process.stdout.write(markdown(report));
}

await main();
