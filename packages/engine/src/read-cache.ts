// A bounded cache of verified records by slot, so hot blocks are served without a device read (on
// a small machine each read is a thread-pool round trip that costs more than the rest of a GET).
// Keyed by slot, not by key: a slot's record never changes until the write pipeline takes the slot
// for a wipe, a reuse or a removal, and it drops the entry when it does (before writing), while
// reads insert only while they pin the slot (core.ts, ReadPins). So an entry is always the record
// on disk as last verified or written. Entries come from verified device reads (with data) and from
// committed client writes (puts with their data; bulk writes are not cached). Least recently used
// entries go first.
import type { StoredRecord } from './reader.js';

export interface ReadCacheStats {
  entries: number;
  capacity: number;
  hits: number;
  misses: number;
}

export class ReadCache {
  private readonly entries = new Map<number, StoredRecord>();
  hits = 0;
  misses = 0;

  /** `capacity` records at most (0: nothing is cached). */
  constructor(readonly capacity: number) {}

  /**
   * The record cached for `slot` (refreshed as most recently used), or undefined; with `withData`
   * only a record holding its data (or a tombstone) serves.
   */
  get(slot: number, withData: boolean): StoredRecord | undefined {
    const record = this.entries.get(slot);
    if (record === undefined || (withData && record.data === undefined && !record.tombstone)) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(slot);
    this.entries.set(slot, record);
    return record;
  }

  /** Caches `record` for `slot`; a cached record with data is not replaced by one without. */
  set(slot: number, record: StoredRecord): void {
    if (this.capacity === 0) return;
    const current = this.entries.get(slot);
    if (current?.data !== undefined && record.data === undefined && current.seq === record.seq) return;
    this.entries.delete(slot);
    this.entries.set(slot, record);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  /** The slot is about to be written: its record is gone. */
  drop(slot: number): void {
    this.entries.delete(slot);
  }

  stats(): ReadCacheStats {
    return { entries: this.entries.size, capacity: this.capacity, hits: this.hits, misses: this.misses };
  }
}
