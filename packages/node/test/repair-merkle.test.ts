// Merkle trees over ring ranges (pure): buckets partition a range exactly (plain, wrapped, whole ring,
// narrower than the bucket count), identical record sets give identical trees, and one changed
// version, tombstone flag, added or removed record shows up as exactly its bucket — by the full diff
// and by the drill-down a peer exchange uses. Seeded: every failure replays from its seed.
import t from 'tap';
import { loadHasher } from '@ringblock/engine';
import { HASH_SPACE_SIZE, rangeContains, rangeWidth, type Arc } from '@ringblock/ring';
import {
  bucketOf, bucketsArc, bucketStart, buildTree, coalesceBuckets, descendants, hashesFromHex, hashesToHex, MerkleBuilder, type MerkleRecord, type MerkleTree,
} from '../src/repair/index.js';
import { arcDistance } from '../src/transfer/index.js';
import { encodeVersion } from '../src/version.js';
import { seededRandom } from './migration-fixtures.js';

const hasher = await loadHasher();
const MASK = HASH_SPACE_SIZE - 1n;

const RANGES: Record<string, Arc> = {
  plain: { start: 1n << 60n, end: 5n << 60n },
  wrapped: { start: 15n << 60n, end: 2n << 60n },
  whole: { start: 12345n, end: 12345n },
  narrow: { start: 1000n, end: 1300n },
};

function randomPosition(random: () => number, arc: Arc): bigint {
  const width = rangeWidth(arc);
  const fraction = BigInt(Math.floor(random() * 2 ** 32)) * (1n << 32n) + BigInt(Math.floor(random() * 2 ** 32));
  return (arc.start + 1n + ((fraction * width) >> 64n)) & MASK;
}

/** `count` records with distinct positions on `arc`, in ring order from the range start. */
function records(seed: number, arc: Arc, count: number): MerkleRecord[] {
  const random = seededRandom(seed);
  const byPosition = new Map<bigint, MerkleRecord>();
  for (let i = 0; byPosition.size < count && i < count * 4; i++) {
    const position = randomPosition(random, arc);
    const version = encodeVersion({ physicalMs: 1_700_000_000_000 + Math.floor(random() * 1e9), logical: Math.floor(random() * 10), node: `node-${1 + Math.floor(random() * 3)}` });
    byPosition.set(position, { id: `b-${seed}-${i}`, position, version, tombstone: random() < 0.2 });
  }
  return [...byPosition.values()].sort((a, b) => (arcDistance(arc, a.position) < arcDistance(arc, b.position) ? -1 : 1));
}

function tree(arc: Arc, list: readonly MerkleRecord[], depth = 10): Promise<MerkleTree> {
  return buildTree(arc, depth, hasher, list);
}

function bucketOfPosition(arc: Arc, depth: number, position: bigint): number {
  return bucketOf(rangeWidth(arc), depth, arcDistance(arc, position));
}

/** The leaves that differ, found the way the repairer does: by levels, 5 at a time, only under differing nodes. */
function drillDown(local: MerkleTree, remote: MerkleTree): number[] {
  let level = 0;
  let differing = local.root === remote.root ? [] : [0];
  while (level < local.depth && differing.length > 0) {
    const next = Math.min(local.depth, level + 5);
    const indexes = descendants(differing, next - level);
    differing = local.differing(next, indexes, indexes.map((index) => remote.hash(next, index)));
    level = next;
  }
  return differing;
}

for (const [name, arc] of Object.entries(RANGES)) {
  t.test(`${name} range: buckets partition the range exactly`, async (t) => {
    const depth = 6;
    const width = rangeWidth(arc);
    let covered = 0n;
    for (let leaf = 0; leaf < 1 << depth; leaf++) {
      t.ok(bucketStart(width, depth, leaf) <= bucketStart(width, depth, leaf + 1), 'bucket starts ascend');
      const sub = bucketsArc(arc, depth, leaf, leaf);
      if (!sub) continue;
      covered += rangeWidth(sub);
      // The first and last position of the bucket lie in it, and map back to it.
      const first = (sub.start + 1n) & MASK;
      t.ok(rangeContains(arc, first) && rangeContains(arc, sub.end), 'a bucket lies on its range');
      t.equal(bucketOfPosition(arc, depth, first), leaf);
      t.equal(bucketOfPosition(arc, depth, sub.end), leaf);
    }
    t.equal(covered, width, 'the buckets cover the range once');
    const all = bucketsArc(arc, depth, 0, (1 << depth) - 1);
    t.same(all, arc, 'all buckets together are the range');
  });

  t.test(`${name} range: every record lies in the arc of its bucket, and in no other`, async (t) => {
    const depth = 8;
    const list = records(11, arc, name === 'narrow' ? 200 : 3000);
    const arcs = Array.from({ length: 1 << depth }, (_, leaf) => bucketsArc(arc, depth, leaf, leaf));
    let misplaced = 0;
    for (const record of list) {
      const leaf = bucketOfPosition(arc, depth, record.position);
      if (!arcs[leaf] || !rangeContains(arcs[leaf], record.position)) misplaced++;
      if (leaf > 0 && arcs[leaf - 1] && rangeContains(arcs[leaf - 1]!, record.position)) misplaced++;
    }
    t.equal(misplaced, 0);
  });

  t.test(`${name} range: identical sets give identical trees; each single change shows as exactly its bucket`, async (t) => {
    const count = name === 'narrow' ? 150 : 5000;
    for (const seed of [1, 2, 3]) {
      const list = records(seed, arc, count);
      const a = await tree(arc, list);
      const b = await tree(arc, list.map((record) => ({ ...record, version: Buffer.from(record.version) })));
      t.equal(a.root, b.root, `seed ${seed}: same root`);
      t.same(a.diff(b), [], 'no differing bucket');
      t.equal(a.records, list.length);
      const random = seededRandom(seed * 100);
      const changes: [string, (list: MerkleRecord[], at: number) => MerkleRecord[]][] = [
        ['newer version', (l, at) => l.map((r, i) => (i === at ? { ...r, version: encodeVersion({ physicalMs: 1_800_000_000_000, logical: 0, node: 'node-1' }) } : r))],
        ['tombstone flag', (l, at) => l.map((r, i) => (i === at ? { ...r, tombstone: !r.tombstone } : r))],
        ['record missing', (l, at) => l.filter((_, i) => i !== at)],
      ];
      for (const [what, change] of changes) {
        const at = Math.floor(random() * list.length);
        const changed = await tree(arc, change(list, at));
        const expected = [bucketOfPosition(arc, 10, list[at]!.position)];
        t.not(changed.root, a.root, `${what}: the root differs`);
        t.same(a.diff(changed), expected, `${what}: exactly the record's bucket differs`);
        t.same(drillDown(a, changed), expected, `${what}: the drill-down finds the same bucket`);
        const [sub] = a.diffArcs(changed);
        t.ok(sub && rangeContains(sub, list[at]!.position), `${what}: the differing arc holds the record`);
      }
    }
  });
}

t.test('an empty range and an empty bucket hash to 0; a filled one does not', async (t) => {
  const arc = RANGES['plain']!;
  const empty = await tree(arc, []);
  t.equal(empty.root, 0n);
  const one = await tree(arc, records(5, arc, 1));
  t.not(one.root, 0n);
  t.same(empty.diff(one), [bucketOfPosition(arc, 10, records(5, arc, 1)[0]!.position)]);
});

t.test('trees are deterministic and depend on the range and depth', async (t) => {
  const arc = RANGES['plain']!;
  const list = records(9, arc, 2000);
  t.equal((await tree(arc, list)).root, (await tree(arc, list)).root);
  t.not((await tree(arc, list, 10)).root, (await tree(arc, list, 9)).root, 'another depth buckets differently');
});

t.test('many differing buckets: adjacent ones coalesce into one arc each run', async (t) => {
  const arc = RANGES['wrapped']!;
  const depth = 10;
  t.same(coalesceBuckets(arc, depth, [3, 4, 5, 9, 1023]).length, 3);
  const runs = coalesceBuckets(arc, depth, [3, 4, 5]);
  t.same(runs, [bucketsArc(arc, depth, 3, 5)]);
  const everything = coalesceBuckets(arc, depth, Array.from({ length: 1 << depth }, (_, i) => i));
  t.same(everything, [arc], 'a wiped replica differs everywhere: one arc, the whole range');
});

t.test('the builder refuses records out of ring order or off the range', async (t) => {
  const arc = RANGES['plain']!;
  const [first, second] = records(4, arc, 2);
  const builder = new MerkleBuilder(arc, 10, hasher);
  builder.add(second!);
  t.throws(() => builder.add(first!), /ascending ring order/);
  t.throws(() => new MerkleBuilder(arc, 10, hasher).add({ ...first!, position: arc.start }), /lies on the range/);
  t.throws(() => new MerkleBuilder(arc, 15, hasher), /depth/);
});

t.test('a bucket larger than the scratch buffer hashes like any other', async (t) => {
  const arc = RANGES['plain']!;
  const list = records(8, arc, 4000);
  // Depth 1: two buckets of ~2000 records (~100 KiB each) each.
  const a = await tree(arc, list, 1);
  const b = await tree(arc, list, 1);
  t.equal(a.root, b.root);
  t.not(a.hash(1, 0), 0n);
});

t.test('hashes travel as hex and come back equal', async (t) => {
  const list = [0n, 1n, MASK, 0xdeadbeefn];
  const text = hashesToHex(list);
  t.equal(text.length, 64);
  t.same(hashesFromHex(text, 4), list);
  t.equal(hashesFromHex(text, 3), undefined, 'the count is checked');
  t.equal(hashesFromHex(`${text.slice(0, 63)}g`, 4), undefined, 'the digits are checked');
});
