// Which blocks move where when the ring changes (DESIGN §6 step 2), as a pure function of the two
// rings and the live set, so that every node computes the same plan from the same migration record.
//
// For every arc whose owner set grows, each added owner receives the arc from one live old owner.
// Senders are picked greedily in ring order: the live old owner with the least hash space assigned
// so far, ties going to the earlier one in the arc's preference order (positions in a preference
// list are distinct, so no further tie-break is needed). That spreads the reading load over the
// surviving replicas instead of putting it all on primaries.
//
// One sender's copy is not enough: a write acknowledged at quorum may sit on the other old owners
// only (this one missed it, and its hint or repair had not come yet). When the ring change leaves
// fewer than a quorum of those holders among the new owners, a quorum read on the new ring could
// miss it (the coordination simulator found this, RELIABILITY.md). So each transfer names other live
// old owners of its range: the sender first catches up with each of them (a Merkle comparison,
// repair/repairer.ts `catchUp`, streaming only what differs), then streams. The sender and its
// catch-up peers make a read quorum R of the old owners (when that many are live): any write
// acknowledged at quorum (W + R > RF) before the prepare barrier is on one of them, so it reaches
// the new owner; writes after the barrier reach it by dual writes. More peers would only add scans
// of the range (each comparison reads every header of it on both sides; measured: catching up with
// both other owners at RF 3 doubled the transfer phase of a 3 → 4 migration).
//
// With every receiver live, that leaves each acknowledged write on a write quorum W of the new
// owners: a range's holders among its old owners are ≥ W, the staying ones keep theirs, and each
// receiver (one per leaving owner) ends up with everything. A receiver that is down (still in the
// ring, inside its grace) gets nothing now — hints and anti-entropy fill it when it is back — so in
// such a range every live STAYING owner catches up with other live old owners instead (a transfer
// to itself: catch-up only, no stream), and each of them holds every quorum write. Then the
// holders are at least the live new owners. That needs every acknowledged write to be on some live
// old owner: true while a read quorum R of the old owners is live (W + R > RF). So a range is
// `undersupplied` when fewer than W of its new owners are live, or fewer than R of its old owners
// while a down one stays an owner (it may come back holding writes no live node has); the
// coordinator does not propose such a plan but waits for the live set to change (a node back, or
// removed after its grace: then no down old owner stays, and what only it held cannot be waited for).
import assert from 'node:assert/strict';
import { diffRings, rangeWidth, type Arc, type RangeChange, type Ring } from '@ringblock/ring';
import { requiredAcks } from '../consistency.js';

export interface PlanInput {
  readonly from: Ring;
  readonly to: Ring;
  /** Nodes that can send or receive; the others are down. */
  readonly live: ReadonlySet<string>;
}

/** One bulk stream: the blocks and tombstones of `range` from `from` to `to` (`to === from`: catch-up only). */
export interface Transfer {
  /** Index in `plan.transfers`, as a string: the same on every node for the same record. */
  readonly id: string;
  readonly range: Arc;
  readonly from: string;
  readonly to: string;
  /** Live old owners of the range `from` catches up with first (with it, a read quorum), in preference order. */
  readonly catchUpFrom: readonly string[];
  /** Hash positions the range covers: the weight used for sender balance and progress. */
  readonly widthPositions: bigint;
}

/** A changing arc with fewer live new owners than a write quorum: the migration must wait. */
export interface UndersuppliedRange {
  readonly range: Arc;
  /** Live new owners (staying and receiving), and the write quorum of the new owners. */
  readonly liveOwners: readonly string[];
  readonly required: number;
  /** Live old owners (the sources), and the read quorum of the old owners. */
  readonly liveOldOwners: readonly string[];
  readonly sourcesRequired: number;
}

/** An arc an added owner should receive but will not get from this migration. */
export interface MissedRange {
  readonly range: Arc;
  readonly to: string;
  readonly oldOwners: readonly string[];
}

export interface MigrationPlan {
  readonly fromRing: Ring;
  readonly toRing: Ring;
  /** Ascending by range end, then by receiver in preference order. */
  readonly transfers: readonly Transfer[];
  /** Live members of old ∪ new ring nodes, sorted by name. */
  readonly participants: readonly string[];
  /** Per node, the arcs it owns in `fromRing` but not in `toRing` (adjacent arcs merged). */
  readonly releases: ReadonlyMap<string, readonly Arc[]>;
  readonly sends: ReadonlyMap<string, readonly Transfer[]>;
  readonly receives: ReadonlyMap<string, readonly Transfer[]>;
  /** No live old owner holds these: only repair can bring them back later. */
  readonly unsourced: readonly MissedRange[];
  /** The receiver is down: it gets these from hinted handoff and repair when back (the live staying owners catch up meanwhile). */
  readonly downReceivers: readonly MissedRange[];
  /** Arcs the coordinator must not move now (see the header). */
  readonly undersupplied: readonly UndersuppliedRange[];
}

export function planMigration(input: PlanInput): MigrationPlan {
  const { from, to, live } = input;
  const changes = diffRings(from, to);
  const assignedPositions = new Map<string, bigint>();
  const transfers: Transfer[] = [];
  const unsourced: MissedRange[] = [];
  const downReceivers: MissedRange[] = [];
  const undersupplied: UndersuppliedRange[] = [];
  /** Live old owners besides `name`, in preference order, enough to make a read quorum with it. */
  const catchUpPeers = (change: RangeChange, name: string) =>
    change.oldOwners.filter((other) => other !== name && live.has(other)).slice(0, requiredAcks('quorum', change.oldOwners.length) - 1);
  for (const change of changes) {
    const range = { start: change.start, end: change.end };
    const widthPositions = rangeWidth(range);
    let receiverDown = false;
    for (const receiver of change.addedOwners) {
      const missed = { range, to: receiver, oldOwners: change.oldOwners };
      if (!live.has(receiver)) {
        downReceivers.push(missed);
        receiverDown = true;
        continue;
      }
      const sender = leastLoadedSender(change.oldOwners, live, assignedPositions);
      if (sender === undefined) {
        unsourced.push(missed);
        continue;
      }
      assignedPositions.set(sender, (assignedPositions.get(sender) ?? 0n) + widthPositions);
      transfers.push({ id: String(transfers.length), range, from: sender, to: receiver, catchUpFrom: catchUpPeers(change, sender), widthPositions });
    }
    if (receiverDown) {
      for (const staying of change.newOwners) {
        if (change.addedOwners.includes(staying) || !live.has(staying)) continue;
        const catchUpFrom = catchUpPeers(change, staying);
        if (catchUpFrom.length > 0) transfers.push({ id: String(transfers.length), range, from: staying, to: staying, catchUpFrom, widthPositions });
      }
    }
    const liveOwners = change.newOwners.filter((name) => live.has(name));
    const required = requiredAcks('quorum', change.newOwners.length);
    const liveOldOwners = change.oldOwners.filter((name) => live.has(name));
    const sourcesRequired = requiredAcks('quorum', change.oldOwners.length);
    const downOwnerStays = change.oldOwners.some((name) => !live.has(name) && change.newOwners.includes(name));
    if (liveOwners.length < required || (liveOldOwners.length < sourcesRequired && downOwnerStays)) {
      undersupplied.push({ range, liveOwners, required, liveOldOwners, sourcesRequired });
    }
  }
  const names = new Set([...from.nodes, ...to.nodes].map((node) => node.name));
  return {
    fromRing: from,
    toRing: to,
    transfers,
    participants: [...names].filter((name) => live.has(name)).sort(),
    releases: releasesOf(changes),
    sends: groupBy(transfers, (transfer) => transfer.from),
    receives: groupBy(transfers, (transfer) => transfer.to),
    unsourced,
    downReceivers,
    undersupplied,
  };
}

/** The transfers `name` sends (empty when none). */
export function transfersFrom(plan: MigrationPlan, name: string): readonly Transfer[] {
  return plan.sends.get(name) ?? [];
}

/** The transfers `name` receives (empty when none). */
export function transfersTo(plan: MigrationPlan, name: string): readonly Transfer[] {
  return plan.receives.get(name) ?? [];
}

/**
 * Per node, the arcs of `changes` it stops owning, adjacent arcs merged (changes come ascending by
 * end, as `diffRings` gives them). Used for the plan and for any ring switch.
 */
export function releasesOf(changes: readonly RangeChange[]): Map<string, Arc[]> {
  const releases = new Map<string, Arc[]>();
  for (const change of changes) {
    for (const name of change.removedOwners) {
      let arcs = releases.get(name);
      if (arcs === undefined) releases.set(name, (arcs = []));
      const last = arcs.at(-1);
      if (last !== undefined && last.end === change.start) arcs[arcs.length - 1] = { start: last.start, end: change.end };
      else arcs.push({ start: change.start, end: change.end });
    }
  }
  return releases;
}

/** The live old owner with the least hash space assigned; earlier in preference order on ties. */
function leastLoadedSender(
  oldOwners: readonly string[],
  live: ReadonlySet<string>,
  assignedPositions: ReadonlyMap<string, bigint>,
): string | undefined {
  let best: string | undefined;
  let bestPositions = 0n;
  for (const name of oldOwners) {
    if (!live.has(name)) continue;
    const positions = assignedPositions.get(name) ?? 0n;
    if (best === undefined || positions < bestPositions) {
      best = name;
      bestPositions = positions;
    }
  }
  assert.ok(best === undefined || oldOwners.includes(best));
  return best;
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}
