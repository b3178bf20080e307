// `runChaos`: starts real ZooKeeper and N peers, runs the workload under the nemesis for the
// duration, heals the cluster, reads every key through every node at `all`, and checks the history.
// With partitions among the faults (and a machine that allows network namespaces), every peer runs in
// its own namespace on a per-run bridge (./netns.ts). Every process it starts is stopped, and every
// namespace and link it creates removed, on every path out: success, error, or SIGINT/SIGTERM (and,
// as a last resort, when this process exits; a later run removes what a SIGKILLed one left).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { LocalCluster } from '../local-cluster.js';
import { checkHistory } from './checker.js';
import { LocalControl, type Route } from './control.js';
import { FAULT_KINDS, History, type FaultKind } from './history.js';
import { Nemesis, type NemesisFault } from './nemesis.js';
import { NetworkUnavailable, PeerNetwork } from './netns.js';
import { Random } from './random.js';
import { exitCode, summarize, type ChaosSummary } from './summary.js';
import { CLIENTS_MAX, keyName, runOperation, Workload, type Target } from './workload.js';

export interface ChaosOptions {
  seed: number;
  /** How long the workload runs under faults (healing and checking come after). */
  durationMs: number;
  /** Peers at the start (at least 3, so one down is a minority). */
  nodes: number;
  clients: number;
  keys?: number;
  /** A run directory is created inside (cluster data, node logs, history, summary). */
  dataDir: string;
  /** Default: history.jsonl in the run directory. */
  historyFile?: string;
  faults?: readonly FaultKind[];
  /** Keep the nodes' devices and ZooKeeper data of a passing run (a failing run always keeps them). */
  keepData?: boolean;
  log?: (line: string) => void;
  /** Which nodes clients send to (default `ready`, see ./control.ts). */
  route?: Route;
  /** Stops the run early, like SIGINT. */
  signal?: AbortSignal;
}

export const NODES_MIN = 3;
export const NODES_MAX = 16;
export const DURATION_MS_MIN = 5_000;
export const DURATION_MS_MAX = 24 * 3_600_000;
const KEYS_DEFAULT = 48;
/** The nodes' ZooKeeper session timeout: short, so pauses beyond it stay short too. */
const SESSION_TIMEOUT_MS = 3_000;
/** Longer than any kill or pause, so those never remove a node from the ring. */
const NODE_ENV = { RINGBLOCK_SESSION_TIMEOUT: `${SESSION_TIMEOUT_MS}ms`, RINGBLOCK_DOWN_GRACE: '30s', RINGBLOCK_STALE_GRACE: '10s', RINGBLOCK_LOG_LEVEL: 'info' };
const DEVICE_SIZE = '64M';
/** Nodes the ring may grow to beyond its start size through scale-up. */
const EXTRA_NODES_MAX = 2;
const OPERATIONS_MAX = 500_000;
const FINAL_READ_ATTEMPTS = 3;
/** After this many keys in a row that a node could not read, it is not asked again (the rest count as unread). */
const FINAL_READ_NODE_FAILURES_MAX = 3;
const FINAL_READ_RETRY_MS = 1_000;
const FINAL_READ_TIMEOUT_MS = 10_000;
/** Bound on all final reads together; a sick node must not hold the run for hours. */
const FINAL_READS_BUDGET_MS = 180_000;

export async function runChaos(options: ChaosOptions): Promise<ChaosSummary> {
  validate(options);
  const log = options.log ?? (() => undefined);
  const keys = options.keys ?? KEYS_DEFAULT;
  const requested = options.faults ?? FAULT_KINDS;
  await mkdir(resolve(options.dataDir), { recursive: true });
  const runDir = await mkdtemp(join(resolve(options.dataDir), `chaos-seed${options.seed}-`));
  const history = new History(OPERATIONS_MAX, options.historyFile ?? join(runDir, 'history.jsonl'));
  const stop = interruptions(options.signal);
  let cluster: LocalCluster | undefined;
  let network: PeerNetwork | undefined;
  const cleanUpOnExit = () => {
    cluster?.nodes.forEach((node) => node.signal('SIGKILL'));
    network?.closeSync();
  };
  process.once('exit', cleanUpOnExit);
  const problems: string[] = [];
  const skipped: ChaosSummary['skipped'] = [];
  let replicationFactor = 3;
  try {
    if (requested.includes('partition')) {
      const opened = await openNetwork(log);
      if (typeof opened === 'string') skipped.push({ kind: 'partition', reason: opened });
      else network = opened;
    }
    for (const skip of skipped) log(`skipping ${skip.kind}: ${skip.reason}`);
    const faults = requested.filter((kind) => !skipped.some((skip) => skip.kind === kind));
    log(`starting ZooKeeper and ${options.nodes} nodes in ${runDir}`);
    cluster = await LocalCluster.start({ nodes: options.nodes, basePort: 0, dataDir: join(runDir, 'cluster'), env: NODE_ENV, deviceSize: DEVICE_SIZE, ...(network ? { network } : {}) });
    replicationFactor = await readReplicationFactor(cluster.nodes[0]!.spec.url);
    history.header({ seed: options.seed, nodes: options.nodes, clients: options.clients, keys, replicationFactor, durationMs: options.durationMs, startedAt: new Date().toISOString() });
    const control = new LocalControl(cluster, { route: options.route ?? 'ready', signal: stop.signal, ...(network ? { network } : {}) });
    problems.push(...(await exercise({ ...options, keys, faults, replicationFactor, log }, control, history, stop.signal)));
    problems.push(...(await healAndRead(control, history, keys, log, stop.signal)));
  } finally {
    stop.dispose();
    await history.close();
    await cluster?.stop();
    await network?.close();
    process.off('exit', cleanUpOnExit);
  }
  const check = checkHistory(history.operations, { replicationFactor });
  const summary = summarize({
    run: { seed: options.seed, durationMs: options.durationMs, nodes: options.nodes, clients: options.clients, keys, replicationFactor, historyFile: history.file, interrupted: stop.signal.aborted, truncated: history.truncated, skipped, problems },
    operations: history.operations,
    faults: history.faults,
    check,
  });
  await writeFile(join(runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  if (exitCode(summary) === 0 && !options.keepData) await rm(join(runDir, 'cluster'), { recursive: true, force: true });
  return summary;
}

/** An abort signal raised by SIGINT, SIGTERM or the caller's signal; `dispose` removes the handlers. */
function interruptions(external: AbortSignal | undefined): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  external?.addEventListener('abort', abort);
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
      external?.removeEventListener('abort', abort);
    },
  };
}

type ExerciseOptions = ChaosOptions & { keys: number; faults: NemesisFault[]; replicationFactor: number; log: (line: string) => void };

/** The workload for the duration, the nemesis alongside; returns what the nemesis could not do. */
async function exercise(options: ExerciseOptions, control: LocalControl, history: History, signal: AbortSignal): Promise<string[]> {
  const random = new Random(options.seed);
  const workload = new Workload({ history, random: random.fork(1), clients: options.clients, keys: options.keys, targets: () => control.targets() });
  const membersMin = Math.max(options.nodes, options.replicationFactor, NODES_MIN);
  const nemesis = new Nemesis({ control, history, random: random.fork(2), faults: options.faults, sessionTimeoutMs: SESSION_TIMEOUT_MS, membersMin, membersMax: options.nodes + EXTRA_NODES_MAX, signal, log: options.log });
  options.log(`workload: ${options.clients} clients over ${options.keys} keys for ${options.durationMs / 1000}s; faults: ${options.faults.join(', ') || 'none'}`);
  control.startProbing();
  history.startClock();
  workload.start();
  try {
    await nemesis.run(options.durationMs);
    await delay(Math.max(0, options.durationMs - history.now()), undefined, { signal }).catch(() => undefined);
  } finally {
    await workload.stop();
    control.stopProbing();
  }
  return nemesis.problems;
}

/** Undoes every fault, then reads every key through every node; returns what could not be done. */
async function healAndRead(control: LocalControl, history: History, keys: number, log: (line: string) => void, signal: AbortSignal): Promise<string[]> {
  const problems: string[] = [];
  if (signal.aborted) return problems;
  log('healing: every node running and resumed, ZooKeeper up, ring settled');
  await control.healAll().catch((error: unknown) => problems.push(`healing: ${error instanceof Error ? error.message : String(error)}`));
  if (signal.aborted) return problems;
  log('final reads: every key at consistency all through every node');
  const unread = await finalReads(history, control.liveMembers(), keys, signal);
  if (unread > 0) problems.push(`final reads: ${unread} (key, node) pairs were not read (a node failed ${FINAL_READ_NODE_FAILURES_MAX} keys in a row, the run was stopped, or time ran out)`);
  return problems;
}

function validate(options: ChaosOptions): void {
  const integer = (name: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be a whole number in ${min}..${max}, got ${value}`);
  };
  integer('seed', options.seed, 0, 2 ** 32 - 1);
  integer('durationMs', options.durationMs, DURATION_MS_MIN, DURATION_MS_MAX);
  integer('nodes', options.nodes, NODES_MIN, NODES_MAX);
  integer('clients', options.clients, 1, CLIENTS_MAX);
  for (const kind of options.faults ?? []) if (!FAULT_KINDS.includes(kind)) throw new RangeError(`unknown fault kind "${kind}" (known: ${FAULT_KINDS.join(', ')})`);
}

/** The per-run network for partitions, or why this machine cannot have one (partitions are then skipped). */
async function openNetwork(log: (line: string) => void): Promise<PeerNetwork | string> {
  try {
    const network = await PeerNetwork.open(log);
    log(`peers in network namespaces ${network.plan.bridge}-<name> on ${network.plan.cidr} (bridge ${network.plan.bridge}, ZooKeeper on ${network.zooKeeperHost})`);
    return network;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return `this machine cannot give each peer its own network namespace, so a link between two peers cannot be cut (${error instanceof NetworkUnavailable ? reason : `creating the network failed: ${reason}`})`;
  }
}

async function readReplicationFactor(url: string): Promise<number> {
  const response = await fetch(`${url}/cluster`, { signal: AbortSignal.timeout(5_000) });
  const body = (await response.json()) as { replicationFactor?: unknown };
  if (typeof body.replicationFactor !== 'number') throw new Error(`${url}/cluster did not name the replication factor`);
  return body.replicationFactor;
}

/**
 * Reads every key at `all` through every node (nodes in parallel), retrying a failed read a few times;
 * bounded in time. Returns how many (key, node) pairs were left unread.
 */
async function finalReads(history: History, nodes: readonly Target[], keys: number, signal: AbortSignal): Promise<number> {
  const deadline = Date.now() + FINAL_READS_BUDGET_MS;
  const failuresInRow = new Map<string, number>();
  const readOne = async (key: string, target: Target): Promise<boolean> => {
    if ((failuresInRow.get(target.name) ?? 0) >= FINAL_READ_NODE_FAILURES_MAX) return false;
    for (let attempt = 1; attempt <= FINAL_READ_ATTEMPTS && !signal.aborted && Date.now() < deadline; attempt++) {
      const read = await runOperation(history, { phase: 'final', client: -1, kind: 'get', key, level: 'all', target, timeoutMs: FINAL_READ_TIMEOUT_MS });
      if (read.status === 200 || read.status === 404) {
        failuresInRow.set(target.name, 0);
        return true;
      }
      if (attempt < FINAL_READ_ATTEMPTS) await delay(FINAL_READ_RETRY_MS, undefined, { signal }).catch(() => undefined);
    }
    failuresInRow.set(target.name, (failuresInRow.get(target.name) ?? 0) + 1);
    // Every attempt failed: recorded, and the checker reports the key unverified. Cut short: unread.
    return !signal.aborted && Date.now() < deadline;
  };
  let unread = 0;
  for (let index = 0; index < keys; index++) {
    const done = await Promise.all(nodes.map((target) => readOne(keyName(index), target)));
    unread += done.filter((read) => !read).length;
  }
  return unread;
}
