// The migration coordinator of one node (DESIGN §6) as a pure state machine: `step(event)` takes
// what ZooKeeper, the transfer streams and the clock said and returns what to do; the caller does
// all I/O (etcd raft's Step/Ready split). No timers: every timeout is measured on `tick` events.
//
// The FSM is level-triggered: each step records the facts (committed ring, live set, target, the
// migration znode as seen) and then `advance` moves as far as they allow, so a repeated or
// coalesced watch event cannot make it skip or repeat a phase. ZooKeeper actions are idempotent and
// re-emitted every retryIntervalMs until their effect is seen, so a failed write needs no event.
//
// Phases of the migration a node holds:
//   preparing        dual writes requested → on → markPrepared, until prepared/<self> is seen
//   awaitingPrepared until the barrier: every participant AND every member live in this node's
//                    view is prepared, so no node that may coordinate a write still writes to the
//                    old owners only (the proposer's live view may have missed a node)
//   transferring     this node's outgoing transfers, bounded in flight, retried, stall-timed
//   awaitingDone     markDone, until every participant is done
//   committing       commit (any node may; the version check makes duplicates harmless)
//   aborting         abortMigration, until the record is gone
//   observing        prepared, not a participant (it joined or came back after the proposal, or
//                    the proposer did not see it): waits, and commits once every participant is done
// The ring watch reaching the migration's epoch ends it (switchRing, disableDualWrites,
// scheduleRelease); the record vanishing while the ring stayed ends it as aborted.
import assert from 'node:assert/strict';
import type { RingNodeInfo } from '@ringblock/coord';
import { diffRings, type Ring } from '@ringblock/ring';
import { OutgoingTransfers } from './outgoing.js';
import { planMigration, releasesOf, transfersFrom, type MigrationPlan } from './plan.js';
import {
  DEFAULT_MIGRATION_LIMITS,
  type AbortReason,
  type MigrationAction,
  type MigrationEvent,
  type MigrationLimits,
  type MigrationPhase,
  type MigrationStatus,
} from './protocol.js';
import { migrationKey, participantsOf, sameRingNodes, type MigrationKey, type MigrationRecord } from './record.js';

export interface CoordinatorConfig {
  /** This node's name. */
  readonly self: string;
  /** A ring of these nodes with the cluster's vnodes, replication factor and hasher (pure). */
  readonly buildRing: (nodes: readonly RingNodeInfo[]) => Ring;
  /** The clock at creation; later times come from `tick`. */
  readonly nowMs: number;
  /** From the cluster config: how long released ranges stay readable. */
  readonly staleGraceMs: number;
  readonly limits?: Partial<MigrationLimits>;
}

interface Committed {
  readonly epoch: number;
  readonly version: number;
  readonly nodes: readonly RingNodeInfo[];
  readonly ring: Ring;
}

interface Seen {
  readonly record: MigrationRecord | null;
  readonly key: MigrationKey | undefined;
  readonly prepared: ReadonlySet<string>;
  readonly done: ReadonlySet<string>;
}

type ActivePhase = Exclude<MigrationPhase, 'idle' | 'proposing'>;
/** Actions re-emitted until their effect shows in ZooKeeper. */
type RetriedAction = 'markPrepared' | 'markDone' | 'commit' | 'abortMigration';

/** The migration this node holds, with its local progress. */
interface Active {
  readonly record: MigrationRecord;
  readonly key: MigrationKey;
  readonly plan: MigrationPlan;
  /** In the record's participants: it sends its transfers and marks done. */
  readonly participant: boolean;
  readonly adoptedAtMs: number;
  phase: ActivePhase;
  dualWrites: 'requested' | 'on' | 'off';
  outgoing: OutgoingTransfers | undefined;
  abort: { readonly reason: AbortReason; readonly nodes: readonly string[] } | undefined;
  readonly lastEmitMs: Map<RetriedAction, number>;
  allPreparedSeen: boolean;
  allDoneSeen: boolean;
}

export class MigrationCoordinatorFsm {
  private readonly self: string;
  private readonly limits: MigrationLimits;
  private nowMs: number;
  private committed: Committed | undefined;
  private live: ReadonlySet<string> = new Set();
  private membersKnown = false;
  private target: readonly RingNodeInfo[] | null = null;
  private seen: Seen | undefined;
  private active: Active | undefined;
  private proposal: { readonly record: MigrationRecord; readonly sentAtMs: number } | undefined;
  private nextProposeAtMs = Number.NEGATIVE_INFINITY;
  private lastStartedAt = Number.NEGATIVE_INFINITY;
  /** The last target not proposed because some range would have too few live owners (plan.ts), by its inputs. */
  private undersupplied: { readonly inputs: string; readonly ranges: number } | undefined;
  /** A record that does not continue the committed ring, and since when it has been seen. */
  private stale: { key: MigrationKey; sinceMs: number; lastEmitMs: number | undefined } | undefined;

  constructor(private readonly config: CoordinatorConfig) {
    this.self = config.self;
    this.limits = { ...DEFAULT_MIGRATION_LIMITS, ...config.limits };
    this.nowMs = config.nowMs;
  }

  get phase(): MigrationPhase {
    return this.active?.phase ?? (this.proposal === undefined ? 'idle' : 'proposing');
  }

  step(event: MigrationEvent): MigrationAction[] {
    const out: MigrationAction[] = [];
    this.observe(event, out);
    this.advance(out);
    this.checkInvariants();
    return out;
  }

  /** Takes in the facts an event brings; only the ring switch acts at once. */
  private observe(event: MigrationEvent, out: MigrationAction[]): void {
    const outgoing = this.active?.outgoing;
    switch (event.type) {
      case 'ringCommitted':
        return this.onRing(event, out);
      case 'members':
        this.live = new Set(event.live);
        this.membersKnown = true;
        return;
      case 'target':
        this.target = event.nodes;
        return;
      case 'migrationSeen':
        this.seen = {
          record: event.record,
          key: event.record === null ? undefined : migrationKey(event.record),
          prepared: new Set(event.prepared),
          done: new Set(event.done),
        };
        return;
      case 'proposeFailed':
        // NODE_EXISTS: another node proposed; the watch brings its record (or proposeTimeoutMs passes).
        if (event.reason === 'error' && this.proposal !== undefined) {
          this.proposal = undefined;
          this.nextProposeAtMs = this.nowMs + this.limits.retryIntervalMs;
        }
        return;
      case 'dualWritesEnabled':
        if (this.active?.key === event.migration && this.active.dualWrites === 'requested') this.active.dualWrites = 'on';
        return;
      case 'transferProgress':
        outgoing?.progress(event.transferId, event.bytesMoved, event.blocksMoved, this.nowMs);
        return;
      case 'transferDone':
        outgoing?.done(event.transferId, event.bytesMoved, event.blocksMoved, this.nowMs);
        return;
      case 'transferFailed':
        outgoing?.failed(event.transferId, this.nowMs);
        return;
      case 'tick':
        assert.ok(event.now >= this.nowMs, `time went back from ${this.nowMs} to ${event.now}`);
        this.nowMs = event.now;
        return;
    }
  }

  /** A newer committed ring: route by it, release what this node lost, end a migration it completes. */
  private onRing(event: Extract<MigrationEvent, { type: 'ringCommitted' }>, out: MigrationAction[]): void {
    const previous = this.committed;
    if (previous !== undefined && event.epoch <= previous.epoch) return; // a repeated or late read
    const ring = this.config.buildRing(event.nodes);
    this.committed = { epoch: event.epoch, version: event.version, nodes: event.nodes, ring };
    out.push({ type: 'switchRing', epoch: event.epoch, nodes: event.nodes });
    if (this.active !== undefined && event.epoch >= this.active.record.epoch) this.end(out, this.active);
    const released = previous === undefined ? undefined : releasesOf(diffRings(previous.ring, ring)).get(this.self);
    if (released !== undefined && released.length > 0) {
      out.push({ type: 'scheduleRelease', epoch: event.epoch, ranges: released, atMs: this.nowMs + this.config.staleGraceMs });
    }
  }

  private advance(out: MigrationAction[]): void {
    if (this.committed === undefined) return;
    this.settleVanished(out);
    if (this.active === undefined) this.adoptSeen(out, this.committed);
    if (this.active !== undefined) this.drive(out, this.active, this.seen!);
    else this.propose(out, this.committed);
  }

  /**
   * The held migration is no longer in ZooKeeper and the ring did not reach its epoch (the ring is
   * read before the deletion is reported, see protocol.ts): it was aborted, by this node or another.
   */
  private settleVanished(out: MigrationAction[]): void {
    if (this.active === undefined || this.seen?.key === this.active.key) return;
    this.end(out, this.active);
    this.nextProposeAtMs = this.nowMs + this.limits.abortBackoffMs;
  }

  /** Stops what the held migration started (transfers, then dual writes) and forgets it. */
  private end(out: MigrationAction[], active: Active): void {
    if (active.outgoing?.stop()) out.push({ type: 'stopTransfers', migration: active.key });
    if (active.dualWrites !== 'off') out.push({ type: 'disableDualWrites', migration: active.key });
    active.dualWrites = 'off';
    this.active = undefined;
  }

  /** Follows the record ZooKeeper holds, whoever proposed it. */
  private adoptSeen(out: MigrationAction[], committed: Committed): void {
    const seen = this.seen;
    if (seen === undefined || seen.record === null || seen.key === undefined) {
      this.stale = undefined;
      return;
    }
    this.proposal = undefined;
    const record = seen.record;
    if (record.epoch > committed.epoch + 1) return; // this node's ring lags; its watch will catch up
    if (record.epoch <= committed.epoch || !sameRingNodes(record.from, committed.nodes)) {
      this.cleanUpStale(out, record, seen.key);
      return;
    }
    this.stale = undefined;
    const plan = planMigration({ from: committed.ring, to: this.config.buildRing(record.to), live: new Set(record.participants) });
    this.active = {
      record,
      key: seen.key,
      plan,
      participant: record.participants.includes(this.self),
      adoptedAtMs: this.nowMs,
      phase: 'preparing',
      dualWrites: 'requested',
      outgoing: undefined,
      abort: undefined,
      lastEmitMs: new Map(),
      allPreparedSeen: false,
      allDoneSeen: false,
    };
    out.push({ type: 'enableDualWrites', migration: seen.key, epoch: record.epoch, plan });
  }

  /**
   * A record that does not continue the committed ring. Right after a commit the old record is still
   * seen until its deletion is reported, so it is removed only once it has stayed retryIntervalMs.
   */
  private cleanUpStale(out: MigrationAction[], record: MigrationRecord, key: MigrationKey): void {
    if (this.stale?.key !== key) this.stale = { key, sinceMs: this.nowMs, lastEmitMs: undefined };
    const { sinceMs, lastEmitMs } = this.stale;
    const interval = this.limits.retryIntervalMs;
    if (this.nowMs - sinceMs < interval || (lastEmitMs !== undefined && this.nowMs - lastEmitMs < interval)) return;
    this.stale.lastEmitMs = this.nowMs;
    out.push({ type: 'abortMigration', migration: key, epoch: record.epoch, reason: 'stale' });
  }

  private drive(out: MigrationAction[], active: Active, seen: Seen): void {
    if (active.phase === 'aborting') return this.retry(out, active, 'abortMigration');
    for (const transferId of active.outgoing?.stalled(this.nowMs) ?? []) out.push({ type: 'cancelTransfer', transferId });
    active.allPreparedSeen ||= this.unprepared(active, seen).length === 0;
    active.allDoneSeen ||= active.record.participants.every((name) => seen.done.has(name));
    if (!active.allDoneSeen) {
      const abort = this.abortCause(active, seen);
      if (abort !== undefined) return this.abort(out, active, abort);
    }
    if (active.phase === 'preparing') {
      if (active.dualWrites !== 'on') return;
      if (!seen.prepared.has(this.self)) return this.retry(out, active, 'markPrepared');
      active.phase = active.participant ? 'awaitingPrepared' : 'observing';
    }
    if (active.phase === 'observing') {
      if (!active.allDoneSeen) return;
      active.phase = 'committing';
    }
    if (active.phase === 'awaitingPrepared') {
      if (!active.allPreparedSeen) return;
      // done/<self> already there: an earlier run of this node finished its transfers.
      const transfers = seen.done.has(this.self) ? [] : transfersFrom(active.plan, this.self);
      active.outgoing = new OutgoingTransfers(active.key, transfers, this.limits);
      active.phase = 'transferring';
    }
    if (active.phase === 'transferring') {
      for (const attempt of active.outgoing!.fill(this.nowMs)) out.push({ type: 'startTransfer', migration: active.key, ...attempt });
      if (!active.outgoing!.complete) return;
      active.phase = 'awaitingDone';
    }
    if (active.phase === 'awaitingDone') {
      if (!seen.done.has(this.self)) return this.retry(out, active, 'markDone');
      if (!active.allDoneSeen) return;
      active.phase = 'committing';
    }
    this.retry(out, active, 'commit');
  }

  /**
   * Why the held migration must abort, if it must. Only before every participant is done: after
   * that all data is in place and a node going down is an ordinary down node of the new ring.
   */
  private abortCause(active: Active, seen: Seen): Active['abort'] {
    if (this.membersKnown) {
      const lost = active.record.participants.filter((name) => !this.live.has(name) && !seen.done.has(name));
      if (lost.length > 0) return { reason: 'participantLost', nodes: lost };
      const receivers = [...(active.outgoing?.pendingReceivers() ?? [])].filter((name) => !this.live.has(name));
      if (receivers.length > 0) return { reason: 'receiverLost', nodes: receivers };
    }
    if (!active.allPreparedSeen && this.nowMs - active.adoptedAtMs >= this.limits.prepareTimeoutMs) {
      return { reason: 'prepareTimeout', nodes: this.unprepared(active, seen) };
    }
    const exhausted = active.outgoing?.exhausted;
    if (exhausted !== undefined) return { reason: 'transferFailed', nodes: [exhausted.to] };
    return undefined;
  }

  /** Who the prepare barrier still waits for: participants and members live in this node's view. */
  private unprepared(active: Active, seen: Seen): string[] {
    const barrier = new Set([...active.record.participants, ...(this.membersKnown ? this.live : [])]);
    return [...barrier].filter((name) => !seen.prepared.has(name)).sort();
  }

  /** Asks for the record's removal and stops sending; dual writes stay on until it is seen gone. */
  private abort(out: MigrationAction[], active: Active, abort: NonNullable<Active['abort']>): void {
    active.phase = 'aborting';
    active.abort = abort;
    this.retry(out, active, 'abortMigration');
    if (active.outgoing?.stop()) out.push({ type: 'stopTransfers', migration: active.key });
  }

  /** Emits `kind` unless it went out less than retryIntervalMs ago. */
  private retry(out: MigrationAction[], active: Active, kind: RetriedAction): void {
    const last = active.lastEmitMs.get(kind);
    if (last !== undefined && this.nowMs - last < this.limits.retryIntervalMs) return;
    active.lastEmitMs.set(kind, this.nowMs);
    out.push(this.retriedAction(active, kind));
  }

  private retriedAction(active: Active, kind: RetriedAction): MigrationAction {
    const migration = active.key;
    switch (kind) {
      case 'markPrepared':
      case 'markDone':
        return { type: kind, migration, node: this.self };
      case 'commit':
        return {
          type: 'commit',
          migration,
          expectedRingVersion: this.committed!.version,
          epoch: active.record.epoch,
          nodes: active.record.to,
          prepared: [...this.seen!.prepared],
          done: [...this.seen!.done],
        };
      case 'abortMigration':
        return { type: 'abortMigration', migration, epoch: active.record.epoch, reason: active.abort!.reason, nodes: active.abort!.nodes };
    }
  }

  /** Proposes the target ring when it differs from the committed one and no migration exists. */
  private propose(out: MigrationAction[], committed: Committed): void {
    if (this.proposal !== undefined) {
      if (this.nowMs - this.proposal.sentAtMs < this.limits.proposeTimeoutMs) return;
      this.proposal = undefined; // nothing appeared: propose again if still needed
    }
    const target = this.target;
    if (target === null || sameRingNodes(target, committed.nodes)) return;
    if (!this.membersKnown || !this.live.has(this.self) || this.seen?.record !== null) return;
    if (this.nowMs < this.nextProposeAtMs) return;
    // A node joins only while live: one that is not would be a new owner no transfer can fill,
    // and the commit would hand it ranges it holds nothing of. A target naming one is outdated.
    const inRing = new Set(committed.nodes.map((node) => node.name));
    if (target.some((node) => !inRing.has(node.name) && !this.live.has(node.name))) return;
    assert.ok(target.length > 0, 'a target ring has nodes');
    if (this.wouldUndersupply(committed, target)) return;
    // Distinct from this node's earlier proposals even within one millisecond: the key must differ.
    const startedAt = Math.max(this.nowMs, this.lastStartedAt + 1);
    this.lastStartedAt = startedAt;
    const record: MigrationRecord = {
      epoch: committed.epoch + 1,
      from: committed.nodes,
      to: target,
      startedAt,
      proposer: this.self,
      participants: participantsOf(committed.nodes, target, this.live),
    };
    this.proposal = { record, sentAtMs: this.nowMs };
    out.push({ type: 'createMigration', record, expectedRingVersion: committed.version });
  }

  /**
   * True when the move to `target` with the live set now would leave some range with fewer live new
   * owners than a write quorum (plan.ts): acknowledged writes could end up below W, so it waits for
   * the live set to change. Planned once per (ring, target, live set).
   */
  private wouldUndersupply(committed: Committed, target: readonly RingNodeInfo[]): boolean {
    const inputs = `${committed.epoch}|${target.map((node) => node.name).join(',')}|${[...this.live].sort().join(',')}`;
    if (this.undersupplied?.inputs !== inputs) {
      const plan = planMigration({ from: committed.ring, to: this.config.buildRing(target), live: this.live });
      this.undersupplied = { inputs, ranges: plan.undersupplied.length };
    }
    return this.undersupplied.ranges > 0;
  }

  private checkInvariants(): void {
    const active = this.active;
    if (active === undefined) return;
    assert.ok(this.committed !== undefined && active.record.epoch === this.committed.epoch + 1, 'a held migration continues the committed ring');
    assert.equal(this.proposal, undefined, 'no proposal while a migration is held');
    const phase = active.phase;
    if (phase === 'transferring' || phase === 'awaitingDone' || phase === 'committing') {
      assert.ok(active.allPreparedSeen, `${phase} only after the prepare barrier`);
    }
    if (phase === 'committing') assert.ok(active.allDoneSeen, 'commit only after every participant is done');
    if (phase !== 'transferring') assert.equal(active.outgoing?.running ?? 0, 0, `no transfer runs while ${phase}`);
  }

  /** Ranges the queued target would leave short (0 while a migration runs or nothing waits); cheap, unlike `state`. */
  get undersuppliedRanges(): number {
    const committed = this.committed;
    const target = this.target;
    if (this.active !== undefined || target === null || committed === undefined || sameRingNodes(target, committed.nodes)) return 0;
    return this.undersupplied?.ranges ?? 0;
  }

  /** For /cluster, /health and metrics. */
  get state(): MigrationStatus {
    const committed = this.committed;
    const target = this.target;
    const active = this.active;
    const queued =
      target !== null &&
      committed !== undefined &&
      !sameRingNodes(target, committed.nodes) &&
      (active === undefined || !sameRingNodes(target, active.record.to));
    return {
      phase: this.phase,
      ringEpoch: committed?.epoch ?? 0,
      migration: active === undefined ? null : this.activeStatus(active),
      queuedTarget: queued ? target.map((node) => node.name) : null,
      undersuppliedRanges: this.undersuppliedRanges,
    };
  }

  private activeStatus(active: Active): NonNullable<MigrationStatus['migration']> {
    const { record } = active;
    const outgoing = active.outgoing ?? new OutgoingTransfers(active.key, transfersFrom(active.plan, this.self), this.limits);
    return {
      key: active.key,
      epoch: record.epoch,
      proposer: record.proposer,
      startedAt: record.startedAt,
      from: record.from.map((node) => node.name),
      to: record.to.map((node) => node.name),
      participants: record.participants,
      prepared: [...(this.seen?.prepared ?? [])].sort(),
      done: [...(this.seen?.done ?? [])].sort(),
      abortReason: active.abort?.reason ?? null,
      unsourcedRanges: active.plan.unsourced.length,
      progress: outgoing.progressSummary(),
      transfers: outgoing.statuses(),
    };
  }
}
