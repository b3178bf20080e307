// Ring diffs: what moves when a node joins or leaves, checked as properties over seeded random rings.
import t from 'tap';
import { diffRings, HASH_SPACE_SIZE, loadHasher, rangeWidth, Ring, type RangeChange, type RingNode } from '../src/index.js';
import { randomInt, randomNames, seededRandom } from './random.js';

const hasher = await loadHasher();
const SEEDS = 20;
const REPLICATION_FACTOR = 3;
/** Allowed relative error of the data moved by one join against its expectation RF/(N+1). */
const MOVED_TOLERANCE = 0.1;

/** Sum over changes of width × |owners picked by `owners`|, as a fraction of the hash space. */
function replicaFraction(changes: readonly RangeChange[], owners: (change: RangeChange) => readonly string[]): number {
  const positions = changes.reduce((sum, change) => sum + rangeWidth(change) * BigInt(owners(change).length), 0n);
  return Number(positions) / Number(HASH_SPACE_SIZE);
}

/** A random ring of 3..24 nodes and one more node to add, with or without zones. */
function randomTopology(seed: number, zoned: boolean): { nodes: RingNode[]; joining: RingNode } {
  const random = seededRandom(seed);
  const count = randomInt(random, 3, 24);
  const zoneCount = randomInt(random, 2, 4);
  const all = randomNames(random, count + 1).map((name) =>
    zoned ? { name, zone: `zone-${randomInt(random, 1, zoneCount)}` } : { name },
  );
  return { nodes: all.slice(0, count), joining: all[count]! };
}

t.test('a join only adds the new node, displacing the last owners (no zones)', async (t) => {
  const errors: number[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) {
    const { nodes, joining } = randomTopology(seed, false);
    const before = new Ring({ nodes, hasher });
    const after = new Ring({ nodes: [...nodes, joining], hasher });
    const changes = diffRings(before, after);
    const label = `seed ${seed}, ${nodes.length} → ${nodes.length + 1} nodes`;

    const wrong = changes.filter((change) => {
      // The new list is the old one with the joining node inserted somewhere and the tail cut.
      const kept = change.newOwners.filter((name) => name !== joining.name);
      return (
        change.addedOwners.join() !== joining.name ||
        kept.join() !== change.oldOwners.slice(0, kept.length).join() ||
        change.removedOwners.join() !== change.oldOwners.slice(kept.length).join()
      );
    });
    t.same(wrong, [], `${label}: every change adds the new node and drops only displaced tail owners`);

    const moved = replicaFraction(changes, (change) => change.addedOwners);
    const share = after.ownershipShare().get(joining.name)!.replica;
    t.ok(Math.abs(moved - share) < 1e-12, `${label}: data moved is the new node's replica share`);
    const dropped = replicaFraction(changes, (change) => change.removedOwners);
    t.ok(Math.abs(dropped - moved) < 1e-12, `${label}: as much dropped as added`);
    const expected = REPLICATION_FACTOR / (nodes.length + 1);
    errors.push(moved / expected - 1);
    t.ok(
      Math.abs(moved / expected - 1) <= MOVED_TOLERANCE,
      `${label}: moved ${moved.toFixed(4)} of the key space, expected RF/(N+1) = ${expected.toFixed(4)}`,
    );
  }
  const meanError = errors.reduce((sum, error) => sum + error, 0) / errors.length;
  t.ok(Math.abs(meanError) < 0.03, `no bias over the seeds: mean relative error ${(meanError * 100).toFixed(2)}%`);
});

t.test('a join with zones only adds the new node; a leave only removes the leaving node', async (t) => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    for (const zoned of [false, true]) {
      const { nodes, joining } = randomTopology(seed, zoned);
      const small = new Ring({ nodes, hasher });
      const large = new Ring({ nodes: [...nodes, joining], hasher });
      const label = `seed ${seed}, ${nodes.length} nodes, ${zoned ? 'zones' : 'no zones'}`;
      const join = diffRings(small, large);
      const leave = diffRings(large, small);
      t.ok(join.length > 0, `${label}: a join changes something`);
      t.ok(
        join.every((change) => change.addedOwners.every((name) => name === joining.name)),
        `${label}: a join adds only the new node`,
      );
      t.ok(
        join.every((change) => change.removedOwners.length === change.addedOwners.length),
        `${label}: each added owner displaces one (N ≥ RF)`,
      );
      t.ok(
        leave.every((change) => change.removedOwners.join() === joining.name),
        `${label}: a leave removes only the leaving node`,
      );
      t.same(
        leave.map((change) => [change.start, change.end, change.addedOwners, change.removedOwners]),
        join.map((change) => [change.start, change.end, change.removedOwners, change.addedOwners]),
        `${label}: a leave is the join reversed`,
      );
    }
  }
});

t.test('diffs of identical rings, rings without nodes and other settings', async (t) => {
  const nodes = randomNames(seededRandom(99), 5).map((name) => ({ name }));
  const ring = new Ring({ nodes, hasher });
  t.same(diffRings(ring, ring), [], 'a ring against itself: nothing');
  t.same(diffRings(ring, new Ring({ nodes: [...nodes].reverse(), hasher })), [], 'node order is not a change');

  const all = diffRings(ring, ring, { includeUnchanged: true });
  t.equal(all.length, ring.ranges().length, 'includeUnchanged lists every range');
  t.equal(all.reduce((sum, change) => sum + rangeWidth(change), 0n), HASH_SPACE_SIZE, '…covering the circle once');

  const empty = new Ring({ nodes: [], hasher });
  t.same(diffRings(empty, empty), []);
  const bootstrap = diffRings(empty, ring);
  t.same(
    bootstrap.map((change) => [change.start, change.end, change.oldOwners, change.addedOwners]),
    ring.ranges().map((range) => [range.start, range.end, [], range.owners]),
    'from no nodes: every range is added to all its owners',
  );

  const lowerRf = diffRings(ring, new Ring({ nodes, replicationFactor: 2, hasher }));
  t.ok(lowerRf.length > 0);
  t.ok(
    lowerRf.every((change) => change.addedOwners.length === 0 && change.removedOwners.length === 1),
    'RF 3 → 2 drops one owner everywhere and adds none',
  );

  const fewerVnodes = diffRings(ring, new Ring({ nodes, vnodes: 64, hasher }), { includeUnchanged: true });
  t.equal(fewerVnodes.length, ring.ranges().length, 'arcs split at the union of both rings\' tokens');
});
