// Which nodes the committed ring should hold, given the live members (DESIGN §4). Pure: no I/O, no
// clock; the caller passes `now` and the down-since times it tracked.
//
// Rules:
// - A live member missing from the ring is added (with its addr and zone).
// - A ring node that is not live stays (it is *down*, requests skip it) until it has been down for
//   downGraceMs; then it is removed. A node with no recorded down-since time is kept: the caller
//   records one the first time it sees the node down.
// - A node being decommissioned (`excluded`) is removed even while live, and not added back while
//   its decommission marker stands.
// - The last node is never removed (a ring of no nodes places nothing).
// - A live member whose addr or zone differs from its ring entry is updated. Decision: that is a
//   ring change (a new epoch) because the committed ring is what peers and ring-aware clients route
//   by, so they must see the new address; placement hashes only names, so an addr change moves no
//   data, while a zone change may (zone-aware placement), which the migration planner computes.
import { canonicalRingNodes, ringNodeOf, type RingNodeInfo } from './records.js';

export interface RingPlanInput {
  readonly ringNodes: readonly RingNodeInfo[];
  readonly liveMembers: ReadonlyMap<string, { readonly name: string; readonly addr: string; readonly zone?: string }>;
  /** When each ring node was first seen down (on the caller's clock). */
  readonly downSince: ReadonlyMap<string, number>;
  readonly now: number;
  readonly downGraceMs: number;
  /** Names being decommissioned: they leave the ring live or not, and are not added back. */
  readonly excluded?: ReadonlySet<string>;
}

export interface RingChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly updated: readonly string[];
}

/** The node list the ring should have (sorted by name), or null when the current one is right. */
export function planRingMembership(input: RingPlanInput): RingNodeInfo[] | null {
  const { ringNodes, liveMembers, downSince, now, downGraceMs } = input;
  const excluded = input.excluded ?? new Set<string>();
  const next: RingNodeInfo[] = [];
  for (const node of ringNodes) {
    if (excluded.has(node.name)) continue;
    const live = liveMembers.get(node.name);
    if (live !== undefined) next.push(ringNodeOf(live));
    else if (!downPastGrace(downSince.get(node.name), now, downGraceMs)) next.push(ringNodeOf(node));
  }
  const inRing = new Set(ringNodes.map((node) => node.name));
  for (const member of liveMembers.values()) {
    if (!inRing.has(member.name) && !excluded.has(member.name)) next.push(ringNodeOf(member));
  }
  if (next.length === 0) return null;
  const planned = canonicalRingNodes(next);
  const changes = ringChanges(ringNodes, planned);
  return changes.added.length + changes.removed.length + changes.updated.length === 0 ? null : planned;
}

/** What differs between two node lists (by name; `updated`: same name, other addr or zone). */
export function ringChanges(before: readonly RingNodeInfo[], after: readonly RingNodeInfo[]): RingChanges {
  const beforeByName = new Map(before.map((node) => [node.name, node]));
  const afterNames = new Set(after.map((node) => node.name));
  const added: string[] = [];
  const updated: string[] = [];
  for (const node of after) {
    const old = beforeByName.get(node.name);
    if (old === undefined) added.push(node.name);
    else if (old.addr !== node.addr || (old.zone ?? '') !== (node.zone ?? '')) updated.push(node.name);
  }
  const removed = before.filter((node) => !afterNames.has(node.name)).map((node) => node.name);
  return { added, removed, updated };
}

function downPastGrace(since: number | undefined, now: number, downGraceMs: number): boolean {
  return since !== undefined && now - since >= downGraceMs;
}
