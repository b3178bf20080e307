// `ringblock chaos-verify`: the chaos runner's workload and history checker against a cluster that
// runs elsewhere (a Kubernetes Service, a remote cluster) while something else injects the faults
// (scripts/chaos-k8s's pod killer). It starts no node and no nemesis: for the duration its clients
// send PUT/GET/DELETE at every consistency level through the given URLs, recording the history in the
// runner's format; then it waits (bounded) until the cluster is whole again, reads every key at `all`
// through every target (or every member), and runs the same checker and summary as `ringblock chaos`.
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { parseDuration } from '@ringblock/node';
import { checkHistory } from './checker.js';
import { History } from './history.js';
import { Random } from './random.js';
import { exitCode, renderSummary, summarize, type ChaosSummary } from './summary.js';
import { CLIENTS_MAX, KEYS_MAX, keyName, runOperation, Workload, type Target } from './workload.js';

export type FinalReadsVia = 'targets' | 'members';

export interface VerifyOptions {
  /** Where the clients send (e.g. the `blockstore` Service); at least one. */
  urls: readonly string[];
  durationMs: number;
  clients: number;
  keys: number;
  seed: number;
  /** Keys are `<keyPrefix>-<index>`: unique per run, so blocks of earlier runs are never read. */
  keyPrefix: string;
  /** After the workload, read every key through the targets, or through every member's address from /cluster. */
  finalReadsVia: FinalReadsVia;
  /** Bound on waiting for every ring member to be live with no migration before the final reads. */
  settleTimeoutMs: number;
  historyFile?: string;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export const VERIFY_USAGE = `  chaos-verify --url URL [--url URL …] [--duration 5m] [--clients 8] [--keys 48] [--seed N]
        [--final-reads targets|members] [--settle-timeout 3m] [--key-prefix P] [--history FILE]
                           the chaos workload and checker against a running cluster (faults from elsewhere,
                           e.g. scripts/chaos-k8s); exit 1 on violations
`;

const DURATION_MS_MIN = 1_000;
const DURATION_MS_MAX = 24 * 3_600_000;
const URLS_MAX = 64;
const OPERATIONS_MAX = 500_000;
const KEY_PREFIX = /^[A-Za-z0-9._~:-]{1,40}$/;
/** Asking /cluster before the run: attempts, a second apart (the Service may have no ready pod yet). */
const CLUSTER_ATTEMPTS = 30;
const CLUSTER_RETRY_MS = 1_000;
const CLUSTER_TIMEOUT_MS = 5_000;
/** Settled: this many answers in a row, SETTLE_POLL_MS apart, with every member live and in the ring and no migration. */
const SETTLE_ANSWERS_IN_ROW = 3;
const SETTLE_POLL_MS = 1_000;
/** Final reads: attempts per (key, target), a pause between, a timeout each, and a bound on them all. */
const FINAL_READ_ATTEMPTS = 5;
const FINAL_READ_RETRY_MS = 1_000;
const FINAL_READ_TIMEOUT_MS = 10_000;
export const FINAL_READS_BUDGET_MS = 300_000;
/** A target that failed this many keys in a row is not asked again (the rest count as unread). */
const FINAL_READ_TARGET_FAILURES_MAX = 3;

interface ClusterView {
  replicationFactor: number;
  members: { name: string; addr: string; state: string; inRing: boolean }[];
  migration: unknown;
}

/** Options from the command line (exported so the Kubernetes test can check the Job's arguments). */
export function parseVerifyArgs(argv: readonly string[]): VerifyOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      url: { type: 'string', multiple: true },
      duration: { type: 'string', default: '5m' },
      clients: { type: 'string', default: '8' },
      keys: { type: 'string', default: '48' },
      seed: { type: 'string' },
      'key-prefix': { type: 'string' },
      'final-reads': { type: 'string', default: 'targets' },
      'settle-timeout': { type: 'string', default: '3m' },
      history: { type: 'string' },
    },
    strict: true,
  });
  const urls = values.url ?? [];
  if (urls.length === 0 || urls.length > URLS_MAX) throw new Error(`--url: give 1 to ${URLS_MAX} node or service URLs, got ${urls.length}`);
  for (const url of urls) if (!/^https?:\/\/[^/]+\/?$/.test(url)) throw new Error(`--url must be http(s)://host:port, got "${url}"`);
  const durationMs = duration('--duration', values.duration, DURATION_MS_MIN, DURATION_MS_MAX);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : whole('--seed', values.seed, 0, 2 ** 32 - 1);
  const keyPrefix = values['key-prefix'] ?? `chaos-${seed}-${Date.now().toString(36)}`;
  if (!KEY_PREFIX.test(keyPrefix)) throw new Error(`--key-prefix must match ${KEY_PREFIX.source}, got "${keyPrefix}"`);
  const via = values['final-reads'];
  if (via !== 'targets' && via !== 'members') throw new Error(`--final-reads must be "targets" or "members", got "${via}"`);
  return {
    urls: urls.map((url) => url.replace(/\/$/, '')),
    durationMs,
    clients: whole('--clients', values.clients, 1, CLIENTS_MAX),
    keys: whole('--keys', values.keys, 1, KEYS_MAX),
    seed,
    keyPrefix,
    finalReadsVia: via,
    settleTimeoutMs: duration('--settle-timeout', values['settle-timeout'], 0, DURATION_MS_MAX),
    ...(values.history !== undefined ? { historyFile: values.history } : {}),
  };
}

/** `ringblock chaos-verify …`: prints the summary; exit 1 on violations or problems, 130 when interrupted. */
export async function chaosVerify(argv: readonly string[]): Promise<number> {
  const options = parseVerifyArgs(argv);
  const summary = await runVerify({ ...options, log: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(renderSummary(summary));
  return exitCode(summary);
}

export async function runVerify(options: VerifyOptions): Promise<ChaosSummary> {
  const log = options.log ?? (() => undefined);
  const stop = interruptions(options.signal);
  const targets: Target[] = options.urls.map((url) => ({ name: new URL(url).host, url }));
  try {
    const view = await readCluster(targets, CLUSTER_ATTEMPTS, stop.signal);
    if (!view) throw new Error(`no answer from GET /cluster through ${options.urls.join(', ')} (${CLUSTER_ATTEMPTS} attempts)`);
    const run = { seed: options.seed, durationMs: options.durationMs, nodes: view.members.length, clients: options.clients, keys: options.keys, replicationFactor: view.replicationFactor };
    const history = new History(OPERATIONS_MAX, options.historyFile);
    const problems: string[] = [];
    try {
      history.header({ ...run, startedAt: new Date().toISOString() });
      log(`verify: ${options.clients} clients over ${options.keys} keys (${options.keyPrefix}-*) through ${options.urls.join(', ')} for ${options.durationMs / 1000}s; ${view.members.length} members, RF ${view.replicationFactor}; faults come from outside (not in the history)`);
      const workload = new Workload({ history, random: new Random(options.seed), clients: options.clients, keys: options.keys, keyPrefix: options.keyPrefix, targets: () => targets });
      history.startClock();
      workload.start();
      await delay(options.durationMs, undefined, { signal: stop.signal }).catch(() => undefined);
      await workload.stop();
      if (!stop.signal.aborted) problems.push(...(await healedReads(options, targets, history, log, stop.signal)));
    } finally {
      await history.close();
    }
    return summarize({
      run: { ...run, historyFile: history.file, interrupted: stop.signal.aborted, truncated: history.truncated, skipped: [], problems },
      operations: history.operations,
      faults: history.faults,
      check: checkHistory(history.operations, { replicationFactor: view.replicationFactor }),
    });
  } finally {
    stop.dispose();
  }
}

/** Waits for the cluster to be whole, then reads every key at `all` through every final target. */
async function healedReads(options: VerifyOptions, targets: Target[], history: History, log: (line: string) => void, signal: AbortSignal): Promise<string[]> {
  const problems: string[] = [];
  log(`waiting up to ${options.settleTimeoutMs / 1000}s for every member to be live and in the ring, with no migration`);
  const settled = await settle(targets, options.settleTimeoutMs, signal);
  if (!settled.ok) problems.push(`the cluster did not settle within ${options.settleTimeoutMs / 1000}s (${settled.why}); final reads ran anyway`);
  const finalTargets = options.finalReadsVia === 'members' && settled.view ? settled.view.members.map((member) => ({ name: member.name, url: `http://${member.addr}` })) : targets;
  log(`final reads: every key at consistency all through ${finalTargets.map((target) => target.name).join(', ')}`);
  const names = Array.from({ length: options.keys }, (_, index) => keyName(index, options.keyPrefix));
  const unread = await readEveryKey(history, finalTargets, names, signal);
  if (unread > 0) problems.push(`final reads: ${unread} (key, target) pairs were not read (a target failed ${FINAL_READ_TARGET_FAILURES_MAX} keys in a row, the run was stopped, or time ran out)`);
  return problems;
}

/** GET /cluster through the targets in turn, up to `attempts` rounds. */
async function readCluster(targets: readonly Target[], attempts: number, signal: AbortSignal): Promise<ClusterView | undefined> {
  for (let attempt = 0; attempt < attempts && !signal.aborted; attempt++) {
    for (const target of targets) {
      const view = await fetch(`${target.url}/cluster`, { signal: AbortSignal.timeout(CLUSTER_TIMEOUT_MS) }).then((reply) => (reply.ok ? (reply.json() as Promise<ClusterView>) : undefined), () => undefined);
      if (view && typeof view.replicationFactor === 'number' && Array.isArray(view.members)) return view;
    }
    await delay(CLUSTER_RETRY_MS, undefined, { signal }).catch(() => undefined);
  }
  return undefined;
}

async function settle(targets: readonly Target[], timeoutMs: number, signal: AbortSignal): Promise<{ ok: boolean; why: string; view?: ClusterView }> {
  const deadline = Date.now() + timeoutMs;
  let inRow = 0;
  let last: ClusterView | undefined;
  let why = 'no answer from /cluster';
  while (!signal.aborted) {
    const view = await readCluster(targets, 1, signal);
    if (view) last = view;
    const whole = view !== undefined && view.migration === null && view.members.length > 0 && view.members.every((member) => member.state === 'live' && member.inRing);
    inRow = whole ? inRow + 1 : 0;
    if (inRow >= SETTLE_ANSWERS_IN_ROW) return { ok: true, why: 'settled', view: last };
    if (view) why = `members ${view.members.map((member) => `${member.name}=${member.state}${member.inRing ? '' : ' (not in the ring)'}`).join(', ')}${view.migration === null ? '' : ', a migration running'}`;
    if (Date.now() >= deadline) break;
    await delay(SETTLE_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
  return { ok: false, why, ...(last ? { view: last } : {}) };
}

/**
 * Every key at `all` through every target (targets in parallel), each read retried a few times;
 * bounded in time. Returns how many (key, target) pairs were left unread.
 */
async function readEveryKey(history: History, targets: readonly Target[], keys: readonly string[], signal: AbortSignal): Promise<number> {
  const deadline = Date.now() + FINAL_READS_BUDGET_MS;
  const failed = new Map<string, number>();
  const answered = async (key: string, target: Target): Promise<boolean> => {
    for (let attempt = 0; attempt < FINAL_READ_ATTEMPTS && !signal.aborted && Date.now() < deadline; attempt++) {
      if (attempt > 0) await delay(FINAL_READ_RETRY_MS, undefined, { signal }).catch(() => undefined);
      const read = await runOperation(history, { phase: 'final', client: -1, kind: 'get', key, level: 'all', target, timeoutMs: FINAL_READ_TIMEOUT_MS });
      if (read.status === 200 || read.status === 404) return true;
    }
    return false;
  };
  let unread = 0;
  for (const key of keys) {
    const reads = targets.map(async (target) => {
      if ((failed.get(target.name) ?? 0) >= FINAL_READ_TARGET_FAILURES_MAX) return false;
      const ok = await answered(key, target);
      failed.set(target.name, ok ? 0 : (failed.get(target.name) ?? 0) + 1);
      // Every attempt failed: recorded, and the checker reports the key unverified through that target.
      return ok || (!signal.aborted && Date.now() < deadline);
    });
    unread += (await Promise.all(reads)).filter((read) => !read).length;
  }
  return unread;
}

function whole(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${flag} must be a whole number in ${min}..${max}, got "${text}"`);
  return value;
}

function duration(flag: string, text: string, min: number, max: number): number {
  const value = parseDuration(text);
  if (value === undefined || value < min || value > max) throw new Error(`${flag} must be a duration such as 90s or 20m (${min / 1000}s..${max / 3_600_000}h), got "${text}"`);
  return value;
}

/** Aborted by SIGINT, SIGTERM or the caller's signal; `dispose` removes the signal handlers. */
function interruptions(external: AbortSignal | undefined): { signal: AbortSignal; dispose: () => void } {
  const signals = new AbortController();
  const onSignal = () => signals.abort();
  for (const name of ['SIGINT', 'SIGTERM'] as const) process.once(name, onSignal);
  return {
    signal: external ? AbortSignal.any([signals.signal, external]) : signals.signal,
    dispose: () => ['SIGINT', 'SIGTERM'].forEach((name) => process.off(name, onSignal)),
  };
}
