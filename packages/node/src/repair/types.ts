// What anti-entropy needs of the rest of the node, as narrow interfaces (the Engine, ClusterView and
// prom-client counters fit), so tests can run it without ZooKeeper.
import type { Ring } from '@ringblock/ring';
import type { TransferSource } from '../transfer/sender.js';

/** The local store (`Engine` fits): ranges in ring order (for trees and transfers) and purges. */
export interface RepairStore extends TransferSource {
  purgeTombstone(id: string, version: Uint8Array): Promise<{ purged: boolean }>;
}

/** The routing state (`ClusterView` fits). */
export interface RepairView {
  currentRing(): Ring | undefined;
  currentEpoch(): number;
  isLive(name: string): boolean;
}

/** A counter (prom-client's Counter fits). */
export interface Increment {
  inc(value?: number): void;
}

/**
 * Metric hooks. Suggested prom-client names: ringblock_antientropy_ranges_compared_total,
 * _ranges_repaired_total, _blocks_repaired_total, ringblock_tombstones_purged_total,
 * ringblock_antientropy_bytes_sent_total.
 */
export interface RepairCounters {
  /** A (range, peer) comparison finished (equal or repaired). */
  rangesCompared: Increment;
  /** A (range, peer) comparison found differing buckets and streamed them both ways. */
  rangesRepaired: Increment;
  /** Records that changed a replica's store in repair streams (either direction). */
  blocksRepaired: Increment;
  /** Tombstones this node purged (its own decision as leader, or on its leader's word). */
  tombstonesPurged: Increment;
  /** Bytes of repair streams this node sent (its pushes and the pulls it served). */
  bytesSent: Increment;
}

export interface RepairLimits {
  /** Pause between periodic rounds; 0: no periodic rounds. */
  intervalMs: number;
  /** Rounds after start-up, a ring node coming back and a ring change (after eventDelayMs). */
  onEvents: boolean;
  eventDelayMs: number;
  /** Bytes per second this node sends in repair streams at most. */
  bytesPerSecond: number;
  /** Differing ranges streamed at once within a round. */
  rangesInFlightMax: number;
  /** Tree depth: 2^depth buckets per range. */
  depth: number;
  /** Tombstones are purged only once their version is older than this (and every replica holds them). */
  tombstoneGraceMs: number;
  /** Purge candidates one range keeps per round at most. */
  candidatesPerRangeMax: number;
  /** Responder bounds (see responder.ts). */
  treesKeptMax: number;
  treeKeepMs: number;
  buildsInFlightMax: number;
  pushesInFlightMax: number;
  pushBudgetMs: number;
  pushRequestMs: number;
  /** Failed calls in a row (without progress) before a range's comparison with a peer gives up. */
  attemptsMax: number;
  /** Full-repair tasks remembered. */
  tasksKeptMax: number;
}

export const DEFAULT_REPAIR_LIMITS: RepairLimits = {
  intervalMs: 3_600_000,
  onEvents: true,
  eventDelayMs: 2_000,
  bytesPerSecond: 16 * 1024 * 1024,
  rangesInFlightMax: 2,
  depth: 10,
  tombstoneGraceMs: 24 * 3_600_000,
  candidatesPerRangeMax: 4096,
  treesKeptMax: 256,
  treeKeepMs: 60_000,
  buildsInFlightMax: 2,
  pushesInFlightMax: 2,
  pushBudgetMs: 20_000,
  pushRequestMs: 8_000,
  attemptsMax: 5,
  tasksKeptMax: 64,
};
