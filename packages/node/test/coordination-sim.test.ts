// Deterministic simulation of quorum replication (issue #8 item 3): the real Coordinator and
// HintedHandoff of every node run against a simulated network, devices, clocks and ZooKeeper
// membership (test/sim/), with message loss, delay, reordering, crashes, restarts, partitions and
// ZooKeeper disconnections, all drawn from one seed. The history of every run is checked
// (test/sim/history.ts). A failure names its seed:
//   RINGBLOCK_SIM_SEED=<seed> node packages/node/dist/test/coordination-sim.test.js
// replays it and prints every simulated event and client operation. RINGBLOCK_SIM_SEEDS=<count>
// runs more seeds, RINGBLOCK_SIM_FIRST_SEED=<n> starts elsewhere.
import t from 'tap';
import { loadHasher } from '@ringblock/ring';
import { runSeed, type Breakage, type RunResult } from './sim/run.js';
import { describeOp } from './sim/history.js';

const hasher = await loadHasher();
const REPLAY = process.env['RINGBLOCK_SIM_SEED'];
const SEEDS = Number(process.env['RINGBLOCK_SIM_SEEDS'] ?? 2_000);
const FIRST_SEED = Number(process.env['RINGBLOCK_SIM_FIRST_SEED'] ?? 1);
/** Failing seeds reported in full at most (the rest are counted). */
const FAILURES_REPORTED_MAX = 3;
const SELF_TEST_SEEDS = 150;

function report(result: RunResult): string {
  return [
    `${result.summary}`,
    `  replay: RINGBLOCK_SIM_SEED=${result.seed} node packages/node/dist/test/coordination-sim.test.js`,
    ...result.violations.slice(0, 10).map((violation) => `  ${violation}`),
    `  faults: ${result.faults.join('; ')}`,
  ].join('\n');
}

if (REPLAY !== undefined) {
  t.test(`replay of seed ${REPLAY}`, async (t) => {
    const lines: string[] = [];
    const result = await runSeed(Number(REPLAY), { hasher, trace: (line) => lines.push(line) });
    console.log(lines.join('\n'));
    console.log(`history:\n${result.ops.map(describeOp).join('\n')}\nfaults:\n${result.faults.join('\n')}\n${result.summary}`);
    t.same(result.violations, [], report(result));
  });
} else {
  t.test(`${SEEDS} seeds keep every invariant`, async (t) => {
    const startedMs = performance.now();
    const failing: RunResult[] = [];
    let ops = 0;
    let events = 0;
    for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
      const result = await runSeed(seed, { hasher });
      ops += result.ops.length;
      events += result.events;
      if (result.violations.length > 0) failing.push(result);
    }
    t.comment(`${SEEDS} seeds (${FIRST_SEED}..${FIRST_SEED + SEEDS - 1}): ${ops} client operations, ${events} simulated events in ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
    t.equal(failing.length, 0, `failing seeds: ${failing.map((result) => result.seed).join(', ')}\n${failing.slice(0, FAILURES_REPORTED_MAX).map(report).join('\n')}`);
  });

  t.test('a seed replays exactly', async (t) => {
    const first = await runSeed(FIRST_SEED + 6, { hasher });
    const second = await runSeed(FIRST_SEED + 6, { hasher });
    t.equal(second.events, first.events);
    t.same(second.ops.map(describeOp), first.ops.map(describeOp));
    t.same(second.faults, first.faults);
  });

  // The checker's self-test: broken variants must be caught, so the runs above cannot pass vacuously.
  const caught = async (breakage: Breakage): Promise<RunResult[]> => {
    const failing: RunResult[] = [];
    for (let seed = 1; seed <= SELF_TEST_SEEDS; seed++) {
      const result = await runSeed(seed, { hasher, breakage });
      if (result.violations.length > 0) failing.push(result);
    }
    return failing;
  };

  t.test('caught: a coordinator that acknowledges quorum and all writes after one replica', async (t) => {
    const failing = await caught('weak-writes');
    t.comment(`${failing.length} of ${SELF_TEST_SEEDS} seeds caught it, first: ${failing[0]?.violations[0] ?? 'none'}`);
    t.ok(failing.length >= SELF_TEST_SEEDS / 10, 'found in at least one seed in ten');
    t.ok(failing.some((result) => result.violations.some((violation) => violation.startsWith('stale read'))), 'as a stale quorum read');
    t.ok(failing.some((result) => result.violations.some((violation) => violation.startsWith('write order'))), 'as writes ordered against real time');
  });

  t.test('caught: a device that acknowledges writes before they are durable', async (t) => {
    const failing = await caught('ack-before-durable');
    t.comment(`${failing.length} of ${SELF_TEST_SEEDS} seeds caught it, first: ${failing[0]?.violations[0] ?? 'none'}`);
    t.ok(failing.length >= 2, 'found in some seeds');
    t.ok(failing.some((result) => result.violations.some((violation) => violation.startsWith('lost write'))), 'as a lost acknowledged write');
  });
}
