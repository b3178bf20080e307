// Ordered range collection for arcs, without a pass over the whole index per chunk. The index is a
// hash table (no order), and a migration or repair scans hundreds of small arcs: a pass over a
// table of a million entries per arc made those passes most of a node's CPU. So the first arc scan
// sorts every key's position once (per namespace, 8 bytes per key), and the index journals the
// keys inserted after that (bounded); a chunk is then a binary search in the sorted positions plus
// a filter over the journal. Removed keys stay in the snapshot: the reader finds no slot for them
// and skips them (range scans are weakly consistent, as with the table pass). When the journal
// overflows, the next chunk sorts afresh.
import { assert } from './errors.js';
import { TABLE_FIELDS, TABLE_WORDS, type KeyIndex } from './key-index.js';
import type { RangeChunk, RingWindow } from './range.js';

const U64_LIMIT = 1n << 64n;
/** Journal entries at least, and one per this many snapshot entries (rebuild when it fills). */
const JOURNAL_ENTRIES_MIN = 4096;
const SNAPSHOT_ENTRIES_PER_JOURNAL_ENTRY = 8;

export class RangeSnapshot {
  private constructor(
    private readonly byNamespace: ReadonlyMap<number, BigUint64Array>,
    /** The index's journal generation this snapshot's journal started at. */
    private readonly journalGeneration: number,
  ) {}

  /** Sorts the positions of every key of `index` and starts its journal, in one go. */
  static build(index: KeyIndex): RangeSnapshot {
    const steps = buildSteps(index, (byNamespace, generation) => new RangeSnapshot(byNamespace, generation));
    for (;;) {
      const step = steps.next();
      if (step.done) {
        assert(step.value !== undefined, 'a range snapshot built in one turn sees one state of the index');
        return step.value;
      }
    }
  }

  /**
   * The same, letting `yieldNow` run other work between pieces of the scan and of the sort (a few
   * milliseconds each): done in one go, it held the event loop at the start of every migration for
   * 15 ms at 65k keys, half a second at 4M, seconds on the largest devices. The journal starts with
   * the scan, so a key inserted meanwhile is in it; an entry moved meanwhile (a removal or a
   * rehash) could be missed, so the scan then starts again, and after SCAN_ATTEMPTS_MAX such
   * attempts the snapshot is built in one go.
   */
  static async buildYielding(index: KeyIndex, yieldNow: () => Promise<void>): Promise<RangeSnapshot> {
    for (let attempt = 0; attempt < SCAN_ATTEMPTS_MAX; attempt++) {
      const steps = buildSteps(index, (byNamespace, generation) => new RangeSnapshot(byNamespace, generation));
      for (;;) {
        const step = steps.next();
        if (step.done) {
          if (step.value !== undefined) return step.value;
          break;
        }
        await yieldNow();
      }
    }
    return RangeSnapshot.build(index);
  }

  /** Bytes held by the sorted positions. */
  get heapBytes(): number {
    let bytes = 0;
    for (const positions of this.byNamespace.values()) bytes += positions.byteLength;
    return bytes;
  }

  /**
   * The `maxEntries` smallest distances from window.base, at or after `fromDistance`, of keys of
   * `namespace` in the snapshot or in `index`'s journal; undefined when the journal overflowed or
   * another build restarted it (the snapshot is stale: build another).
   */
  collect(index: KeyIndex, namespace: number, window: RingWindow, fromDistance: bigint, maxEntries: number): RangeChunk | undefined {
    // Another build restarted the journal since this one's started: inserts in between are in neither.
    if (index.journalGeneration !== this.journalGeneration) return undefined;
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
/** Table positions scanned per piece (a 4 MiB copy of the table at most). */
const SCAN_POSITIONS_PER_PIECE = 1 << 18;
/** Keys placed or sorted per piece (a few milliseconds of work). */
const ENTRIES_PER_PIECE = 1 << 16;
/** Scans started again after entries moved under them, before one is done in a single turn. */
const SCAN_ATTEMPTS_MAX = 3;
/** Which 32-bit word of a BigUint64Array element holds its low half (the platform's byte order). */
const LOW_WORD = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;

/** The keys of one namespace found by the scan, in pieces of (high, low) pairs, counted by top byte. */
interface ScannedKeys {
  namespace: number;
  pieces: Uint32Array[];
  /** Pairs used in the last piece. */
  lastLength: number;
  perBucket: Uint32Array;
}

/**
 * The build as steps: it yields between pieces of work, and returns the snapshot, or undefined when
 * entries of the index moved while it was suspended (the caller starts again). Run without pausing,
 * nothing can move and it always returns a snapshot.
 */
function* buildSteps(index: KeyIndex, make: (byNamespace: ReadonlyMap<number, BigUint64Array>, journalGeneration: number) => RangeSnapshot): Generator<void, RangeSnapshot | undefined> {
  index.resetJournal(Math.max(JOURNAL_ENTRIES_MIN, Math.ceil(index.size / SNAPSHOT_ENTRIES_PER_JOURNAL_ENTRY)));
  const generation = index.journalGeneration;
  const layout = index.layoutChanges;
  const positions = index.tableSize;
  const scanned: (ScannedKeys | undefined)[] = [];
  for (let from = 0; from < positions; from += SCAN_POSITIONS_PER_PIECE) {
    collectSlice(index.tableSlice(from, Math.min(positions, from + SCAN_POSITIONS_PER_PIECE)), scanned);
    yield;
    // A key inserted meanwhile is journaled (seen here too, or not); a moved one may be lost.
    if (index.layoutChanges !== layout || index.journalGeneration !== generation) return undefined;
  }
  const byNamespace = new Map<number, BigUint64Array>();
  let sinceYield = 0;
  for (const keys of scanned) {
    if (keys === undefined) continue;
    const starts = new Uint32Array(BUCKETS + 1);
    for (let bucket = 0; bucket < BUCKETS; bucket++) starts[bucket + 1] = starts[bucket]! + keys.perBucket[bucket]!;
    const sorted = new BigUint64Array(starts[BUCKETS]!);
    const words = new Uint32Array(sorted.buffer, sorted.byteOffset, sorted.length * 2);
    const next = starts.slice(0, BUCKETS);
    // Placed by top byte (the scan's copies, not the index: nothing here can change under it)...
    for (const [at, piece] of keys.pieces.entries()) {
      const pairs = at === keys.pieces.length - 1 ? keys.lastLength : piece.length / 2;
      for (let pair = 0; pair < pairs; pair++) {
        const high = piece[pair * 2]!;
        const entry = next[high >>> 24]!++ * 2;
        words[entry + LOW_WORD] = piece[pair * 2 + 1]!;
        words[entry + 1 - LOW_WORD] = high;
      }
      keys.pieces[at] = EMPTY_PIECE; // its memory can go
      yield;
    }
    for (let bucket = 0; bucket < BUCKETS; bucket++) assert(next[bucket] === starts[bucket + 1], 'every key a range snapshot counted was placed');
    // ...then sorted bucket by bucket.
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      const from = starts[bucket]!;
      const to = starts[bucket + 1]!;
      if (to - from > 1) sorted.subarray(from, to).sort();
      sinceYield += to - from;
      if (sinceYield >= ENTRIES_PER_PIECE) {
        sinceYield = 0;
        yield;
      }
    }
    byNamespace.set(keys.namespace, sorted);
  }
  return make(byNamespace, generation);
}

const EMPTY_PIECE = new Uint32Array(0);

/** Appends the keys in a copy of table words to their namespace's pieces. */
function collectSlice(slice: Uint32Array, scanned: (ScannedKeys | undefined)[]): void {
  const { high: HIGH, low: LOW, meta: META } = TABLE_FIELDS;
  for (let base = 0; base < slice.length; base += TABLE_WORDS) {
    const meta = slice[base + META]!;
    if (meta === 0) continue;
    const namespace = meta & 0xff;
    let keys = scanned[namespace];
    if (keys === undefined) {
      keys = { namespace, pieces: [new Uint32Array(ENTRIES_PER_PIECE * 2)], lastLength: 0, perBucket: new Uint32Array(BUCKETS) };
      scanned[namespace] = keys;
    }
    if (keys.lastLength === ENTRIES_PER_PIECE) {
      keys.pieces.push(new Uint32Array(ENTRIES_PER_PIECE * 2));
      keys.lastLength = 0;
    }
    const piece = keys.pieces[keys.pieces.length - 1]!;
    const high = slice[base + HIGH]!;
    piece[keys.lastLength * 2] = high;
    piece[keys.lastLength * 2 + 1] = slice[base + LOW]!;
    keys.lastLength++;
    keys.perBucket[high >>> 24]!++;
  }
}
