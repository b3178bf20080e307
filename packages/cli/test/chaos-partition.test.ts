// The CI partition run: real ZooKeeper and four peers, each in its own network namespace, under
// partitions only (random halves, one node from its peers, from its peers and ZooKeeper, from
// ZooKeeper alone; some beyond the session timeout), for a fixed seed and about 75 s of workload
// (RINGBLOCK_CHAOS_PARTITION_DURATION / _SEEDS change that). It passes only with partitions really
// injected, zero violations, and nothing of the run's network left behind. Where this machine cannot
// create network namespaces it is skipped with the reason.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration } from '@ringblock/node';
import { runChaos } from '../src/chaos/runner.js';
import { readHistory } from '../src/chaos/history.js';
import { NAME_PREFIX } from '../src/chaos/netns-plan.js';
import { renderSummary, violationTotal } from '../src/chaos/summary.js';

const DURATION_DEFAULT = '75s';
const CLIENTS = 4;
/** Four, so random halves are two against two (with three they are one node against the rest). */
const NODES = 4;
/** At least one partition per this much workload (a partition and the settling after it take ~10 s). */
const PARTITION_EVERY_MS_MAX = 20_000;

const durationMs = parseDuration(process.env['RINGBLOCK_CHAOS_PARTITION_DURATION'] ?? DURATION_DEFAULT);
if (durationMs === undefined) throw new Error('RINGBLOCK_CHAOS_PARTITION_DURATION must be a duration such as 75s or 10m');
const seeds = (process.env['RINGBLOCK_CHAOS_PARTITION_SEEDS'] ?? '3').split(',').map((seed) => Number(seed.trim()));
if (seeds.some((seed) => !Number.isInteger(seed) || seed < 0)) throw new Error('RINGBLOCK_CHAOS_PARTITION_SEEDS must be comma-separated whole numbers');

for (const seed of seeds) {
  t.test(`partition chaos run, seed ${seed}, ${durationMs / 1000}s`, async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ringblock-chaos-partition-'));
    const lines: string[] = [];
    const summary = await runChaos({ seed, durationMs, nodes: NODES, clients: CLIENTS, dataDir, faults: ['partition'], log: (line) => (lines.push(line), t.comment(line)) });
    t.comment(renderSummary(summary));
    const skip = summary.skipped.find((skipped) => skipped.kind === 'partition');
    if (skip) {
      t.match(skip.reason, /namespace/, 'skipped with a reason');
      t.comment(`partitions skipped: ${skip.reason}`);
      await rm(dataDir, { recursive: true, force: true });
      return;
    }
    const passed = violationTotal(summary) === 0 && summary.problems.length === 0;
    t.teardown(() => (passed ? rm(dataDir, { recursive: true, force: true }) : t.comment(`kept for analysis: ${dataDir}`)));
    t.same(summary.check.counts, { 'lost-write': 0, 'stale-read': 0, resurrected: 0, phantom: 0, 'version-mismatch': 0, unverified: 0 }, 'no violations');
    t.same(summary.problems, [], 'every partition was made and healed, and every key was read after healing');
    t.ok(summary.faults.partition >= Math.floor(durationMs / PARTITION_EVERY_MS_MAX), `partitions were injected (${summary.faults.partition})`);
    t.equal(summary.faults.partition, Object.values(summary.faults).reduce((sum, count) => sum + count, 0), 'and nothing else');
    const { faults } = await readHistory(summary.historyFile!);
    t.ok(faults.every((fault) => fault.kind === 'partition' && /^(halves|node-from-peers|node-from-all|node-from-zookeeper) for \d+ ms/.test(fault.detail ?? '')), 'each recorded with its split and duration');
    t.ok(faults.some((fault) => /beyond the/.test(fault.detail ?? '')), 'some held beyond the session timeout');
    t.ok(summary.operations.put.ok > 100 && summary.operations.get.ok > 100 && summary.operations.delete.ok > 10, 'the workload made progress through the partitions');
    t.ok(summary.check.finalReads >= 48 * NODES, 'every key was read through every node after healing');
    const bridge = /bridge (\S+),/.exec(lines.find((line) => line.startsWith('peers in network namespaces')) ?? '')?.[1];
    t.ok(bridge?.startsWith(NAME_PREFIX), `the run named its bridge (${bridge})`);
    t.equal(spawnSync('ip', ['link', 'show', bridge!]).status, 1, 'the bridge is gone');
    const namespaces = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    t.notOk(namespaces.includes(`${bridge}-`), 'and so are the namespaces');
  });
}
