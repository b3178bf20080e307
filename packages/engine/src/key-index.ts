// The in-memory index: (namespace, 64-bit position) → slot, as an open-addressing hash table with
// linear probing in one Uint32Array: 4 words per entry (position high, position low, slot,
// namespace | flags << 8), so a probe touches one cache line. 16 bytes per entry at a load factor
// of at most 0.7 is 23–46 bytes per stored block (a Map<string, object> costs well over 100).
// Ids and versions are not kept in memory: they live in the record header on disk, and every read
// verifies them there. Two distinct ids of one namespace with the same xxh64 cannot both be stored
// (HASH_COLLISION). Keys inserted since a range snapshot was taken are journaled (bounded), so
// ordered range scans can work from a sorted snapshot plus that journal (range-snapshot.ts).
import { assert } from './errors.js';

const OCCUPIED = 1;
const TOMBSTONE = 2;
const WORDS = 4;
const HIGH = 0;
const LOW = 1;
const SLOT = 2;
const META = 3; // namespace | flags << 8; 0 = empty
const MAX_LOAD_FACTOR = 0.7;
const MIN_CAPACITY = 1024;
/** 2^28 entries × 16 B = 4 GiB of index: far beyond what one process should hold. */
const MAX_CAPACITY = 2 ** 28;
export const INDEX_BYTES_PER_ENTRY = WORDS * 4;
/** The layout of a table slice (tableSlice): words per position, and where each field is; META 0 = empty, its low byte the namespace. */
export const TABLE_WORDS = WORDS;
export const TABLE_FIELDS = Object.freeze({ high: HIGH, low: LOW, meta: META });

export class KeyIndex {
  private capacity = 0;
  private mask = 0;
  private table = new Uint32Array(0);
  private count = 0;
  /** New keys since resetJournal (3 words each: namespace, high, low); undefined until then. */
  private journal: Uint32Array | undefined;
  private journalLength = 0;
  private journalOverflowed = false;
  private layoutChangeCount = 0;
  private journalGenerationCount = 0;

  constructor(expectedEntries = 0) {
    this.allocate(capacityFor(expectedEntries));
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the table. */
  get heapBytes(): number {
    return this.table.byteLength + (this.journal?.byteLength ?? 0);
  }

  /** The slot of (namespace, position), or -1. */
  get(namespace: number, high: number, low: number): number {
    const at = this.find(namespace, high, low);
    return at < 0 ? -1 : this.table[at * WORDS + SLOT]!;
  }

  isTombstone(namespace: number, high: number, low: number): boolean {
    const at = this.find(namespace, high, low);
    return at >= 0 && ((this.table[at * WORDS + META]! >>> 8) & TOMBSTONE) !== 0;
  }

  /** Points (namespace, position) at `slot`; returns the slot it pointed at before, or -1. */
  set(namespace: number, high: number, low: number, slot: number, tombstone: boolean): number {
    const meta = namespace | ((OCCUPIED | (tombstone ? TOMBSTONE : 0)) << 8);
    const existing = this.find(namespace, high, low);
    if (existing >= 0) {
      const previous = this.table[existing * WORDS + SLOT]!;
      this.table[existing * WORDS + SLOT] = slot;
      this.table[existing * WORDS + META] = meta;
      return previous;
    }
    if (this.count + 1 > this.capacity * MAX_LOAD_FACTOR) this.rehash(this.capacity * 2);
    this.insertNew(high >>> 0, low >>> 0, slot, meta);
    this.count++;
    this.journalInsert(namespace, high >>> 0, low >>> 0);
    return -1;
  }

  /** Removes (namespace, position); returns the slot it pointed at, or -1. */
  remove(namespace: number, high: number, low: number): number {
    let hole = this.find(namespace, high, low);
    if (hole < 0) return -1;
    const table = this.table;
    const removed = table[hole * WORDS + SLOT]!;
    // Backward-shift deletion: move later members of the probe run into the hole so that every
    // entry stays reachable from its home position without tombstone markers.
    let next = hole;
    for (;;) {
      next = (next + 1) & this.mask;
      if (table[next * WORDS + META] === 0) break;
      const home = this.home(table[next * WORDS + META]! & 0xff, table[next * WORDS + LOW]!);
      const stays = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (stays) continue;
      table.copyWithin(hole * WORDS, next * WORDS, next * WORDS + WORDS);
      hole = next;
    }
    table.fill(0, hole * WORDS, hole * WORDS + WORDS);
    this.count--;
    this.layoutChangeCount++;
    return removed;
  }

  /** Shrinks the table to fit its entries when it is more than twice too large (after recovery sized it generously). */
  compact(): void {
    const capacity = capacityFor(this.count);
    if (capacity * 2 < this.capacity) this.rehash(capacity);
  }

  /** Starts journaling new keys afresh, `entries` at most (beyond: overflowed, until the next reset). */
  resetJournal(entries: number): void {
    assert(Number.isInteger(entries) && entries > 0, 'journal size is a positive count');
    this.journalGenerationCount++;
    if (this.journal === undefined || this.journal.length !== entries * 3) this.journal = new Uint32Array(entries * 3);
    this.journalLength = 0;
    this.journalOverflowed = false;
  }

  /** Stops journaling and lets the journal's memory go (no range snapshot uses it any more). */
  stopJournal(): void {
    this.journalGenerationCount++;
    this.journal = undefined;
    this.journalLength = 0;
    this.journalOverflowed = false;
  }

  /**
   * Counts journal restarts (and stops): a range snapshot holds the generation its journal started
   * at, and one whose journal was restarted since (by another build) is stale.
   */
  get journalGeneration(): number {
    return this.journalGenerationCount;
  }

  /** Keys inserted since resetJournal, or undefined when they did not all fit (or no journal was started). */
  journaled(): { length: number; words: Uint32Array } | undefined {
    if (this.journal === undefined || this.journalOverflowed) return undefined;
    return { length: this.journalLength, words: this.journal };
  }

  private journalInsert(namespace: number, high: number, low: number): void {
    const journal = this.journal;
    if (journal === undefined || this.journalOverflowed) return;
    if (this.journalLength * 3 >= journal.length) {
      this.journalOverflowed = true;
      return;
    }
    const at = this.journalLength++ * 3;
    journal[at] = namespace;
    journal[at + 1] = high;
    journal[at + 2] = low;
  }

  /**
   * Counts the changes that move entries between table positions (removals, with their backward
   * shifts, and rehashes). A scan spread over several turns (range snapshots) that sees it change
   * may have missed an entry and starts again; inserts and updates move nothing.
   */
  get layoutChanges(): number {
    return this.layoutChangeCount;
  }

  /** A copy of the table's words for positions [from, to): TABLE_WORDS per position, see TABLE_FIELDS. */
  tableSlice(from: number, to: number): Uint32Array {
    assert(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from <= to && to <= this.capacity, 'a table slice lies inside the table');
    return this.table.slice(from * WORDS, to * WORDS);
  }

  // Raw access for ordered range collection (range.ts); a table position is valid until the next set().
  get tableSize(): number {
    return this.capacity;
  }
  isOccupiedAt(at: number): boolean {
    return this.table[at * WORDS + META] !== 0;
  }
  namespaceAt(at: number): number {
    return this.table[at * WORDS + META]! & 0xff;
  }
  highAt(at: number): number {
    return this.table[at * WORDS + HIGH]!;
  }
  lowAt(at: number): number {
    return this.table[at * WORDS + LOW]!;
  }
  slotAt(at: number): number {
    return this.table[at * WORDS + SLOT]!;
  }
  tombstoneAt(at: number): boolean {
    return ((this.table[at * WORDS + META]! >>> 8) & TOMBSTONE) !== 0;
  }

  private find(namespace: number, high: number, low: number): number {
    high >>>= 0;
    low >>>= 0;
    const table = this.table;
    let at = this.home(namespace, low);
    for (let probes = 0; probes < this.capacity; probes++) {
      const base = at * WORDS;
      const meta = table[base + META]!;
      if (meta === 0) return -1;
      if (table[base + LOW] === low && table[base + HIGH] === high && (meta & 0xff) === namespace) return at;
      at = (at + 1) & this.mask;
    }
    return -1;
  }

  private home(namespace: number, low: number): number {
    return ((low ^ Math.imul(namespace, 0x9e3779b1)) >>> 0) & this.mask;
  }

  private insertNew(high: number, low: number, slot: number, meta: number): void {
    const table = this.table;
    let at = this.home(meta & 0xff, low);
    while (table[at * WORDS + META] !== 0) at = (at + 1) & this.mask;
    const base = at * WORDS;
    table[base + HIGH] = high;
    table[base + LOW] = low;
    table[base + SLOT] = slot;
    table[base + META] = meta;
  }

  private allocate(capacity: number): void {
    assert(capacity <= MAX_CAPACITY, `index capacity ${capacity} exceeds ${MAX_CAPACITY}`);
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.table = new Uint32Array(capacity * WORDS);
  }

  private rehash(capacity: number): void {
    this.layoutChangeCount++;
    const old = this.table;
    this.allocate(capacity);
    for (let base = 0; base < old.length; base += WORDS) {
      if (old[base + META] !== 0) this.insertNew(old[base + HIGH]!, old[base + LOW]!, old[base + SLOT]!, old[base + META]!);
    }
  }
}

function capacityFor(entries: number): number {
  let capacity = MIN_CAPACITY;
  while (entries > capacity * MAX_LOAD_FACTOR) capacity *= 2;
  return capacity;
}
