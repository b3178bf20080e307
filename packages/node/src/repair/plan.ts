// Who compares which range with whom, and when a tombstone may go (pure: no I/O, no clock).
//
// Pairs. Every range of the committed ring has an owner set; of each pair of owners, the one whose
// name sorts first starts the comparison (both ends repair, newest wins both ways, so one exchange
// per pair suffices). The first owner by name — the range's *leader* — thus compares the range with
// every other owner in its round, and only it decides purges.
//
// Purging a tombstone t = (id, v) of range R (DESIGN §5: "purged only after a grace period long
// enough for repair to see them" — and only once every replica is known to hold it). The leader L:
//   1. collects t while building its own tree of R in round k, at wall time B, if
//      physicalMs(v) + tombstoneGraceMs <= B (HLC time of the version, version.ts);
//   2. in round k compares R with EVERY other owner of R (committed ring, epoch E; an owner that is
//      down fails the round for R) using trees built at or after B, streaming every differing bucket
//      both ways, all successfully. Then every owner holds id at a version >= v: an equal bucket
//      means the peer held the same records when it built its tree, a differing one was pushed to it
//      afterwards, and a replica only ever replaces a record by a newer one. The round ends at S:
//      t becomes *pending* for R;
//   3. purges t in a later round k' of the same epoch E that started at or after S + purgeSettleMs
//      and in which R was again in sync with every owner (as in 2), with no migration running and
//      the epoch still E when it purges.
// Why the second round: at S no owner holds a version of id older than v, but such a version may
// still be on its way — a repair or migration stream read before S, a read repair, a retried replica
// call. purgeSettleMs bounds how long those are in flight (the transfer receiver bounds a request at
// 120 s), so when round k' starts nothing older than v is left anywhere but in hints, and round k'
// re-establishes "every owner holds >= v" even if an owner was wiped and refilled meanwhile. Hints
// of older writes are covered by the grace itself: it must be at least the hint age bound.
// The purge: L sends the list to every other owner, which purges (id, v) only if its current record
// is exactly that tombstone (a newer write stays; the engine checks the version), only on epoch E,
// only if it owns the position and `from` leads it, and only if physicalMs(v) + grace <= its own
// clock; then L purges its own copies. An owner that missed the purge keeps the tombstone, repair
// spreads it back as a tombstone (never as the older put), and a later round purges it again.
// Pending purges live in memory only: a restarted leader starts over.
// Not covered (as in any Dynamo-style store): a node that left the ring and rejoins much later with
// its old device must come back wiped.
import type { Arc, TokenRange } from '@ringblock/ring';
import { decodeVersion } from '../version.js';
import type { MerkleRecord } from './merkle.js';

export interface PlannedRange {
  /** Consecutive ring ranges with the same owners, compared as one. */
  arc: Arc;
  /** Ring ranges the arc joins. */
  ranges: number;
  /** Every owner, in preference order (of the arc's first range). */
  owners: readonly string[];
  /** The owners this node compares with (those whose names sort after its own). */
  peers: readonly string[];
  /** This node is the first owner by name: it compares with all others and decides purges. */
  leader: boolean;
}

/**
 * The ranges `self` owns (ascending by end, as Ring.rangesOwnedBy gives them), with the peers it
 * compares each with. Neighbouring ranges with the same owner set are joined, up to
 * `rangesPerArcMax` per arc: one tree and one stream for what one pair of replicas holds alike
 * (a 3-node ring with RF 3 has 384 ranges of identical owners), while each tree keeps its 2^depth
 * buckets over a bounded share of the ring.
 */
export function planRanges(ranges: readonly TokenRange[], self: string, rangesPerArcMax = 1): PlannedRange[] {
  const planned: PlannedRange[] = [];
  for (const range of ranges) {
    if (!range.owners.includes(self)) continue;
    const previous = planned[planned.length - 1];
    if (previous && previous.arc.end === range.start && previous.ranges < rangesPerArcMax && sameMembers(previous.owners, range.owners)) {
      previous.arc = { start: previous.arc.start, end: range.end };
      previous.ranges++;
      continue;
    }
    const peers = range.owners.filter((owner) => owner > self).sort();
    planned.push({ arc: { start: range.start, end: range.end }, ranges: 1, owners: range.owners, peers, leader: peers.length === range.owners.length - 1 });
  }
  return planned;
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name) => b.includes(name));
}

/** The plan grouped by peer (sorted by name), each with its ranges in ring order. */
export function rangesByPeer<T extends { plan: PlannedRange }>(states: readonly T[]): Map<string, T[]> {
  const byPeer = new Map<string, T[]>();
  for (const state of states) {
    for (const peer of state.plan.peers) {
      let list = byPeer.get(peer);
      if (!list) byPeer.set(peer, (list = []));
      list.push(state);
    }
  }
  return new Map([...byPeer.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The HLC wall time of a version (ms), or undefined when it is not an HLC version. */
export function versionTimeMs(version: Uint8Array): number | undefined {
  try {
    return decodeVersion(version).physicalMs;
  } catch {
    return undefined;
  }
}

/** Whether a tombstone of this version is older than the grace at wall time `nowMs`. */
export function pastGrace(version: Uint8Array, nowMs: number, graceMs: number): boolean {
  const timeMs = versionTimeMs(version);
  return timeMs !== undefined && timeMs + graceMs <= nowMs;
}

export interface PurgeCandidate {
  id: string;
  version: Buffer;
}

/** Candidates a node keeps at once across ranges (collected and pending), shared by its collectors. */
export interface CandidateBudget {
  remaining: number;
}

/** Tombstones past the grace, seen while the leader builds its tree (step 1), bounded per range and overall. */
export class CandidateCollector {
  readonly candidates: PurgeCandidate[] = [];
  /** More were past the grace than the bounds keep; the rest wait for a later round. */
  truncated = false;

  constructor(readonly builtAtMs: number, private readonly graceMs: number, private readonly max: number, private readonly budget: CandidateBudget) {}

  offer(record: MerkleRecord): void {
    if (!record.tombstone || !pastGrace(record.version, this.builtAtMs, this.graceMs)) return;
    if (this.candidates.length >= this.max || this.budget.remaining <= 0) {
      this.truncated = true;
      return;
    }
    this.budget.remaining--;
    this.candidates.push({ id: record.id, version: Buffer.from(record.version) });
  }
}

/** One range's progress in a round (steps 1 and 2). */
export class RangeRound {
  collector: CandidateCollector | undefined;
  readonly synced = new Set<string>();
  /** A comparison with some peer failed or was skipped: not in sync with every owner this round. */
  failed = false;
  repaired = false;

  constructor(readonly plan: PlannedRange) {}

  /** Step 2: the leader compared with, and repaired, every other owner. */
  inSyncWithAllOwners(): boolean {
    return this.plan.leader && !this.failed && this.plan.peers.every((peer) => this.synced.has(peer));
  }

  /** What becomes pending when the round ends (steps 1 and 2). */
  purgeable(): PurgeCandidate[] {
    return this.inSyncWithAllOwners() && this.collector ? this.collector.candidates : [];
  }
}

export interface PendingPurge {
  epoch: number;
  candidates: PurgeCandidate[];
  /** Step 3 may purge in a round that starts at or after this (wall ms). */
  dueAtMs: number;
}

/**
 * Pending purges per range (step 2 done, step 3 to come). A range's entry is replaced only once
 * due; anything of another epoch is dropped.
 */
export class PendingPurges {
  private readonly byRange = new Map<string, PendingPurge>();
  private total = 0;

  get size(): number {
    return this.byRange.size;
  }

  /** Candidates held, for the budget. */
  get candidates(): number {
    return this.total;
  }

  /** Step 3's check for `range` in a round of `epoch` that started at `roundStartMs` and found it in sync. */
  due(range: Arc, epoch: number, roundStartMs: number): PurgeCandidate[] {
    const pending = this.byRange.get(arcKey(range));
    return pending && pending.epoch === epoch && pending.dueAtMs <= roundStartMs ? pending.candidates : [];
  }

  /** After step 2 (round end): keeps `pending` unless an entry of this epoch waits (it is due sooner). */
  offer(range: Arc, pending: PendingPurge): void {
    const key = arcKey(range);
    if (this.byRange.get(key)?.epoch === pending.epoch) return;
    this.remove(key);
    if (pending.candidates.length === 0) return;
    this.byRange.set(key, pending);
    this.total += pending.candidates.length;
  }

  /** The range's pending purge is done (or failed its step 3): forget it. */
  clear(range: Arc): void {
    this.remove(arcKey(range));
  }

  /** A ring change: nothing pending survives it. */
  clearAll(): void {
    this.byRange.clear();
    this.total = 0;
  }

  private remove(key: string): void {
    const existing = this.byRange.get(key);
    if (!existing) return;
    this.total -= existing.candidates.length;
    this.byRange.delete(key);
  }
}

export function arcKey(arc: Arc): string {
  return `${arc.start}:${arc.end}`;
}
