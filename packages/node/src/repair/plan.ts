// Who compares which range with whom, and when a tombstone may go (pure: no I/O, no clock).
//
// Pairs. Every range of the committed ring has an owner set; of each pair of owners, the one whose
// name sorts first starts the comparison (both ends repair, newest wins both ways, so one exchange
// per pair suffices). The first owner by name — the range's *leader* — thus compares the range with
// every other owner in its round, and only it decides purges.
//
// Purging a tombstone (id, v) of range R (DESIGN §5: "purged only after a grace period long enough
// for repair to see them" — and only once every replica holds it):
//   1. the leader L of R collects (id, v) while building its own tree of R in a round, at a wall time
//      B when physicalMs(v) + tombstoneGraceMs <= B (the tombstone was already older than the grace);
//   2. in that same round, for EVERY other owner P of R (committed ring, epoch E; none may be down),
//      L compared a tree of R it built at or after B with P's tree and streamed every differing
//      bucket both ways, all successfully. A record in L's tree is then held by P at version >= v:
//      an equal bucket means P held the same records when it built its tree; a differing one was
//      pushed to P afterwards, and a replica only ever replaces a record by a newer one;
//   3. no migration ran and the ring epoch stayed E from the round's start to the purge.
// Then no owner of R holds a version of id older than v, so purging v everywhere cannot bring an
// older write back through repair or read repair. L sends the list to every other owner, which
// purges (id, v) only if its current record is exactly that tombstone (a newer write stays), only on
// epoch E, only if it owns the position, and only if physicalMs(v) + grace <= its own clock; then L
// purges its own copies. An owner that missed the purge keeps the tombstone, repair copies it back
// to the others, and a later round purges it again: it converges, never resurrects.
// What the grace itself covers: writes older than v still on their way — hints (so the grace must
// be at least the hint age bound), coordinator retries and in-flight replica calls.
// Not covered (as in any Dynamo-style store): a node that left the ring and rejoins later with its
// old device; such a node must come back wiped.
import type { Arc, TokenRange } from '@ringblock/ring';
import { decodeVersion } from '../version.js';
import type { MerkleRecord } from './merkle.js';

export interface PlannedRange {
  arc: Arc;
  /** Every owner, in preference order. */
  owners: readonly string[];
  /** The owners this node compares with (those whose names sort after its own). */
  peers: readonly string[];
  /** This node is the first owner by name: it compares with all others and decides purges. */
  leader: boolean;
}

/** The ranges `self` owns, with the peers it compares each with. */
export function planRanges(ranges: readonly TokenRange[], self: string): PlannedRange[] {
  return ranges
    .filter((range) => range.owners.includes(self))
    .map((range) => {
      const peers = range.owners.filter((owner) => owner > self).sort();
      return { arc: { start: range.start, end: range.end }, owners: range.owners, peers, leader: peers.length === range.owners.length - 1 };
    });
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

/** Tombstones past the grace, seen while the leader builds its tree (condition 1), bounded. */
export class CandidateCollector {
  readonly candidates: PurgeCandidate[] = [];
  /** More were past the grace than the bound keeps; the rest wait for a later round. */
  truncated = false;

  constructor(readonly builtAtMs: number, private readonly graceMs: number, private readonly max: number) {}

  offer(record: MerkleRecord): void {
    if (!record.tombstone || !pastGrace(record.version, this.builtAtMs, this.graceMs)) return;
    if (this.candidates.length >= this.max) {
      this.truncated = true;
      return;
    }
    this.candidates.push({ id: record.id, version: Buffer.from(record.version) });
  }
}

/** One range's progress in a round (conditions 1 and 2). */
export class RangeRound {
  collector: CandidateCollector | undefined;
  readonly synced = new Set<string>();
  /** A comparison with some peer failed or was skipped: not in sync with every owner this round. */
  failed = false;
  repaired = false;

  constructor(readonly plan: PlannedRange) {}

  /** Condition 2: the leader compared with, and repaired, every other owner. */
  inSyncWithAllOwners(): boolean {
    return this.plan.leader && !this.failed && this.plan.peers.every((peer) => this.synced.has(peer));
  }

  /** What may be purged now (conditions 1 and 2; the caller checks 3). */
  purgeable(): PurgeCandidate[] {
    return this.inSyncWithAllOwners() && this.collector ? this.collector.candidates : [];
  }
}

export function arcKey(arc: Arc): string {
  return `${arc.start}:${arc.end}`;
}
