// A simulated cluster running the REAL coordination code: one Coordinator (coordinator.ts) and one
// HintedHandoff (hints.ts) per node process, each node with its own HybridClock on simulated time
// plus a bounded skew. Around them, simulated: the network (network.ts), the devices (storage.ts),
// ZooKeeper membership (ephemeral znodes that vanish a session timeout after a crash, watches
// delivered to each node after a delay, in order) and ZooKeeper connectivity (ringConfirmed).
//
// Ring changes run the real migration coordinator: each process holds its own
// MigrationCoordinatorFsm with the real planner, driven against a simulated ZooKeeper (migration.ts:
// proposal, dual writes in the coordinator's real pendingOwners path and DualQuorumCount, the prepare
// and done barriers, transfers with their catch-up, commit or abort, the ring switch on each watch).
// Replica calls carry the caller's epoch: an older one is refused STALE_EPOCH (the real coordinator
// then awaits the epoch and coordinates again), a newer one makes the callee re-read ZooKeeper.
// The rings are real @ringblock/ring Rings.
import { pino } from 'pino';
import type { RingNodeInfo } from '@ringblock/coord';
import type { Ring } from '@ringblock/ring';
import { Coordinator, type Owner, type RoutingView } from '../../src/coordinator.js';
import { HintedHandoff } from '../../src/hints.js';
import { ReplicaError, type Replica, type StoredBlock } from '../../src/store.js';
import { compareVersions, HybridClock, versionToText } from '../../src/version.js';
import { tagOf } from './history.js';
import { SimMigrations } from './migration.js';
import { SimNetwork, type NetworkOptions } from './network.js';
import { SimRandom } from './random.js';
import { Scheduler } from './scheduler.js';
import { SimDisk, SimHintEngine, SimReplica, type DiskOptions } from './storage.js';

/** Simulated wall-clock start: a realistic epoch, so versions and hint ages look like real ones. */
export const SIM_START_MS = 1_700_000_000_000;

export interface ClusterOptions {
  nodes: number;
  /** The ring committed at epoch 1 (it may leave some nodes out: they join by a migration). */
  ring: Ring;
  /** A ring of these nodes with the run's vnodes, RF and hasher. */
  buildRing: (nodes: readonly RingNodeInfo[]) => Ring;
  network: NetworkOptions;
  disk: DiskOptions;
  /** Each process's clock is off by up to this much (drawn again at every restart). */
  clockSkewMsMax: number;
  /** A crashed node's ephemeral znode vanishes this long after the crash. */
  sessionTimeoutMs: number;
  /** Watch deliveries reach each node after up to this long. */
  watchDelayMsMax: number;
  /** A restarted process takes this long to come up. */
  restartMs: number;
  hintReplayIntervalMs: number;
  readRepairChance: number;
  /**
   * Where an added owner gets a block from. `catch-up`: the sender first catches up with every other
   * up old owner, so it sends the newest of all their copies (migration/plan.ts and
   * Repairer.catchUp do this; a read quorum of old owners must be up, else the real migration aborts
   * and is planned again — here: tried again). `one`: one up old owner's own copy, as DESIGN §6 reads
   * — the design that loses quorum writes, kept to prove the simulator catches it.
   */
  transferSources: 'one' | 'catch-up';
}

export interface SimNode {
  readonly name: string;
  readonly addr: string;
  readonly disk: SimDisk;
  up: boolean;
  incarnation: number;
  skewMs: number;
  /** This process's view of the live members (its last ZooKeeper watch delivery). */
  live: Set<string>;
  zkConnected: boolean;
  /** The committed ring this process routes by, and the one it dual-writes to while migrating. */
  routing: { epoch: number; ring: Ring; pending: Ring | undefined };
  epochWaiters: Set<() => void>;
  clock: HybridClock;
  coordinator: Coordinator;
  hints: HintedHandoff;
}

export const ledgerKey = (id: string, version: Buffer): string => `${id}/${version.toString('hex')}`;

const silentLog = pino({ level: 'silent' });
/** ClusterView.waitForEpoch's bound in the simulation. */
const EPOCH_WAIT_MS = 1_000;

export class SimCluster {
  readonly scheduler = new Scheduler(SIM_START_MS);
  readonly random: SimRandom;
  readonly network: SimNetwork;
  readonly nodes: SimNode[] = [];
  /** Names with an ephemeral znode in the simulated ZooKeeper. */
  private readonly registered = new Set<string>();
  /** Every version any disk was asked to store for a block, with what it carried: ledgerKey(id, version) → entry. */
  readonly ledger = new Map<string, { id: string; version: Buffer; data: Buffer | undefined }>();
  /** Per block id, the versions hinted handoff made durable on some node. */
  readonly hinted = new Map<string, Buffer[]>();
  readonly faults: string[] = [];
  /** Invariants broken inside the simulation itself (one version naming two writes). */
  readonly violations: string[] = [];
  private readonly byAddr = new Map<string, SimNode>();
  private readonly ownersCache = new Map<Ring, Map<string, Owner[]>>();
  /** The ring ZooKeeper has committed (the checks use it). */
  committed: { epoch: number; ring: Ring };
  /** The real migration coordinators and the simulated ZooKeeper znodes they work on. */
  readonly migrations: SimMigrations;
  /** Migration progress, for the trace and the summary. */
  readonly migrationLog: string[] = [];
  /** Called at each commit, before any process hears of it (history.ts's commit check). */
  readonly commitChecks: ((epoch: number, ring: Ring) => void)[] = [];
  /** When each node's latest watch delivery is due. */
  private readonly watchAtMs = new Map<SimNode, number>();

  constructor(seed: number, readonly options: ClusterOptions) {
    this.random = new SimRandom(seed);
    this.committed = { epoch: 1, ring: options.ring };
    this.network = new SimNetwork(this.scheduler, this.random, { isUp: (name) => this.node(name).up, incarnation: (name) => this.node(name).incarnation }, options.network);
    this.migrations = new SimMigrations(
      {
        scheduler: this.scheduler,
        network: this.network,
        random: this.random,
        buildRing: options.buildRing,
        position: (id) => options.ring.position(id),
        process: (name) => this.node(name),
        setRouting: (name, change) => this.setRouting(this.node(name), change),
        onCommitted: (epoch, ring) => {
          this.committed = { epoch, ring };
          for (const check of this.commitChecks) check(epoch, ring);
        },
        watchAll: (label, deliver) => this.watchAll(label, (node) => deliver(node.name)),
        note: (line) => this.note(line),
        transferSources: options.transferSources,
      },
      options.ring.nodes.map((node) => ({ name: node.name, addr: node.addr ?? `${node.name}:3000` })),
    );
    for (let index = 0; index < options.nodes; index++) {
      const name = `n${index + 1}`;
      const disk = this.recordingDisk(new SimDisk(name, this.scheduler, this.random, options.disk));
      const node = { name, addr: `${name}:3000`, disk, up: true, incarnation: 0, skewMs: 0, live: new Set<string>(), zkConnected: true, epochWaiters: new Set() } as unknown as SimNode;
      this.nodes.push(node);
      this.byAddr.set(node.addr, node);
      this.registered.add(name);
    }
    for (const node of this.nodes) this.startProcess(node);
  }

  node(name: string): SimNode {
    const node = this.nodes.find((candidate) => candidate.name === name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }

  /** The block's owners on the ring ZooKeeper has committed now (the final check uses these). */
  owners(id: string): Owner[] {
    return this.ownersOn(this.committed.ring, id);
  }

  ownersOn(ring: Ring, id: string): Owner[] {
    let byId = this.ownersCache.get(ring);
    if (!byId) {
      byId = new Map();
      this.ownersCache.set(ring, byId);
    }
    let owners = byId.get(id);
    if (!owners) {
      owners = ring.owners(id).map((ringNode) => ({ name: ringNode.name, addr: `${ringNode.name}:3000` }));
      byId.set(id, owners);
    }
    return owners;
  }

  /** The run's ring change: the ring policy now wants `to`; the real coordinators take it from there. */
  migrate(to: Ring): void {
    this.note(`target ring [${to.nodes.map((node) => node.name).join(',')}]`);
    this.migrations.setTarget(to.nodes.map((node) => ({ name: node.name, addr: node.addr ?? `${node.name}:3000` })));
  }

  /** What the FSM's switchRing / enableDualWrites / disableDualWrites do to a process's ClusterView. */
  private setRouting(node: SimNode, change: { epoch: number; ring: Ring } | { pending: Ring | undefined }): void {
    if ('pending' in change) {
      node.routing = { ...node.routing, pending: change.pending };
      return;
    }
    if (change.epoch <= node.routing.epoch) return;
    node.routing = { ...node.routing, epoch: change.epoch, ring: change.ring };
    for (const waiter of [...node.epochWaiters]) waiter();
  }

  private note(line: string): void {
    this.migrationLog.push(`${this.scheduler.nowMs() - SIM_START_MS} ${line}`);
    this.scheduler.trace?.(`${String(this.scheduler.nowMs()).padStart(7)} ${line}`);
  }

  /** Resolves true once the node routes by `epoch` (its watch arrived), false after a bound (ClusterView.waitForEpoch). */
  private awaitEpoch(node: SimNode, epoch: number): Promise<boolean> {
    if (node.routing.epoch >= epoch) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = () => {
        if (node.routing.epoch < epoch) return;
        node.epochWaiters.delete(waiter);
        timer.cancel();
        resolve(true);
      };
      const timer = this.scheduler.after(EPOCH_WAIT_MS, `${node.name} gives up waiting for epoch ${epoch}`, () => {
        node.epochWaiters.delete(waiter);
        resolve(false);
      });
      node.epochWaiters.add(waiter);
    });
  }

  /** Kills the process: in-flight work and volatile state are gone, the disk stays. */
  crash(node: SimNode): void {
    if (!node.up) return;
    this.faults.push(`${this.scheduler.nowMs() - SIM_START_MS} crash ${node.name}`);
    node.up = false;
    node.incarnation++;
    node.disk.crash();
    const incarnation = node.incarnation;
    this.scheduler.after(this.options.sessionTimeoutMs, `zk session of ${node.name} expires`, () => {
      if (node.incarnation === incarnation && !node.up) this.unregister(node.name);
    });
  }

  restart(node: SimNode): void {
    if (node.up) return;
    const incarnation = node.incarnation;
    this.scheduler.after(this.options.restartMs, `restart ${node.name}`, () => {
      if (node.up || node.incarnation !== incarnation) return;
      this.faults.push(`${this.scheduler.nowMs() - SIM_START_MS} restart ${node.name}`);
      node.up = true;
      node.incarnation++;
      this.startProcess(node);
      this.register(node.name);
    });
  }

  /** The node loses (false) or regains (true) its ZooKeeper connection: unconfirmed ring meanwhile. */
  setZkConnected(node: SimNode, connected: boolean): void {
    this.faults.push(`${this.scheduler.nowMs() - SIM_START_MS} zk ${connected ? 'reconnects' : 'disconnects'} ${node.name}`);
    node.zkConnected = connected;
    // Back in the session: the watches it missed are read again (membership re-reads on reconnect).
    if (connected) this.migrations.reread(node.name);
  }

  /** A replica call from `from` to the owner at `addr`, through the simulated network. */
  remote(from: SimNode, addr: string): Replica {
    const target = this.byAddr.get(addr);
    if (!target) throw new Error(`no node at ${addr}`);
    const replica = new SimReplica(target.disk);
    // internal-routes.ts: the sender's epoch is checked first; older is refused, newer is caught up with.
    const checkEpoch = (sent: number) => {
      if (sent > target.routing.epoch) this.migrations.reread(target.name);
      if (sent < target.routing.epoch) throw new ReplicaError('STALE_EPOCH', `simulated: ${target.name} routes by epoch ${target.routing.epoch}`, target.routing.epoch);
    };
    return {
      write: (id, version, data) => {
        const sent = from.routing.epoch;
        return this.network.call(from.name, target.name, `write ${id}`, async () => {
          checkEpoch(sent);
          target.clock.observe(version);
          return replica.write(id, version, data);
        });
      },
      read: (id) => {
        const sent = from.routing.epoch;
        return this.network.call(from.name, target.name, `read ${id}`, async () => {
          checkEpoch(sent);
          return replica.read(id);
        });
      },
    };
  }

  /**
   * A model of the anti-entropy round the real Repairer runs after a ring change (repair/repairer.ts:
   * every owner compares each range with the other owners and streams what differs, newest winning):
   * for each block, each up owner compares with each other owner through the network. Not the real
   * code; it is what heals a new owner that was down during its migration (plan.ts downReceivers).
   */
  async repairRound(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const owners = this.owners(id).map((owner) => this.node(owner.name));
      for (const node of owners.filter((owner) => owner.up)) {
        for (const peer of owners) {
          if (peer === node) continue;
          const mine = node.disk.records(0).get(id);
          const theirs = await this.network.call(node.name, peer.name, `repair read ${id}`, async () => peer.disk.records(0).get(id)).catch(() => 'failed' as const);
          if (theirs === 'failed') continue;
          if (theirs && (!mine || compareVersions(theirs.version, mine.version) > 0)) await node.disk.write(0, id, theirs.version, theirs.data);
          else if (mine && (!theirs || compareVersions(mine.version, theirs.version) > 0)) {
            await this.network.call(node.name, peer.name, `repair push ${id}`, () => new SimReplica(peer.disk).write(id, mine.version, mine.data)).catch(() => undefined);
          }
        }
      }
    }
  }

  /** The durable record of `id` on every node (the final check reads disks directly). */
  durableCopies(id: string): { node: string; block: StoredBlock | undefined }[] {
    return this.nodes.map((node) => ({ node: node.name, block: node.disk.records(0).get(id) }));
  }

  private startProcess(node: SimNode): void {
    node.skewMs = this.random.int(-this.options.clockSkewMsMax, this.options.clockSkewMsMax);
    const incarnation = node.incarnation;
    node.clock = new HybridClock(node.name, () => this.scheduler.nowMs() + node.skewMs);
    node.live = new Set(this.registered);
    node.zkConnected = true;
    node.epochWaiters = new Set();
    // A starting process reads the ring and the migration znode before it serves (node.ts).
    node.routing = { epoch: 0, ring: this.committed.ring, pending: undefined };
    this.migrations.start(node.name);
    const view = (): RoutingView => {
      const { epoch, ring, pending } = node.routing;
      return {
        epoch,
        owners: (id) => this.ownersOn(ring, id),
        ...(pending ? { pendingOwners: (id: string) => this.ownersOn(pending, id) } : {}),
        isLive: (name) => node.live.has(name),
      };
    };
    // The committed ring's owners plus, while migrating, the pending ring's (node.ts does the same).
    const hintOwners = (id: string): Owner[] => {
      const { ring, pending } = node.routing;
      const owners = this.ownersOn(ring, id);
      return pending ? [...owners, ...this.ownersOn(pending, id).filter((owner) => !owners.some((old) => old.name === owner.name))] : owners;
    };
    node.hints = new HintedHandoff({
      engine: new SimHintEngine(node.disk),
      self: node.name,
      owners: hintOwners,
      isLive: (name) => name === node.name || node.live.has(name),
      replica: (owner) => (owner.name === node.name ? new SimReplica(node.disk) : this.remote(node, owner.addr)),
      maxHints: 10_000,
      maxAgeMs: 3_600_000,
      replayIntervalMs: this.options.hintReplayIntervalMs,
      log: silentLog,
      now: () => this.scheduler.nowMs() + node.skewMs,
    });
    node.coordinator = new Coordinator({
      self: node.name,
      clock: node.clock,
      local: new SimReplica(node.disk),
      remote: (addr) => this.remote(node, addr),
      view,
      ringConfirmed: () => node.zkConnected,
      awaitEpoch: (epoch) => this.awaitEpoch(node, epoch),
      onMissed: (id, version, data, owners) => node.hints.record(id, version, data, owners),
      readRepairChance: this.options.readRepairChance,
      random: this.random.next,
    });
    // hints.start() would use a real interval: the replay timer is a simulated one instead.
    const replay = () => {
      if (node.incarnation !== incarnation || !node.up) return;
      node.hints.replaySoon();
      this.scheduler.after(this.options.hintReplayIntervalMs, `hint replay tick ${node.name}`, replay);
    };
    this.scheduler.after(this.random.int(1, this.options.hintReplayIntervalMs), `hint replay tick ${node.name}`, replay);
  }

  private register(name: string): void {
    this.registered.add(name);
    this.membersChanged();
  }

  private unregister(name: string): void {
    this.registered.delete(name);
    this.membersChanged();
  }

  /** The member set of this moment reaches every up node by its watch. */
  private membersChanged(): void {
    const members = new Set(this.registered);
    this.watchAll(`members [${[...members].join(',')}]`, (node) => {
      node.live = members;
      node.hints.replaySoon(); // node.ts does this when a member comes back
      this.migrations.membersSeen(node.name);
    });
  }

  /** A watch fires on every up node, each after its own delay; one session delivers its events in order. */
  private watchAll(label: string, deliver: (node: SimNode) => void): void {
    for (const node of this.nodes) {
      if (!node.up) continue;
      const incarnation = node.incarnation;
      const atMs = Math.max(this.scheduler.nowMs() + this.random.int(1, this.options.watchDelayMsMax), this.watchAtMs.get(node) ?? 0);
      this.watchAtMs.set(node, atMs);
      this.scheduler.after(atMs - this.scheduler.nowMs(), `watch ${label} ${node.name}`, () => {
        if (node.incarnation === incarnation && node.up) deliver(node);
      });
    }
  }

  /** Wraps the disk's writes to keep the ledger (what can ever be read) and the durable hints. */
  private recordingDisk(disk: SimDisk): SimDisk {
    const write = disk.write.bind(disk);
    disk.write = (namespace, id, version, data) => {
      if (namespace === 0) this.noteVersion(id, version, data);
      const written = write(namespace, id, version, data);
      if (namespace === 1) {
        void written.then((outcome) => {
          if (outcome.result !== 'applied') return;
          const list = this.hinted.get(id) ?? [];
          list.push(version);
          this.hinted.set(id, list);
        });
      }
      return written;
    };
    return disk;
  }

  /** One version of a block names one write: the same bytes wherever it is stored (replicas take `equal` for a retry). */
  private noteVersion(id: string, version: Buffer, data: Buffer | undefined): void {
    const key = ledgerKey(id, version);
    const seen = this.ledger.get(key);
    if (!seen) {
      this.ledger.set(key, { id, version, data });
      return;
    }
    if ((seen.data === undefined) !== (data === undefined) || (seen.data && data && !seen.data.equals(data))) {
      this.violations.push(`version ${versionToText(version)} of ${id} names two different writes ("${tagOf(seen.data)}" and "${tagOf(data)}"): a replica holding one answers \`equal\` to the other`);
    }
  }
}
