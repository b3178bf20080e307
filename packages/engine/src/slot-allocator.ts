// Free-slot bookkeeping: a two-level bitmap (1 bit per slot, 1 summary bit per 32 slots), so memory
// is 1/8 byte per slot of capacity whatever is stored, and the lowest free slot is found in a few
// word scans. Lowest-first allocation keeps a batch's slots adjacent (one writev per group area) and
// keeps data low on the device (recovery reads only the groups below the allocated watermark).
import { assert } from './errors.js';

export class SlotAllocator {
  private slots = 0;
  private freeWords = new Uint32Array(0); // bit set = slot free
  private summary = new Uint32Array(0); // bit set = that word of freeWords has a free slot
  private freeSlots = 0;
  private searchFromSummaryWord = 0; // no summary word below this one has a set bit

  constructor(slots: number) {
    this.resize(slots);
  }

  get capacity(): number {
    return this.slots;
  }

  get free(): number {
    return this.freeSlots;
  }

  get heapBytes(): number {
    return this.freeWords.byteLength + this.summary.byteLength;
  }

  /** Adds the slots [old capacity, slots) as free. */
  grow(slots: number): void {
    assert(slots >= this.slots, 'slot capacity never shrinks');
    const old = this.slots;
    this.resize(slots);
    this.releaseRange(old, slots);
  }

  /** Releases every slot of [from, to), all of them used (word at a time: devices have many slots). */
  releaseRange(from: number, to: number): void {
    let slot = from;
    while (slot < to && (slot & 31) !== 0) this.release(slot++);
    for (; slot + 32 <= to; slot += 32) {
      const word = slot >>> 5;
      assert(this.freeWords[word] === 0, `slots ${slot}… released twice`);
      this.freeWords[word] = 0xffff_ffff;
      this.summary[word >>> 5] = (this.summary[word >>> 5]! | (1 << (word & 31))) >>> 0;
      this.freeSlots += 32;
      this.searchFromSummaryWord = Math.min(this.searchFromSummaryWord, word >>> 5);
    }
    while (slot < to) this.release(slot++);
  }

  isFree(slot: number): boolean {
    return (this.freeWords[slot >>> 5]! & (1 << (slot & 31))) !== 0;
  }

  /** Takes the lowest free slot, or returns -1 when none is free. */
  allocate(): number {
    for (let s = this.searchFromSummaryWord; s < this.summary.length; s++) {
      const summaryBits = this.summary[s]!;
      if (summaryBits === 0) continue;
      this.searchFromSummaryWord = s;
      const word = s * 32 + lowestBit(summaryBits);
      const slot = word * 32 + lowestBit(this.freeWords[word]!);
      this.take(slot);
      return slot;
    }
    this.searchFromSummaryWord = this.summary.length;
    return -1;
  }

  /** Marks a free slot used (recovery: the slot holds a record). */
  take(slot: number): void {
    assert(slot < this.slots && this.isFree(slot), `slot ${slot} taken twice`);
    const word = slot >>> 5;
    const bits = (this.freeWords[word]! & ~(1 << (slot & 31))) >>> 0;
    this.freeWords[word] = bits;
    if (bits === 0) this.summary[word >>> 5] = (this.summary[word >>> 5]! & ~(1 << (word & 31))) >>> 0;
    this.freeSlots--;
  }

  release(slot: number): void {
    assert(slot < this.slots && !this.isFree(slot), `slot ${slot} released twice`);
    const word = slot >>> 5;
    this.freeWords[word] = (this.freeWords[word]! | (1 << (slot & 31))) >>> 0;
    this.summary[word >>> 5] = (this.summary[word >>> 5]! | (1 << (word & 31))) >>> 0;
    this.freeSlots++;
    this.searchFromSummaryWord = Math.min(this.searchFromSummaryWord, word >>> 5);
  }

  /** Allocates no slot; every slot starts used, as in recovery before free slots are released. */
  private resize(slots: number): void {
    const words = Math.ceil(slots / 32);
    const freeWords = new Uint32Array(words);
    freeWords.set(this.freeWords.subarray(0, Math.min(words, this.freeWords.length)));
    const summary = new Uint32Array(Math.ceil(words / 32));
    summary.set(this.summary.subarray(0, Math.min(summary.length, this.summary.length)));
    this.freeWords = freeWords;
    this.summary = summary;
    this.slots = slots;
  }
}

function lowestBit(bits: number): number {
  return 31 - Math.clz32(bits & -bits);
}

/** A FIFO of slot numbers on a growable Uint32Array ring, bounded by the device's slot count. */
export class SlotQueue {
  private items = new Uint32Array(64);
  private head = 0;
  private length = 0;

  get size(): number {
    return this.length;
  }

  push(slot: number): void {
    if (this.length === this.items.length) this.growRing();
    this.items[(this.head + this.length) % this.items.length] = slot;
    this.length++;
  }

  /** The oldest slot, left in place. */
  peek(): number | undefined {
    return this.length > 0 ? this.items[this.head] : undefined;
  }

  /** Removes and returns up to `max` slots, oldest first, stopping before the first `stopAt` accepts. */
  take(max: number, stopAt?: (slot: number) => boolean): number[] {
    const taken: number[] = [];
    while (taken.length < max && this.length > 0 && !stopAt?.(this.items[this.head]!)) {
      taken.push(this.items[this.head]!);
      this.head = (this.head + 1) % this.items.length;
      this.length--;
    }
    return taken;
  }

  private growRing(): void {
    const items = new Uint32Array(this.items.length * 2);
    for (let i = 0; i < this.length; i++) items[i] = this.items[(this.head + i) % this.items.length]!;
    this.items = items;
    this.head = 0;
  }
}
