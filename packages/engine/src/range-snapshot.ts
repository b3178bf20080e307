// Ordered range collection for arcs, without a pass over the whole index per chunk. The index is a
// hash table (no order), and a migration or repair scans hundreds of small arcs: a pass over a
// table of a million entries per arc made those passes most of a node's CPU. So the first arc scan
// sorts every key's position once (per namespace, 8 bytes per key), and the index journals the
// keys inserted after that (bounded); a chunk is then a binary search in the sorted positions plus
// a filter over the journal. Removed keys stay in the snapshot: the reader finds no slot for them
// and skips them (range scans are weakly consistent, as with the table pass). When the journal
// overflows, the next chunk sorts afresh.
import { assert } from './errors.js';
import type { KeyIndex } from './key-index.js';
import type { RangeChunk, RingWindow } from './range.js';

const U64_LIMIT = 1n << 64n;
/** Journal entries at least, and one per this many snapshot entries (rebuild when it fills). */
const JOURNAL_ENTRIES_MIN = 4096;
const SNAPSHOT_ENTRIES_PER_JOURNAL_ENTRY = 8;

export class RangeSnapshot {
  private constructor(private readonly byNamespace: ReadonlyMap<number, BigUint64Array>) {}

  /** Sorts the positions of every key of `index` and starts its journal, in one go. */
  static build(index: KeyIndex): RangeSnapshot {
    const pending = scanIntoBuckets(index);
    for (const namespace of pending) for (let bucket = 0; bucket < BUCKETS; bucket++) sortBucket(namespace, bucket);
    return new RangeSnapshot(new Map(pending.map((namespace) => [namespace.namespace, namespace.positions])));
  }

  /**
   * The same, letting `yieldNow` run other work between pieces of the sort (at most about
   * SORT_ENTRIES_PER_PIECE keys each): sorting every position at once held the event loop for the
   * whole sort, 15 ms at 65k keys, half a second at 4M, seconds for the largest devices, at the start
   * of every migration. The table scan itself stays in one piece, so it sees one state of the index,
   * and the journal starts with it: a key inserted while the sort runs is in the journal.
   */
  static async buildYielding(index: KeyIndex, yieldNow: () => Promise<void>): Promise<RangeSnapshot> {
    const pending = scanIntoBuckets(index);
    let sinceYield = 0;
    for (const namespace of pending) {
      for (let bucket = 0; bucket < BUCKETS; bucket++) {
        sinceYield += sortBucket(namespace, bucket);
        if (sinceYield >= SORT_ENTRIES_PER_PIECE) {
          await yieldNow();
          sinceYield = 0;
        }
      }
    }
    return new RangeSnapshot(new Map(pending.map((namespace) => [namespace.namespace, namespace.positions])));
  }

  /** Bytes held by the sorted positions. */
  get heapBytes(): number {
    let bytes = 0;
    for (const positions of this.byNamespace.values()) bytes += positions.byteLength;
    return bytes;
  }

  /**
   * The `maxEntries` smallest distances from window.base, at or after `fromDistance`, of keys of
   * `namespace` in the snapshot or in `index`'s journal; undefined when the journal overflowed
   * (the snapshot is stale: build another).
   */
  collect(index: KeyIndex, namespace: number, window: RingWindow, fromDistance: bigint, maxEntries: number): RangeChunk | undefined {
    const journal = index.journaled();
    if (journal === undefined) return undefined;
    const length = window.whole ? U64_LIMIT : (BigInt(window.lengthHigh) << 32n) | BigInt(window.lengthLow);
    if (fromDistance >= length) return { distances: new BigUint64Array(0), complete: true };
    // From the snapshot: positions from base+fromDistance to the arc's last one, as (at most) two
    // ascending runs of the sorted array when the arc wraps past 2^64.
    const positions = this.byNamespace.get(namespace) ?? new BigUint64Array(0);
    const first = (window.base + fromDistance) % U64_LIMIT;
    const last = (window.base + length - 1n) % U64_LIMIT;
    const runs: [number, number][] = first <= last
      ? [[lowerBound(positions, first), upperBound(positions, last)]]
      : [[lowerBound(positions, first), positions.length], [0, upperBound(positions, last)]];
    const taken: bigint[] = [];
    let more = false;
    for (const [from, to] of runs) {
      for (let i = from; i < to; i++) {
        if (taken.length === maxEntries) {
          more = true;
          break;
        }
        taken.push((positions[i]! - window.base + U64_LIMIT) % U64_LIMIT);
      }
      if (more) break;
    }
    // From the journal: keys inserted since, in the same distance interval.
    for (let at = 0; at < journal.length * 3; at += 3) {
      if (journal.words[at] !== namespace) continue;
      const position = (BigInt(journal.words[at + 1]!) << 32n) | BigInt(journal.words[at + 2]!);
      const distance = (position - window.base + U64_LIMIT) % U64_LIMIT;
      if (distance >= fromDistance && distance < length) taken.push(distance);
    }
    const sorted = BigUint64Array.from(taken).sort();
    // A key removed and inserted again is in both: keep one.
    let unique = 0;
    for (let i = 0; i < sorted.length; i++) {
      if (i === 0 || sorted[i] !== sorted[unique - 1]) sorted[unique++] = sorted[i]!;
    }
    const complete = !more && unique <= maxEntries;
    return { distances: sorted.slice(0, Math.min(unique, maxEntries)), complete };
  }
}

/** The first index whose value is ≥ target. */
function lowerBound(values: BigUint64Array, target: bigint): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (values[mid]! < target) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The first index whose value is > target. */
function upperBound(values: BigUint64Array, target: bigint): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (values[mid]! <= target) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Positions are bucketed by their top byte: buckets in order, each sorted, make the whole sorted. */
const BUCKETS = 256;
/** Keys sorted between two yields of buildYielding (a few milliseconds of sorting). */
const SORT_ENTRIES_PER_PIECE = 65_536;
/** Which 32-bit word of a BigUint64Array element holds its low half (the platform's byte order). */
const LOW_WORD = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;

/** One namespace's positions, placed by bucket and not yet sorted within a bucket. */
interface BucketedPositions {
  namespace: number;
  positions: BigUint64Array;
  /** Where each bucket starts in `positions` (BUCKETS + 1 entries, the last one its length). */
  starts: Uint32Array;
}

/**
 * Two passes over the table (count, then place), with no BigInt made per key and no map looked up
 * per key: typed-array words written into the positions' own buffer. Resets the journal first.
 */
function scanIntoBuckets(index: KeyIndex): BucketedPositions[] {
  index.resetJournal(Math.max(JOURNAL_ENTRIES_MIN, Math.ceil(index.size / SNAPSHOT_ENTRIES_PER_JOURNAL_ENTRY)));
  const counts = index.countByTopByte();
  const byNamespace: BucketedPositions[] = [];
  const words: (Uint32Array | undefined)[] = [];
  const next: (Uint32Array | undefined)[] = [];
  for (const [namespace, perBucket] of counts.entries()) {
    if (perBucket === undefined) continue;
    const starts = new Uint32Array(BUCKETS + 1);
    for (let bucket = 0; bucket < BUCKETS; bucket++) starts[bucket + 1] = starts[bucket]! + perBucket[bucket]!;
    const positions = new BigUint64Array(starts[BUCKETS]!);
    byNamespace.push({ namespace, positions, starts });
    words[namespace] = new Uint32Array(positions.buffer, positions.byteOffset, positions.length * 2);
    next[namespace] = starts.slice(0, BUCKETS);
  }
  index.placeByTopByte(words, next, LOW_WORD);
  for (const entry of byNamespace) {
    const placed = next[entry.namespace]!;
    for (let bucket = 0; bucket < BUCKETS; bucket++) assert(placed[bucket] === entry.starts[bucket + 1], 'every key a range snapshot counted was placed');
  }
  return byNamespace;
}

/** Sorts one bucket in place; returns how many keys it held. */
function sortBucket(entry: BucketedPositions, bucket: number): number {
  const from = entry.starts[bucket]!;
  const to = entry.starts[bucket + 1]!;
  if (to - from > 1) entry.positions.subarray(from, to).sort();
  return to - from;
}
