// The I/O side of migration (DESIGN §6): feeds the pure coordinator FSM with what ZooKeeper, the
// membership and time say, and carries out the actions it returns — the `migration` znode and its
// barriers, dual writes in the routing view, transfers, the commit transaction, stale clean-up.
// The ordering contract it follows is written in migration/protocol.ts.
import type { Logger } from 'pino';
import { CoalescedTask, clusterPaths, isCoordError, retryTransient, type RetryTransientOptions, jsonBytes, type ClusterMembership, type RingNodeInfo, type Watch, type ZkClient, type ZkOp } from '@ringblock/coord';
import type { Arc } from '@ringblock/ring';
import type { ClusterView } from './cluster-view.js';
import { MigrationCoordinatorFsm } from './migration/coordinator-fsm.js';
import type { MigrationAction, MigrationEvent, MigrationLimits, MigrationStatus } from './migration/protocol.js';
import { migrationKey, type MigrationRecord } from './migration/record.js';

/** How often time is fed to the FSM (its timeouts and retries are measured on these ticks). */
const TICK_MS = 200;
/** Stale-range releases waiting at once; beyond it the oldest is run early (never dropped). */
const RELEASES_PENDING_MAX = 64;

type StartTransfer = Extract<MigrationAction, { type: 'startTransfer' }>;

/** Runs transfers for the executor and reports progress, completion and failure as FSM events. */
export interface TransferRunner {
  start(action: StartTransfer, report: (event: MigrationEvent) => void): void;
  cancel(transferId: string): void;
  stopAll(): void;
}

export interface MigrationExecutorOptions {
  self: string;
  cluster: string;
  membership: ClusterMembership;
  view: ClusterView;
  transfers: TransferRunner;
  /** Garbage-collects this node's copies of blocks in ranges it no longer owns. */
  release: (epoch: number, ranges: readonly Arc[]) => Promise<void>;
  staleGraceMs: number;
  log: Logger;
  limits?: Partial<MigrationLimits>;
  now?: () => number;
}

interface MigrationRead {
  record: MigrationRecord | null;
  version: number;
  prepared: string[];
  done: string[];
  /** With no record: the ring read after it, so a commit is told apart from an abort. */
  ring?: { epoch: number; version: number; nodes: RingNodeInfo[] } | undefined;
}

export class MigrationExecutor {
  private readonly paths;
  private readonly fsm: MigrationCoordinatorFsm;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly acting = new CoalescedTask(() => this.drain(), (error) => this.log.warn({ err: error }, 'migration action failed'));
  private readonly queue: MigrationAction[] = [];
  private readonly releases = new Map<NodeJS.Timeout, () => Promise<void>>();
  private watch: Watch | undefined;
  private watchedClient: ZkClient | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private stopped = false;
  private undersuppliedLogged = 0;

  constructor(private readonly options: MigrationExecutorOptions) {
    this.paths = clusterPaths(options.cluster);
    this.now = options.now ?? Date.now;
    this.log = options.log.child({ component: 'migration' });
    this.fsm = new MigrationCoordinatorFsm({
      self: options.self,
      buildRing: (nodes) => options.view.build(nodes),
      nowMs: this.now(),
      staleGraceMs: options.staleGraceMs,
      ...(options.limits ? { limits: options.limits } : {}),
    });
  }

  /** Resolves once the `migration` znode was read: a node learns of a running migration before it serves writes. */
  async start(retry: Omit<RetryTransientOptions, 'onRetry'>): Promise<void> {
    const { membership } = this.options;
    membership.on('ring', this.onRing);
    membership.on('members', this.onMembers);
    membership.on('state', this.onState);
    this.onRing();
    this.onMembers();
    await retryTransient(() => this.watchMigration(), { ...retry, onRetry: (error) => this.log.warn({ err: error }, 'reading the migration znode failed; retrying') });
    this.ticker = setInterval(() => this.step({ type: 'tick', now: this.now() }), TICK_MS);
    this.ticker.unref();
  }

  /** The ring the live set calls for (ring policy), or null when the committed one is right. */
  setTarget(nodes: readonly RingNodeInfo[] | null): void {
    this.step({ type: 'target', nodes });
  }

  status(): MigrationStatus {
    return this.fsm.state;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const { membership } = this.options;
    membership.off('ring', this.onRing);
    membership.off('members', this.onMembers);
    membership.off('state', this.onState);
    clearInterval(this.ticker);
    this.watch?.close();
    this.options.transfers.stopAll();
    for (const timer of this.releases.keys()) clearTimeout(timer);
    this.releases.clear();
    this.acting.close();
    await this.acting.idle();
  }

  private readonly onRing = (): void => {
    const ring = this.options.membership.committedRing();
    if (ring) this.step({ type: 'ringCommitted', epoch: ring.epoch, version: ring.version, nodes: ring.nodes });
  };

  private readonly onMembers = (): void => {
    this.step({ type: 'members', live: [...this.options.membership.liveMembers().keys()] });
  };

  /** A new session (after expiry) has no watches: watch again on the new client. */
  private readonly onState = (event: { state: string }): void => {
    if (event.state === 'reregistered') void this.watchMigration().catch((error: unknown) => this.log.warn({ err: error }, 'watching the migration znode failed'));
  };

  private step(event: MigrationEvent): void {
    if (this.stopped) return;
    const actions = this.fsm.step(event);
    // The cheap getter: `state` builds the whole status (every transfer's) on each event.
    const undersupplied = this.fsm.undersuppliedRanges;
    if (undersupplied !== this.undersuppliedLogged) {
      this.undersuppliedLogged = undersupplied;
      if (undersupplied > 0) this.log.warn({ ranges: undersupplied, target: this.fsm.state.queuedTarget }, 'a ring change waits: it would leave ranges with fewer live owners than a write quorum (until a down owner is back or removed)');
    }
    if (actions.length === 0) return;
    this.queue.push(...actions);
    this.acting.trigger();
  }

  private async watchMigration(): Promise<void> {
    const client = this.options.membership.client;
    if (!client || client === this.watchedClient) return;
    this.watch?.close();
    this.watch = await client.watch((watcher) => this.readMigration(client, watcher), (read) => this.deliver(read));
    // Only once watching: a failed attempt must leave the next one to try again.
    this.watchedClient = client;
  }

  private async readMigration(client: ZkClient, watcher: () => void): Promise<MigrationRead> {
    const node = await client.getIfExists(this.paths.migration, watcher);
    if (!node) {
      const ring = await client.getIfExists(this.paths.ring);
      const parsed = ring ? (JSON.parse(ring.data.toString('utf8')) as { epoch: number; nodes: RingNodeInfo[] }) : undefined;
      return { record: null, version: -1, prepared: [], done: [], ring: parsed && ring ? { ...parsed, version: ring.version } : undefined };
    }
    const children = async (name: string) => {
      try {
        return await client.children(`${this.paths.migration}/${name}`, watcher);
      } catch (error) {
        if (isCoordError(error, 'NO_NODE')) return [];
        throw error;
      }
    };
    const [prepared, done] = await Promise.all([children('prepared'), children('done')]);
    return { record: parseRecord(node.data), version: node.version, prepared: prepared.sort(), done: done.sort() };
  }

  private deliver(read: MigrationRead): void {
    // Ordering contract: a vanished record is reported after the ring read that follows it.
    if (!read.record && read.ring) this.step({ type: 'ringCommitted', ...read.ring });
    this.step({ type: 'migrationSeen', record: read.record, prepared: read.prepared, done: read.done });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.stopped) {
      const action = this.queue.shift()!;
      try {
        await this.perform(action);
      } catch (error) {
        // Idempotent actions are re-emitted by the FSM until their effect shows; log and go on.
        this.log.warn({ err: error, action: action.type }, 'migration action failed');
      }
    }
  }

  private async perform(action: MigrationAction): Promise<void> {
    const { view, membership, transfers } = this.options;
    switch (action.type) {
      case 'createMigration':
        return this.create(action.record, action.expectedRingVersion);
      case 'enableDualWrites':
        view.setPending(action.plan.toRing);
        this.log.info({ epoch: action.epoch, transfers: action.plan.transfers.length }, 'dual writes on');
        return this.step({ type: 'dualWritesEnabled', migration: action.migration });
      case 'disableDualWrites':
        view.setPending(undefined);
        this.log.info('dual writes off');
        return;
      case 'markPrepared':
        return this.markChild(action.migration, 'prepared', action.node);
      case 'markDone':
        return this.markChild(action.migration, 'done', action.node);
      case 'startTransfer':
        transfers.start(action, (event) => this.step(event));
        return;
      case 'cancelTransfer':
        transfers.cancel(action.transferId);
        return;
      case 'stopTransfers':
        transfers.stopAll();
        return;
      case 'commit': {
        const read = await this.currentRecord(action.migration);
        if (!read) return;
        const committed = await membership.commitRing(action.expectedRingVersion, action.nodes, this.removeTree(read));
        if (committed) this.log.info({ epoch: action.epoch, nodes: action.nodes.map((node) => node.name) }, 'migration committed');
        return;
      }
      case 'abortMigration': {
        const read = await this.currentRecord(action.migration);
        if (!read) return;
        await this.client().transaction(this.removeTree(read)).commit().catch((error: unknown) => {
          if (!isCoordError(error, 'NO_NODE')) throw error;
        });
        this.log.warn({ epoch: action.epoch, reason: action.reason, nodes: action.nodes }, 'migration aborted');
        return;
      }
      case 'switchRing':
        if (view.setRing(action.epoch, action.nodes)) this.log.info({ epoch: action.epoch }, 'switched to the committed ring');
        return;
      case 'scheduleRelease':
        return this.scheduleRelease(action.epoch, action.ranges, action.atMs);
    }
  }

  private client(): ZkClient {
    const client = this.options.membership.client;
    if (!client) throw new Error('no ZooKeeper client');
    return client;
  }

  private async create(record: MigrationRecord, expectedRingVersion: number): Promise<void> {
    const ops: ZkOp[] = [
      { op: 'check', path: this.paths.ring, version: expectedRingVersion },
      { op: 'create', path: this.paths.migration, data: jsonBytes(record) },
      { op: 'create', path: `${this.paths.migration}/prepared` },
      { op: 'create', path: `${this.paths.migration}/done` },
    ];
    try {
      await this.client().transaction(ops).commit();
      this.log.info({ epoch: record.epoch, from: record.from.map((n) => n.name), to: record.to.map((n) => n.name) }, 'proposed a migration');
    } catch (error) {
      this.step({ type: 'proposeFailed', reason: isCoordError(error, 'NODE_EXISTS') ? 'exists' : 'error' });
    }
  }

  /** The migration znode as it is now, if it still holds `key` (a late action must not touch the next one). */
  private async currentRecord(key: string): Promise<MigrationRead | undefined> {
    const read = await this.readMigration(this.client(), () => undefined);
    return read.record && migrationKey(read.record) === key ? read : undefined;
  }

  private async markChild(key: string, child: 'prepared' | 'done', node: string): Promise<void> {
    if (!(await this.currentRecord(key))) return;
    try {
      await this.client().create(`${this.paths.migration}/${child}/${node}`, null);
    } catch (error) {
      if (!isCoordError(error, 'NODE_EXISTS')) throw error;
    }
  }

  /** Removes the migration znode and its barriers, children first, version-checked on the record. */
  private removeTree(read: MigrationRead): ZkOp[] {
    const base = this.paths.migration;
    return [
      ...read.prepared.map((name): ZkOp => ({ op: 'remove', path: `${base}/prepared/${name}` })),
      ...read.done.map((name): ZkOp => ({ op: 'remove', path: `${base}/done/${name}` })),
      { op: 'remove', path: `${base}/prepared` },
      { op: 'remove', path: `${base}/done` },
      { op: 'remove', path: base, version: read.version },
    ];
  }

  private scheduleRelease(epoch: number, ranges: readonly Arc[], atMs: number): void {
    const run = () => this.options.release(epoch, ranges).catch((error: unknown) => this.log.warn({ err: error, epoch }, 'releasing stale ranges failed'));
    if (this.releases.size >= RELEASES_PENDING_MAX) {
      const [oldest, job] = this.releases.entries().next().value as [NodeJS.Timeout, () => Promise<void>];
      clearTimeout(oldest);
      this.releases.delete(oldest);
      void job();
    }
    const timer = setTimeout(() => {
      this.releases.delete(timer);
      void run();
    }, Math.max(0, atMs - this.now()));
    timer.unref();
    this.releases.set(timer, run);
  }
}

function parseRecord(data: Buffer): MigrationRecord {
  const value = JSON.parse(data.toString('utf8')) as MigrationRecord;
  if (!Number.isSafeInteger(value.epoch) || !Array.isArray(value.from) || !Array.isArray(value.to) || !Array.isArray(value.participants) || typeof value.proposer !== 'string') {
    throw new Error('the migration znode does not hold a migration record');
  }
  return value;
}
