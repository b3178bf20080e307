// Text rendering of GET /cluster for `ringblock status`.
interface ClusterJson {
  cluster: string;
  epoch: number;
  replicationFactor: number;
  vnodes: number;
  members: { name: string; addr: string; zone: string | null; state: string; inRing: boolean; ownershipShare: number; usedBytes: number | null; capacityBytes: number | null }[];
  migration: null | {
    phase: string;
    epoch: number;
    from: string[];
    to: string[];
    participants: string[];
    prepared: string[];
    done: string[];
    progress: { transfersTotal: number; transfersDone: number; bytesMoved: number; blocksMoved: number; remainingRatio: number };
  };
  /** Absent from nodes older than this field. */
  pendingChange?: null | { target: string[]; undersuppliedRanges: number };
}

const BAR_WIDTH = 20;

export function renderStatus(value: unknown): string {
  const cluster = value as ClusterJson;
  const lines = [`cluster ${cluster.cluster}  ring epoch ${cluster.epoch}  RF ${cluster.replicationFactor}  vnodes ${cluster.vnodes}`, ''];
  lines.push(`${'NAME'.padEnd(14)}${'STATE'.padEnd(7)}${'RING'.padEnd(6)}${'ADDRESS'.padEnd(22)}OWNERSHIP`);
  for (const member of cluster.members) {
    const filled = Math.round(member.ownershipShare * BAR_WIDTH);
    const bar = `${'█'.repeat(Math.min(filled, BAR_WIDTH))}${'·'.repeat(Math.max(0, BAR_WIDTH - filled))}`;
    lines.push(`${member.name.padEnd(14)}${member.state.padEnd(7)}${(member.inRing ? 'yes' : 'no').padEnd(6)}${member.addr.padEnd(22)}${bar} ${(member.ownershipShare * 100).toFixed(1)}%`);
  }
  lines.push('', ...renderMigration(cluster.migration));
  const pending = cluster.pendingChange;
  if (pending && !cluster.migration) {
    lines.push(pending.undersuppliedRanges > 0
      ? `ring change to [${pending.target.join(', ')}] waits: ${pending.undersuppliedRanges} ranges would have too few live owners (until a down node is back or leaves after its grace)`
      : `ring change to [${pending.target.join(', ')}] is about to start`);
  }
  return `${lines.join('\n')}\n`;
}

export function progressBar(ratioDone: number, width = BAR_WIDTH): string {
  const filled = Math.max(0, Math.min(width, Math.round(ratioDone * width)));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(ratioDone * 100).toFixed(0).padStart(3)}%`;
}

/** The migration as the answering node sees it: barriers passed, and its own transfers' progress. */
export function renderMigration(migration: ClusterJson['migration']): string[] {
  if (!migration) return ['migration: none'];
  const { progress } = migration;
  return [
    `migration to epoch ${migration.epoch}: ${migration.phase}  (${migration.from.length} → ${migration.to.length} nodes)`,
    `  prepared ${migration.prepared.length}/${migration.participants.length}, done ${migration.done.length}/${migration.participants.length}`,
    `  this node's transfers ${progressBar(1 - progress.remainingRatio)}  ${progress.transfersDone}/${progress.transfersTotal} ranges, ${progress.blocksMoved} blocks, ${(progress.bytesMoved / 1048576).toFixed(1)} MiB`,
  ];
}
