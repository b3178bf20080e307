// The CI chaos run: real ZooKeeper and three peers under every fault kind the machine allows, for a
// fixed seed and about 90 s of workload (RINGBLOCK_CHAOS_DURATION runs longer, RINGBLOCK_CHAOS_SEEDS
// runs more seeds, comma-separated, RINGBLOCK_CHAOS_FAULTS narrows the fault kinds). It passes only with
// zero violations, no fault that could not be injected or healed, and each enabled kind injected.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration } from '@ringblock/node';
import { runChaos } from '../src/chaos/runner.js';
import { FAULT_KINDS, type FaultKind } from '../src/chaos/history.js';
import { renderSummary, violationTotal } from '../src/chaos/summary.js';

const DURATION_DEFAULT = '90s';
const CLIENTS = 4;

const durationMs = parseDuration(process.env['RINGBLOCK_CHAOS_DURATION'] ?? DURATION_DEFAULT);
if (durationMs === undefined) throw new Error(`RINGBLOCK_CHAOS_DURATION must be a duration such as 90s or 20m`);
const seeds = (process.env['RINGBLOCK_CHAOS_SEEDS'] ?? '1').split(',').map((seed) => Number(seed.trim()));
if (seeds.some((seed) => !Number.isInteger(seed) || seed < 0)) throw new Error('RINGBLOCK_CHAOS_SEEDS must be comma-separated whole numbers');
const faults = (process.env['RINGBLOCK_CHAOS_FAULTS'] ?? FAULT_KINDS.join(',')).split(',').map((kind) => kind.trim()) as FaultKind[];
if (faults.some((kind) => !FAULT_KINDS.includes(kind))) throw new Error(`RINGBLOCK_CHAOS_FAULTS must name kinds among ${FAULT_KINDS.join(', ')}`);

for (const seed of seeds) {
  t.test(`chaos run, seed ${seed}, ${durationMs / 1000}s`, async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ringblock-chaos-'));
    const summary = await runChaos({ seed, durationMs, nodes: 3, clients: CLIENTS, dataDir, faults, log: (line) => t.comment(line) });
    t.comment(renderSummary(summary));
    const passed = violationTotal(summary) === 0 && summary.problems.length === 0;
    // A failing run keeps its history, node logs and devices for analysis.
    t.teardown(() => (passed ? rm(dataDir, { recursive: true, force: true }) : t.comment(`kept for analysis: ${dataDir}`)));
    t.same(summary.check.counts, { 'lost-write': 0, 'stale-read': 0, resurrected: 0, phantom: 0, 'version-mismatch': 0, unverified: 0 }, 'no violations');
    t.same(summary.problems, [], 'every fault was injected and healed, and every key was read after healing');
    const skipped = new Set(summary.skipped.map((skip) => skip.kind));
    for (const kind of faults.filter((kind) => !skipped.has(kind))) t.ok(summary.faults[kind] >= 1, `${kind} happened (${summary.faults[kind]} times)`);
    for (const skip of summary.skipped) t.match(skip.reason, /namespace/, `${skip.kind} skipped with a reason`);
    t.notOk(summary.interrupted);
    t.ok(summary.operations.put.ok > 100 && summary.operations.get.ok > 100 && summary.operations.delete.ok > 10, 'the workload made progress through the faults');
    t.equal(summary.check.keys, 48, 'every key was checked');
    t.ok(summary.check.finalReads >= 48 * 3, 'every key was read through every node after healing');
  });
}
