// One ringblock peer: opens its device, serves HTTP, registers in ZooKeeper, follows the committed
// ring, and coordinates requests. Its lifecycle is an explicit state machine:
//   starting → ready ⇄ fenced → draining → stopped
// (`fenced`: the ring cannot be confirmed with ZooKeeper; reads go on, writes are refused).
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import { loadHasher } from '@ringblock/ring';
import { ClusterMembership, clusterPaths, RingMaintainer, retryTransient, type MemberInfo } from '@ringblock/coord';
import { VolumeStore } from '@ringblock/spdk';
import { ClusterView } from './cluster-view.js';
import { Coordinator, type Owner } from './coordinator.js';
import { HintedHandoff } from './hints.js';
import { Scrubber } from './scrubber.js';
import { blockRoutes } from './block-routes.js';
import { internalRoutes } from './internal-routes.js';
import { statusRoutes } from './status-routes.js';
import { createHttpServer, type HttpServer } from './http/server.js';
import { Router } from './http/router.js';
import { NodeMetrics } from './metrics.js';
import { Peers } from './peers.js';
import { ReplicationServer } from './replication/server.js';
import { loadTls, PLAIN_TRANSPORT } from './peer-transport.js';
import { LocalReplica } from './local-replica.js';
import { HybridClock } from './version.js';
import { MigrationExecutor } from './migration-executor.js';
import { NodeTransferRunner } from './transfer-runner.js';
import { transferRoutes } from './transfer/index.js';
import { staleRelease } from './stale-release.js';
import { Decommissions, decommissionRoutes, isTaskId } from './decommission.js';
import { createRepairer, type RepairService } from './repair/index.js';
import { volumeRoutes, volumeTask } from './volume-routes.js';
import { BackingVolume } from './backing-volume.js';
import { ConfigError, parseConfigWithFlags, type NodeConfig } from './config.js';
import { NodeTracing } from './tracing.js';

export type NodeState = 'starting' | 'ready' | 'fenced' | 'draining' | 'stopped';

/** How long in-flight requests may take to finish on SIGTERM before their sockets are closed. */
const DRAIN_MS = 10_000;
/** How long a request waits for a ring epoch a peer already routes by (the watch brings it). */
const EPOCH_WAIT_MS = 2_000;
/** How often the member record's usage figures are refreshed in ZooKeeper. */
const USAGE_REFRESH_MS = 10_000;
/** How long start-up keeps retrying ZooKeeper reads that failed transiently (a server restart). */
const STARTUP_ZK_RETRY_MS = 60_000;

export class RingblockNode {
  private state: NodeState = 'starting';
  private usageTimer: NodeJS.Timeout | undefined;
  port = 0;

  private constructor(
    readonly config: NodeConfig,
    readonly log: Logger,
    private readonly local: LocalReplica,
    private readonly membership: ClusterMembership,
    private readonly maintainer: RingMaintainer,
    private readonly migration: MigrationExecutor,
    private readonly decommissions: Decommissions,
    readonly hints: HintedHandoff,
    readonly scrubber: Scrubber,
    readonly repair: RepairService,
    private readonly view: ClusterView,
    private readonly peers: Peers,
    private readonly http: HttpServer,
    private readonly replication: ReplicationServer,
    readonly metrics: NodeMetrics,
    private readonly volume: BackingVolume | undefined,
    private readonly tracing: NodeTracing | undefined,
  ) {}

  /** Set once a committed ring held this node: leaving it afterwards means it was taken out (decommission). */
  private wasInRing = false;

  static async start(given: NodeConfig, log: Logger): Promise<RingblockNode> {
    const hasher = await loadHasher();
    // TLS files are read (and checked) before anything starts: a wrong file stops start-up here.
    const tls = given.tls ? await loadTls(given.tls) : undefined;
    const transport = tls?.transport ?? PLAIN_TRANSPORT;
    // On SPDK the device is the attached volume, its size the lvol's.
    const volume = given.backing === 'spdk' ? await BackingVolume.attach(given, log) : undefined;
    const config: NodeConfig = volume ? { ...given, device: volume.device, deviceSizeBytes: volume.sizeBytes } : given;
    await mkdir(dirname(config.device), { recursive: true });
    // Metrics need the device's figures, the device reports syncs to metrics: bound late.
    let onSync = (_durationMs: number) => {};
    const local = await LocalReplica.open(config.device, config.deviceSizeBytes, log, (durationMs) => onSync(durationMs), config.readCacheBytes);
    // A block device (loop, NVMe) reports its own new size; a file is extended to the lvol's.
    await volume?.watchGrowth(async (sizeBytes) => void (await (local.engine.stats().device.kind === 'block' ? local.engine.grow() : local.engine.grow({ sizeBytes }))));
    const self: MemberInfo = {
      name: config.name,
      addr: config.advertiseAddr,
      ...(config.zone ? { zone: config.zone } : {}),
      capacityBytes: local.storage().capacityBytes,
      usedBytes: local.storage().usedBytes,
      startedAt: Date.now(),
      version: '0.1.0',
      backing: config.backing,
    };
    const membership = new ClusterMembership({
      connect: config.zk,
      cluster: config.cluster,
      self,
      clusterSecret: config.token,
      localConfig: { vnodes: config.vnodes, replicationFactor: config.replicationFactor, blockSize: 4096, downGraceMs: config.downGraceMs, staleGraceMs: config.staleGraceMs },
      sessionTimeoutMs: config.sessionTimeoutMs,
      connectTimeoutMs: config.sessionTimeoutMs,
      ...(config.zkUser && config.zkPassword ? { auth: { user: config.zkUser, password: config.zkPassword } } : {}),
      logger: log,
    });
    const view = new ClusterView(hasher, () => membership.config);
    const clock = new HybridClock(config.name);
    // Off unless configured (OTEL_*): then no tracer anywhere, and the request path does no trace work.
    const tracing = config.tracing ? NodeTracing.start(config.tracing, { node: config.name, cluster: config.cluster, version: self.version }, log) : undefined;
    const tracer = tracing?.tracer;
    local.tracer = tracer;
    const peers = new Peers({ token: config.token, timeoutMs: config.replicaTimeoutMs, connections: config.peerConnections, epoch: () => view.currentEpoch(), protocol: config.peerProtocol, transport });
    const coordinator = new Coordinator({
      self: config.name,
      clock,
      local,
      remote: (addr) => peers.replica(addr),
      view: () => view.routing(),
      ringConfirmed: () => membership.ringConfirmed(),
      awaitEpoch: (epoch) => view.waitForEpoch(epoch, EPOCH_WAIT_MS),
      onReadRepair: (count) => node.metrics.readRepairs.inc(count),
      ...(config.hintsEnabled ? { onMissed: (id: string, version: Buffer, data: Buffer | undefined, owners: readonly Owner[]) => node.hints.record(id, version, data, owners) } : {}),
      readRepairChance: config.readRepairChance,
      tracer,
    });
    // The node object exists before its server so the routes can read its state.
    let node!: RingblockNode;
    const engine = local.engine;
    const addressOf = (name: string) => membership.liveMembers().get(name)?.addr ?? view.currentRing()?.node(name)?.addr ?? view.pendingRing()?.node(name)?.addr;
    const transfers = new NodeTransferRunner({
      engine, hasher, token: config.token, transport, epoch: () => view.currentEpoch(), addressOf, bytesPerSecond: config.transferBytesPerSecond, paceDelayMs: config.transferPaceDelayMs, log,
      // Bound late: anti-entropy is built below, and a transfer starts only once the node runs.
      catchUp: (arc, peer, signal) => repair.repairer.catchUp(arc, peer, signal),
      onMoved: (blocks, bytes) => node.metrics.migrationMoved(blocks, bytes),
    });
    const migration = new MigrationExecutor({
      self: config.name,
      cluster: config.cluster,
      membership,
      view,
      transfers,
      release: staleRelease({ engine, self: config.name, rings: () => [view.currentRing(), view.pendingRing()], log, onReleased: (blocks) => node.metrics.staleReleased.inc(blocks) }),
      staleGraceMs: config.staleGraceMs,
      log,
    });
    // Owners of a block now: the committed ring's, plus the pending ring's while migrating.
    const ownersNow = (id: string): Owner[] => {
      const routing = view.routing();
      const owners = [...routing.owners(id)];
      for (const owner of routing.pendingOwners?.(id) ?? []) if (!owners.some((known) => known.name === owner.name)) owners.push(owner);
      return owners;
    };
    const replicaOf = (owner: Owner) => (owner.name === config.name ? local : peers.replica(owner.addr));
    const isLiveNow = (name: string) => name === config.name || view.isLive(name);
    const hints = new HintedHandoff({
      engine,
      self: config.name,
      owners: ownersNow,
      isLive: isLiveNow,
      replica: replicaOf,
      maxHints: config.hintsMax,
      maxAgeMs: config.hintMaxAgeMs,
      replayIntervalMs: config.hintReplayIntervalMs,
      log,
      onStored: () => node.metrics.hintsStored.inc(),
      onReplayed: (count) => node.metrics.hintsReplayed.inc(count),
      onDropped: (reason) => node.metrics.hintsDropped.inc({ reason }),
    });
    const scrubber = new Scrubber({
      engine,
      self: config.name,
      owners: ownersNow,
      isLive: isLiveNow,
      replica: replicaOf,
      local,
      blocksPerSecond: config.scrubBlocksPerSecond,
      intervalMs: config.scrubIntervalMs,
      log,
      onPass: (checked, corrupt, repaired) => node.metrics.scrubbed(checked, corrupt, repaired),
    });
    // Volume records (DESIGN §8) through this node's ZooKeeper session; none while it has no client.
    const volumes = new VolumeStore(() => membership.client!, clusterPaths(config.cluster));
    const volumeStore = () => (membership.client ? volumes : undefined);
    const decommissions = new Decommissions(membership, config.cluster, log, () => void node.maintainer.recheck().catch(() => undefined));
    const metrics = new NodeMetrics(
      { node: config.name },
      () => local.storage(),
      () => {
        const ring = view.currentRing();
        const down = ring ? ring.nodes.filter((member) => !view.isLive(member.name)).length : 0;
        return { epoch: view.currentEpoch(), live: membership.liveMembers().size, down, ownershipShare: ring?.ownershipShare().get(config.name)?.replica ?? 0 };
      },
      () => migration.status(),
    );
    const repair = createRepairer({
      self: config.name,
      engine,
      hasher: { h64: (bytes) => hasher.h64Bytes(bytes) },
      view,
      addressOf,
      token: config.token,
      transport,
      migrationRunning: () => migration.status().migration !== null || view.pendingRing() !== undefined,
      log,
      bodyTimeoutMs: config.requestTimeoutMs,
      onNewerEpoch: (epoch) => log.debug({ epoch }, 'a peer routes by a newer ring epoch; the ring watch brings it'),
      limits: {
        onEvents: config.antiEntropyEnabled,
        intervalMs: config.antiEntropyEnabled ? config.antiEntropyIntervalMs : 0,
        bytesPerSecond: config.repairBytesPerSecond,
        tombstoneGraceMs: config.tombstoneGraceMs,
      },
      counters: {
        rangesCompared: metrics.antiEntropyRangesCompared,
        rangesRepaired: metrics.antiEntropyRangesRepaired,
        blocksRepaired: metrics.antiEntropyBlocksRepaired,
        tombstonesPurged: metrics.tombstonesPurged,
        bytesSent: metrics.antiEntropyBytesSent,
        compareBytes: metrics.antiEntropyCompareBytes,
      },
    });
    const router = new Router(
      [
        ...blockRoutes({ coordinator, bodyTimeoutMs: config.requestTimeoutMs, epoch: () => view.currentEpoch() }),
        ...transferRoutes({ engine, hasher: { h64: (bytes) => hasher.h64Bytes(bytes) }, epoch: () => view.currentEpoch(), onError: (error) => log.error({ err: error }, 'transfer receive failed') }),
        ...decommissionRoutes(decommissions, membership, () => migration.status(), async (id) => (await volumeTask(volumeStore(), id)) ?? (isTaskId(id) ? repair.taskStatus(id) : undefined)),
        ...volumeRoutes({ store: volumeStore, bodyTimeoutMs: config.requestTimeoutMs }),
        ...repair.routes(),
        ...internalRoutes({ local, clock, epoch: () => view.currentEpoch(), onNewerEpoch: (epoch) => log.debug({ epoch }, 'a peer routes by a newer ring epoch; the ring watch brings it'), bodyTimeoutMs: config.requestTimeoutMs }),
        ...statusRoutes({
          name: config.name,
          cluster: config.cluster,
          backing: () => ({ kind: config.backing, ...volume?.status() }),
          transport: () => ({ tls: tls !== undefined, peerProtocol: config.peerProtocol }),
          devicePath: config.device,
          lifecycle: () => node.lifecycle,
          notReadyReason: () => node.notReadyReason(),
          zookeeper: () => ({ connected: membership.client?.state === 'connected', ringConfirmed: membership.ringConfirmed() }),
          view,
          liveMembers: () => membership.liveMembers(),
          storage: () => local.storage(),
          settings: () => membership.config,
          metrics,
          migration: () => migration.status(),
          healing: () => ({ hints: { enabled: config.hintsEnabled, pending: hints.pending() }, scrub: scrubber.status, antiEntropy: repair.status() }),
        }),
      ],
      config.token,
    );
    const observeRequest = (route: string, method: string, status: number, seconds: number) => metrics.observeRequest(route, method, status, seconds);
    const serverTracing = tracer ? { tracer, node: config.name } : undefined;
    const http = createHttpServer(router, config, observeRequest, (error) => log.error({ err: error }, 'request failed'), serverTracing, tls?.server);
    // Replica calls of peers over the binary protocol, on the same port (an upgraded connection).
    const replication = new ReplicationServer({
      local,
      clock,
      epoch: () => view.currentEpoch(),
      onNewerEpoch: (epoch) => log.debug({ epoch }, 'a peer routes by a newer ring epoch; the ring watch brings it'),
      authorize: (req) => router.authorize(req),
      observe: observeRequest,
      tracing: serverTracing,
      logError: (error) => log.warn({ err: error }, 'replication session failed'),
      plainRequest: http.serveIgnoringUpgrade,
    });
    http.server.on('upgrade', replication.handleUpgrade);
    metrics.inFlight = () => http.inFlight();
    metrics.hintsPending = () => hints.pending();
    local.onChecksumFailure = () => metrics.checksumFailures.inc();
    onSync = tracer
      ? (durationMs) => {
          metrics.syncSeconds.observe(durationMs / 1000);
          local.syncEnded(durationMs);
        }
      : (durationMs) => metrics.syncSeconds.observe(durationMs / 1000);
    // Ring changes go through a migration: the maintainer only says which ring the live set calls for.
    const maintainer = new RingMaintainer({
      membership,
      logger: log,
      excluded: () => decommissions.excluded(),
      apply: async (_current, nodes) => {
        migration.setTarget(nodes);
        return true;
      },
      settled: () => migration.setTarget(null),
    });
    node = new RingblockNode(config, log, local, membership, maintainer, migration, decommissions, hints, scrubber, repair, view, peers, http, replication, metrics, volume, tracing);
    membership.on('members', () => {
      view.setLive(membership.liveMembers());
      hints.replaySoon();
      repair.onMembersChanged();
    });
    membership.on('ring', () => {
      node.adoptRing();
      repair.onRingChanged();
    });
    membership.on('state', (event) => log.info({ zookeeper: event.state, session: event.sessionId }, 'ZooKeeper session state'));
    // Fatal for this process (e.g. our name was taken while we re-registered): stop serving at once.
    membership.on('error', (error) => {
      log.fatal({ err: error }, 'membership failed; stopping');
      void node.stop().finally(() => process.exit(1));
    });
    try {
      node.port = await http.listen(config.port, config.host);
      await membership.start();
      view.setLive(membership.liveMembers());
      // ZooKeeper restarting while this node starts must not end the process: the start-up reads
      // are retried (bounded) until the client is connected again.
      const retry = { withinMs: STARTUP_ZK_RETRY_MS };
      const self = { name: config.name, addr: config.advertiseAddr, ...(config.zone ? { zone: config.zone } : {}) };
      await retryTransient(() => membership.createRingIfAbsent([self]), { ...retry, onRetry: (error) => log.warn({ err: error }, 'reading the ring failed; retrying') });
      node.adoptRing();
      // Before serving writes: a running migration means dual writes from the first one on.
      await migration.start(retry);
      await decommissions.start(retry);
      maintainer.start();
      if (config.hintsEnabled) hints.start();
      if (config.scrubIntervalMs > 0) scrubber.start();
      repair.start();
      node.usageTimer = setInterval(() => void membership.updateMember({ usedBytes: local.storage().usedBytes, capacityBytes: local.storage().capacityBytes }).catch(() => undefined), USAGE_REFRESH_MS).unref();
      node.state = 'ready';
      log.info({ port: node.port, epoch: view.currentEpoch() }, 'node ready');
      return node;
    } catch (error) {
      await node.stop().catch(() => undefined);
      throw error;
    }
  }

  get lifecycle(): NodeState {
    return this.state === 'ready' && !this.membership.ringConfirmed() ? 'fenced' : this.state;
  }

  notReadyReason(): string | undefined {
    if (this.state !== 'ready') return `node is ${this.state}`;
    if (!this.view.currentRing()) return 'no committed ring is known yet';
    if (!this.membership.ringConfirmed()) return 'the ring cannot be confirmed with ZooKeeper';
    return undefined;
  }

  /** Graceful stop: refuse new requests, drain in-flight ones, deregister, close the device. */
  async stop(): Promise<void> {
    if (this.state === 'draining' || this.state === 'stopped') return;
    this.state = 'draining';
    clearInterval(this.usageTimer);
    this.log.info({ inFlight: this.http.inFlight() }, 'draining');
    await Promise.all([this.http.close(DRAIN_MS), this.replication.close(DRAIN_MS)]);
    await this.maintainer.stop();
    await this.hints.stop();
    await this.scrubber.stop();
    await this.repair.stop();
    this.decommissions.stop();
    await this.migration.stop();
    const takenOut = this.wasInRing && !(this.membership.committedRing()?.nodes.some((node) => node.name === this.config.name) ?? true);
    await this.membership.stop().catch((error: unknown) => this.log.warn({ err: error }, 'deregistering failed'));
    await this.peers.close();
    await this.local.close();
    if (this.volume) {
      await this.volume.disconnect().catch((error: unknown) => this.log.warn({ err: error }, 'disconnecting the backing volume failed'));
      // Out of the ring, its data moved away: the volume goes back to the pool.
      if (takenOut) await this.volume.release().catch((error: unknown) => this.log.error({ err: error }, 'releasing the backing volume failed (it stays; delete it with DELETE /volumes/<name>)'));
      await this.volume.close();
    }
    // The spans of the drained requests are still queued: exported now, bounded in time.
    await this.tracing?.shutdown();
    this.state = 'stopped';
    this.log.info('stopped');
  }

  private adoptRing(): void {
    const ring = this.membership.committedRing();
    if (ring?.nodes.some((node) => node.name === this.config.name)) this.wasInRing = true;
    if (ring && this.view.setRing(ring.epoch, ring.nodes)) this.log.info({ epoch: ring.epoch, nodes: ring.nodes.map((n) => n.name) }, 'routing by a new ring');
  }
}

/** The `ringblock node` entry point: configuration from flags and RINGBLOCK_*, stop on SIGTERM/SIGINT. */
export async function startNodeFromEnv(argv: readonly string[]): Promise<RingblockNode> {
  let config: NodeConfig;
  try {
    config = parseConfigWithFlags(process.env, argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = pino({ level: config.logLevel, base: { node: config.name }, redact: ['token', 'config.token', 'req.headers.authorization'] });
  // Settings only checkable at start-up (TLS files) stop it with the same one clear line.
  const node = await RingblockNode.start(config, log).catch((error: unknown) => {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  });
  const shutdown = (signal: string) => {
    log.info({ signal }, 'stopping');
    node.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  return node;
}
