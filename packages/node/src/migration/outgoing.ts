// This node's outgoing transfers of one migration: a bounded number in flight, bounded attempts
// each, a stall timeout, and the progress they made. Pure; the coordinator FSM owns one per
// migration and turns its answers into actions.
import assert from 'node:assert/strict';
import type { MigrationLimits, TransferProgress, TransferState, TransferStatus } from './protocol.js';
import type { Transfer } from './plan.js';
import type { MigrationKey } from './record.js';

type OutgoingLimits = Pick<MigrationLimits, 'transfersInFlightMax' | 'transferAttemptsMax' | 'transferStallTimeoutMs' | 'transferRetryDelayMs'>;

export interface TransferAttempt {
  readonly transferId: string;
  readonly attempt: number;
  readonly transfer: Transfer;
}

interface Slot {
  readonly transfer: Transfer;
  state: TransferState;
  attempts: number;
  /** Id of the running attempt. */
  runId: string | undefined;
  /** Totals of attempts that ended, plus the running attempt's last report. */
  bytesEndedAttempts: number;
  blocksEndedAttempts: number;
  bytesAttempt: number;
  blocksAttempt: number;
  /** Start or last progress of the running attempt; retry time while in retryWait. */
  sinceMs: number;
}

export class OutgoingTransfers {
  private readonly slots: Slot[];
  private readonly byRunId = new Map<string, Slot>();
  private readonly positionsTotal: bigint;
  /** A transfer that used up its attempts: the migration must abort. */
  exhausted: Transfer | undefined;
  stopped = false;

  constructor(private readonly migration: MigrationKey, transfers: readonly Transfer[], private readonly limits: OutgoingLimits) {
    assert.ok(limits.transfersInFlightMax >= 1 && limits.transferAttemptsMax >= 1);
    this.slots = transfers.map((transfer) => ({
      transfer,
      state: 'queued',
      attempts: 0,
      runId: undefined,
      bytesEndedAttempts: 0,
      blocksEndedAttempts: 0,
      bytesAttempt: 0,
      blocksAttempt: 0,
      sinceMs: 0,
    }));
    this.positionsTotal = transfers.reduce((sum, transfer) => sum + transfer.widthPositions, 0n);
  }

  get complete(): boolean {
    return this.slots.every((slot) => slot.state === 'done');
  }

  get running(): number {
    return this.byRunId.size;
  }

  /** Attempts to start now: retries whose pause is over, then queued ones, up to the in-flight bound. */
  fill(nowMs: number): TransferAttempt[] {
    if (this.stopped || this.exhausted !== undefined) return [];
    const started: TransferAttempt[] = [];
    for (const slot of this.slots) {
      if (slot.state === 'retryWait' && nowMs >= slot.sinceMs) slot.state = 'queued';
    }
    for (const slot of this.slots) {
      if (this.running >= this.limits.transfersInFlightMax) break;
      if (slot.state !== 'queued') continue;
      slot.attempts++;
      slot.state = 'running';
      slot.sinceMs = nowMs;
      slot.bytesAttempt = 0;
      slot.blocksAttempt = 0;
      slot.runId = `${this.migration}/${slot.transfer.id}#${slot.attempts}`;
      this.byRunId.set(slot.runId, slot);
      started.push({ transferId: slot.runId, attempt: slot.attempts, transfer: slot.transfer });
    }
    assert.ok(this.running <= this.limits.transfersInFlightMax, 'in-flight transfers within the bound');
    return started;
  }

  /** False for an id this set does not run (a stale attempt): the caller ignores the event. */
  progress(runId: string, bytesMoved: number, blocksMoved: number, nowMs: number): boolean {
    const slot = this.byRunId.get(runId);
    if (slot === undefined) return false;
    slot.bytesAttempt = Math.max(slot.bytesAttempt, bytesMoved);
    slot.blocksAttempt = Math.max(slot.blocksAttempt, blocksMoved);
    slot.sinceMs = nowMs;
    return true;
  }

  done(runId: string, bytesMoved: number, blocksMoved: number, nowMs: number): boolean {
    const slot = this.byRunId.get(runId);
    if (slot === undefined) return false;
    this.progress(runId, bytesMoved, blocksMoved, nowMs);
    this.end(slot, 'done', nowMs);
    return true;
  }

  failed(runId: string, nowMs: number): boolean {
    const slot = this.byRunId.get(runId);
    if (slot === undefined) return false;
    this.retryOrExhaust(slot, nowMs);
    return true;
  }

  /** Ends attempts without progress for transferStallTimeoutMs (as failures); returns their ids to cancel. */
  stalled(nowMs: number): string[] {
    const stalled = [...this.byRunId.entries()].filter(([, slot]) => nowMs - slot.sinceMs >= this.limits.transferStallTimeoutMs);
    for (const [, slot] of stalled) this.retryOrExhaust(slot, nowMs);
    return stalled.map(([runId]) => runId);
  }

  /** Forgets every running attempt (the caller emits stopTransfers); true when there were some. */
  stop(): boolean {
    const hadRunning = this.running > 0;
    for (const slot of this.byRunId.values()) this.end(slot, 'queued', 0);
    this.stopped = true;
    return hadRunning;
  }

  /** Receivers of transfers not done yet. */
  pendingReceivers(): Set<string> {
    return new Set(this.slots.filter((slot) => slot.state !== 'done').map((slot) => slot.transfer.to));
  }

  progressSummary(): TransferProgress {
    let positionsDone = 0n;
    let bytesMoved = 0;
    let blocksMoved = 0;
    for (const slot of this.slots) {
      if (slot.state === 'done') positionsDone += slot.transfer.widthPositions;
      bytesMoved += slot.bytesEndedAttempts + slot.bytesAttempt;
      blocksMoved += slot.blocksEndedAttempts + slot.blocksAttempt;
    }
    const remaining = this.positionsTotal - positionsDone;
    return {
      transfersTotal: this.slots.length,
      transfersDone: this.slots.filter((slot) => slot.state === 'done').length,
      transfersRunning: this.running,
      bytesMoved,
      blocksMoved,
      remainingRatio: this.positionsTotal === 0n ? 0 : Number(remaining) / Number(this.positionsTotal),
    };
  }

  statuses(): TransferStatus[] {
    return this.slots.map(({ transfer, state, attempts, bytesEndedAttempts, bytesAttempt, blocksEndedAttempts, blocksAttempt }) => ({
      id: transfer.id,
      from: transfer.from,
      to: transfer.to,
      range: { start: transfer.range.start.toString(), end: transfer.range.end.toString() },
      state,
      attempts,
      bytesMoved: bytesEndedAttempts + bytesAttempt,
      blocksMoved: blocksEndedAttempts + blocksAttempt,
    }));
  }

  private retryOrExhaust(slot: Slot, nowMs: number): void {
    if (slot.attempts >= this.limits.transferAttemptsMax) {
      this.end(slot, 'queued', nowMs);
      this.exhausted ??= slot.transfer;
      return;
    }
    this.end(slot, 'retryWait', nowMs + this.limits.transferRetryDelayMs);
  }

  /** Closes the running attempt, keeping what it moved, and puts the slot in `state` since `sinceMs`. */
  private end(slot: Slot, state: TransferState, sinceMs: number): void {
    assert.ok(slot.state === 'running' && slot.runId !== undefined);
    this.byRunId.delete(slot.runId);
    slot.runId = undefined;
    slot.bytesEndedAttempts += slot.bytesAttempt;
    slot.blocksEndedAttempts += slot.blocksAttempt;
    slot.bytesAttempt = 0;
    slot.blocksAttempt = 0;
    slot.state = state;
    slot.sinceMs = sinceMs;
  }
}
