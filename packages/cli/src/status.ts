// Text rendering of GET /cluster for `ringblock status`.
interface ClusterJson {
  cluster: string;
  epoch: number;
  replicationFactor: number;
  vnodes: number;
  members: { name: string; addr: string; zone: string | null; state: string; inRing: boolean; ownershipShare: number; usedBytes: number | null; capacityBytes: number | null }[];
  migration: unknown;
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
  lines.push('', `migration: ${cluster.migration ? JSON.stringify(cluster.migration) : 'none'}`);
  return `${lines.join('\n')}\n`;
}
