// The state the engine's parts share: the device, the index, free slots, the wipe ledger, metrics.
// One object, owned by Engine; the write pipeline is the only writer of index and allocator.
import type { NamespaceCounters } from './counters.js';
import type { BlockDevice } from './device.js';
import type { Hasher } from './hash.js';
import { high32, low32 } from './hash.js';
import type { KeyIndex } from './key-index.js';
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
 * Slots holding headers of superseded records, oldest first. Each is wiped by a later round: its
 * header zeroed (then the slot is free) or overwritten by a new record put in it. The totals let a
 * tombstone purge or an evict wait until every wipe queued before it is durable (otherwise an
 * older record of the same id could resurrect after a crash).
 */
export class WipeLedger {
  private readonly queue = new SlotQueue();
  enqueuedTotal = 0;
  durableTotal = 0;

  get pending(): number {
    return this.queue.size;
  }

  push(slot: number): void {
    this.queue.push(slot);
    this.enqueuedTotal++;
  }

  take(max: number): number[] {
    return this.queue.take(max);
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
  readonly compareVersions: CompareVersions;
  readonly metrics: EngineMetrics;
  readonly onSync: ((durationMs: number) => void) | undefined;
  /** Increases whenever a slot becomes free: a reader that saw it change may have raced a reuse. */
  reuseEpoch: number;
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
