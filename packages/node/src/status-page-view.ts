// Pure rendering for the status page (GET /): the JSON of /cluster, /cluster/ring and /health in,
// HTML strings out. The browser runs these very functions: status-page.ts puts their compiled source
// into the page's script. So each one must be self-contained: no imports (types aside), no
// module-level values, and calls only to the other functions listed in PAGE_HELPERS.
// Every string that comes from the cluster goes through escapeHtml; numbers are formatted first.

/** What the page reads of /cluster (defensive: a field may be missing on another version). */
export interface ClusterJson {
  cluster: string;
  epoch: number;
  replicationFactor: number;
  vnodes: number;
  members: MemberJson[];
  migration: MigrationJson | null;
}

export interface MemberJson {
  name: string;
  addr: string;
  zone?: string | null;
  state: string;
  inRing: boolean;
  /** Share of the hash space this node holds a replica of (0..1; over all nodes it sums to min(RF, nodes)). */
  ownershipShare?: number;
  capacityBytes?: number | null;
  usedBytes?: number | null;
}

export interface MigrationJson {
  phase: string;
  epoch: number;
  proposer: string;
  startedAt: number;
  from: string[];
  to: string[];
  participants: string[];
  prepared: string[];
  done: string[];
  /** This node's outgoing transfers. */
  progress?: { transfersTotal: number; transfersDone: number; transfersRunning: number; bytesMoved: number; blocksMoved: number; remainingRatio: number };
}

export interface RingJson {
  epoch: number;
  nodes: { name: string }[];
  /** Decimal strings (unsigned 64-bit), ascending. */
  tokens: { token: string; node: string }[];
  /** The arcs whose owners change in the running migration (null: none, or dual writes not on yet). */
  migration?: { epoch: number; rangesTotal: number; ranges: { start: string; end: string; from: string[]; to: string[] }[] } | null;
}

interface RoundJson {
  reasons?: string[];
  startedAt?: number;
  finishedAt?: number | null;
  outcome?: string | null;
  rangesTotal?: number;
  rangesDone?: number;
  rangesRepaired?: number;
  blocksRepaired?: number;
  failures?: number;
}

export interface HealthJson {
  node: string;
  state: string;
  zookeeper?: { connected: boolean; ringConfirmed: boolean };
  ring?: { epoch: number };
  hints?: { enabled: boolean; pending: number };
  scrub?: { passes: number; lastPassAt: number | null; checked: number; corrupt: number; repaired: number; unrepaired: number };
  antiEntropy?: {
    round: RoundJson | null;
    lastRound: RoundJson | null;
    rounds: number;
    rangesInSync: number;
    totals?: { rangesCompared: number; rangesRepaired: number; blocksRepaired: number; failures: number };
  };
}

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** A finite number as text, or a dash: never lets a non-number from the wire through unescaped. */
export function formatCount(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : '–';
}

export function formatBytes(bytes: unknown): string {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatPercent(fraction: unknown): string {
  return typeof fraction === 'number' && Number.isFinite(fraction) ? `${(fraction * 100).toFixed(1)}%` : '–';
}

export function formatTime(ms: unknown): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return '–';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** A colour per node, by its place among the sorted names: stable while the membership is. */
export function nodeColours(names: readonly string[]): Map<string, string> {
  const sorted = [...new Set(names)].sort();
  // Golden-angle steps keep neighbouring indexes far apart on the colour wheel.
  return new Map(sorted.map((name, index) => [name, `hsl(${Math.round((index * 137.508) % 360)} 65% 45%)`]));
}

export function swatch(colour: string): string {
  return `<svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" rx="2" fill="${escapeHtml(colour)}"/></svg>`;
}

export function progressBar(done: unknown, total: unknown): string {
  const ok = typeof done === 'number' && typeof total === 'number' && Number.isFinite(done) && Number.isFinite(total) && total > 0;
  return ok ? `<progress value="${Math.min(done, total)}" max="${total}"></progress> ${formatCount(done)} / ${formatCount(total)}` : '–';
}

/**
 * One row per member. "holds" is /cluster's ownershipShare: the share of the hash space the node
 * keeps a replica of (RF copies, so the column sums to min(RF, nodes) × 100%); "of replicas" is its
 * part of all replicas, which sums to 100%.
 */
export function membersHtml(cluster: ClusterJson, colours: Map<string, string>): string {
  const members = Array.isArray(cluster.members) ? cluster.members : [];
  const total = members.reduce((sum, member) => sum + (Number(member.ownershipShare) || 0), 0);
  const rows = members.map((member) => {
    const share = Number(member.ownershipShare) || 0;
    const used = member.usedBytes ?? null;
    const capacity = member.capacityBytes ?? null;
    const usage = typeof used === 'number' && typeof capacity === 'number' && capacity > 0 ? `<progress value="${Math.min(used, capacity)}" max="${capacity}"></progress>` : '';
    return (
      `<tr data-member="${escapeHtml(member.name)}" data-state="${escapeHtml(member.state)}" data-in-ring="${member.inRing ? 'true' : 'false'}">` +
      `<td>${swatch(colours.get(member.name) ?? 'transparent')} ${escapeHtml(member.name)}</td>` +
      `<td>${escapeHtml(member.addr)}</td>` +
      `<td>${escapeHtml(member.zone ?? '')}</td>` +
      `<td class="state ${member.state === 'live' ? 'live' : 'down'}" data-field="state">${escapeHtml(member.state)}</td>` +
      `<td data-field="in-ring">${member.inRing ? 'yes' : 'no'}</td>` +
      `<td class="number" data-field="share">${formatPercent(share)}</td>` +
      `<td class="number" data-field="replica-share">${total > 0 ? formatPercent(share / total) : '–'}</td>` +
      `<td data-field="usage">${usage} ${formatBytes(used)} / ${formatBytes(capacity)}</td>` +
      '</tr>'
    );
  });
  return (
    `<table class="members" data-epoch="${formatCount(cluster.epoch)}"><thead><tr><th>node</th><th>address</th><th>zone</th><th>state</th><th>in ring</th>` +
    '<th title="share of the hash space this node keeps a replica of">holds</th><th title="its part of all replicas">of replicas</th><th>used / capacity</th></tr></thead>' +
    `<tbody>${rows.join('')}</tbody></table>` +
    `<p class="note">ring epoch ${formatCount(cluster.epoch)} · replication factor ${formatCount(cluster.replicationFactor)} · ${formatCount(cluster.vnodes)} vnodes per node · ` +
    '“holds” sums to RF × 100% (every block has RF replicas), “of replicas” to 100%</p>'
  );
}

/** Position on the hash circle, 0..1, of a decimal 64-bit token. */
export function tokenFraction(token: string): number {
  return Number(token) / 18446744073709551616;
}

/** An SVG path along the circle from `start` through `sweep` (fractions of a turn), clockwise from the top. */
export function arcPath(start: number, sweep: number, radius: number, centre: number): string {
  const point = (fraction: number) => {
    const angle = fraction * 2 * Math.PI - Math.PI / 2;
    return `${(centre + radius * Math.cos(angle)).toFixed(2)} ${(centre + radius * Math.sin(angle)).toFixed(2)}`;
  };
  const arc = (to: number, large: number) => `A ${radius} ${radius} 0 ${large} 1 ${point(to)}`;
  // A whole turn is two half arcs: one arc from a point to itself draws nothing.
  if (sweep >= 1) return `M ${point(start)} ${arc(start + 0.5, 0)} ${arc(start, 0)}`;
  return `M ${point(start)} ${arc(start + sweep, sweep > 0.5 ? 1 : 0)}`;
}

/**
 * The ring: each token the arc it ends (the range whose primary owner is the token's node), coloured
 * by node; outside it, the arcs a running migration moves; a legend with tokens per node.
 */
export function ringSvgHtml(ring: RingJson, colours: Map<string, string>): string {
  const size = 320;
  const centre = size / 2;
  const radius = 118;
  const tokens = Array.isArray(ring.tokens) ? ring.tokens : [];
  const counts = new Map<string, number>();
  const arcs = tokens.map((entry, index) => {
    counts.set(entry.node, (counts.get(entry.node) ?? 0) + 1);
    const end = tokenFraction(entry.token);
    const start = tokenFraction(tokens[(index + tokens.length - 1) % tokens.length]!.token);
    const sweep = tokens.length === 1 ? 1 : (end - start + 1) % 1;
    return (
      `<path class="token" data-node="${escapeHtml(entry.node)}" data-token="${escapeHtml(entry.token)}" ` +
      `d="${arcPath(start, sweep, radius, centre)}" stroke="${escapeHtml(colours.get(entry.node) ?? 'grey')}"/>`
    );
  });
  const migration = ring.migration ?? null;
  const moving = (migration?.ranges ?? []).map((range) => {
    const start = tokenFraction(range.start);
    const end = tokenFraction(range.end);
    const sweep = range.start === range.end ? 1 : (end - start + 1) % 1;
    const title = `to ${range.to.join(', ') || '–'}; from ${range.from.join(', ') || '–'}`;
    return `<path class="moving" data-migration-range="${escapeHtml(range.start)}-${escapeHtml(range.end)}" d="${arcPath(start, sweep, radius + 20, centre)}"><title>${escapeHtml(title)}</title></path>`;
  });
  const legend = [...colours.keys()].map(
    (name) => `<li data-legend-node="${escapeHtml(name)}">${swatch(colours.get(name)!)} ${escapeHtml(name)} <span class="note">${counts.get(name) ?? 0} tokens</span></li>`,
  );
  if (migration) {
    const shown = migration.ranges.length < migration.rangesTotal ? ` (first ${formatCount(migration.ranges.length)} drawn)` : '';
    legend.push(`<li data-legend-migration="${formatCount(migration.epoch)}"><span class="moving-key"></span> ${formatCount(migration.rangesTotal)} ranges moving to epoch ${formatCount(migration.epoch)}${shown}</li>`);
  }
  return (
    `<svg class="ring" data-ring-epoch="${formatCount(ring.epoch)}" data-tokens="${tokens.length}" viewBox="0 0 ${size} ${size}" role="img" aria-label="hash ring, epoch ${formatCount(ring.epoch)}">` +
    `<circle class="track" cx="${centre}" cy="${centre}" r="${radius}"/>` +
    `<g class="tokens">${arcs.join('')}</g><g class="migration">${moving.join('')}</g>` +
    `<text x="${centre}" y="${centre - 6}" class="epoch">epoch ${formatCount(ring.epoch)}</text>` +
    `<text x="${centre}" y="${centre + 16}" class="note">${tokens.length} tokens</text>` +
    `</svg><ul class="legend">${legend.join('')}</ul>`
  );
}

/** The running migration as this node sees it: barriers per participant and this node's sends. */
export function migrationHtml(migration: MigrationJson | null): string {
  if (!migration) return '<p data-migration-phase="none">No migration is running.</p>';
  const list = (names: unknown) => (Array.isArray(names) ? names : []);
  const prepared = new Set(list(migration.prepared));
  const done = new Set(list(migration.done));
  const rows = list(migration.participants).map(
    (name) =>
      `<tr data-participant="${escapeHtml(name)}"><td>${escapeHtml(name)}</td>` +
      `<td data-field="prepared">${prepared.has(name) ? 'yes' : 'no'}</td><td data-field="done">${done.has(name) ? 'yes' : 'no'}</td></tr>`,
  );
  const progress = migration.progress;
  const sends = progress
    ? `<p>This node's transfers: ${progressBar(progress.transfersDone, progress.transfersTotal)} · ${formatCount(progress.transfersRunning)} running · ` +
      `${formatBytes(progress.bytesMoved)} in ${formatCount(progress.blocksMoved)} blocks moved · ${formatPercent(progress.remainingRatio)} of its hash space left</p>`
    : '';
  return (
    `<p data-migration-phase="${escapeHtml(migration.phase)}" data-migration-epoch="${formatCount(migration.epoch)}">` +
    `Phase <strong>${escapeHtml(migration.phase)}</strong> towards epoch ${formatCount(migration.epoch)}, proposed by ${escapeHtml(migration.proposer)} at ${formatTime(migration.startedAt)}.</p>` +
    `<p>From ${escapeHtml(list(migration.from).join(', ') || '–')} to ${escapeHtml(list(migration.to).join(', ') || '–')}.</p>` +
    `<table><thead><tr><th>participant</th><th>prepared</th><th>done</th></tr></thead><tbody>${rows.join('')}</tbody></table>${sends}`
  );
}

function roundHtml(round: RoundJson): string {
  const reasons = Array.isArray(round.reasons) ? round.reasons.join(', ') : '';
  return (
    `${progressBar(round.rangesDone, round.rangesTotal)} ranges · ${formatCount(round.rangesRepaired)} repaired · ${formatCount(round.blocksRepaired)} blocks · ` +
    `${formatCount(round.failures)} failures · started ${formatTime(round.startedAt)}${reasons ? ` (${escapeHtml(reasons)})` : ''}`
  );
}

/** Anti-entropy, hinted handoff and scrubbing on this node, from /health. */
export function healingHtml(health: HealthJson): string {
  const repair = health.antiEntropy;
  const running = repair?.round ?? null;
  const last = repair?.lastRound ?? null;
  const hints = health.hints;
  const scrub = health.scrub;
  const items = [
    `<li data-repair-running="${running ? 'true' : 'false'}">Anti-entropy: ${running ? `round running: ${roundHtml(running)}` : 'idle'}</li>`,
    last ? `<li>Last round: ${escapeHtml(last.outcome ?? '–')}, finished ${formatTime(last.finishedAt)}: ${roundHtml(last)}</li>` : '',
    repair ? `<li>${formatCount(repair.rounds)} rounds · ${formatCount(repair.rangesInSync)} ranges in sync · totals: ${formatCount(repair.totals?.rangesCompared)} compared, ${formatCount(repair.totals?.rangesRepaired)} repaired, ${formatCount(repair.totals?.blocksRepaired)} blocks, ${formatCount(repair.totals?.failures)} failures</li>` : '',
    hints ? `<li data-hints-pending="${formatCount(hints.pending)}">Hinted handoff: ${hints.enabled ? `${formatCount(hints.pending)} hints pending` : 'off'}</li>` : '',
    scrub ? `<li>Scrub: ${formatCount(scrub.passes)} passes (last ${formatTime(scrub.lastPassAt)}) · ${formatCount(scrub.checked)} checked · ${formatCount(scrub.corrupt)} corrupt · ${formatCount(scrub.repaired)} repaired · ${formatCount(scrub.unrepaired)} unrepaired</li>` : '',
  ];
  const zookeeper = health.zookeeper;
  const session = zookeeper ? `ZooKeeper ${zookeeper.connected ? 'connected' : 'disconnected'}${zookeeper.ringConfirmed ? ', ring confirmed' : ', ring not confirmed'}` : '';
  return `<p data-node-state="${escapeHtml(health.state)}">${escapeHtml(health.node)} is <strong>${escapeHtml(health.state)}</strong>${session ? ` · ${session}` : ''}</p><ul>${items.join('')}</ul>`;
}

/** The functions the page's script holds, in an order where each is defined before the page runs. */
export const PAGE_HELPERS: readonly ((...args: never[]) => unknown)[] = [
  escapeHtml,
  formatCount,
  formatBytes,
  formatPercent,
  formatTime,
  nodeColours,
  swatch,
  progressBar,
  membersHtml,
  tokenFraction,
  arcPath,
  ringSvgHtml,
  migrationHtml,
  roundHtml,
  healingHtml,
];
