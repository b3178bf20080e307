// Structure-aware HTTP fuzzing of a live node: seeded cases (src/fuzz/http-cases.ts) sent over raw
// sockets to node-1 of a real 3-node cluster (real ZooKeeper, real node processes), in 4 lanes at once.
// After each case: no 5xx (the cluster is healthy, so not even 503), the status and code the contract
// gives the case's class, the node alive and ready. Valid writes are mixed in and reads of them are
// judged from a model; afterwards every block reads back as last acknowledged (bad input lost and
// changed nothing), the node logged no error and counted no 5xx (answers a client never saw
// included), and its resident memory stayed flat.
//
//   RINGBLOCK_FUZZ_SEED=7 RINGBLOCK_FUZZ_REQUESTS=20000 RINGBLOCK_FUZZ_SECONDS=900 node packages/cli/dist/test/http-fuzz.test.js
//   RINGBLOCK_FUZZ_SEED=7 RINGBLOCK_FUZZ_CASES=12,345 node packages/cli/dist/test/http-fuzz.test.js     # replay cases
import { readFileSync } from 'node:fs';
import t from 'tap';
import { header, type Answer } from '../src/fuzz/http-answer.js';
import { fuzzCase, type CaseOptions, type HttpCase } from '../src/fuzz/http-cases.js';
import { request, startCluster } from './support/cluster.js';
import { exchange, type Outcome } from './support/raw-exchange.js';

const SEED = Number(process.env['RINGBLOCK_FUZZ_SEED'] ?? 1);
const REQUESTS = Number(process.env['RINGBLOCK_FUZZ_REQUESTS'] ?? 2_000);
/** The run stops starting cases after this long (a bound, not a target). */
const RUN_SECONDS_MAX = Number(process.env['RINGBLOCK_FUZZ_SECONDS'] ?? 150);
const ONLY = process.env['RINGBLOCK_FUZZ_CASES']?.split(',').map(Number);
const LANES = 4;
const REQUEST_TIMEOUT_MS = 3_000;
const HEADERS_TIMEOUT_MS = 1_500;
/** Resident memory is sampled every this many cases. */
const SAMPLE_EVERY_CASES = 25;
/**
 * How far resident memory may rise from the window after warm-up (20–40% of the run) to the last
 * 20%, comparing medians of samples. A healthy node's RSS moves by a few MiB as V8 grows and
 * collects its heap; what this guards against is far larger: the oversized-stream cases alone
 * send about 2% × REQUESTS × 4 MiB (≈ 160 MiB at 2,000 cases) that must never be buffered, and
 * 2,000 connections each leaking a 16 KiB header buffer would add 32 MiB. (Before the fixes of
 * this fuzzer's first run the same run grew by 22 MiB; after them by under 3 MiB.)
 */
const RSS_GROWTH_MAX_BYTES = 32 * 1024 * 1024;
const PROBLEMS_SHOWN_MAX = 25;

type BlockState = { kind: 'absent' } | { kind: 'block'; data: Buffer; etag: string | undefined } | { kind: 'deleted' };

/** Per block id: the last acknowledged state and the writes after it whose outcome is unknown (no answer, or a 5xx). */
class Model {
  private readonly blocks = new Map<string, { acknowledged: BlockState; later: BlockState[] }>();

  allowed(id: string): BlockState[] {
    const entry = this.blocks.get(id);
    return entry ? [entry.acknowledged, ...entry.later] : [{ kind: 'absent' }];
  }

  etag(id: string): string | undefined {
    const entry = this.blocks.get(id);
    return entry && entry.later.length === 0 && entry.acknowledged.kind === 'block' ? entry.acknowledged.etag : undefined;
  }

  ids(): string[] {
    return [...this.blocks.keys()];
  }

  /** After a case with an effect: acknowledged (201/204) replaces the state; no answer or a 5xx may or may not have landed. */
  record(httpCase: HttpCase, outcome: Outcome): void {
    const effect = httpCase.effect;
    if (!effect) return;
    const entry = this.blocks.get(effect.id) ?? { acknowledged: { kind: 'absent' } as BlockState, later: [] };
    this.blocks.set(effect.id, entry);
    const answer = outcome.type === 'answer' ? outcome.answer : undefined;
    const status = answer?.status;
    const state: BlockState = effect.kind === 'put' ? { kind: 'block', data: effect.data, etag: answer && status === 201 ? header(answer, 'etag') : undefined } : { kind: 'deleted' };
    if (status === 201 || status === 204) {
      entry.acknowledged = state;
      entry.later = [];
    } else if (status === undefined || status >= 500) {
      entry.later.push(state);
    }
  }
}

interface Problem {
  index: number;
  text: string;
}

/** What is wrong with the answer to `c`, judged by its expectation (and, for reads, the model). */
function judge(c: HttpCase, outcome: Outcome, model: Model): string[] {
  if (outcome.type === 'timeout') return [`no answer and no close within ${outcome.elapsedMs} ms (received ${JSON.stringify(outcome.received.slice(0, 120))})`];
  if (outcome.type === 'malformed') return [`malformed answer: ${outcome.reason} (${JSON.stringify(outcome.received.slice(0, 120))})`];
  if (outcome.type === 'silence') return c.expect.silenceAllowed ? [] : ['the connection closed without an answer'];
  const { answer } = outcome;
  const problems: string[] = [];
  const body = answer.body.toString('utf8', 0, 300);
  if (answer.status >= 500) return [`${answer.status} for a client's request: ${body}`];
  if (c.read) problems.push(...judgeRead(c, answer, model));
  else if (!c.expect.statuses.includes(answer.status)) problems.push(`answered ${answer.status} (expected ${c.expect.statuses.join(' or ')}): ${body}`);
  problems.push(...judgeShape(c, answer));
  return problems;
}

/** Error answers carry the contract's JSON (with the expected code), 405 its Allow, 401 its challenge, 201 its ETag. */
function judgeShape(c: HttpCase, answer: Answer): string[] {
  const problems: string[] = [];
  const hasBody = answer.body.length > 0;
  if (answer.status >= 400 && hasBody && !c.expect.plain) {
    let json: { code?: unknown; error?: unknown } | undefined;
    try {
      json = JSON.parse(answer.body.toString('utf8')) as { code?: unknown; error?: unknown };
    } catch {
      problems.push(`a ${answer.status} whose body is not JSON: ${answer.body.toString('latin1', 0, 120)}`);
    }
    if (json && (typeof json.code !== 'string' || typeof json.error !== 'string')) problems.push(`a ${answer.status} without code and error: ${answer.body.toString('utf8', 0, 200)}`);
    else if (json && c.expect.codes && !c.expect.codes.includes(json.code as string)) problems.push(`code ${String(json.code)} (expected ${c.expect.codes.join(' or ')})`);
  }
  const allow = header(answer, 'allow');
  if (answer.status === 405 && (allow === undefined || (c.expect.allow !== undefined && allow !== c.expect.allow))) problems.push(`405 with Allow ${JSON.stringify(allow)} (expected ${JSON.stringify(c.expect.allow)})`);
  if (answer.status === 401 && header(answer, 'www-authenticate') !== 'Bearer') problems.push('401 without WWW-Authenticate: Bearer');
  if (answer.status === 201 && !/^"[0-9a-f]{16}-[A-Za-z0-9._-]+"$/.test(header(answer, 'etag') ?? '')) problems.push(`201 with ETag ${JSON.stringify(header(answer, 'etag'))}`);
  return problems;
}

/** A read of a lane id: 404 for nothing or a tombstone, else the exact bytes and ETag of an allowed state, 304 when the condition matches. */
function judgeRead(c: HttpCase, answer: Answer, model: Model): string[] {
  const read = c.read!;
  const allowed = model.allowed(read.id);
  const blocks = allowed.filter((state): state is Extract<BlockState, { kind: 'block' }> => state.kind === 'block');
  const etag = header(answer, 'etag');
  if (answer.status === 404) return blocks.length < allowed.length ? [] : [`404 for a block that is stored`];
  if (answer.status === 304) {
    const matches = read.conditional !== undefined && read.conditional !== 'garbage' && blocks.some((state) => read.conditional === 'star' || state.etag === undefined || state.etag === etag);
    return matches ? [] : [`304 for If-None-Match ${read.conditional ?? 'none'}`];
  }
  if (answer.status !== 200) return [`read answered ${answer.status}: ${answer.body.toString('utf8', 0, 200)}`];
  const candidates = blocks.filter((state) => state.etag === undefined || state.etag === etag);
  if (candidates.length === 0) return [`200 with ETag ${etag} that no allowed state has (${allowed.map((state) => state.kind).join(', ')})`];
  if (read.method === 'HEAD') return [];
  if (!candidates.some((state) => state.data.equals(answer.body))) return [`200 with ${answer.body.length} bytes that are not the block written`];
  // The If-None-Match sent named the ETag the model knew (judged before the model moves on).
  const sentEtag = read.conditional === 'star' ? '*' : read.conditional === 'garbage' || read.conditional === undefined ? undefined : model.etag(read.id);
  return sentEtag === '*' || (sentEtag !== undefined && sentEtag === etag) ? [`200 where If-None-Match ${read.conditional} matched: expected 304`] : [];
}

function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** `ringblock_requests_total` with a 5xx status, summed per op, from /metrics text. */
function serverErrors(metrics: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of metrics.matchAll(/^ringblock_requests_total\{op="([^"]+)",status="(5\d\d)"[^}]*\} (\d+)/gm)) {
    counts.set(`${match[1]} ${match[2]}`, (counts.get(`${match[1]} ${match[2]}`) ?? 0) + Number(match[3]));
  }
  return counts;
}

/** Log lines at error level or worse (pino: 50, 60) written after `sinceMs`. */
function loggedErrors(logFile: string, sinceMs: number): string[] {
  return readFileSync(logFile, 'utf8').split('\n').filter((line) => {
    if (!line.startsWith('{')) return false;
    const entry = JSON.parse(line) as { level: number; time: number };
    return entry.level >= 50 && entry.time >= sinceMs;
  });
}

t.setTimeout((RUN_SECONDS_MAX + 300) * 1000);

t.test(`HTTP fuzzing of a live node (seed ${SEED}, ${ONLY ? `cases ${ONLY.join(',')}` : `${REQUESTS} cases`})`, async (t) => {
  const cluster = await startCluster(t, { nodes: 3, env: { RINGBLOCK_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS}ms`, RINGBLOCK_HEADERS_TIMEOUT: `${HEADERS_TIMEOUT_MS}ms` } });
  const target = cluster.nodes[0]!;
  const url = target.spec.url;
  const port = Number(new URL(url).port);
  const pid = target.pid!;
  const ringEpoch = (await request(`${url}/cluster/ring`)).json<{ epoch: number }>().epoch;
  const options: CaseOptions = { token: cluster.token, lanes: LANES, ringEpoch, requestTimeoutMs: REQUEST_TIMEOUT_MS, headersTimeoutMs: HEADERS_TIMEOUT_MS };
  t.comment(`seed ${SEED}: fuzzing ${url} (pid ${pid}, ring epoch ${ringEpoch}); replay with RINGBLOCK_FUZZ_SEED=${SEED}`);

  const model = new Model();
  const problems: Problem[] = [];
  const statuses = new Map<string, Map<string, number>>();
  const samples: { done: number; rssBytes: number }[] = [{ done: 0, rssBytes: residentBytes(pid) }];
  const errorsBefore = serverErrors((await request(`${url}/metrics`)).body.toString());
  const startedMs = Date.now();
  const deadline = startedMs + RUN_SECONDS_MAX * 1000;
  let done = 0;
  let stopping = false;
  let nodeDied = false;
  t.teardown(() => void (stopping = true));
  void target.waitExit().then(() => (nodeDied = !stopping));

  const runCase = async (index: number): Promise<void> => {
    const c = fuzzCase(SEED, index, options);
    const outcome = await exchange(port, c, model);
    const label = outcome.type === 'answer' ? String(outcome.answer.status) : outcome.type;
    const kind = statuses.get(c.kind) ?? new Map<string, number>();
    statuses.set(c.kind, kind.set(label, (kind.get(label) ?? 0) + 1));
    for (const text of judge(c, outcome, model)) problems.push({ index, text: `${c.kind} — ${c.description}: ${text}` });
    model.record(c, outcome);
    if (nodeDied || !target.running) problems.push({ index, text: `the node process died (see ${target.spec.logFile})` });
    const ready = await request(`${url}/ready`).then((reply) => reply.status, (error: Error) => error.message);
    if (ready !== 200) problems.push({ index, text: `/ready answered ${ready} after ${c.kind} — ${c.description}` });
    if (++done % SAMPLE_EVERY_CASES === 0) samples.push({ done, rssBytes: residentBytes(pid) });
  };
  const lane = async (laneIndex: number): Promise<void> => {
    const indexes = ONLY ? ONLY.filter((index) => index % LANES === laneIndex) : Array.from({ length: Math.ceil((REQUESTS - laneIndex) / LANES) }, (_, k) => laneIndex + k * LANES);
    for (const index of indexes) {
      if (Date.now() > deadline || nodeDied || problems.length > 200) return;
      await runCase(index);
    }
  };
  await Promise.all(Array.from({ length: LANES }, (_, laneIndex) => lane(laneIndex)));
  const seconds = (Date.now() - startedMs) / 1000;
  samples.push({ done, rssBytes: residentBytes(pid) });

  t.comment(`${done} cases in ${seconds.toFixed(1)} s (${(done / seconds).toFixed(0)}/s); answers per kind:`);
  for (const [kind, counts] of [...statuses].sort()) t.comment(`  ${kind.padEnd(18)} ${[...counts].sort().map(([label, count]) => `${label}×${count}`).join(' ')}`);
  const failing = [...new Set(problems.map((problem) => problem.index))];
  t.same(problems.slice(0, PROBLEMS_SHOWN_MAX).map((problem) => `case ${problem.index}: ${problem.text}`), [], 'every answer is one the contract allows; the node stayed alive and ready');
  if (failing.length > 0) t.comment(`replay: RINGBLOCK_FUZZ_SEED=${SEED} RINGBLOCK_FUZZ_CASES=${failing.slice(0, 20).join(',')} node packages/cli/dist/test/http-fuzz.test.js`);
  if (!ONLY) t.ok(done >= Math.min(REQUESTS, 300), `${done} cases ran (at least 300 or all ${REQUESTS})`);

  await t.test('bad input lost nothing: every block reads back as last acknowledged, through two nodes', async (t) => {
    const wrong: string[] = [];
    for (const id of model.ids()) {
      for (const [node, level] of [[cluster.nodes[0]!, 'all'], [cluster.nodes[1]!, 'quorum']] as const) {
        const reply = await request(`${node.spec.url}/block/${id}?consistency=${level}`);
        const allowed = model.allowed(id);
        const ok = reply.status === 404 ? allowed.some((state) => state.kind !== 'block') : reply.status === 200 && allowed.some((state) => state.kind === 'block' && state.data.equals(reply.body));
        if (!ok) wrong.push(`${id} via ${node.spec.name} at ${level}: ${reply.status} (allowed: ${allowed.map((state) => state.kind).join(', ')})`);
      }
    }
    t.same(wrong.slice(0, 10), [], `${model.ids().length} blocks read back`);
  });

  await t.test('the node logged no error and counted no 5xx, and every node is ready', async (t) => {
    const errorsAfter = serverErrors((await request(`${url}/metrics`)).body.toString());
    const new5xx = [...errorsAfter].filter(([key, count]) => count > (errorsBefore.get(key) ?? 0)).map(([key, count]) => `${key}: ${count - (errorsBefore.get(key) ?? 0)}`);
    t.same(new5xx, [], 'ringblock_requests_total counted no 5xx during the run (answers the client never saw included)');
    t.same(loggedErrors(target.spec.logFile, startedMs).map((line) => line.slice(0, 400)).slice(0, 5), [], 'no error-level log line');
    for (const node of cluster.nodes) t.equal((await request(`${node.spec.url}/ready`)).status, 200, `${node.spec.name} is ready`);
  });

  await t.test('resident memory stayed flat', async (t) => {
    const window = (from: number, to: number) => samples.filter((sample) => sample.done >= from * done && sample.done <= to * done).map((sample) => sample.rssBytes);
    const afterWarmUp = median(window(0.2, 0.4));
    const end = median(window(0.8, 1));
    const mib = (bytes: number) => (bytes / 1048576).toFixed(1);
    t.comment(`RSS: start ${mib(samples[0]!.rssBytes)} MiB, after warm-up ${mib(afterWarmUp)} MiB, end ${mib(end)} MiB, max ${mib(Math.max(...samples.map((sample) => sample.rssBytes)))} MiB (${samples.length} samples)`);
    if (done < 200) return void t.pass('too short a run to judge memory');
    t.ok(end - afterWarmUp < RSS_GROWTH_MAX_BYTES, `RSS grew by ${mib(end - afterWarmUp)} MiB after warm-up (bound ${mib(RSS_GROWTH_MAX_BYTES)} MiB)`);
  });
});
