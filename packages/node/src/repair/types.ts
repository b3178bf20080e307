// What anti-entropy needs of the rest of the node, as narrow interfaces (the Engine, ClusterView and
// prom-client counters fit), so tests can run it without ZooKeeper.
import type { PeerTransport } from '../peer-transport.js';
import type { Ring } from '@ringblock/ring';
import type { ChecksumHasher } from '../transfer/codec.js';
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

/** What both ends of anti-entropy need of the node. */
export interface RepairContext {
  self: string;
  engine: RepairStore;
  hasher: ChecksumHasher;
  view: RepairView;
  /** host:port of a node by name (live member, else its ring record). */
  addressOf: (name: string) => string | undefined;
  token: string;
  /** Plain or TLS (the cluster's); plain when unset. */
  transport?: PeerTransport | undefined;
  /** A migration is running (or dual writes are on): no rounds, no purges, no trees served. */
  migrationRunning: () => boolean;
}

/** A counter (prom-client's Counter fits). */
export interface Increment {
  inc(value?: number): void;
}

/**
 * Metric hooks. Suggested prom-client names: ringblock_antientropy_ranges_compared_total,
 * _ranges_repaired_total, _blocks_repaired_total, ringblock_tombstones_purged_total,
 * ringblock_antientropy_bytes_sent_total, ringblock_antientropy_compare_bytes_total.
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
  /** Bytes of Merkle comparisons this node asked for (request and answer bodies). */
  compareBytes: Increment;
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
  /** Tree depth: 2^depth buckets per compared arc. */
  depth: number;
  /** Neighbouring ring ranges with the same owners compared as one arc, at most this many (plan.ts). */
  rangesPerArcMax: number;
  /** Tombstones are purged only once their version is older than this (and every replica holds them). */
  tombstoneGraceMs: number;
  /** Purge candidates one range keeps per round at most, and all ranges together (pending ones included). */
  candidatesPerRangeMax: number;
  candidatesMax: number;
  /**
   * Wait between the round that found a range in sync and the round that purges its tombstones
   * (plan.ts step 3): longer than anything carrying an older version is in flight. Default
   * min(150 s, tombstoneGraceMs): a grace shorter than that is for tests.
   */
  purgeSettleMs: number;
  /** Trees kept for a peer's drill-down, and for how long. */
  treesKeptMax: number;
  treeKeepMs: number;
  /** Tree builds and pushes served at once (more are answered 503). */
  buildsInFlightMax: number;
  pushesInFlightMax: number;
  /** How long one push request streams before answering "ask again" (plus one transfer request). */
  pushBudgetMs: number;
  /** Sending time of one transfer request within a push. */
  pushRequestMs: number;
  /** Failed calls in a row (without progress) before a range's comparison with a peer gives up. */
  attemptsMax: number;
  /** Full-repair tasks remembered. */
  tasksKeptMax: number;
}

/** The limits the answering side keeps. */
export type ResponderLimits = Pick<RepairLimits, 'tombstoneGraceMs' | 'treesKeptMax' | 'treeKeepMs' | 'buildsInFlightMax' | 'pushesInFlightMax' | 'pushBudgetMs' | 'pushRequestMs'>;

export const DEFAULT_REPAIR_LIMITS: RepairLimits = {
  intervalMs: 3_600_000,
  onEvents: true,
  eventDelayMs: 2_000,
  bytesPerSecond: 16 * 1024 * 1024,
  rangesInFlightMax: 2,
  depth: 10,
  rangesPerArcMax: 32,
  tombstoneGraceMs: 24 * 3_600_000,
  candidatesPerRangeMax: 4096,
  candidatesMax: 65_536,
  purgeSettleMs: 150_000,
  treesKeptMax: 256,
  treeKeepMs: 60_000,
  buildsInFlightMax: 2,
  pushesInFlightMax: 2,
  pushBudgetMs: 20_000,
  pushRequestMs: 8_000,
  attemptsMax: 5,
  tasksKeptMax: 64,
};
