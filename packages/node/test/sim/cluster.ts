// A simulated cluster running the REAL coordination code: one Coordinator (coordinator.ts) and one
// HintedHandoff (hints.ts) per node process, each node with its own HybridClock on simulated time
// plus a bounded skew. Around them, simulated: the network (network.ts), the devices (storage.ts),
// ZooKeeper membership (ephemeral znodes that vanish a session timeout after a crash, watches
// delivered to each node after a delay, in order) and ZooKeeper connectivity (ringConfirmed).
//
// Ring changes follow DESIGN §6 as a MODEL (the real MigrationExecutor, transfer sender/receiver
// and ClusterView are not run): the migration znode appears, every node adopts dual writes on its
// watch (the coordinator's real pendingOwners path and DualQuorumCount); once every up node has, each
// block an added owner needs is streamed to it by one up old owner that first caught up with the
// other up old owners (the newest of their copies: what transfer-runner.ts does, options below); then the ring is committed at the next epoch and every node switches on
// its watch. Replica calls carry the caller's epoch: an older one is refused STALE_EPOCH (the real
// coordinator then awaits the epoch and coordinates again), a newer one makes the callee catch up.
// The rings are real @ringblock/ring Rings.
import { pino } from 'pino';
import type { Ring } from '@ringblock/ring';
import { Coordinator, type Owner, type RoutingView } from '../../src/coordinator.js';
import { HintedHandoff } from '../../src/hints.js';
import { ReplicaError, type Replica, type StoredBlock } from '../../src/store.js';
import { compareVersions, HybridClock, versionToText } from '../../src/version.js';
import { requiredAcks } from '../../src/consistency.js';
import { tagOf } from './history.js';
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
/** A transfer attempt whose sender does not read its copy within this long is tried again. */
const TRANSFER_ATTEMPT_MS = 500;

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
  /** What ZooKeeper holds: the committed ring, and the ring of the migration znode if one exists. */
  committed: { epoch: number; ring: Ring };
  migrating: Ring | undefined;
  /** Migration progress, for the trace and the summary. */
  readonly migrationLog: string[] = [];
  /** When each node's latest watch delivery is due. */
  private readonly watchAtMs = new Map<SimNode, number>();

  constructor(seed: number, readonly options: ClusterOptions) {
    this.random = new SimRandom(seed);
    this.committed = { epoch: 1, ring: options.ring };
    this.migrating = undefined;
    this.network = new SimNetwork(this.scheduler, this.random, { isUp: (name) => this.node(name).up, incarnation: (name) => this.node(name).incarnation }, options.network);
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

  /** Starts a migration to `to`: prepare (dual writes everywhere), transfer, commit. */
  migrate(to: Ring): void {
    if (this.migrating) return;
    this.migrating = to;
    this.note(`migration to epoch ${this.committed.epoch + 1} [${to.nodes.map((node) => node.name).join(',')}] created`);
    this.watchAll('migration', (node) => this.adopt(node));
    this.scheduler.after(10, 'migration prepare barrier', () => this.awaitPrepared(to));
  }

  private awaitPrepared(to: Ring): void {
    const waiting = this.nodes.filter((node) => node.up && node.routing.pending !== to && node.routing.epoch <= this.committed.epoch);
    if (waiting.length > 0) {
      this.scheduler.after(20, 'migration prepare barrier', () => this.awaitPrepared(to));
      return;
    }
    this.note('every node prepared (dual writes): transfers start');
    const from = this.committed.ring;
    const transfers: { id: string; to: string }[] = [];
    const ids = new Set<string>();
    for (const node of this.nodes) for (const id of node.disk.records(0).keys()) ids.add(id);
    for (const id of [...ids].sort()) {
      const oldNames = from.owners(id).map((owner) => owner.name);
      for (const owner of to.owners(id)) if (!oldNames.includes(owner.name)) transfers.push({ id, to: owner.name });
    }
    let left = transfers.length;
    const finish = () => {
      if (--left === 0) this.commit(to);
    };
    if (left === 0) return this.commit(to);
    for (const transfer of transfers) this.transfer(from, transfer.id, transfer.to, finish);
  }

  /** One block to one added owner, from one up old owner's local copy; retried until it is delivered. */
  private transfer(from: Ring, id: string, to: string, done: () => void): void {
    const retry = () => void this.scheduler.after(50, `transfer ${id} to ${to} again`, () => this.transfer(from, id, to, done));
    const oldOwners = from.owners(id).map((owner) => this.node(owner.name));
    const senders = oldOwners.filter((node) => node.up);
    const needed = this.options.transferSources === 'one' ? 1 : requiredAcks('quorum', oldOwners.length);
    if (senders.length < needed) return retry();
    const shuffled = this.random.shuffled(senders);
    const sources = this.options.transferSources === 'one' ? shuffled.slice(0, 1) : shuffled;
    const sender = sources[0]!;
    const receiver = this.node(to);
    // A sender that crashes mid-read never answers: the attempt is abandoned after a bound.
    let answered = false;
    const incarnation = sender.incarnation;
    const abandon = this.scheduler.after(TRANSFER_ATTEMPT_MS, `transfer ${id} to ${to} stalls`, () => {
      answered = true;
      retry();
    });
    const finish = (outcome: () => void) => {
      if (answered) return;
      answered = true;
      abandon.cancel();
      outcome();
    };
    // The sender reads its own copy and the other sources' (its catch-up), and sends the newest.
    const copies = sources.map((source) => (source === sender ? sender.disk.read(0, id) : this.remote(sender, source.addr).read(id)));
    void Promise.all(copies).then((blocks) => {
      const block = blocks.reduce<StoredBlock | undefined>((newest, candidate) => (candidate && (!newest || compareVersions(candidate.version, newest.version) > 0) ? candidate : newest), undefined);
      if (answered) return;
      if (!block) {
        this.note(`transfer of ${id} to ${to}: ${sender.name} holds no copy`);
        return finish(done);
      }
      if (sender.incarnation !== incarnation) return finish(retry);
      this.network.call(sender.name, to, `transfer ${id}`, () => new SimReplica(receiver.disk).write(id, block.version, block.data)).then(
        () =>
          finish(() => {
            this.note(`transferred ${id} ${block.tombstone ? 'tombstone ' : ''}${versionToText(block.version)} ${sender.name}->${to}`);
            done();
          }),
        () => finish(retry),
      );
    }, () => finish(retry));
  }

  private commit(to: Ring): void {
    this.committed = { epoch: this.committed.epoch + 1, ring: to };
    this.migrating = undefined;
    this.note(`ring epoch ${this.committed.epoch} committed`);
    this.watchAll('ring', (node) => this.adopt(node));
  }

  /** The process reads what ZooKeeper holds now: the committed ring, and dual writes if migrating. */
  private adopt(node: SimNode): void {
    const { epoch, ring } = this.committed;
    node.routing = { epoch, ring, pending: this.migrating };
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
  }

  /** A replica call from `from` to the owner at `addr`, through the simulated network. */
  remote(from: SimNode, addr: string): Replica {
    const target = this.byAddr.get(addr);
    if (!target) throw new Error(`no node at ${addr}`);
    const replica = new SimReplica(target.disk);
    // internal-routes.ts: the sender's epoch is checked first; older is refused, newer is caught up with.
    const checkEpoch = (sent: number) => {
      if (sent > target.routing.epoch) this.adopt(target);
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
    this.adopt(node);
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
