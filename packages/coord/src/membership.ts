// Cluster membership in ZooKeeper (DESIGN §3): the shared config, this node's ephemeral member
// znode, the live member set and the committed ring, kept current by re-armed watches.
//
// Sessions. One ZooKeeper session at a time. A disconnection is survived by the client (it
// reconnects to the same session; watches are re-set and re-read). Session expiry kills the client
// and every ephemeral znode of the session: this builds a new client, registers again (with the
// same name-taken rules as at start), re-reads everything and emits 'state' reregistered.
//
// Name taken: see member-registry.ts (a restarted node waits, bounded, for its old znode to go).
//
// Fence. ringConfirmed() is false from the moment the session lease lapses (see fence.ts) until the
// ring has been read again after reconnecting (or after re-registering on a new session).
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { monotonicNow, type Clock } from './clock.js';
import { CoordError, isCoordError } from './errors.js';
import { ringConfirmedAt } from './fence.js';
import { clusterPaths, type ClusterPaths } from './paths.js';
import {
  canonicalRingNodes,
  configDifferences,
  parseClusterConfig,
  parseMemberInfo,
  parseRingNode,
  parseRingRecord,
  type ClusterConfig,
  type MemberInfo,
  type RingNodeInfo,
  type RingRecord,
  storedMember,
  storedRing,
} from './records.js';
import { decodeJson, ZkClient, type ZkConnectOptions, type ZkWatcher } from './zk-client.js';
import { jsonBytes, type ZkOp } from './zk-ops.js';
import type { Watch } from './zk-watch.js';
import { checkClusterSecret } from './cluster-secret.js';
import { readLiveMembers, registerMember } from './member-registry.js';

/** ZooKeeper session settings (sessionTimeoutMs, connectTimeoutMs, operationTimeoutMs, auth, chroot) plus: */
export interface MembershipOptions extends Pick<ZkConnectOptions, 'sessionTimeoutMs' | 'connectTimeoutMs' | 'operationTimeoutMs' | 'auth' | 'chroot'> {
  /** ZooKeeper connect string (`host:port[,host:port…]`). */
  readonly connect: string;
  readonly cluster: string;
  readonly self: MemberInfo;
  /** The cluster token: compared with the cluster's (a salted digest in `token-check`) before registering. */
  readonly clusterSecret?: string;
  /** This node's own settings: used to create `config` if it does not exist yet. */
  readonly localConfig: ClusterConfig;
  readonly logger: Logger;
  /** How long to wait for another session's member znode of the same name to vanish. */
  readonly nameTakenWaitMs?: number;
  /** Minimum interval between member znode updates (default 5 s): every member re-reads all members on each. */
  readonly memberUpdateIntervalMs?: number;
  /** Bound of the backoff between attempts to get a new session after expiry (default 5 s). */
  readonly reconnectDelayMsMax?: number;
  readonly clock?: Clock;
}

/** The committed ring with the `ring` znode's version (the expectedVersion for commitRing). */
export interface CommittedRing extends RingRecord {
  readonly version: number;
}

export type MembershipState = 'connected' | 'disconnected' | 'expired' | 'reregistered';

export interface MembershipEvents {
  members: [ReadonlyMap<string, MemberInfo>];
  ring: [CommittedRing | undefined];
  state: [{ readonly state: MembershipState; readonly sessionId: string }];
  /** ringConfirmed() changed. */
  fence: [{ readonly confirmed: boolean }];
  /** Fatal: this node must stop serving (NAME_TAKEN after a re-registration). Listen for it. */
  error: [CoordError];
}

type Phase = 'idle' | 'starting' | 'running' | 'recovering' | 'stopping' | 'stopped' | 'failed';

const NAME_TAKEN_MARGIN_MS = 2_000;
const MEMBER_UPDATE_INTERVAL_MS_DEFAULT = 5_000;
const RECONNECT_DELAY_MS_MIN = 100;
/** While connected but not confirmed, the ring is read again this often until it confirms. */
const CONFIRM_RETRY_MS = 500;
const RECONNECT_DELAY_MS_MAX_DEFAULT = 5_000;

interface RingRead {
  readonly ring: CommittedRing | undefined;
  readonly mzxid: bigint;
  readonly sentAt: number;
}

export class ClusterMembership extends EventEmitter<MembershipEvents> {
  private readonly paths: ClusterPaths;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly stopController = new AbortController();
  private phase: Phase = 'idle';
  private zk: ZkClient | undefined;
  private watches: Watch[] = [];
  private configValue: ClusterConfig | undefined;
  private selfInfo: MemberInfo;
  private members: ReadonlyMap<string, MemberInfo> = new Map();
  private ring: CommittedRing | undefined;
  private ringMzxid = -1n;
  private ringReadSentAt = Number.NEGATIVE_INFINITY;
  private fenceConfirmed = false;
  private fenceTimer: NodeJS.Timeout | undefined;
  private confirmTimer: NodeJS.Timeout | undefined;
  private recovery: Promise<void> | undefined;
  private reconnectWatchdog: NodeJS.Timeout | undefined;
  private updateTimer: NodeJS.Timeout | undefined;
  private updateWaiters: ((written: boolean) => void)[] = [];
  private lastUpdateAt = Number.NEGATIVE_INFINITY;
  private registeringAgain = false;

  constructor(private readonly options: MembershipOptions) {
    super();
    this.paths = clusterPaths(options.cluster);
    this.selfInfo = validSelf(options.self);
    this.clock = options.clock ?? monotonicNow;
    this.log = options.logger.child({ component: 'membership', cluster: options.cluster, node: options.self.name });
  }

  /** Connects, creates or reads `config`, registers this node, reads and watches members and ring. */
  async start(): Promise<void> {
    if (this.phase !== 'idle') throw new CoordError('BAD_ARGUMENT', `membership cannot start: it is ${this.phase}`);
    this.phase = 'starting';
    try {
      const client = await this.connectClient();
      try {
        await this.setupSession(client);
        if (this.phase !== 'starting') throw new CoordError('CLOSED', 'membership stopped while starting');
      } catch (error) {
        await client.close();
        throw error;
      }
    } catch (error) {
      if (this.phase === 'starting') this.phase = 'failed';
      throw error;
    }
    this.phase = 'running';
    this.log.info({ session: this.zk!.sessionId, members: [...this.members.keys()], ringEpoch: this.ring?.epoch }, 'registered in the cluster');
    this.emitState('connected');
    this.updateFence();
  }

  /** The cluster config every node follows (the stored one). */
  get config(): ClusterConfig {
    if (!this.configValue) throw new CoordError('BAD_ARGUMENT', 'membership not started');
    return this.configValue;
  }

  get self(): MemberInfo {
    return this.selfInfo;
  }

  /** The current ZooKeeper client (replaced after session expiry); for other coord modules. */
  get client(): ZkClient | undefined {
    return this.zk;
  }

  get sessionId(): string | undefined {
    return this.zk?.sessionId;
  }

  /** Live members by name (those with a member znode), as last read. */
  liveMembers(): ReadonlyMap<string, MemberInfo> {
    return this.members;
  }

  committedRing(): CommittedRing | undefined {
    return this.ring;
  }

  /**
   * False while this node cannot confirm its ring is current: it must not coordinate writes then.
   * `now` is on the membership's clock (default monotonicNow, close to Date.now()).
   */
  ringConfirmed(now: number = this.clock()): boolean {
    const client = this.zk;
    if (this.phase !== 'running' || client === undefined) return false;
    if (client.state === 'expired' || client.state === 'closed' || client.state === 'auth_failed') return false;
    return ringConfirmedAt(now, client, this.ringReadSentAt);
  }

  /**
   * Updates this node's member record (not its name). Writes are at most one per
   * memberUpdateIntervalMs; updates in between are merged into the next write. Resolves true once a
   * write with this update landed, false if it failed (logged; the next write carries it).
   */
  updateMember(partial: Partial<Omit<MemberInfo, 'name'>>): Promise<boolean> {
    this.selfInfo = validSelf({ ...this.selfInfo, ...partial, name: this.selfInfo.name });
    return new Promise((resolve) => {
      this.updateWaiters.push(resolve);
      if (this.updateTimer !== undefined) return;
      const waitMs = Math.max(0, this.lastUpdateAt + (this.options.memberUpdateIntervalMs ?? MEMBER_UPDATE_INTERVAL_MS_DEFAULT) - this.clock());
      this.updateTimer = setTimeout(() => void this.flushMemberUpdate(), waitMs);
    });
  }

  /**
   * Commits `nodes` as ring epoch current+1 if the `ring` znode is still at expectedVersion, in one
   * transaction with `extraOps` (for the migration commit). False when another node changed the ring
   * first (the watch brings the new one).
   */
  async commitRing(expectedVersion: number, nodes: readonly RingNodeInfo[], extraOps: readonly ZkOp[] = []): Promise<boolean> {
    const client = this.liveClient('commitRing');
    const current = this.ring;
    if (current === undefined || current.version !== expectedVersion) return false;
    const record: RingRecord = { epoch: current.epoch + 1, nodes: ringNodesArgument(nodes) };
    try {
      await client.transaction([{ op: 'set', path: this.paths.ring, data: jsonBytes(storedRing(record)), version: expectedVersion }, ...extraOps]).commit();
    } catch (error) {
      if (isCoordError(error, 'BAD_VERSION') && error.details.opIndex === 0) return false;
      throw error;
    }
    this.log.info({ epoch: record.epoch, nodes: record.nodes.map((node) => node.name) }, 'committed a new ring');
    await this.refreshRing(client);
    return true;
  }

  /** Creates the ring (epoch 1) if there is none; false if one exists already. */
  async createRingIfAbsent(nodes: readonly RingNodeInfo[]): Promise<boolean> {
    const client = this.liveClient('createRingIfAbsent');
    const record: RingRecord = { epoch: 1, nodes: ringNodesArgument(nodes) };
    let created = true;
    try {
      await client.createJson(this.paths.ring, storedRing(record));
      this.log.info({ epoch: 1, nodes: record.nodes.map((node) => node.name) }, 'created the ring');
    } catch (error) {
      if (!isCoordError(error, 'NODE_EXISTS')) throw error;
      created = false;
    }
    await this.refreshRing(client);
    return created;
  }

  /** Deletes this node's member znode, closes the session and stops timers and watches. */
  async stop(): Promise<void> {
    if (this.phase === 'idle' || this.phase === 'stopped' || this.phase === 'stopping') {
      this.phase = 'stopped';
      return;
    }
    const wasRunning = this.phase === 'running';
    this.phase = 'stopping';
    this.stopController.abort();
    clearTimeout(this.updateTimer);
    clearTimeout(this.reconnectWatchdog);
    this.updateTimer = undefined;
    this.settleUpdateWaiters(false);
    this.closeWatches();
    await this.recovery;
    const client = this.zk;
    if (client && wasRunning) await this.removeOwnMember(client);
    await client?.close();
    this.phase = 'stopped';
    this.updateFence();
    clearTimeout(this.fenceTimer);
    clearTimeout(this.confirmTimer);
  }

  private async connectClient(): Promise<ZkClient> {
    const client = await ZkClient.connect(this.options.connect, {
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      connectTimeoutMs: this.options.connectTimeoutMs,
      operationTimeoutMs: this.options.operationTimeoutMs,
      auth: this.options.auth,
      chroot: this.options.chroot,
      logger: this.log,
      clock: this.clock,
    });
    client.on('connected', () => this.onConnectionChange(client, 'connected'));
    client.on('disconnected', () => this.onConnectionChange(client, 'disconnected'));
    client.on('expired', () => this.onExpired(client));
    return client;
  }

  /** Everything a new session needs: base paths, config, registration, watches. */
  private async setupSession(client: ZkClient): Promise<void> {
    this.zk = client;
    this.ringReadSentAt = Number.NEGATIVE_INFINITY;
    await client.mkdirp(this.paths.members);
    this.configValue = await this.loadConfig(client);
    if (this.options.clusterSecret !== undefined) await checkClusterSecret(client, this.paths.tokenCheck, this.options.cluster, this.options.clusterSecret);
    await this.register(client);
    const onError = (error: CoordError): void => this.log.warn({ err: error }, 'ZooKeeper watch read failed; retrying');
    this.watches.push(await client.watch((watcher) => readLiveMembers(client, this.paths, watcher, this.log), (members) => this.onMembers(client, members), { onError }));
    this.watches.push(await client.watch((watcher) => this.readRing(client, watcher), (read) => this.onRingRead(read), { onError }));
  }

  private async loadConfig(client: ZkClient): Promise<ClusterConfig> {
    const local = this.options.localConfig;
    try {
      await client.createJson(this.paths.config, local);
      this.log.info({ config: local }, 'created the cluster config from the local settings');
      return local;
    } catch (error) {
      if (!isCoordError(error, 'NODE_EXISTS')) throw error;
    }
    const stored = (await client.getJson(this.paths.config, parseClusterConfig)).value;
    const reference = this.configValue ?? local;
    const differing = configDifferences(stored, reference);
    if (differing.length > 0) {
      const pick = (config: ClusterConfig): Record<string, number> => Object.fromEntries(differing.map((key) => [key, config[key]]));
      this.log.warn(
        { differing, stored: pick(stored), local: pick(reference) },
        `the cluster config in ZooKeeper differs from this node's settings in ${differing.join(', ')}; following ZooKeeper`,
      );
    }
    return stored;
  }

  private register(client: ZkClient): Promise<void> {
    return registerMember({
      client,
      path: this.paths.member(this.selfInfo.name),
      info: this.selfInfo,
      cluster: this.options.cluster,
      waitMs: this.options.nameTakenWaitMs ?? this.options.sessionTimeoutMs + NAME_TAKEN_MARGIN_MS,
      clock: this.clock,
      log: this.log,
      stopped: () => this.phase === 'stopping' || this.phase === 'stopped',
    });
  }

  private onMembers(client: ZkClient, members: Map<string, MemberInfo>): void {
    if (!sameMembers(this.members, members)) {
      this.members = members;
      this.emit('members', members);
    }
    if (this.phase === 'running' && client === this.zk && !members.has(this.selfInfo.name)) void this.registerAgain(client);
  }

  /** Our znode was deleted while the session lives (by hand?): register again. */
  private async registerAgain(client: ZkClient): Promise<void> {
    if (this.registeringAgain) return;
    this.registeringAgain = true;
    this.log.warn('this node\'s member znode vanished while its session lives; registering again');
    try {
      await this.register(client);
    } catch (error) {
      if (isCoordError(error, 'NAME_TAKEN')) this.fail(error);
      else if (!isCoordError(error, 'SESSION_EXPIRED', 'CLOSED')) {
        // Transient: try again after a pause, unless a members read shows it back meanwhile.
        this.log.warn({ err: error }, 'could not register again; retrying');
        await delay(RECONNECT_DELAY_MS_MAX_DEFAULT, undefined, { signal: this.stopController.signal }).catch(() => undefined);
        this.registeringAgain = false;
        this.onMembers(client, new Map(this.members));
        return;
      }
    }
    this.registeringAgain = false;
  }

  private async readRing(client: ZkClient, watcher?: ZkWatcher): Promise<RingRead> {
    const sentAt = this.clock();
    const node = await client.getIfExists(this.paths.ring, watcher);
    if (node === undefined) return { ring: undefined, mzxid: -1n, sentAt };
    const parsed = decodeJson(this.paths.ring, node.data, parseRingRecord);
    return { ring: { ...parsed, version: node.version }, mzxid: node.stat.mzxid, sentAt };
  }

  private onRingRead(read: RingRead): void {
    if (read.sentAt > this.ringReadSentAt) this.ringReadSentAt = read.sentAt;
    if (read.ring === undefined) {
      if (this.ring !== undefined) {
        this.ring = undefined;
        this.ringMzxid = -1n;
        this.emit('ring', undefined);
      }
    } else if (read.mzxid > this.ringMzxid) {
      // mzxid grows with every change, so a slower read never replaces a newer ring.
      this.ring = read.ring;
      this.ringMzxid = read.mzxid;
      this.emit('ring', read.ring);
    }
    this.updateFence();
  }

  private async refreshRing(client: ZkClient): Promise<void> {
    this.onRingRead(await this.readRing(client));
  }

  private onConnectionChange(client: ZkClient, state: 'connected' | 'disconnected'): void {
    if (client !== this.zk || this.phase !== 'running') return;
    this.log.info({ session: client.sessionId }, `ZooKeeper ${state}`);
    clearTimeout(this.reconnectWatchdog);
    // Disconnected for twice the session timeout: the server has expired the session whatever the
    // client library still tries (seen: a client that never reconnected after a server restart
    // under load). Give it up and register with a new session, as on expiry.
    if (state === 'disconnected') {
      this.reconnectWatchdog = setTimeout(() => {
        if (client !== this.zk || this.phase !== 'running' || client.state !== 'disconnected') return;
        this.log.warn({ session: client.sessionId }, 'no reconnection within twice the session timeout; abandoning the session');
        void client.close().catch(() => undefined);
        this.onExpired(client);
      }, 2 * client.sessionTimeoutMs);
      this.reconnectWatchdog.unref();
    }
    this.emitState(state);
    this.updateFence();
  }

  private onExpired(client: ZkClient): void {
    if (client !== this.zk || this.phase !== 'running') return;
    clearTimeout(this.reconnectWatchdog);
    this.log.warn({ session: client.sessionId }, 'ZooKeeper session expired (its ephemeral znodes are gone); registering again with a new session');
    this.closeWatches();
    this.phase = 'recovering';
    this.emitState('expired');
    this.updateFence();
    this.recovery = this.recover();
  }

  private async recover(): Promise<void> {
    let delayMs = RECONNECT_DELAY_MS_MIN;
    while (this.phase === 'recovering') {
      let client: ZkClient | undefined;
      try {
        client = await this.connectClient();
        await this.setupSession(client);
        if (this.phase !== 'recovering') return; // stop() closes this.zk
        this.phase = 'running';
        this.log.info({ session: client.sessionId }, 're-registered with a new session');
        this.emitState('reregistered');
        this.updateFence();
        return;
      } catch (error) {
        await client?.close();
        if (this.phase !== 'recovering') return;
        if (isCoordError(error, 'NAME_TAKEN')) {
          this.fail(error);
          return;
        }
        this.log.warn({ err: error, retryInMs: delayMs }, 'could not re-register after session expiry; retrying');
        await delay(delayMs, undefined, { signal: this.stopController.signal }).catch(() => undefined);
        delayMs = Math.min(delayMs * 2, this.options.reconnectDelayMsMax ?? RECONNECT_DELAY_MS_MAX_DEFAULT);
      }
    }
  }

  /** A fatal error: stop serving (the fence is down) and tell the owner. */
  private fail(error: unknown): void {
    const coordError = error instanceof CoordError ? error : new CoordError('ZK_ERROR', String(error), { cause: error });
    if (this.phase === 'stopping' || this.phase === 'stopped') return;
    this.phase = 'failed';
    this.closeWatches();
    this.log.error({ err: coordError }, 'membership failed; this node must not serve');
    this.updateFence();
    this.emit('error', coordError);
  }

  private async flushMemberUpdate(): Promise<void> {
    this.updateTimer = undefined;
    this.lastUpdateAt = this.clock();
    const client = this.zk;
    if (this.phase !== 'running' || client === undefined) {
      // A re-registration writes the latest record anyway.
      this.settleUpdateWaiters(false);
      return;
    }
    const waiters = this.takeUpdateWaiters();
    try {
      await client.setJson(this.paths.member(this.selfInfo.name), storedMember(this.selfInfo), -1);
      for (const waiter of waiters) waiter(true);
    } catch (error) {
      this.log.warn({ err: error }, 'could not update the member znode');
      for (const waiter of waiters) waiter(false);
    }
  }

  private takeUpdateWaiters(): ((written: boolean) => void)[] {
    const waiters = this.updateWaiters;
    this.updateWaiters = [];
    return waiters;
  }

  private settleUpdateWaiters(written: boolean): void {
    for (const waiter of this.takeUpdateWaiters()) waiter(written);
  }

  private async removeOwnMember(client: ZkClient): Promise<void> {
    const path = this.paths.member(this.selfInfo.name);
    try {
      const stat = await client.exists(path);
      if (stat !== undefined && stat.ephemeralOwner === client.sessionId) await client.remove(path, stat.version);
    } catch (error) {
      // Closing the session removes it anyway.
      this.log.debug({ err: error }, 'could not remove the member znode before closing');
    }
  }

  private liveClient(operation: string): ZkClient {
    if (this.phase !== 'running' || this.zk === undefined) throw new CoordError('CLOSED', `${operation}: membership is ${this.phase}`);
    return this.zk;
  }

  private closeWatches(): void {
    for (const watch of this.watches) watch.close();
    this.watches = [];
  }

  private emitState(state: MembershipState): void {
    this.emit('state', { state, sessionId: this.zk?.sessionId ?? '' });
  }

  /** Emits 'fence' when ringConfirmed() changed, and re-checks when the lease would run out. */
  private updateFence(): void {
    clearTimeout(this.fenceTimer);
    const now = this.clock();
    const confirmed = this.ringConfirmed(now);
    if (confirmed !== this.fenceConfirmed) {
      this.fenceConfirmed = confirmed;
      this.log.info({ confirmed }, confirmed ? 'ring confirmed current' : 'ring no longer confirmed: not coordinating writes');
      this.emit('fence', { confirmed });
    }
    if (confirmed && this.zk !== undefined) {
      this.fenceTimer = setTimeout(() => this.updateFence(), Math.max(1, Math.ceil(this.zk.leaseUntil - now)));
      this.fenceTimer.unref();
    }
    if (!confirmed) this.scheduleConfirmation();
  }

  /**
   * Fenced while the session lives: a ring read sent now confirms the ring again. The ring watch's
   * re-read on reconnection normally does that, but a chaos run saw a node reconnect (same session)
   * and stay fenced for good; so, while fenced, the ring is read again every CONFIRM_RETRY_MS
   * (nothing is sent while disconnected; re-registration after expiry confirms by itself).
   */
  private scheduleConfirmation(): void {
    if (this.confirmTimer !== undefined || this.phase !== 'running') return;
    this.confirmTimer = setTimeout(() => {
      this.confirmTimer = undefined;
      const client = this.zk;
      if (this.phase !== 'running' || client === undefined || this.ringConfirmed()) return;
      if (client.state !== 'connected') return this.scheduleConfirmation();
      this.refreshRing(client).catch((error: unknown) => {
        this.log.warn({ err: error }, 'reading the ring to confirm it failed; retrying');
        this.updateFence();
      });
    }, CONFIRM_RETRY_MS);
    this.confirmTimer.unref();
  }
}

function validSelf(self: MemberInfo): MemberInfo {
  try {
    return parseMemberInfo(self);
  } catch (error) {
    throw new CoordError('BAD_ARGUMENT', `invalid member info: ${(error as Error).message}`, { cause: error });
  }
}

function ringNodesArgument(nodes: readonly RingNodeInfo[]): RingNodeInfo[] {
  if (nodes.length === 0) throw new CoordError('BAD_ARGUMENT', 'a ring needs at least one node');
  try {
    return canonicalRingNodes(nodes.map(parseRingNode));
  } catch (error) {
    throw new CoordError('BAD_ARGUMENT', (error as Error).message, { cause: error });
  }
}

function sameMembers(a: ReadonlyMap<string, MemberInfo>, b: ReadonlyMap<string, MemberInfo>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, info] of a) {
    const other = b.get(name);
    if (other === undefined || JSON.stringify(other) !== JSON.stringify(info)) return false;
  }
  return true;
}
