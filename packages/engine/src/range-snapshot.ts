// Ordered range collection for arcs, without a pass over the whole index per chunk. The index is a
// hash table (no order), and a migration or repair scans hundreds of small arcs: a pass over a
// table of a million entries per arc made those passes most of a node's CPU. So the first arc scan
// sorts every key's position once (per namespace, 8 bytes per key), and the index journals the
// keys inserted after that (bounded); a chunk is then a binary search in the sorted positions plus
// a filter over the journal. Removed keys stay in the snapshot: the reader finds no slot for them
// and skips them (range scans are weakly consistent, as with the table pass). When the journal
// overflows, the next chunk sorts afresh.
import type { KeyIndex } from './key-index.js';
import type { RangeChunk, RingWindow } from './range.js';

const U64_LIMIT = 1n << 64n;
/** Journal entries at least, and one per this many snapshot entries (rebuild when it fills). */
const JOURNAL_ENTRIES_MIN = 4096;
const SNAPSHOT_ENTRIES_PER_JOURNAL_ENTRY = 8;

export class RangeSnapshot {
  private constructor(private readonly byNamespace: ReadonlyMap<number, BigUint64Array>) {}

  /** Sorts the positions of every key of `index` and starts its journal. */
  static build(index: KeyIndex): RangeSnapshot {
    const counts = new Map<number, number>();
    for (let at = 0; at < index.tableSize; at++) {
      if (index.isOccupiedAt(at)) counts.set(index.namespaceAt(at), (counts.get(index.namespaceAt(at)) ?? 0) + 1);
    }
    const arrays = new Map<number, BigUint64Array>();
    const filled = new Map<number, number>();
    for (const [namespace, count] of counts) {
      arrays.set(namespace, new BigUint64Array(count));
      filled.set(namespace, 0);
    }
    for (let at = 0; at < index.tableSize; at++) {
      if (!index.isOccupiedAt(at)) continue;
      const namespace = index.namespaceAt(at);
      const next = filled.get(namespace)!;
      arrays.get(namespace)![next] = (BigInt(index.highAt(at)) << 32n) | BigInt(index.lowAt(at));
      filled.set(namespace, next + 1);
    }
    for (const positions of arrays.values()) positions.sort();
    index.resetJournal(Math.max(JOURNAL_ENTRIES_MIN, Math.ceil(index.size / SNAPSHOT_ENTRIES_PER_JOURNAL_ENTRY)));
    return new RangeSnapshot(arrays);
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
