// Ring changes in the coordination simulation, run by the REAL migration code: every node process
// holds its own MigrationCoordinatorFsm (migration/coordinator-fsm.ts, with the real planner,
// migration/plan.ts) and this module does for it what MigrationExecutor and NodeTransferRunner do
// for a real node, against a simulated ZooKeeper:
// - ZooKeeper holds the `ring` znode (epoch, data version, nodes) and the `migration` znode (record,
//   `prepared/`, `done/`). Writes follow the executor's transactions: create checks the ring version
//   and that no record exists; barrier children only while the record holds the action's key; commit
//   checks the ring version and removes the record in the same step; abort removes the record.
// - Watches reach each up process after its own delay, in ZooKeeper order per process; a commit is
//   delivered as ringCommitted before migrationSeen (protocol.ts's ordering contract). A process cut
//   off ZooKeeper neither writes nor hears anything until it reconnects, then re-reads.
// - Dual writes and ring switches change the process's routing (its Coordinator's RoutingView).
// - A transfer is what the runner does: catch up with each `catchUpFrom` old owner (a Merkle
//   comparison is modelled as reading the peer's records of the range in one call; newest wins both
//   ways), then stream the sender's records of the range to the receiver, all through the simulated
//   network, so loss, partitions and crashes hit it; the outcome goes back to the FSM as an event.
// Not modelled: the stale-range release after staleGraceMs (a stale copy is never read by quorum
// reads or counted by the checks, which only look at owners), progress reports (the stall timer runs
// from the start of an attempt), and the ring policy's down grace (the target is the run's).
import type { RingNodeInfo } from '@ringblock/coord';
import { rangeContains, type Ring } from '@ringblock/ring';
import { MigrationCoordinatorFsm, migrationKey, type MigrationAction, type MigrationEvent, type MigrationKey, type MigrationRecord } from '../../src/migration/index.js';
import type { MigrationLimits } from '../../src/migration/protocol.js';
import type { StoredBlock } from '../../src/store.js';
import { compareVersions } from '../../src/version.js';
import type { SimRandom } from './random.js';
import type { Scheduler } from './scheduler.js';
import { SimReplica, type SimDisk } from './storage.js';
import type { SimNetwork } from './network.js';

/** How often each process's FSM is ticked (MigrationExecutor's TICK_MS). */
const TICK_MS = 200;

/** The FSM's bounds, scaled to the simulation's seconds-long runs. */
export const SIM_MIGRATION_LIMITS: Partial<MigrationLimits> = {
  prepareTimeoutMs: 1_500,
  proposeTimeoutMs: 1_000,
  retryIntervalMs: 250,
  abortBackoffMs: 200,
  transferStallTimeoutMs: 1_500,
  transferRetryDelayMs: 100,
  transferAttemptsMax: 3,
  transfersInFlightMax: 3,
};

/** What the simulated cluster offers this module. */
export interface MigrationHost {
  readonly scheduler: Scheduler;
  readonly network: SimNetwork;
  readonly random: SimRandom;
  readonly buildRing: (nodes: readonly RingNodeInfo[]) => Ring;
  /** Ring position of a block id (the ring's hasher). */
  readonly position: (id: string) => bigint;
  /** The process's current incarnation, whether it is up, and whether ZooKeeper reaches it. */
  process(name: string): { up: boolean; incarnation: number; zkConnected: boolean; disk: SimDisk; live: ReadonlySet<string> };
  /** Routing changes the FSM asks for. */
  setRouting(name: string, change: { epoch: number; ring: Ring } | { pending: Ring | undefined }): void;
  /** A ring was committed in ZooKeeper (before any process hears of it). */
  onCommitted(epoch: number, ring: Ring): void;
  /** Runs `deliver` on every up process after its watch delay, in one order per process (its session's). */
  watchAll(label: string, deliver: (name: string) => void): void;
  note(line: string): void;
  /** `one`: ignore the plan's catch-up peers (the single-source design, for the simulator's self-test). */
  readonly transferSources: 'one' | 'catch-up';
}

interface ZkMigration {
  readonly record: MigrationRecord;
  readonly key: MigrationKey;
  readonly prepared: Set<string>;
  readonly done: Set<string>;
}

interface Process {
  readonly name: string;
  readonly incarnation: number;
  readonly fsm: MigrationCoordinatorFsm;
  readonly running: Set<string>;
}

export class SimMigrations {
  ring: { epoch: number; version: number; nodes: RingNodeInfo[] };
  private migration: ZkMigration | null = null;
  private target: RingNodeInfo[] | null = null;
  private readonly processes = new Map<string, Process>();
  commits = 0;
  readonly aborts: string[] = [];

  constructor(private readonly host: MigrationHost, initial: readonly RingNodeInfo[]) {
    this.ring = { epoch: 1, version: 0, nodes: [...initial] };
  }

  /** A process starts: a fresh FSM that reads ring, members, migration and target before it serves. */
  start(name: string): void {
    const { incarnation } = this.host.process(name);
    const fsm = new MigrationCoordinatorFsm({ self: name, buildRing: this.host.buildRing, nowMs: this.host.scheduler.nowMs(), staleGraceMs: 60_000, limits: SIM_MIGRATION_LIMITS });
    const process: Process = { name, incarnation, fsm, running: new Set() };
    this.processes.set(name, process);
    this.readAll(process);
    const tick = () => {
      if (!this.current(process)) return;
      this.step(process, { type: 'tick', now: this.host.scheduler.nowMs() });
      this.host.scheduler.after(TICK_MS, `migration tick ${name}`, tick);
    };
    this.host.scheduler.after(this.host.random.int(1, TICK_MS), `migration tick ${name}`, tick);
  }

  /** The ring the run wants (the ring policy's answer): every up process learns it by its watch. */
  setTarget(nodes: readonly RingNodeInfo[]): void {
    this.target = [...nodes];
    this.watchAll('target', (process) => this.step(process, this.targetEvent()));
  }

  /** The process's members watch fired (its live set is updated): members, then the target it implies. */
  membersSeen(name: string): void {
    const process = this.processes.get(name);
    if (!process || !this.current(process)) return;
    this.step(process, { type: 'members', live: [...this.host.process(name).live] });
    this.step(process, this.targetEvent());
  }

  /** The process regained ZooKeeper (or saw a newer epoch from a peer): it reads everything again now. */
  reread(name: string): void {
    const process = this.processes.get(name);
    if (process && this.current(process)) this.readAll(process);
  }

  /** Where things stand, for a failure's trace. */
  describe(): string {
    const migration = this.migration ? `${this.migration.key} prepared [${[...this.migration.prepared].join(',')}] done [${[...this.migration.done].join(',')}]` : 'none';
    return `ring ${this.ring.epoch} [${this.ring.nodes.map((node) => node.name).join(',')}], migration ${migration}, phases ${[...this.processes.values()].filter((process) => this.current(process)).map((process) => `${process.name}:${process.fsm.phase}`).join(' ')}`;
  }

  private readAll(process: Process): void {
    this.step(process, this.ringEvent());
    this.step(process, { type: 'members', live: [...this.host.process(process.name).live] });
    this.readMigration(process);
    this.step(process, this.targetEvent());
  }

  private current(process: Process): boolean {
    const state = this.host.process(process.name);
    return state.up && state.incarnation === process.incarnation && this.processes.get(process.name) === process;
  }

  /**
   * What a migration watch delivers (MigrationExecutor.readMigration/deliver): the znode as it is when
   * read; when it is gone, the ring is read after it and delivered first, so a commit is told apart
   * from an abort.
   */
  private readMigration(process: Process): void {
    if (this.migration === null) this.step(process, this.ringEvent());
    this.step(process, this.migrationEvent());
  }

  private ringEvent(): MigrationEvent {
    return { type: 'ringCommitted', ...this.ring };
  }

  private migrationEvent(): MigrationEvent {
    const migration = this.migration;
    return migration ? { type: 'migrationSeen', record: migration.record, prepared: [...migration.prepared].sort(), done: [...migration.done].sort() } : { type: 'migrationSeen', record: null, prepared: [], done: [] };
  }

  private targetEvent(): MigrationEvent {
    return { type: 'target', nodes: this.target };
  }

  private step(process: Process, event: MigrationEvent): void {
    if (!this.current(process)) return;
    for (const action of process.fsm.step(event)) this.perform(process, action);
  }

  /** A watch fires on every up process; one cut off ZooKeeper misses it (it re-reads on reconnecting). */
  private watchAll(label: string, deliver: (process: Process) => void): void {
    this.host.watchAll(label, (name) => {
      const process = this.processes.get(name);
      if (process && this.current(process) && this.host.process(name).zkConnected) deliver(process);
    });
  }

  /** A ZooKeeper write from `process`: only when connected; the FSM re-emits what failed. */
  private zk(process: Process, write: () => void): void {
    if (this.host.process(process.name).zkConnected) write();
  }

  private perform(process: Process, action: MigrationAction): void {
    const migration = this.migration;
    const holds = (key: MigrationKey) => migration !== null && migration.key === key;
    switch (action.type) {
      case 'createMigration':
        return this.zk(process, () => {
          if (this.ring.version !== action.expectedRingVersion) return this.later(process, { type: 'proposeFailed', reason: 'error' });
          if (migration !== null) return this.later(process, { type: 'proposeFailed', reason: 'exists' });
          this.migration = { record: action.record, key: migrationKey(action.record), prepared: new Set(), done: new Set() };
          this.host.note(`migration ${this.migration.key} to [${action.record.to.map((node) => node.name).join(',')}] created by ${process.name}, participants [${action.record.participants.join(',')}]`);
          this.watchAll('migration', (watcher) => this.readMigration(watcher));
        });
      case 'enableDualWrites':
        this.host.setRouting(process.name, { pending: action.plan.toRing });
        return this.later(process, { type: 'dualWritesEnabled', migration: action.migration });
      case 'disableDualWrites':
        return this.host.setRouting(process.name, { pending: undefined });
      case 'markPrepared':
      case 'markDone':
        return this.zk(process, () => {
          if (!holds(action.migration)) return;
          const children = action.type === 'markPrepared' ? migration!.prepared : migration!.done;
          if (children.has(action.node)) return;
          children.add(action.node);
          this.watchAll('migration', (watcher) => this.readMigration(watcher));
        });
      case 'startTransfer':
        return this.transfer(process, action);
      case 'cancelTransfer':
        process.running.delete(action.transferId);
        return;
      case 'stopTransfers':
        process.running.clear();
        return;
      case 'commit':
        return this.zk(process, () => {
          if (!holds(action.migration) || this.ring.version !== action.expectedRingVersion) return;
          this.ring = { epoch: action.epoch, version: this.ring.version + 1, nodes: [...action.nodes] };
          this.migration = null;
          this.commits++;
          this.host.note(`ring epoch ${action.epoch} [${action.nodes.map((node) => node.name).join(',')}] committed by ${process.name}`);
          this.host.onCommitted(action.epoch, this.host.buildRing(action.nodes));
          // One transaction: the ring watch and the migration watch fire; either read sees both changes.
          this.watchAll('ring', (watcher) => this.readMigration(watcher));
        });
      case 'abortMigration':
        return this.zk(process, () => {
          if (!holds(action.migration)) return;
          this.migration = null;
          this.aborts.push(action.reason);
          this.host.note(`migration ${action.migration} aborted by ${process.name}: ${action.reason}`);
          this.watchAll('migration', (watcher) => this.readMigration(watcher));
        });
      case 'switchRing':
        return this.host.setRouting(process.name, { epoch: action.epoch, ring: this.host.buildRing(action.nodes) });
      case 'scheduleRelease':
        return; // not modelled (see the header)
    }
  }

  /** An event the I/O layer answers with on its own (after this turn, as the executor's queue does). */
  private later(process: Process, event: MigrationEvent): void {
    this.host.scheduler.after(0, `${event.type} ${process.name}`, () => this.step(process, event));
  }

  /** NodeTransferRunner: catch up with each other old owner, then stream the range to the receiver. */
  private transfer(process: Process, action: Extract<MigrationAction, { type: 'startTransfer' }>): void {
    const { transferId, transfer } = action;
    process.running.add(transferId);
    const running = () => this.current(process) && process.running.has(transferId);
    const self = this.host.process(process.name).disk;
    const inRange = (disk: SimDisk) => [...disk.records(0)].filter(([id]) => rangeContains(transfer.range, this.host.position(id)));
    const run = async (): Promise<number> => {
      const peers = this.host.transferSources === 'one' ? [] : transfer.catchUpFrom;
      for (const peer of peers) {
        const theirs = await this.host.network.call(process.name, peer, `catch-up ${transferId}`, async () => inRange(this.host.process(peer).disk));
        if (!running()) return 0;
        const mine = new Map(inRange(self));
        for (const [id, block] of theirs) if (newer(block, mine.get(id))) await self.write(0, id, block.version, block.data);
        const theirIds = new Map(theirs);
        for (const [id, block] of mine) {
          if (!newer(block, theirIds.get(id))) continue;
          await this.host.network.call(process.name, peer, `catch-up push ${id}`, () => new SimReplica(this.host.process(peer).disk).write(id, block.version, block.data));
        }
        if (!running()) return 0;
      }
      const records = inRange(self);
      for (const [id, block] of records) {
        await this.host.network.call(process.name, transfer.to, `transfer ${id}`, () => new SimReplica(this.host.process(transfer.to).disk).write(id, block.version, block.data));
        if (!running()) return 0;
      }
      return records.length;
    };
    run().then(
      (blocks) => {
        if (!running()) return;
        process.running.delete(transferId);
        this.step(process, { type: 'transferDone', transferId, bytesMoved: blocks * 4096, blocksMoved: blocks });
      },
      (error: unknown) => {
        if (!running()) return;
        process.running.delete(transferId);
        this.step(process, { type: 'transferFailed', transferId, error: error instanceof Error ? error.message : String(error) });
      },
    );
  }
}

function newer(candidate: StoredBlock, than: StoredBlock | undefined): boolean {
  return than === undefined || compareVersions(candidate.version, than.version) > 0;
}
