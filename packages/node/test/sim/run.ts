// One seeded run: a cluster (cluster.ts), clients issuing PUT/GET/DELETE at one/quorum/all through
// random nodes, a nemesis crashing and restarting nodes, partitioning the network (both ways and one
// way) and cutting nodes off ZooKeeper; then everything heals, hints replay, final quorum reads run
// and the history is checked (history.ts). Every parameter of the run is drawn from its seed.
import { Ring, type Hasher } from '@ringblock/ring';
import { CONSISTENCY_LEVELS, type Consistency } from '../../src/consistency.js';
import { HttpError } from '../../src/http/errors.js';
import { ReplicaError } from '../../src/store.js';
import { SimCluster, SIM_START_MS, type SimNode } from './cluster.js';
import { blockData, checkAtCommit, checkHistory, describeOp, type Op, type OpKind } from './history.js';
import { SimRandom } from './random.js';

/** Deliberately broken variants: the checker must catch them (its self-test). */
export type Breakage = 'none' | 'weak-writes' | 'ack-before-durable';

export interface RunOptions {
  hasher: Hasher;
  breakage?: Breakage;
  /** Receives the event trace and the history (replay of one seed). */
  trace?: (line: string) => void;
  /** False: never change the ring (default: some runs do). */
  ringChanges?: boolean;
  /** How an added owner gets its blocks in a ring change (default `catch-up`, see ClusterOptions). */
  transferSources?: 'one' | 'catch-up';
}

export interface RunResult {
  seed: number;
  violations: string[];
  ops: Op[];
  faults: string[];
  events: number;
  messages: number;
  summary: string;
}

const REPLICATION_FACTOR = 3;
const WORKLOAD_MS = 4_000;
const SETTLE_MS = 4_000;
/** A client gives up on an answer after this long: the operation's outcome is unknown. */
const CLIENT_TIMEOUT_MS = 3_000;

export async function runSeed(seed: number, options: RunOptions): Promise<RunResult> {
  const breakage = options.breakage ?? 'none';
  // Parameters come from their own stream, so changing the workload does not change the shape.
  const shape = new SimRandom(seed ^ 0x5eed);
  const nodeCount = shape.int(3, 5);
  const names = Array.from({ length: nodeCount }, (_, index) => `n${index + 1}`);
  // A ring change in some runs of 4 or more nodes: the last node joins, or leaves (decommission).
  const change = nodeCount >= 4 && options.ringChanges !== false ? shape.pick(['none', 'join', 'leave'] as const) : 'none';
  const migrateAtMs = shape.int(100, WORKLOAD_MS - 1_000);
  const initial = change === 'join' ? names.slice(0, -1) : names;
  const target = change === 'leave' ? names.slice(0, -1) : names;
  const ringOf = (members: readonly string[]) => new Ring({ nodes: members.map((name) => ({ name, addr: `${name}:3000` })), vnodes: 8, replicationFactor: REPLICATION_FACTOR, hasher: options.hasher });
  const latencyMsMax = shape.int(1, 20);
  const cluster = new SimCluster(seed, {
    nodes: nodeCount,
    ring: ringOf(initial),
    buildRing: (members) => new Ring({ nodes: members, vnodes: 8, replicationFactor: REPLICATION_FACTOR, hasher: options.hasher }),
    network: { lossRate: shape.pick([0, 0.01, 0.05, 0.15]), latencyMsMin: 0, latencyMsMax, timeoutMs: shape.int(50, 300) },
    disk: { syncMsMin: 0, syncMsMax: breakage === 'ack-before-durable' ? 200 : shape.int(1, 10), readMsMax: 2, ackBeforeDurable: breakage === 'ack-before-durable' },
    clockSkewMsMax: shape.pick([0, 5, 50, 500]),
    sessionTimeoutMs: shape.int(100, 1_000),
    watchDelayMsMax: shape.int(1, 100),
    restartMs: shape.int(10, 500),
    hintReplayIntervalMs: shape.int(100, 500),
    readRepairChance: shape.pick([0, 0.5]),
    transferSources: options.transferSources ?? 'catch-up',
  });
  const keys = Array.from({ length: shape.int(2, 6) }, (_, index) => `block-${index}`);
  const clients = shape.int(2, 4);
  const faultRate = shape.pick([0, 1, 2, 4]);
  const maxDown = nodeCount - 2 >= 1 ? shape.int(1, nodeCount - 2) : 1;
  const scheduler = cluster.scheduler;
  const random = cluster.random;
  if (options.trace) {
    scheduler.trace = options.trace;
    options.trace(`seed ${seed}: ${nodeCount} nodes, ring change ${change}${change === 'none' ? '' : ` at ${migrateAtMs} ms`}, RF ${REPLICATION_FACTOR}, ${keys.length} keys, ${clients} clients, faults ${faultRate}/s, ${JSON.stringify(cluster.options.network)}, skew ±${cluster.options.clockSkewMsMax} ms, breakage ${breakage}`);
  }

  const ops: Op[] = [];
  const commitViolations: string[] = [];
  cluster.commitChecks.push((epoch, ring) => commitViolations.push(...checkAtCommit(ops, cluster, epoch, ring, REPLICATION_FACTOR)));
  let seq = 0;
  const now = () => scheduler.nowMs() - SIM_START_MS;
  const sleep = (ms: number, label: string) => new Promise<void>((resolve) => scheduler.after(ms, label, resolve));

  const perform = async (client: number, kind: OpKind, key: string, level: Consistency, node: SimNode): Promise<void> => {
    const op: Op = { index: ops.length, client, kind, key, level, node: node.name, startSeq: seq++, startMs: now(), endSeq: -1, endMs: -1, status: 'pending' };
    ops.push(op);
    if (kind === 'put') op.data = blockData(key, op.index);
    // The broken coordinator acknowledges "quorum" and "all" writes after one replica.
    const asked: Consistency = breakage === 'weak-writes' && kind !== 'get' ? 'one' : level;
    const coordinator = node.coordinator;
    const call: Promise<unknown> = kind === 'get' ? coordinator.read(key, asked) : coordinator.write(key, kind === 'put' ? op.data : undefined, asked);
    options.trace?.(`${String(scheduler.nowMs()).padStart(7)} client ${describeOp(op)}`);
    const answer = await new Promise<{ value?: unknown; error?: unknown; timedOut?: true }>((resolve) => {
      const timer = scheduler.after(CLIENT_TIMEOUT_MS, `client ${client} gives up on #${op.index}`, () => resolve({ timedOut: true }));
      call.then(
        (value) => {
          timer.cancel();
          resolve({ value });
        },
        (error: unknown) => {
          timer.cancel();
          resolve({ error });
        },
      );
    });
    op.endSeq = seq++;
    op.endMs = now();
    if (answer.timedOut) op.status = 'unknown';
    else if (answer.error !== undefined) {
      op.status = 'failed';
      op.error = answer.error instanceof HttpError || answer.error instanceof ReplicaError ? answer.error.message : String(answer.error);
      if (!(answer.error instanceof HttpError)) throw answer.error; // anything but a clean refusal is a bug in the code under test
    } else {
      op.status = 'ok';
      if (kind === 'get') op.result = answer.value as Op['result'];
      else op.version = answer.value as Buffer;
    }
    options.trace?.(`${String(scheduler.nowMs()).padStart(7)} client ${describeOp(op)}`);
  };

  const client = async (index: number): Promise<void> => {
    while (now() < WORKLOAD_MS) {
      await sleep(random.int(0, 40), `client ${index} thinks`);
      const node = random.pick(cluster.nodes);
      if (!node.up) continue; // connection refused: nothing happened
      const draw = random.next();
      const kind: OpKind = draw < 0.45 ? 'put' : draw < 0.85 ? 'get' : 'delete';
      const level = random.chance(0.6) ? 'quorum' : random.pick(CONSISTENCY_LEVELS);
      await perform(index, kind, random.pick(keys), level, node);
    }
  };

  const nemesis = async (): Promise<void> => {
    if (faultRate === 0) return;
    while (now() < WORKLOAD_MS) {
      await sleep(random.int(1, Math.floor(2_000 / faultRate)), 'nemesis waits');
      if (now() >= WORKLOAD_MS) return; // the heal has begun
      const up = cluster.nodes.filter((node) => node.up);
      const down = cluster.nodes.filter((node) => !node.up);
      const action = random.int(0, 6);
      if (action <= 1 && down.length < maxDown) cluster.crash(random.pick(up));
      else if (action === 2 && down.length > 0) cluster.restart(random.pick(down));
      else if (action === 3) {
        const [sideA, sideB] = split(random, names);
        cluster.faults.push(`${now()} partition [${sideA.join(',')}] | [${sideB.join(',')}]`);
        cluster.network.partition(sideA, sideB);
      } else if (action === 4) {
        const [from, to] = random.shuffled(names);
        cluster.faults.push(`${now()} cut ${from}->${to}`);
        cluster.network.cutOneWay(from!, to!);
      } else if (action === 5) {
        cluster.faults.push(`${now()} heal network`);
        cluster.network.heal();
      } else if (up.length > 0) {
        const node = random.pick(up);
        cluster.setZkConnected(node, false);
        const incarnation = node.incarnation;
        scheduler.after(random.int(50, 1_000), `zk reconnects ${node.name}`, () => {
          if (node.incarnation === incarnation) cluster.setZkConnected(node, true);
        });
      }
    }
  };

  if (change !== 'none') scheduler.after(migrateAtMs, `ring change: ${change} ${names.at(-1)}`, () => cluster.migrate(ringOf(target)));
  const workload = Promise.all([...Array.from({ length: clients }, (_, index) => client(index)), nemesis()]);
  let failure: unknown;
  workload.catch((error: unknown) => (failure = error));
  await scheduler.runUntil(SIM_START_MS + WORKLOAD_MS);
  // Heal: every node up and connected, no partition, no loss; then hints replay and repairs settle.
  cluster.faults.push(`${now()} heal everything`);
  cluster.network.heal();
  cluster.network.options.lossRate = 0;
  for (const node of cluster.nodes) {
    if (!node.up) cluster.restart(node);
    else if (!node.zkConnected) cluster.setZkConnected(node, true);
  }
  await scheduler.runUntil(SIM_START_MS + WORKLOAD_MS + SETTLE_MS / 2);
  // After a ring change the real nodes run an anti-entropy round (modelled: cluster.repairRound).
  if (cluster.committed.epoch > 1) {
    const repaired = cluster.repairRound(keys).catch((error: unknown) => (failure = error));
    await scheduler.runUntil(SIM_START_MS + WORKLOAD_MS + SETTLE_MS);
    await repaired;
  } else await scheduler.runUntil(SIM_START_MS + WORKLOAD_MS + SETTLE_MS);
  // Final quorum reads through the real coordinator, checked like every other read.
  const finalReads = Promise.all(keys.map((key, index) => perform(clients, 'get', key, 'quorum', cluster.nodes[index % nodeCount]!))).catch((error: unknown) => (failure = error));
  await scheduler.runUntil(SIM_START_MS + WORKLOAD_MS + SETTLE_MS + CLIENT_TIMEOUT_MS + 1);
  await finalReads;

  const violations = [...commitViolations, ...checkHistory(ops, cluster, REPLICATION_FACTOR)];
  if (failure !== undefined) violations.unshift(`unexpected error: ${failure instanceof Error ? (failure.stack ?? failure.message) : String(failure)}`);
  const pendingOps = ops.filter((op) => op.status === 'pending');
  if (pendingOps.length > 0) violations.push(`operations never answered: ${pendingOps.map(describeOp).join('; ')}`);
  const count = (status: Op['status']) => ops.filter((op) => op.status === status).length;
  if (change !== 'none' && cluster.committed.epoch === 1) violations.push(`the ring change (${change}) never committed: ${cluster.migrationLog.join('; ')}`);
  const summary = `seed ${seed}: ${nodeCount} nodes, ${change === 'none' ? 'no ring change' : `${change} committed at ${cluster.migrationLog.at(-1)?.split(' ')[0] ?? '?'} ms`}, ${ops.length} ops (${count('ok')} ok, ${count('failed')} failed, ${count('unknown')} unknown), ${cluster.faults.length} faults, ${cluster.network.messagesSent} messages (${cluster.network.messagesLost} lost), ${scheduler.eventsRun} events`;
  return { seed, violations, ops, faults: [...cluster.faults, ...cluster.migrationLog], events: scheduler.eventsRun, messages: cluster.network.messagesSent, summary };
}

/** Two non-empty sides. */
function split(random: SimRandom, names: readonly string[]): [string[], string[]] {
  const shuffled = random.shuffled(names);
  const cut = random.int(1, shuffled.length - 1);
  return [shuffled.slice(0, cut), shuffled.slice(cut)];
}
