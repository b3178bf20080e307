// Seeded simulation: several node FSMs share a tiny in-memory model of the ZooKeeper znodes, and
// a random scheduler interleaves watch deliveries, transfer outcomes, ticks, node deaths and joins.
// Checked throughout: one migration's transfers at a time, the prepare barrier before any transfer,
// commits only after every participant is done and one epoch at a time, ring epochs only growing on
// every node. Checked at the end, after a quiet period: every live node on the same, final ring.
// A failure names its seed; replay it with SIM_SEED=<seed>.
import t from 'tap';
import type { RingNodeInfo } from '@ringblock/coord';
import { loadHasher, Ring } from '@ringblock/ring';
import { MigrationCoordinatorFsm, migrationKey, type MigrationAction, type MigrationEvent, type MigrationRecord } from '../src/migration/index.js';
import { nodes, pick, seededRandom } from './migration-fixtures.js';

const hasher = await loadHasher();
/** SIM_SEED=<n> replays one seed; SIM_SEEDS=<count> runs more of them. */
const SEEDS = process.env['SIM_SEED'] ? [Number(process.env['SIM_SEED'])] : Array.from({ length: Number(process.env['SIM_SEEDS'] ?? 40) }, (_, index) => index + 1);
const RANDOM_STEPS = 600;
const QUIET_ROUNDS_MAX = 400;
const NODES_INITIAL = 4;
const NODES_LIVE_MIN = 3;
const JOINS_MAX = 3;
const TRANSFER_FAILURE_RATE = 0.15;
const TICK_MS_MAX = 400;
const LIMITS = {
  prepareTimeoutMs: 5_000,
  proposeTimeoutMs: 3_000,
  retryIntervalMs: 1_000,
  abortBackoffMs: 500,
  transferStallTimeoutMs: 8_000,
  transferRetryDelayMs: 200,
  transferAttemptsMax: 3,
  transfersInFlightMax: 3,
};

const buildRing = (members: readonly RingNodeInfo[]): Ring => new Ring({ nodes: members, vnodes: 8, replicationFactor: 3, hasher });

interface ZkMigration {
  readonly record: MigrationRecord;
  readonly key: string;
  readonly prepared: Set<string>;
  readonly done: Set<string>;
  /** Nodes live when the record was created: each may have been coordinating writes already. */
  readonly liveAtCreation: readonly string[];
}

interface SimNode {
  readonly name: string;
  readonly fsm: MigrationCoordinatorFsm;
  alive: boolean;
  readonly inbox: MigrationEvent[];
  /** Key of the migration this node routes writes to both rings for. */
  dualWrites: string | undefined;
  /** Running attempts: transfer id → migration key and receiver. */
  readonly running: Map<string, { readonly migration: string; readonly to: string }>;
  lastEpoch: number;
}

class Simulation {
  nowMs = 1_000;
  ring: { epoch: number; version: number; nodes: RingNodeInfo[] };
  migration: ZkMigration | null = null;
  readonly nodes = new Map<string, SimNode>();
  readonly violations: string[] = [];
  commits = 0;
  /** Aborts that removed a migration, by reason. */
  readonly aborts = new Map<string, number>();

  constructor(initial: readonly string[]) {
    this.ring = { epoch: 1, version: 0, nodes: nodes(...initial) };
    for (const name of initial) this.join(name);
  }

  live(): SimNode[] {
    return [...this.nodes.values()].filter((node) => node.alive);
  }

  join(name: string): void {
    const node: SimNode = {
      name,
      fsm: new MigrationCoordinatorFsm({ self: name, buildRing, nowMs: this.nowMs, staleGraceMs: 60_000, limits: LIMITS }),
      alive: true,
      inbox: [],
      dualWrites: undefined,
      running: new Map(),
      lastEpoch: 0,
    };
    this.nodes.set(name, node);
    node.inbox.push(this.ringEvent(), this.migrationEvent());
    this.membersChanged();
  }

  kill(node: SimNode): void {
    node.alive = false;
    node.inbox.length = 0;
    node.running.clear();
    this.membersChanged();
  }

  /** Watch deliveries: each live node gets what changed, in ZooKeeper order. */
  private membersChanged(): void {
    const live = this.live().map((node) => node.name);
    for (const node of this.live()) node.inbox.push({ type: 'members', live }, this.targetEvent());
  }

  private migrationChanged(): void {
    for (const node of this.live()) node.inbox.push(this.migrationEvent());
  }

  /** The ring first, then the migration znode (protocol.ts's ordering contract), then the new target. */
  private ringChanged(): void {
    for (const node of this.live()) node.inbox.push(this.ringEvent(), this.migrationEvent(), this.targetEvent());
  }

  private ringEvent(): MigrationEvent {
    return { type: 'ringCommitted', ...this.ring };
  }

  private migrationEvent(): MigrationEvent {
    const migration = this.migration;
    return migration === null
      ? { type: 'migrationSeen', record: null, prepared: [], done: [] }
      : { type: 'migrationSeen', record: migration.record, prepared: [...migration.prepared], done: [...migration.done] };
  }

  /** The ring policy, simplified: every live node and nothing else (no down grace). */
  private targetEvent(): MigrationEvent {
    const live = this.live().map((node) => node.name).sort();
    const same = live.join() === this.ring.nodes.map((node) => node.name).join();
    return { type: 'target', nodes: same ? null : nodes(...live) };
  }

  step(node: SimNode, event: MigrationEvent): void {
    if (!node.alive) return;
    for (const action of node.fsm.step(event)) this.perform(node, action);
    this.checkOneMigrationTransferring();
  }

  deliver(node: SimNode): void {
    const event = node.inbox.shift();
    if (event !== undefined) this.step(node, event);
  }

  tick(node: SimNode): void {
    this.step(node, { type: 'tick', now: this.nowMs });
  }

  /** Ends one running attempt of `node`: failed when the receiver is gone or by chance. */
  finishTransfer(node: SimNode, transferId: string, failureRate: number, random: () => number): void {
    const attempt = node.running.get(transferId)!;
    node.running.delete(transferId);
    const receiverAlive = this.nodes.get(attempt.to)?.alive === true;
    node.inbox.push(
      receiverAlive && random() >= failureRate
        ? { type: 'transferDone', transferId, bytesMoved: 4096, blocksMoved: 1 }
        : { type: 'transferFailed', transferId, error: 'simulated' },
    );
  }

  private perform(node: SimNode, action: MigrationAction): void {
    const migration = this.migration;
    const matches = 'migration' in action && migration !== null && migration.key === action.migration;
    switch (action.type) {
      case 'createMigration': {
        if (this.ring.version !== action.expectedRingVersion) return void node.inbox.push({ type: 'proposeFailed', reason: 'error' });
        if (migration !== null) return void node.inbox.push({ type: 'proposeFailed', reason: 'exists' });
        const { record } = action;
        const liveAtCreation = this.live().map((live) => live.name);
        this.migration = { record, key: migrationKey(record), prepared: new Set(), done: new Set(), liveAtCreation };
        return this.migrationChanged();
      }
      case 'enableDualWrites':
        node.dualWrites = action.migration;
        return void node.inbox.push({ type: 'dualWritesEnabled', migration: action.migration });
      case 'disableDualWrites':
        if (node.dualWrites === action.migration) node.dualWrites = undefined;
        return;
      case 'markPrepared':
      case 'markDone':
        if (!matches) return;
        (action.type === 'markPrepared' ? migration.prepared : migration.done).add(action.node);
        return this.migrationChanged();
      case 'startTransfer':
        if (matches) this.checkBarrier(migration, node);
        node.running.set(action.transferId, { migration: action.migration, to: action.transfer.to });
        return;
      case 'cancelTransfer':
        node.running.delete(action.transferId);
        return;
      case 'stopTransfers':
        for (const [id, attempt] of node.running) if (attempt.migration === action.migration) node.running.delete(id);
        return;
      case 'commit': {
        if (!matches || this.ring.version !== action.expectedRingVersion) return; // BAD_VERSION / NO_NODE
        const notDone = migration.record.participants.filter((name) => !migration.done.has(name));
        this.check(notDone.length === 0, `commit of ${migration.key} before ${notDone.join(',')} marked done`);
        this.check(action.epoch === this.ring.epoch + 1, `commit of epoch ${action.epoch} on ring ${this.ring.epoch}`);
        this.ring = { epoch: action.epoch, version: this.ring.version + 1, nodes: [...action.nodes] };
        this.migration = null;
        this.commits++;
        return this.ringChanged();
      }
      case 'abortMigration':
        if (!matches) return;
        this.migration = null;
        this.aborts.set(action.reason, (this.aborts.get(action.reason) ?? 0) + 1);
        return this.migrationChanged();
      case 'switchRing':
        this.check(action.epoch > node.lastEpoch, `${node.name} switched from epoch ${node.lastEpoch} to ${action.epoch}`);
        node.lastEpoch = action.epoch;
        return;
      case 'scheduleRelease':
        return;
    }
  }

  /**
   * The prepare barrier: a transfer starts only while every live node that may have coordinated
   * writes before seeing the migration (a participant, or live when it was created) writes to both
   * rings. Later joiners read the migration before their first write.
   */
  private checkBarrier(migration: ZkMigration, sender: SimNode): void {
    for (const name of new Set([...migration.record.participants, ...migration.liveAtCreation])) {
      const participant = this.nodes.get(name)!;
      if (participant.alive) this.check(participant.dualWrites === migration.key, `${sender.name} started a transfer of ${migration.key} while ${name} did not dual-write`);
    }
  }

  private checkOneMigrationTransferring(): void {
    const keys = new Set(this.live().flatMap((node) => [...node.running.values()].map((attempt) => attempt.migration)));
    this.check(keys.size <= 1, `transfers of several migrations at once: ${[...keys].join(' ')}`);
  }

  private check(condition: boolean, violation: string): void {
    if (!condition) this.violations.push(`t=${this.nowMs}: ${violation}`);
  }

  /** Where things stand, for a failure message. */
  describe(): Record<string, unknown> {
    return {
      ring: `${this.ring.epoch} v${this.ring.version} ${this.ring.nodes.map((node) => node.name).join(',')}`,
      migration: this.migration === null ? null : { key: this.migration.key, prepared: [...this.migration.prepared], done: [...this.migration.done] },
      nodes: [...this.nodes.values()].map((node) => `${node.name} ${node.alive ? 'live' : 'dead'} ${node.fsm.phase} e${node.fsm.state.ringEpoch} inbox ${node.inbox.length} running ${node.running.size}`),
    };
  }

  /** Nothing left to deliver or run, no migration, and every live node idle on the current ring. */
  settled(): boolean {
    const liveNames = this.live().map((node) => node.name).sort().join();
    return (
      this.migration === null &&
      this.ring.nodes.map((node) => node.name).join() === liveNames &&
      this.live().every((node) => node.inbox.length === 0 && node.running.size === 0 && node.fsm.phase === 'idle' && node.fsm.state.ringEpoch === this.ring.epoch)
    );
  }
}

/** Random interleavings with deaths, joins and transfer failures. */
function runChaos(sim: Simulation, random: () => number): void {
  let joins = 0;
  for (let step = 0; step < RANDOM_STEPS; step++) {
    const live = sim.live();
    const roll = random();
    if (roll < 0.02 && live.length > NODES_LIVE_MIN) {
      sim.kill(pick(random, live));
    } else if (roll < 0.04 && joins < JOINS_MAX) {
      sim.join(`j${++joins}`);
    } else if (roll < 0.2) {
      sim.nowMs += Math.floor(random() * TICK_MS_MAX);
      sim.tick(pick(random, live));
    } else if (roll < 0.35) {
      const busy = live.filter((node) => node.running.size > 0);
      if (busy.length > 0) {
        const node = pick(random, busy);
        sim.finishTransfer(node, pick(random, [...node.running.keys()]), TRANSFER_FAILURE_RATE, random);
      }
    } else {
      const waiting = live.filter((node) => node.inbox.length > 0);
      if (waiting.length > 0) sim.deliver(pick(random, waiting));
    }
  }
}

/** No more faults: deliver everything, finish every transfer, let time pass, until settled. */
function runQuiet(sim: Simulation, random: () => number): boolean {
  for (let round = 0; round < QUIET_ROUNDS_MAX; round++) {
    if (sim.settled()) return true;
    for (const node of sim.live()) {
      for (const transferId of [...node.running.keys()]) sim.finishTransfer(node, transferId, 0, random);
      while (node.inbox.length > 0) sim.deliver(node);
    }
    sim.nowMs += 500;
    for (const node of sim.live()) sim.tick(node);
  }
  return sim.settled();
}

t.test('random interleavings keep the migration invariants and converge', async (t) => {
  let commitsTotal = 0;
  const abortsTotal = new Map<string, number>();
  for (const seed of SEEDS) {
    const random = seededRandom(seed);
    const sim = new Simulation(Array.from({ length: NODES_INITIAL }, (_, index) => `n${index + 1}`));
    runChaos(sim, random);
    const settled = runQuiet(sim, random);
    t.same(sim.violations, [], `seed ${seed}: no invariant broken`);
    t.ok(settled, `seed ${seed}: settled on ring epoch ${sim.ring.epoch} (${sim.ring.nodes.map((node) => node.name).join(',')})`, sim.describe());
    const epochs = new Set(sim.live().map((node) => node.fsm.state.ringEpoch));
    t.same([...epochs], [sim.ring.epoch], `seed ${seed}: every live node on the same epoch`);
    t.equal(sim.ring.epoch, 1 + sim.commits, `seed ${seed}: one epoch per commit`);
    commitsTotal += sim.commits;
    for (const [reason, count] of sim.aborts) abortsTotal.set(reason, (abortsTotal.get(reason) ?? 0) + count);
  }
  const aborted = [...abortsTotal].map(([reason, count]) => `${reason} ${count}`).join(', ');
  t.ok(commitsTotal > SEEDS.length, `migrations committed: ${commitsTotal}; aborted: ${aborted}`);
});
