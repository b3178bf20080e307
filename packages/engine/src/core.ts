// The state the engine's parts share: the device, the index, free slots, the wipe ledger, metrics.
// One object, owned by Engine; the write pipeline is the only writer of index and allocator.
import type { NamespaceCounters } from './counters.js';
import type { BlockDevice } from './device.js';
import type { Hasher } from './hash.js';
import { high32, low32 } from './hash.js';
import { assert } from './errors.js';
import type { KeyIndex } from './key-index.js';
import type { ReadCache } from './read-cache.js';
import type { SlotAllocator } from './slot-allocator.js';
import { SlotQueue } from './slot-allocator.js';
import type { SuperblockStore } from './superblock-store.js';

/** Orders two versions: negative when a is older than b, 0 when equal, positive when newer. */
export type CompareVersions = (a: Uint8Array, b: Uint8Array) => number;

export const compareBytes: CompareVersions = (a, b) => Buffer.compare(a, b);

/** A block's identity: (namespace, id); the index key is (namespace, position = xxh64(id)). */
export interface BlockKey {
  namespace: number;
  id: string;
  idBytes: Buffer;
  positionHigh: number;
  positionLow: number;
}

export function blockKey(hasher: Hasher, id: string, namespace: number): BlockKey {
  const idBytes = Buffer.from(id, 'latin1');
  const position = hasher.h64(idBytes);
  return { namespace, id, idBytes, positionHigh: high32(position), positionLow: low32(position) };
}

/**
 * Slots a read is reading right now. A slot is pinned synchronously with its index lookup, while it
 * is still the key's current slot, and unpinned when the read completes; the write pipeline wipes
 * or reuses no pinned slot (nor zeroes one for a purge), so a read never races a reuse of the slot
 * it looked up and never mistakes a wipe for corruption. Bounded by the reads in flight.
 */
export class ReadPins {
  private readonly counts = new Map<number, number>();
  /** Called when a slot is no longer pinned (the write pipeline may go on with it). */
  onRelease: () => void = () => {};

  pin(slot: number): void {
    this.counts.set(slot, (this.counts.get(slot) ?? 0) + 1);
  }

  unpin(slot: number): void {
    const count = this.counts.get(slot);
    assert(count !== undefined && count > 0, 'unpin of a slot that is not pinned');
    if (count > 1) return void this.counts.set(slot, count - 1);
    this.counts.delete(slot);
    this.onRelease();
  }

  has(slot: number): boolean {
    return this.counts.has(slot);
  }

  get size(): number {
    return this.counts.size;
  }
}

/**
 * The current slots whose headers the executing round zeroes (purges and evicts: selected before a
 * read could pin them). A read that looks one up waits for the round, then looks again.
 */
export class RemovalFence {
  private readonly slots = new Set<number>();
  private settledPromise: Promise<void> | undefined;
  private settle: (() => void) | undefined;

  begin(slots: readonly number[]): void {
    assert(this.slots.size === 0, 'one round at a time');
    if (slots.length === 0) return;
    for (const slot of slots) this.slots.add(slot);
    this.settledPromise = new Promise<void>((resolve) => (this.settle = resolve));
  }

  end(): void {
    this.slots.clear();
    this.settle?.();
    this.settle = undefined;
    this.settledPromise = undefined;
  }

  has(slot: number): boolean {
    return this.slots.has(slot);
  }

  /** Resolves when the round zeroing these slots has committed or failed. */
  settled(): Promise<void> {
    return this.settledPromise ?? Promise.resolve();
  }
}

/**
 * Slots holding headers of superseded records, oldest first. Each is wiped by a later round: its
 * header zeroed (then the slot is free) or overwritten by a new record put in it. The totals let a
 * tombstone purge or an evict wait until every wipe queued before it is durable (otherwise an
 * older record of the same id could resurrect after a crash).
 */
export class WipeLedger {
  private readonly queue = new SlotQueue();
  enqueuedTotal = 0;
  durableTotal = 0;

  constructor(private readonly pins: ReadPins) {}

  get pending(): number {
    return this.queue.size;
  }

  /** The oldest pending slot is being read: no wipe can be taken until that read is done. */
  get heldByRead(): boolean {
    const head = this.queue.peek();
    return head !== undefined && this.pins.has(head);
  }

  push(slot: number): void {
    this.queue.push(slot);
    this.enqueuedTotal++;
  }

  /** Up to `max` slots, oldest first, stopping at the first a read holds (order is kept for the purge barriers). */
  take(max: number): number[] {
    return this.queue.take(max, (slot) => this.pins.has(slot));
  }

  markDurable(count: number): void {
    this.durableTotal += count;
  }
}

export interface EngineMetrics {
  syncs: number;
  syncMsTotal: number;
  batches: number;
  batchedOps: number;
  checksumFailures: number;
  superblockWrites: number;
}

export interface EngineCore {
  readonly device: BlockDevice;
  readonly hasher: Hasher;
  readonly superblocks: SuperblockStore;
  readonly uuid: Buffer;
  readonly index: KeyIndex;
  readonly allocator: SlotAllocator;
  readonly counters: NamespaceCounters;
  readonly wipes: WipeLedger;
  readonly pins: ReadPins;
  readonly removals: RemovalFence;
  readonly cache: ReadCache;
  readonly compareVersions: CompareVersions;
  readonly metrics: EngineMetrics;
  readonly onSync: ((durationMs: number) => void) | undefined;
  nextSeq: number;
}

/** fdatasync with its latency recorded (the node exports it as the journal sync latency). */
export async function timedSync(core: EngineCore): Promise<void> {
  const startedMs = performance.now();
  await core.device.sync();
  const durationMs = performance.now() - startedMs;
  core.metrics.syncs++;
  core.metrics.syncMsTotal += durationMs;
  core.onSync?.(durationMs);
}
