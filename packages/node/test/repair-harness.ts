// Anti-entropy between real peers without ZooKeeper: each test node has a real engine on a temporary
// file and a real node:http server with the node's router, the transfer routes and the repair
// routes, on 127.0.0.1 port 0. The ring, the live set, the epoch and "a migration runs" are plain
// values the test changes. Rounds are started by hand (no timers) and awaited.
import { pino } from 'pino';
import type { Engine } from '@ringblock/engine';
import { loadHasher as loadEngineHasher } from '@ringblock/engine';
import { loadHasher as loadRingHasher, Ring } from '@ringblock/ring';
import { createHttpServer } from '../src/http/server.js';
import { Router } from '../src/http/router.js';
import { createRepairer, type RepairLimits, type RepairService } from '../src/repair/index.js';
import { transferRoutes } from '../src/transfer/index.js';
import { openEngine, snapshot, TOKEN, type Teardown } from './transfer-harness.js';

export { TOKEN };

export const checksums = await loadEngineHasher();
const ringHasher = await loadRingHasher();

export interface TestNode {
  name: string;
  engine: Engine;
  repair: RepairService;
  addr: string;
  url: string;
}

export interface TestCluster {
  nodes: TestNode[];
  ring: Ring;
  epoch: number;
  live: Set<string>;
  migrating: boolean;
  node(name: string): TestNode;
  /** One round on every live node, one node after another, each awaited. */
  roundEverywhere(): Promise<void>;
  /** Every live node's content (id, version, tombstone, data hash), by node name. */
  contents(): Promise<Map<string, string[]>>;
}

export interface ClusterOptions {
  names?: string[];
  replicationFactor?: number;
  vnodes?: number;
  limits?: Partial<RepairLimits>;
  /** Wall clock of every node (ms since the epoch). */
  now?: () => number;
}

/**
 * No timers, no rate limit, a grace longer than the age of the tests' versions (2023), purges in the
 * next round, and 4 ring ranges per compared arc (8 vnodes × 3 nodes: 6 arcs, all owned by all).
 */
export const QUIET = { rangesPerArcMax: 4, intervalMs: 0, onEvents: false, eventDelayMs: 0, bytesPerSecond: 1e12, tombstoneGraceMs: 20 * 365 * 24 * 3_600_000, purgeSettleMs: 0 } satisfies Partial<RepairLimits>;

export async function startCluster(t: Teardown, options: ClusterOptions = {}): Promise<TestCluster> {
  const names = options.names ?? ['node-1', 'node-2', 'node-3'];
  const log = pino({ level: process.env['REPAIR_TEST_LOG'] ?? 'silent' });
  const addresses = new Map<string, string>();
  const cluster: TestCluster = {
    nodes: [],
    ring: new Ring({ nodes: [], hasher: ringHasher }),
    epoch: 5,
    live: new Set(names),
    migrating: false,
    node: (name) => cluster.nodes.find((node) => node.name === name)!,
    roundEverywhere: async () => {
      for (const node of cluster.nodes) {
        if (!cluster.live.has(node.name)) continue;
        node.repair.repairer.requestRound('test', 0);
        await node.repair.repairer.idle();
      }
    },
    contents: async () => {
      const contents = new Map<string, string[]>();
      for (const node of cluster.nodes) if (cluster.live.has(node.name)) contents.set(node.name, await snapshot(node.engine, checksums));
      return contents;
    },
  };
  const view = {
    currentRing: () => cluster.ring,
    currentEpoch: () => cluster.epoch,
    isLive: (name: string) => cluster.live.has(name),
  };
  for (const name of names) {
    const engine = await openEngine(t);
    const repair = createRepairer({
      self: name,
      engine,
      hasher: checksums,
      view,
      addressOf: (peer) => addresses.get(peer),
      token: TOKEN,
      migrationRunning: () => cluster.migrating,
      log,
      limits: { ...QUIET, ...options.limits },
      bodyTimeoutMs: 10_000,
      ...(options.now ? { now: options.now } : {}),
    });
    const router = new Router([...transferRoutes({ engine, hasher: checksums, epoch: view.currentEpoch }), ...repair.routes()], TOKEN);
    const http = createHttpServer(router, { headersTimeoutMs: 5_000, requestTimeoutMs: 60_000, maxConnections: 64 }, () => undefined, () => undefined);
    const port = await http.listen(0, '127.0.0.1');
    const addr = `127.0.0.1:${port}`;
    addresses.set(name, addr);
    t.teardown(async () => {
      await repair.stop();
      await http.close(1_000);
    });
    cluster.nodes.push({ name, engine, repair, addr, url: `http://${addr}` });
  }
  cluster.ring = new Ring({ nodes: names.map((name) => ({ name, addr: addresses.get(name)! })), vnodes: options.vnodes ?? 8, replicationFactor: options.replicationFactor ?? 3, hasher: ringHasher });
  return cluster;
}

/** Headers of an internal call at `epoch`. */
export function internalHeaders(epoch: number): Record<string, string> {
  return { authorization: `Bearer ${TOKEN}`, 'x-ringblock-epoch': String(epoch), 'content-type': 'application/json' };
}
