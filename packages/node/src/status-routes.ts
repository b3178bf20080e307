// Probes and read-only views of the node and the cluster: /live, /ready, /health(z), /metrics,
// /cluster, /cluster/ring, /openapi.json, and the status page at / (status-page.ts) that draws them.
import { diffRings, type Ring } from '@ringblock/ring';
import { HttpError, sendJson } from './http/errors.js';
import type { Route } from './http/router.js';
import type { ClusterView, RingSettings } from './cluster-view.js';
import type { NodeMetrics, StorageSnapshot } from './metrics.js';
import { OPENAPI_DOCUMENT } from './openapi.js';
import { statusPageRoutes } from './status-page.js';
import type { MigrationStatus } from './migration/protocol.js';

/** Bound on the moving ranges /cluster/ring lists (the total is given too). */
const MIGRATION_RANGES_MAX = 4096;

export interface MemberStatus {
  name: string;
  addr: string;
  zone?: string | undefined;
  capacityBytes?: number;
  usedBytes?: number;
}

export interface StatusSource {
  name: string;
  cluster: string;
  /** The backing's kind and, on SPDK, the volume (state, NQN, how it is attached, device). */
  backing(): Record<string, unknown>;
  devicePath: string;
  lifecycle(): string;
  /** Why the node is not ready, or undefined when it is. */
  notReadyReason(): string | undefined;
  zookeeper(): { connected: boolean; ringConfirmed: boolean };
  view: ClusterView;
  liveMembers(): ReadonlyMap<string, MemberStatus>;
  storage(): StorageSnapshot;
  settings(): RingSettings;
  metrics: NodeMetrics;
  migration: () => MigrationStatus;
  /** How clients and peers reach this node: TLS on or off, the replica call protocol. */
  transport: () => { tls: boolean; peerProtocol: string };
  /** Hinted handoff and scrubbing figures for /health. */
  healing: () => Record<string, unknown>;
}

export function statusRoutes(source: StatusSource): Route[] {
  const get = (name: string, path: string, handler: Route['methods'][string]): Route => ({
    name,
    pattern: new RegExp(`^${path.replace(/\//g, '\\/')}$`),
    methods: { GET: handler },
  });
  const moving = movingRanges();
  const health: Route['methods'][string] = ({ res }) => {
    const storage = source.storage();
    sendJson(res, 200, {
      node: source.name,
      state: source.lifecycle(),
      zookeeper: source.zookeeper(),
      ring: { epoch: source.view.currentEpoch() },
      device: { path: source.devicePath, blocks: storage.blocks, tombstones: storage.tombstones, capacityBytes: storage.capacityBytes, usedBytes: storage.usedBytes },
      backing: source.backing(),
      transport: source.transport(),
      migration: migrationSummary(source.migration()),
      ...source.healing(),
    });
  };
  return [
    ...statusPageRoutes(),
    get('live', '/live', ({ res }) => sendJson(res, 200, { status: 'live' })),
    get('ready', '/ready', ({ res }) => {
      const reason = source.notReadyReason();
      if (reason) throw new HttpError(503, 'NOT_READY', reason);
      sendJson(res, 200, { status: 'ready' });
    }),
    get('health', '/health', health),
    get('health', '/healthz', health),
    get('metrics', '/metrics', async ({ res }) => {
      const text = await source.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': source.metrics.registry.contentType, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    }),
    get('cluster', '/cluster', ({ res }) => sendJson(res, 200, clusterStatus(source))),
    get('cluster_ring', '/cluster/ring', ({ res }) => {
      const ring = source.view.currentRing();
      if (!ring) throw new HttpError(503, 'NOT_READY', 'no committed ring is known yet');
      const { vnodes, replicationFactor } = source.settings();
      sendJson(res, 200, {
        epoch: source.view.currentEpoch(),
        replicationFactor,
        vnodes,
        nodes: ring.nodes.map((node) => ({ name: node.name, addr: node.addr ?? null, zone: node.zone ?? null })),
        tokens: ring.tokens(),
        migration: moving(ring, source.view.pendingRing(), () => source.migration().migration?.epoch ?? source.view.currentEpoch() + 1),
      });
    }),
    get('openapi', '/openapi.json', ({ res }) => sendJson(res, 200, OPENAPI_DOCUMENT)),
  ];
}

function clusterStatus(source: StatusSource) {
  const ring = source.view.currentRing();
  const live = source.liveMembers();
  const shares = ring?.ownershipShare() ?? new Map<string, { replica: number }>();
  const names = new Set([...(ring?.nodes.map((node) => node.name) ?? []), ...live.keys()]);
  const members = [...names].sort().map((name) => {
    const member = live.get(name);
    const ringNode = ring?.node(name);
    return {
      name,
      addr: member?.addr ?? ringNode?.addr ?? '',
      zone: member?.zone ?? ringNode?.zone ?? null,
      state: member ? 'live' : 'down',
      inRing: ringNode !== undefined,
      ownershipShare: shares.get(name)?.replica ?? 0,
      capacityBytes: member?.capacityBytes ?? null,
      usedBytes: member?.usedBytes ?? null,
    };
  });
  const { vnodes, replicationFactor } = source.settings();
  const status = source.migration();
  // A ring change wanted but not running yet: why it waits, when it does (migration/plan.ts undersupplied).
  const pendingChange = status.queuedTarget === null ? null : { target: status.queuedTarget, undersuppliedRanges: status.undersuppliedRanges };
  return { cluster: source.cluster, epoch: source.view.currentEpoch(), replicationFactor, vnodes, members, migration: migrationSummary(status), pendingChange };
}

/**
 * The arcs whose owner set changes between the committed ring and the one a running migration moves
 * to (set while dual writes are on), for the status page to highlight; computed once per pair of rings.
 */
function movingRanges() {
  let cached: { from: Ring; to: Ring; value: unknown } | undefined;
  return (from: Ring, to: Ring | undefined, epoch: () => number) => {
    if (!to) return null;
    if (cached?.from !== from || cached.to !== to) {
      const changes = diffRings(from, to);
      const ranges = changes.slice(0, MIGRATION_RANGES_MAX).map((change) => ({ start: change.start.toString(), end: change.end.toString(), from: change.removedOwners, to: change.addedOwners }));
      cached = { from, to, value: { epoch: epoch(), rangesTotal: changes.length, ranges } };
    }
    return cached.value;
  };
}

/** The running migration as this node sees it (its own sends for progress), or null. */
export function migrationSummary(status: MigrationStatus) {
  const migration = status.migration;
  if (!migration) return null;
  return {
    phase: status.phase,
    epoch: migration.epoch,
    proposer: migration.proposer,
    startedAt: migration.startedAt,
    from: migration.from,
    to: migration.to,
    participants: migration.participants,
    prepared: migration.prepared,
    done: migration.done,
    progress: migration.progress,
  };
}
