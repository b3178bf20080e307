// Ordered range collection: the table pass (range.ts) and the sorted snapshot with the index's
// insert journal (range-snapshot.ts). Every chunk sequence is compared with a brute-force filter
// over all entries, for arcs that wrap past 2^64, cover the whole ring or a sliver, with small and
// single chunks, across keys inserted after the snapshot, removals, re-inserts and growth.
import t from 'tap';
import { collectRangeChunk, KeyIndex, positionAt, RangeSnapshot, ringWindow } from '../src/index.js';

const U64 = 1n << 64n;
const high = (position: bigint) => Number(position >> 32n);
const low = (position: bigint) => Number(position & 0xffff_ffffn);

/** A seeded 64-bit generator (splitmix64): the same cases on every run. */
function random64(seed: bigint): () => bigint {
  let state = seed;
  return () => {
    state = (state + 0x9e3779b97f4a7c15n) % U64;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) % U64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) % U64;
    return z ^ (z >> 31n);
  };
}

type Collector = (index: KeyIndex, window: ReturnType<typeof ringWindow>, from: bigint, chunk: number) => ReturnType<typeof collectRangeChunk>;

/** Every position of the arc (namespace 0), in ring order, by collecting chunks of `chunk` entries. */
function collectAll(index: KeyIndex, start: bigint, end: bigint, chunk: number, collect: Collector, present: ReadonlySet<bigint>): bigint[] {
  const window = ringWindow(start, end);
  const found: bigint[] = [];
  let from = 0n;
  for (let chunks = 0; chunks < 100_000; chunks++) {
    const result = collect(index, window, from, chunk);
    // The snapshot may name removed keys (the engine's reader skips them); the table pass never does.
    for (const distance of result.distances) {
      const position = positionAt(window, distance);
      if (present.has(position)) found.push(position);
    }
    if (result.complete || result.distances.length === 0) return found;
    from = result.distances[result.distances.length - 1]! + 1n;
  }
  throw new Error('too many chunks');
}

function bruteForce(positions: Iterable<bigint>, start: bigint, end: bigint): bigint[] {
  const base = (start + 1n) % U64;
  const length = (end - start + U64) % U64;
  const distance = (p: bigint) => (p - base + U64) % U64;
  return [...positions].filter((p) => length === 0n || distance(p) < length).sort((a, b) => (distance(a) < distance(b) ? -1 : 1));
}

const tablePass: Collector = (index, window, from, chunk) => collectRangeChunk(index, 0, window, from, chunk);

/** An index of namespace-0 keys and the set of their positions, grown through `add`. */
function keyedIndex(): { index: KeyIndex; present: Set<bigint>; add(position: bigint): void } {
  const index = new KeyIndex();
  const present = new Set<bigint>();
  const add = (position: bigint) => {
    index.set(0, high(position), low(position), present.size, false);
    present.add(position);
  };
  return { index, present, add };
}

/** Chunks from `snapshot` (namespace 0); a stale snapshot fails the collection. */
function snapshotCollector(snapshot: RangeSnapshot): Collector {
  return (index, window, from, chunk) => {
    const result = snapshot.collect(index, 0, window, from, chunk);
    if (result === undefined) throw new Error('the snapshot is stale');
    return result;
  };
}

t.test('range chunks equal a brute-force filter, across wraps, removals and growth', async (t) => {
  const next = random64(7n);
  const index = new KeyIndex();
  const present = new Set<bigint>();
  // Uniform positions, a dense cluster just below 2^64 (its probe run wraps past the table end),
  // one at 0, and the same positions in namespace 1 (never returned for namespace 0).
  const add = (p: bigint) => {
    index.set(0, high(p), low(p), present.size, false);
    index.set(1, high(p), low(p), 0, false);
    present.add(p);
  };
  for (let i = 0; i < 3_000; i++) add(next());
  for (let i = 0; i < 200; i++) add(U64 - 1n - BigInt(i) * 7n);
  add(0n);
  t.ok(index.tableSize >= 8192, 'the table grew while filling');
  const arcs: [bigint, bigint][] = [[0n, 0n], [0n, 0n], [5n, 5n], [5n, 5n], [U64 - 2000n, 100n], [U64 - 1n, 0n], [1n << 63n, 1n << 62n]];
  for (let i = 0; i < 60; i++) {
    const start = next();
    // Short arcs (inside one home or a few), long ones, and wrapping ones.
    const length = i % 3 === 0 ? next() % (1n << 40n) : i % 3 === 1 ? next() : next() % (1n << 56n);
    arcs.push([start, (start + length) % U64]);
  }
  let snapshot = RangeSnapshot.build(index);
  const fromSnapshot: Collector = (index, window, from, chunk) => {
    const result = snapshot.collect(index, 0, window, from, chunk);
    if (result === undefined) throw new Error('the journal overflowed');
    return result;
  };
  const check = (label: string) => {
    for (const [name, collect] of [['table pass', tablePass], ['snapshot', fromSnapshot]] as const) {
      let compared = 0;
      for (const [i, [start, end]] of arcs.entries()) {
        const expected = bruteForce(present, start, end);
        // Small chunks (many cursors inside the arc) and one chunk for the whole arc.
        const chunk = i % 2 === 0 ? 16 + Number(start % 97n) : 1 << 20;
        const found = collectAll(index, start, end, chunk, collect, present);
        if (found.length !== expected.length || found.some((p, i) => p !== expected[i])) {
          t.fail(`${label}, ${name}: arc (${start}, ${end}] chunk ${chunk}: ${found.length} found, ${expected.length} expected`);
          return;
        }
        compared += found.length;
      }
      t.pass(`${label}, ${name}: ${arcs.length} arcs, ${compared} entries in order`);
    }
  };
  check('after filling');
  // Remove a third (including cluster members: backward shifts across the table end) and check again.
  let removed = 0;
  let missing = 0;
  const removedKeys = new Set<bigint>();
  for (const p of [...present]) {
    if (next() % 3n !== 0n) continue;
    if (index.remove(0, high(p), low(p)) === -1) missing++;
    present.delete(p);
    removedKeys.add(p);
    removed++;
  }
  t.ok(removed > 900 && missing === 0, `${removed} removed, each found`);
  for (const p of present) {
    if (index.get(0, high(p), low(p)) < 0) {
      t.fail(`entry ${p} is unreachable after the removals`);
      break;
    }
  }
  check('after removals');
  // Keys inserted after the snapshot come from the journal; some removed ones come back (in both).
  const back = [...removedKeys].slice(0, 100);
  for (const p of back) add(p);
  // (1,900 keys in two namespaces: within the journal's 4,096 entries.)
  for (let i = 0; i < 1_800; i++) add(next());
  check('after growing again (journaled)');
  // A journal that overflows makes the snapshot stale; a fresh one sees everything.
  for (let i = 0; i < 5_000; i++) add(next());
  t.equal(snapshot.collect(index, 0, ringWindow(0n, 1n << 63n), 0n, 10), undefined, 'a stale snapshot answers nothing');
  snapshot = RangeSnapshot.build(index);
  check('after a rebuild');
});

t.test('a yielding snapshot build sorts like the one-go build, lets other work run, and journals keys inserted meanwhile', async (t) => {
  const next = random64(11n);
  const { index, present, add } = keyedIndex();
  // Enough keys for several pieces of the sort; some share a top byte with many others, some sit
  // at the edges of the top-byte buckets.
  for (let i = 0; i < 150_000; i++) add(next());
  for (let i = 0; i < 64; i++) add((BigInt(i) << 56n) | 0x00ff_ffff_ffff_ffffn);
  for (let i = 0; i < 64; i++) add(BigInt(i) << 56n);
  let yields = 0;
  let insertedMeanwhile = 0;
  const snapshot = await RangeSnapshot.buildYielding(index, async () => {
    yields++;
    // Other work between two pieces: a client write of a new key.
    if (yields <= 3) {
      for (let i = 0; i < 500; i++) add(next());
      insertedMeanwhile += 500;
    }
    await new Promise((resolve) => setImmediate(resolve));
  });
  t.ok(yields >= 2, `the sort yielded ${yields} times for ${present.size} keys`);
  t.equal(insertedMeanwhile, Math.min(yields, 3) * 500, 'keys were inserted while it sorted');
  const arcs: [bigint, bigint][] = [[0n, 0n], [U64 - 1000n, 1n << 57n], [(5n << 56n) - 1n, 6n << 56n]];
  for (let i = 0; i < 20; i++) {
    const start = next();
    arcs.push([start, (start + (next() % (1n << 58n))) % U64]);
  }
  const check = (name: string, which: RangeSnapshot) => {
    for (const [start, end] of arcs) {
      const expected = bruteForce(present, start, end);
      const found = collectAll(index, start, end, 4096, snapshotCollector(which), present);
      if (found.length !== expected.length || found.some((p, i) => p !== expected[i])) t.fail(`${name}: arc (${start}, ${end}]: ${found.length} found, ${expected.length} expected`);
    }
  };
  check('yielding', snapshot);
  // A build restarts the index's journal: the snapshot before it is stale from then on (keys
  // inserted between the two builds are in neither journal), and says so.
  const oneGo = RangeSnapshot.build(index);
  t.equal(snapshot.collect(index, 0, ringWindow(0n, 0n), 0n, 10), undefined, 'a snapshot whose journal another build restarted answers nothing');
  check('one go', oneGo);
  t.pass(`${arcs.length} arcs in order from both builds, the keys inserted during the yielding one included`);
});

t.test('entries moved while a yielding build is suspended make it scan again, or at last build in one go; nothing is missed', async (t) => {
  const next = random64(13n);
  const { index, present, add } = keyedIndex();
  for (let i = 0; i < 200_000; i++) add(next());
  t.ok(index.tableSize > 1 << 18, `a table of ${index.tableSize} positions is scanned in several pieces`);
  const removeOne = () => {
    // Removals shift later members of a probe run backwards, possibly into the part already scanned.
    const [p] = present;
    index.remove(0, high(p!), low(p!));
    present.delete(p!);
  };
  const check = (label: string, snapshot: RangeSnapshot) => {
    const collect = snapshotCollector(snapshot);
    for (const [start, end] of [[0n, 0n], [1n << 60n, 1n << 61n], [U64 - (1n << 58n), 1n << 58n]] as const) {
      const expected = bruteForce(present, start, end);
      const found = collectAll(index, start, end, 1 << 20, collect, present);
      t.same(found, expected, `${label}: arc (${start}, ${end}] has all ${expected.length} keys in order`);
    }
  };

  let undisturbed = 0;
  check('undisturbed', await RangeSnapshot.buildYielding(index, async () => {
    undisturbed++;
    await new Promise((resolve) => setImmediate(resolve));
  }));
  // Removals during the first two attempts only: the third scans undisturbed.
  let yields = 0;
  const before = index.layoutChanges;
  const snapshot = await RangeSnapshot.buildYielding(index, async () => {
    yields++;
    if (yields === 1 || yields === 2) removeOne();
    await new Promise((resolve) => setImmediate(resolve));
  });
  t.equal(index.layoutChanges - before, 2, 'each removal counts as a layout change');
  t.ok(yields > undisturbed, `it scanned again (${yields} pauses, ${undisturbed} undisturbed)`);
  check('scanned again', snapshot);

  // A removal at every pause: every yielding attempt is spoiled, and the last resort is one go.
  yields = 0;
  const last = await RangeSnapshot.buildYielding(index, async () => {
    yields++;
    removeOne();
    await new Promise((resolve) => setImmediate(resolve));
  });
  t.equal(yields, 3, 'three attempts, each spoiled at its first pause, then one go');
  check('built in one go', last);
});
