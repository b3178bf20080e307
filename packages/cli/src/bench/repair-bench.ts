// `ringblock bench repair`: anti-entropy on a 3-node cluster holding `megabytes` of blocks (RF 3, so
// every node holds all of them). Two figures (issue: self-healing):
// 1. The cost of finding that nothing differs: a full repair task over identical replicas, and the
//    bytes its Merkle comparisons exchanged (requests and answers, every node) per GiB stored.
// 2. The time a replaced node (same name, empty device) takes to hold every block again, by
//    anti-entropy alone (hints and read repair off), and the bytes streamed for it; then a full
//    repair confirms nothing still differs.
// Writes bench/results/repair.{json,md}.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalCluster } from '../local-cluster.js';
import type { RepairTaskJson } from '../repair-command.js';
import { BLOCK_BYTES, fill, metricTotal, metricValue } from './cluster-data.js';

/** Bound on one full repair or on the replaced node's recovery. */
const PHASE_TIMEOUT_MS = 30 * 60_000;
/** How often progress is read (the node's own gauges: a read, not a wait for an event we could get). */
const POLL_MS = 200;
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

export interface RepairBenchOptions {
  resultsDir: string;
  workDir: string;
  megabytes: number;
  /** RINGBLOCK_REPAIR_RATE of every node (the default limit raised, as for the migration bench). */
  repairRate: string;
}

const COMPARE_BYTES = 'ringblock_antientropy_compare_bytes_total';
const STREAM_BYTES = 'ringblock_antientropy_bytes_sent_total';

async function poll<T>(what: string, read: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not done after ${PHASE_TIMEOUT_MS / 60_000} min`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Runs a full repair task to its end; returns it and how long it took. */
async function fullRepair(url: string, token: string): Promise<{ task: RepairTaskJson; seconds: number }> {
  const started = performance.now();
  const response = await fetch(`${url}/cluster/repair`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 202) throw new Error(`POST /cluster/repair answered ${response.status}: ${await response.text()}`);
  const { task: id } = (await response.json()) as { task: string };
  const task = await poll(`repair ${id}`, async () => {
    const status = (await (await fetch(`${url}/repairs/${id}`)).json()) as RepairTaskJson;
    return status.state === 'running' ? undefined : status;
  });
  if (task.state !== 'done') throw new Error(`repair ${id} ended ${task.state}: ${JSON.stringify(task.progress)}`);
  return { task, seconds: (performance.now() - started) / 1000 };
}

export async function runRepairBench(options: RepairBenchOptions, progress: (line: string) => void): Promise<void> {
  const blocks = Math.ceil((options.megabytes * MIB) / BLOCK_BYTES);
  const dataDir = join(options.workDir, 'repair');
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const deviceSize = `${Math.max(256, Math.ceil(options.megabytes * 1.5))}M`;
  // Only anti-entropy heals here: no hints, no read repair, no scrub, no periodic rounds (the
  // replaced node's return starts the rounds; the tasks are started by the bench).
  const env = { RINGBLOCK_LOG_LEVEL: 'warn', RINGBLOCK_HINTS: 'off', RINGBLOCK_READ_REPAIR_CHANCE: '0', RINGBLOCK_SCRUB_INTERVAL: '0', RINGBLOCK_ANTI_ENTROPY_INTERVAL: '0', RINGBLOCK_REPAIR_RATE: options.repairRate };
  const cluster = await LocalCluster.start({ nodes: 3, basePort: 0, dataDir, deviceSize, env });
  try {
    const urls = cluster.nodes.map((node) => node.spec.url);
    progress(`filling ${blocks} blocks (${options.megabytes} MiB) at all…`);
    await fill(urls[0]!, blocks, 'r-', progress);
    const storedBytes = await metricTotal(urls, 'ringblock_bytes_stored');

    progress('full repair over identical replicas…');
    const compareBefore = await metricTotal(urls, COMPARE_BYTES);
    const streamBefore = await metricTotal(urls, STREAM_BYTES);
    const idle = await fullRepair(urls[0]!, cluster.token);
    const idleCompareBytes = (await metricTotal(urls, COMPARE_BYTES)) - compareBefore;
    const idleStreamBytes = (await metricTotal(urls, STREAM_BYTES)) - streamBefore;

    progress('replacing node-3 with an empty device…');
    const replaced = cluster.node('node-3');
    await replaced.stop();
    await rm(join(replaced.spec.dataDir, 'device.img'), { force: true });
    const streamBeforeReplace = await metricTotal(urls.slice(0, 2), STREAM_BYTES);
    const started = performance.now();
    replaced.start();
    await replaced.waitReady();
    const readySeconds = (performance.now() - started) / 1000;
    await poll('node-3 to hold every block', async () => ((await metricValue(replaced.spec.url, 'ringblock_blocks_stored')) >= blocks ? true : undefined));
    const convergeSeconds = (performance.now() - started) / 1000;
    const replaceStreamBytes = (await metricTotal(urls.slice(0, 2), STREAM_BYTES)) - streamBeforeReplace;
    progress('full repair to confirm nothing differs…');
    const confirm = await fullRepair(urls[0]!, cluster.token);

    const result = {
      benchmark: 'repair',
      date: new Date().toISOString(),
      blocks,
      megabytesStored: options.megabytes,
      replicaBytesStored: storedBytes,
      repairRate: options.repairRate,
      idle: {
        seconds: idle.seconds,
        rangeComparisons: idle.task.progress.rangesDone,
        blocksRepaired: idle.task.progress.blocksRepaired,
        compareBytes: idleCompareBytes,
        streamBytes: idleStreamBytes,
        compareBytesPerGiBReplicas: idleCompareBytes / (storedBytes / GIB),
        compareBytesPerGiBData: idleCompareBytes / ((blocks * BLOCK_BYTES) / GIB),
      },
      replaced: {
        readySeconds,
        convergeSeconds,
        streamBytes: replaceStreamBytes,
        streamMBps: replaceStreamBytes / 1e6 / convergeSeconds,
        confirmBlocksRepaired: confirm.task.progress.blocksRepaired,
        confirmSeconds: confirm.seconds,
      },
    };
    await mkdir(options.resultsDir, { recursive: true });
    await writeFile(join(options.resultsDir, 'repair.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(join(options.resultsDir, 'repair.md'), renderMarkdown(result));
    progress(`idle repair: ${idleCompareBytes} bytes compared (${(result.idle.compareBytesPerGiBData / 1024).toFixed(1)} KiB per GiB of data); replaced node converged in ${convergeSeconds.toFixed(1)} s`);
  } finally {
    await cluster.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

type RepairBenchResult = {
  date: string; blocks: number; megabytesStored: number; replicaBytesStored: number; repairRate: string;
  idle: { seconds: number; rangeComparisons: number; blocksRepaired: number; compareBytes: number; streamBytes: number; compareBytesPerGiBReplicas: number; compareBytesPerGiBData: number };
  replaced: { readySeconds: number; convergeSeconds: number; streamBytes: number; streamMBps: number; confirmBlocksRepaired: number; confirmSeconds: number };
};

function renderMarkdown(result: RepairBenchResult): string {
  const { idle, replaced } = result;
  return [
    '# Anti-entropy benchmark (3 nodes, RF 3)',
    '',
    `${result.blocks} blocks (${result.megabytesStored} MiB of data; ${(result.replicaBytesStored / MIB).toFixed(0)} MiB of replicas) on durable file devices; repair rate limit ${result.repairRate}/s per node; hints, read repair, scrub and periodic rounds off. Produced by \`bench/repair\` on ${result.date}.`,
    '',
    '## Nothing differs: a full repair over identical replicas',
    '',
    '| figure | value |',
    '|---|---|',
    `| time of the full repair | ${idle.seconds.toFixed(2)} s |`,
    `| (range, peer) comparisons | ${idle.rangeComparisons} |`,
    `| Merkle bytes exchanged (requests + answers, all nodes) | ${idle.compareBytes} B |`,
    `| per GiB of data stored (goal: under 1 MiB) | ${(idle.compareBytesPerGiBData / 1024).toFixed(1)} KiB |`,
    `| per GiB of replicas stored | ${(idle.compareBytesPerGiBReplicas / 1024).toFixed(1)} KiB |`,
    `| blocks streamed / repaired | ${idle.streamBytes} B / ${idle.blocksRepaired} |`,
    '',
    '## A replaced node (same name, empty device)',
    '',
    '| figure | value |',
    '|---|---|',
    `| start → ready | ${replaced.readySeconds.toFixed(1)} s |`,
    `| start → holds every block | ${replaced.convergeSeconds.toFixed(1)} s |`,
    `| bytes streamed to it (incl. framing) | ${(replaced.streamBytes / MIB).toFixed(1)} MiB (${replaced.streamMBps.toFixed(1)} MB/s) |`,
    `| blocks a full repair found still differing afterwards | ${replaced.confirmBlocksRepaired} (repair took ${replaced.confirmSeconds.toFixed(1)} s) |`,
    '',
  ].join('\n');
}
