// The coordinator FSM's vocabulary: what the I/O layer feeds in (events), what it must do (actions),
// the bounds it runs under, and the state it shows to /cluster, /health and metrics.
//
// Ordering contract for the I/O layer (the FSM relies on it):
// - Watches are delivered in ZooKeeper order. When the `migration` znode is seen gone, re-read the
//   `ring` znode and deliver `ringCommitted` (if it changed) BEFORE `migrationSeen(null)`: the commit
//   is one transaction, so that read tells a commit from an abort. The FSM takes "gone while the ring
//   stayed" as an abort and only then turns dual writes off.
// - Act on `migration` only while it still holds `action.migration` (compare `migrationKey` of the
//   record read back): a late abort must not delete the next migration.
// - `createMigration`: one transaction — check `ring` at expectedRingVersion, create `migration`. A
//   node whose watches lag behind a commit would otherwise create a record for an old epoch.
//   NODE_EXISTS → proposeFailed 'exists'; anything else (BAD_VERSION too) → proposeFailed 'error'.
// - `commit`: one transaction — set `ring` (version-checked on expectedRingVersion) and delete
//   `migration` with its children. BAD_VERSION / NO_NODE / NOT_EMPTY need no event: the watches say
//   whether someone else committed or aborted, and the FSM re-emits while neither shows.
// - `abortMigration`: delete the tree in one transaction (children, then `migration`); NO_NODE is
//   success. `markPrepared` / `markDone`: create `prepared/<node>` / `done/<node>`; NODE_EXISTS is
//   success. Failures need no event either: the FSM re-emits every retryIntervalMs until it sees the
//   effect.
// - Before serving writes a starting node reads `migration` too: every node that sees a migration
//   turns dual writes on and marks prepared, participant or not (then its first write is a dual
//   one even if it joined after the barrier passed).
import type { RingNodeInfo } from '@ringblock/coord';
import type { Arc } from '@ringblock/ring';
import type { MigrationPlan, Transfer } from './plan.js';
import type { MigrationKey, MigrationRecord } from './record.js';

export type MigrationEvent =
  /** The `ring` znode as watched (`version`: its znode data version, for the commit's check). */
  | { readonly type: 'ringCommitted'; readonly epoch: number; readonly version: number; readonly nodes: readonly RingNodeInfo[] }
  /** Names of the live members (`members/*`). */
  | { readonly type: 'members'; readonly live: readonly string[] }
  /** The node list the ring should have (ring-policy's planRingMembership), or null: as committed. */
  | { readonly type: 'target'; readonly nodes: readonly RingNodeInfo[] | null }
  /** The `migration` znode (null: none) with the names under `prepared/` and `done/`. */
  | { readonly type: 'migrationSeen'; readonly record: MigrationRecord | null; readonly prepared: readonly string[]; readonly done: readonly string[] }
  /** `createMigration` failed: NODE_EXISTS (another node proposed) or another error (BAD_VERSION: the ring moved on). */
  | { readonly type: 'proposeFailed'; readonly reason: 'exists' | 'error' }
  /** Writes for changing ranges now go to old and new owners (answer to enableDualWrites). */
  | { readonly type: 'dualWritesEnabled'; readonly migration: MigrationKey }
  /** Totals so far of one transfer attempt (cumulative, so a lost report costs nothing). */
  | { readonly type: 'transferProgress'; readonly transferId: string; readonly bytesMoved: number; readonly blocksMoved: number }
  | { readonly type: 'transferDone'; readonly transferId: string; readonly bytesMoved: number; readonly blocksMoved: number }
  | { readonly type: 'transferFailed'; readonly transferId: string; readonly error: string }
  /** Time passes; `now` in milliseconds, never decreasing. Every timeout is measured on it. */
  | { readonly type: 'tick'; readonly now: number };

export type AbortReason =
  /** A participant's member znode vanished before it marked done. */
  | 'participantLost'
  /** A receiver of one of this node's unfinished transfers went down. */
  | 'receiverLost'
  /** Not every participant and live member prepared within prepareTimeoutMs. */
  | 'prepareTimeout'
  /** A transfer failed or stalled transferAttemptsMax times. */
  | 'transferFailed'
  /** A leftover record that does not continue the committed ring. */
  | 'stale';

export type MigrationAction =
  /** One transaction: check `ring` is still at expectedRingVersion, create `migration` (not a leftover view). */
  | { readonly type: 'createMigration'; readonly record: MigrationRecord; readonly expectedRingVersion: number }
  /** Route writes of changing ranges to both rings' owners (DualQuorumCount); answer dualWritesEnabled. */
  | { readonly type: 'enableDualWrites'; readonly migration: MigrationKey; readonly epoch: number; readonly plan: MigrationPlan }
  | { readonly type: 'markPrepared'; readonly migration: MigrationKey; readonly node: string }
  /** Stream `transfer`; report progress/done/failed under `transferId` (one id per attempt). */
  | { readonly type: 'startTransfer'; readonly migration: MigrationKey; readonly transferId: string; readonly attempt: number; readonly transfer: Transfer }
  /** Stop one attempt (it stalled); no event is expected for it any more. */
  | { readonly type: 'cancelTransfer'; readonly transferId: string }
  /** Stop every transfer of this migration. */
  | { readonly type: 'stopTransfers'; readonly migration: MigrationKey }
  | { readonly type: 'markDone'; readonly migration: MigrationKey; readonly node: string }
  | {
      readonly type: 'commit';
      readonly migration: MigrationKey;
      readonly expectedRingVersion: number;
      readonly epoch: number;
      readonly nodes: readonly RingNodeInfo[];
      /** Children last seen, to delete in the same transaction. */
      readonly prepared: readonly string[];
      readonly done: readonly string[];
    }
  | { readonly type: 'abortMigration'; readonly migration: MigrationKey; readonly epoch: number; readonly reason: AbortReason; readonly nodes?: readonly string[] }
  | { readonly type: 'disableDualWrites'; readonly migration: MigrationKey }
  /** Route by this committed ring from now on. */
  | { readonly type: 'switchRing'; readonly epoch: number; readonly nodes: readonly RingNodeInfo[] }
  /** These arcs became stale at `epoch`: still readable until atMs, then garbage-collected. */
  | { readonly type: 'scheduleRelease'; readonly epoch: number; readonly ranges: readonly Arc[]; readonly atMs: number };

/** Bounds on every wait and retry (TigerBeetle style: each named, each finite). */
export interface MigrationLimits {
  /** Adoption to the prepare barrier passing; beyond it the migration aborts. */
  readonly prepareTimeoutMs: number;
  /** createMigration to seeing a record; beyond it the proposal is dropped and may be made again. */
  readonly proposeTimeoutMs: number;
  /** Between re-emissions of an idempotent ZooKeeper action whose effect has not been seen. */
  readonly retryIntervalMs: number;
  /** After an abort, before this node proposes again (a flapping node cannot spin migrations). */
  readonly abortBackoffMs: number;
  /** A running transfer without progress for this long counts as failed. */
  readonly transferStallTimeoutMs: number;
  /** Pause before a failed transfer's next attempt. */
  readonly transferRetryDelayMs: number;
  /** Attempts per transfer before the migration aborts. */
  readonly transferAttemptsMax: number;
  /** This node's outgoing transfers running at once. */
  readonly transfersInFlightMax: number;
}

export const DEFAULT_MIGRATION_LIMITS: MigrationLimits = Object.freeze({
  prepareTimeoutMs: 30_000,
  proposeTimeoutMs: 10_000,
  retryIntervalMs: 1_000,
  abortBackoffMs: 2_000,
  transferStallTimeoutMs: 60_000,
  transferRetryDelayMs: 1_000,
  transferAttemptsMax: 3,
  transfersInFlightMax: 4,
});

/** idle, proposing: no migration held; the rest: one migration held (`observing`: prepared, not a participant). */
export type MigrationPhase =
  | 'idle'
  | 'proposing'
  | 'observing'
  | 'preparing'
  | 'awaitingPrepared'
  | 'transferring'
  | 'awaitingDone'
  | 'committing'
  | 'aborting';

export type TransferState = 'queued' | 'running' | 'retryWait' | 'done';

/** JSON-ready (no bigint) view of one outgoing transfer. */
export interface TransferStatus {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  /** Decimal strings: 64-bit positions do not fit a JSON number. */
  readonly range: { readonly start: string; readonly end: string };
  readonly state: TransferState;
  readonly attempts: number;
  readonly bytesMoved: number;
  readonly blocksMoved: number;
}

/** This node's outgoing work. Totals of blocks are unknown before a range is read, so "remaining" is by hash space. */
export interface TransferProgress {
  readonly transfersTotal: number;
  readonly transfersDone: number;
  readonly transfersRunning: number;
  readonly bytesMoved: number;
  readonly blocksMoved: number;
  /** Share of this node's outgoing hash space not yet done, 0..1. */
  readonly remainingRatio: number;
}

export interface MigrationStatus {
  readonly phase: MigrationPhase;
  /** Committed ring epoch this node routes by; 0 before the first ring. */
  readonly ringEpoch: number;
  readonly migration: null | {
    readonly key: MigrationKey;
    readonly epoch: number;
    readonly proposer: string;
    readonly startedAt: number;
    readonly from: readonly string[];
    readonly to: readonly string[];
    readonly participants: readonly string[];
    readonly prepared: readonly string[];
    readonly done: readonly string[];
    /** Why this node is aborting it, while it is. */
    readonly abortReason: AbortReason | null;
    readonly unsourcedRanges: number;
    readonly progress: TransferProgress;
    readonly transfers: readonly TransferStatus[];
  };
  /** A desired ring that differs from both the committed one and the running migration's: next. */
  readonly queuedTarget: readonly string[] | null;
  /** The queued target waits: this many ranges would have fewer live new owners than a write quorum (plan.ts). */
  readonly undersuppliedRanges: number;
}
