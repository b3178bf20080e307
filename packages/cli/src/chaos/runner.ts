// `runChaos`: starts real ZooKeeper and N peers, runs the workload under the nemesis for the
// duration, heals the cluster, reads every key through every node at `all`, and checks the history.
// Every process it starts is stopped on every path out: success, error, or SIGINT/SIGTERM (and, as a
// last resort, SIGKILLed when this process exits).
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { LocalCluster } from '../local-cluster.js';
import { checkHistory } from './checker.js';
import { LocalControl } from './control.js';
import { FAULT_KINDS, History, type FaultKind } from './history.js';
import { Nemesis, type NemesisFault } from './nemesis.js';
import { Random } from './random.js';
import { summarize, violationTotal, type ChaosSummary } from './summary.js';
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
const FINAL_READ_RETRY_MS = 1_000;
const FINAL_READ_TIMEOUT_MS = 10_000;

export async function runChaos(options: ChaosOptions): Promise<ChaosSummary> {
  validate(options);
  const log = options.log ?? (() => undefined);
  const keys = options.keys ?? KEYS_DEFAULT;
  const { faults, skipped } = plannedFaults(options.faults ?? FAULT_KINDS);
  for (const skip of skipped) log(`skipping ${skip.kind}: ${skip.reason}`);
  await mkdir(resolve(options.dataDir), { recursive: true });
  const runDir = await mkdtemp(join(resolve(options.dataDir), `chaos-seed${options.seed}-`));
  const history = new History(OPERATIONS_MAX, options.historyFile ?? join(runDir, 'history.jsonl'));
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  options.signal?.addEventListener('abort', onSignal);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let cluster: LocalCluster | undefined;
  const killOnExit = () => cluster?.nodes.forEach((node) => node.signal('SIGKILL'));
  process.once('exit', killOnExit);
  const problems: string[] = [];
  let replicationFactor = 3;
  try {
    log(`starting ZooKeeper and ${options.nodes} nodes in ${runDir}`);
    cluster = await LocalCluster.start({ nodes: options.nodes, basePort: 0, dataDir: join(runDir, 'cluster'), env: NODE_ENV, deviceSize: DEVICE_SIZE });
    replicationFactor = await readReplicationFactor(cluster.nodes[0]!.spec.url);
    history.header({ seed: options.seed, nodes: options.nodes, clients: options.clients, keys, replicationFactor, durationMs: options.durationMs, startedAt: new Date().toISOString() });
    const control = new LocalControl(cluster);
    const random = new Random(options.seed);
    const workload = new Workload({ history, random: random.fork(1), clients: options.clients, keys, targets: () => control.targets() });
    const nemesis = new Nemesis({ control, history, random: random.fork(2), faults, sessionTimeoutMs: SESSION_TIMEOUT_MS, membersMin: Math.max(options.nodes, replicationFactor, NODES_MIN), membersMax: options.nodes + EXTRA_NODES_MAX, signal: stop.signal, log });
    log(`workload: ${options.clients} clients over ${keys} keys for ${options.durationMs / 1000}s; faults: ${faults.join(', ') || 'none'}`);
    workload.start();
    const untilMs = history.now() + options.durationMs;
    try {
      await nemesis.run(untilMs);
      await delay(Math.max(0, untilMs - history.now()), undefined, { signal: stop.signal }).catch(() => undefined);
    } finally {
      await workload.stop();
      problems.push(...nemesis.problems);
    }
    if (!stop.signal.aborted) {
      log('healing: every node running and resumed, ZooKeeper up, ring settled');
      await control.healAll().catch((error: unknown) => problems.push(`healing: ${error instanceof Error ? error.message : String(error)}`));
      log('final reads: every key at consistency all through every node');
      await finalReads(history, control.liveMembers(), keys);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    options.signal?.removeEventListener('abort', onSignal);
    await history.close();
    await cluster?.stop();
    process.off('exit', killOnExit);
  }
  const check = checkHistory(history.operations, { replicationFactor });
  const summary = summarize({
    run: { seed: options.seed, durationMs: options.durationMs, nodes: options.nodes, clients: options.clients, keys, replicationFactor, historyFile: history.file, interrupted: stop.signal.aborted, truncated: history.truncated, skipped, problems },
    operations: history.operations,
    faults: history.faults,
    check,
  });
  await writeFile(join(runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  if (violationTotal(summary) === 0 && !options.keepData) await rm(join(runDir, 'cluster'), { recursive: true, force: true });
  return summary;
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

/** The faults the nemesis will inject, and those it cannot here, each with the reason. */
export function plannedFaults(requested: readonly FaultKind[]): { faults: NemesisFault[]; skipped: { kind: FaultKind; reason: string }[] } {
  const faults = requested.filter((kind): kind is NemesisFault => kind !== 'partition');
  const skipped = requested.includes('partition') ? [{ kind: 'partition' as const, reason: partitionReason() }] : [];
  return { faults, skipped };
}

/** Partitions are not built yet; say whether this machine could have them and why they are skipped. */
function partitionReason(): string {
  const probe = spawnSync('unshare', ['--net', 'true'], { encoding: 'utf8', timeout: 5_000 });
  const namespaces = probe.status === 0 ? 'this machine allows creating network namespaces' : `this machine does not allow creating network namespaces (unshare --net: ${(probe.stderr || probe.error?.message || `exit ${probe.status}`).trim()})`;
  return `${namespaces}, but the local cluster runs every peer in one namespace on 127.0.0.1, so a link between two peers cannot be cut; partitions need a namespace (and address) per node, which the chaos runner does not set up yet`;
}

async function readReplicationFactor(url: string): Promise<number> {
  const response = await fetch(`${url}/cluster`, { signal: AbortSignal.timeout(5_000) });
  const body = (await response.json()) as { replicationFactor?: unknown };
  if (typeof body.replicationFactor !== 'number') throw new Error(`${url}/cluster did not name the replication factor`);
  return body.replicationFactor;
}

/** Reads every key at `all` through every node, retrying a failed read a few times (bounded). */
async function finalReads(history: History, nodes: readonly Target[], keys: number): Promise<void> {
  for (let index = 0; index < keys; index++) {
    for (const target of nodes) {
      for (let attempt = 1; attempt <= FINAL_READ_ATTEMPTS; attempt++) {
        const read = await runOperation(history, { phase: 'final', client: -1, kind: 'get', key: keyName(index), level: 'all', target, timeoutMs: FINAL_READ_TIMEOUT_MS });
        if (read.status === 200 || read.status === 404) break;
        if (attempt < FINAL_READ_ATTEMPTS) await delay(FINAL_READ_RETRY_MS);
      }
    }
  }
}
