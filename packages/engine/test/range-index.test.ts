// Ordered range collection over the index (range.ts on key-index.ts): the table is probed from the
// homes of the arc only, so these checks compare every chunk sequence with a brute-force filter
// over all entries, for arcs that wrap past 2^64, cover the whole ring, lie inside one home, and
// with probe runs that wrap past the end of the table, across removals (backward shifts) and growth.
import t from 'tap';
import { collectRangeChunk, KeyIndex, positionAt, ringWindow } from '../src/index.js';

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

/** Every position of the arc (namespace 0), in ring order, by collecting chunks of `chunk` entries. */
function collectAll(index: KeyIndex, start: bigint, end: bigint, chunk: number): bigint[] {
  const window = ringWindow(start, end);
  const found: bigint[] = [];
  let from = 0n;
  for (let chunks = 0; chunks < 100_000; chunks++) {
    const result = collectRangeChunk(index, 0, window, from, chunk);
    for (const distance of result.distances) found.push(positionAt(window, distance));
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
  for (let i = 0; i < 150; i++) {
    const start = next();
    // Short arcs (inside one home or a few), long ones, and wrapping ones.
    const length = i % 3 === 0 ? next() % (1n << 40n) : i % 3 === 1 ? next() : next() % (1n << 56n);
    arcs.push([start, (start + length) % U64]);
  }
  const check = (label: string) => {
    let compared = 0;
    for (const [i, [start, end]] of arcs.entries()) {
      const expected = bruteForce(present, start, end);
      // Small chunks (many cursors inside the arc) and one chunk for the whole arc.
      const chunk = i % 2 === 0 ? 1 + Number(start % 97n) : 1 << 20;
      const found = collectAll(index, start, end, chunk);
      if (found.length !== expected.length || found.some((p, i) => p !== expected[i])) {
        t.fail(`${label}: arc (${start}, ${end}] chunk ${chunk}: ${found.length} found, ${expected.length} expected`);
        return;
      }
      compared += found.length;
    }
    t.pass(`${label}: ${arcs.length} arcs, ${compared} entries in order`);
  };
  check('after filling');
  // Remove a third (including cluster members: backward shifts across the table end) and check again.
  let removed = 0;
  let missing = 0;
  for (const p of [...present]) {
    if (next() % 3n !== 0n) continue;
    if (index.remove(0, high(p), low(p)) === -1) missing++;
    present.delete(p);
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
  for (let i = 0; i < 2_000; i++) add(next());
  check('after growing again');
});
