// A simulated cluster running the REAL coordination code: one Coordinator (coordinator.ts) and one
// HintedHandoff (hints.ts) per node process, each node with its own HybridClock on simulated time
// plus a bounded skew. Around them, simulated: the network (network.ts), the devices (storage.ts),
// ZooKeeper membership (ephemeral znodes that vanish a session timeout after a crash, watches
// delivered to each node after a delay) and ZooKeeper connectivity (ringConfirmed). The ring is the
// real @ringblock/ring Ring, committed once (epoch 1): ring changes are not simulated yet.
import { pino } from 'pino';
import type { Ring } from '@ringblock/ring';
import { Coordinator, type Owner, type RoutingView } from '../../src/coordinator.js';
import { HintedHandoff } from '../../src/hints.js';
import type { Replica, StoredBlock } from '../../src/store.js';
import { HybridClock, versionToText } from '../../src/version.js';
import { SimNetwork, type NetworkOptions } from './network.js';
import { SimRandom } from './random.js';
import { Scheduler } from './scheduler.js';
import { SimDisk, SimHintEngine, SimReplica, type DiskOptions } from './storage.js';

/** Simulated wall-clock start: a realistic epoch, so versions and hint ages look like real ones. */
export const SIM_START_MS = 1_700_000_000_000;

export interface ClusterOptions {
  nodes: number;
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
  clock: HybridClock;
  coordinator: Coordinator;
  hints: HintedHandoff;
}

const silentLog = pino({ level: 'silent' });

export class SimCluster {
  readonly scheduler = new Scheduler(SIM_START_MS);
  readonly random: SimRandom;
  readonly network: SimNetwork;
  readonly nodes: SimNode[] = [];
  /** Names with an ephemeral znode in the simulated ZooKeeper. */
  private readonly registered = new Set<string>();
  /** Every version any disk was asked to store for a block, with what it carried: version text → entry. */
  readonly ledger = new Map<string, { id: string; data: Buffer | undefined }>();
  /** Per block id, the versions hinted handoff made durable on some node. */
  readonly hinted = new Map<string, Buffer[]>();
  readonly faults: string[] = [];
  /** Invariants broken inside the simulation itself (one version naming two writes). */
  readonly violations: string[] = [];
  private readonly byAddr = new Map<string, SimNode>();
  private readonly ownersCache = new Map<string, Owner[]>();
  /** When each node's latest watch delivery is due. */
  private readonly watchAtMs = new Map<SimNode, number>();

  constructor(seed: number, readonly options: ClusterOptions) {
    this.random = new SimRandom(seed);
    this.network = new SimNetwork(this.scheduler, this.random, { isUp: (name) => this.node(name).up, incarnation: (name) => this.node(name).incarnation }, options.network);
    for (let index = 0; index < options.nodes; index++) {
      const name = `n${index + 1}`;
      const disk = this.recordingDisk(new SimDisk(name, this.scheduler, this.random, options.disk));
      const node = { name, addr: `${name}:3000`, disk, up: true, incarnation: 0, skewMs: 0, live: new Set<string>(), zkConnected: true } as SimNode;
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

  owners(id: string): Owner[] {
    let owners = this.ownersCache.get(id);
    if (!owners) {
      owners = this.options.ring.owners(id).map((ringNode) => ({ name: ringNode.name, addr: `${ringNode.name}:3000` }));
      this.ownersCache.set(id, owners);
    }
    return owners;
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
    return {
      write: (id, version, data) =>
        this.network.call(from.name, target.name, `write ${id}`, () => {
          target.clock.observe(version);
          return replica.write(id, version, data);
        }),
      read: (id) => this.network.call(from.name, target.name, `read ${id}`, () => replica.read(id)),
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
    const view = (): RoutingView => ({ epoch: 1, owners: (id) => this.owners(id), isLive: (name) => node.live.has(name) });
    node.hints = new HintedHandoff({
      engine: new SimHintEngine(node.disk),
      self: node.name,
      owners: (id) => this.owners(id),
      isLive: (name) => node.live.has(name),
      replica: (owner) => this.remote(node, owner.addr),
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
      // One committed ring: no replica ever answers STALE_EPOCH.
      awaitEpoch: () => Promise.resolve(false),
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

  /** A watch fires on every up node, each after its own delay, with the member set of that moment. */
  private membersChanged(): void {
    const members = new Set(this.registered);
    for (const node of this.nodes) {
      if (!node.up) continue;
      const incarnation = node.incarnation;
      // One ZooKeeper session delivers its events in order: never before the previous delivery.
      const atMs = Math.max(this.scheduler.nowMs() + this.random.int(1, this.options.watchDelayMsMax), this.watchAtMs.get(node) ?? 0);
      this.watchAtMs.set(node, atMs);
      this.scheduler.after(atMs - this.scheduler.nowMs(), `watch members ${node.name} [${[...members].join(',')}]`, () => {
        if (node.incarnation !== incarnation || !node.up) return;
        node.live = members;
        node.hints.replaySoon(); // node.ts does this when a member comes back
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

  /** One version names one write: the same id and the same bytes wherever it is stored. */
  private noteVersion(id: string, version: Buffer, data: Buffer | undefined): void {
    const key = version.toString('hex');
    const seen = this.ledger.get(key);
    if (!seen) {
      this.ledger.set(key, { id, data });
      return;
    }
    if (seen.id !== id || (seen.data === undefined) !== (data === undefined) || (seen.data && data && !seen.data.equals(data))) {
      this.violations.push(`version ${versionToText(version)} names two different writes (of ${seen.id} and of ${id})`);
    }
  }
}
