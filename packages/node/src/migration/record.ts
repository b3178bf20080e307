// The `migration` znode's record (DESIGN §3, §6) and the small pure questions asked of it.
//
// Beyond the design's `{epoch, from, to, startedAt}` the record carries `proposer` and
// `participants`. Participants are fixed when the migration is proposed so that every node plans
// the same transfers from the record alone: if each node planned from its own view of the live set,
// two nodes seeing different live sets could pick different senders and leave a range unsent.
import type { RingNodeInfo } from '@ringblock/coord';

export interface MigrationRecord {
  /** Target ring epoch: the committed epoch + 1 when it was proposed. */
  readonly epoch: number;
  /** The committed ring's nodes the migration starts from. */
  readonly from: readonly RingNodeInfo[];
  /** The ring's nodes once committed. */
  readonly to: readonly RingNodeInfo[];
  /** Milliseconds on the proposer's clock when it proposed. */
  readonly startedAt: number;
  /** Name of the node that created the znode (informational: any node may commit or abort). */
  readonly proposer: string;
  /**
   * Live members of from ∪ to in the proposer's view, sorted by name: they send the plan's transfers
   * and the done barrier waits for them. The prepare barrier waits for them and for every member
   * live in the waiting node's view.
   */
  readonly participants: readonly string[];
}

/**
 * Identifies one migration. A later migration to the same epoch (after an abort) has another key,
 * so actions carry it and the I/O layer acts on the znode only while it still holds that migration.
 */
export type MigrationKey = string;

export function migrationKey(record: MigrationRecord): MigrationKey {
  return `${record.epoch}:${record.proposer}:${record.startedAt}`;
}

/** Whether two node lists hold the same nodes with the same addr and zone, in any order. */
export function sameRingNodes(a: readonly RingNodeInfo[], b: readonly RingNodeInfo[]): boolean {
  if (a.length !== b.length) return false;
  const byName = new Map(a.map((node) => [node.name, node]));
  return b.every((node) => {
    const other = byName.get(node.name);
    return other !== undefined && other.addr === node.addr && (other.zone ?? '') === (node.zone ?? '');
  });
}

/** Live members of from ∪ to, sorted by name: the nodes whose barriers a migration waits for. */
export function participantsOf(
  from: readonly RingNodeInfo[],
  to: readonly RingNodeInfo[],
  live: ReadonlySet<string>,
): string[] {
  const names = new Set([...from, ...to].map((node) => node.name));
  return [...names].filter((name) => live.has(name)).sort();
}
