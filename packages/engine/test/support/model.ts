// A seeded write workload over a small key space and the checker that judges a recovered store
// against what was issued and acknowledged. Shared by the SIGKILL crash test (the workload runs in
// a child process and logs to a file) and the simulated power-loss test (in process).
//
// Every version is unique: 8 bytes of a (mostly increasing) counter, then 4 bytes of the op number.
// A block's bytes are derived from (id, version), so any stored content can be checked.
import { createHash } from 'node:crypto';
import type { Engine } from '../../src/index.js';
import { isEngineError } from '../../src/index.js';

export type OpKind = 'put' | 'delete' | 'purge' | 'evict';

export type LogEvent =
  | { type: 'issue'; n: number; kind: OpKind; id: string; version: string }
  | { type: 'ack'; n: number; applied: boolean; version: string | undefined }
  | { type: 'error'; n: number; code: string };

export interface StoredState {
  kind: 'put' | 'tombstone';
  version: string;
}

/** id → what is stored (absent: nothing stored). Versions are hex strings. */
export type ModelState = Map<string, StoredState>;

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function blockData(id: string, versionHex: string): Buffer {
  const seed = createHash('sha256').update(id).update('\0').update(versionHex).digest();
  const data = Buffer.allocUnsafe(4096);
  for (let offset = 0; offset < data.length; offset += seed.length) seed.copy(data, offset);
  data.writeUInt32BE(id.length, 0); // not a pure repetition: differs from any other block's page
  return data;
}

export function formatEvent(event: LogEvent): string {
  if (event.type === 'issue') return `I ${event.n} ${event.kind} ${event.id} ${event.version}\n`;
  if (event.type === 'ack') return `A ${event.n} ${event.applied ? 1 : 0} ${event.version ?? '-'}\n`;
  return `E ${event.n} ${event.code}\n`;
}

/** Parses a log; an incomplete last line (the writer was killed mid-line) is ignored. */
export function parseLog(text: string): LogEvent[] {
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or an incomplete line
  return lines.filter((line) => !line.startsWith('#')).map((line) => {
    const [type, n, a, b, c] = line.split(' ');
    if (type === 'I') return { type: 'issue', n: Number(n), kind: a as OpKind, id: b!, version: c! };
    if (type === 'A') return { type: 'ack', n: Number(n), applied: a === '1', version: b === '-' ? undefined : b };
    if (type === 'E') return { type: 'error', n: Number(n), code: a! };
    throw new Error(`bad log line: ${line}`);
  });
}

export interface WorkloadOp {
  n: number;
  kind: OpKind;
  id: string;
  version: Buffer;
}

/**
 * Generates ops: about 65% puts, 25% deletes, and purges of a tombstone or evictions of a record
 * whose version it saw acknowledged; some versions lag behind (stale writes).
 */
export class Workload {
  private readonly random: () => number;
  private counter: number;
  private n = 0;
  /** The last version acknowledged as applied per id (what purge and evict name). */
  private readonly current = new Map<string, { version: Buffer; tombstone: boolean }>();

  constructor(seed: number, readonly ids: string[], versionBase: number, private readonly opBase = 0) {
    this.random = rng(seed);
    this.counter = versionBase;
  }

  next(): WorkloadOp {
    const n = this.opBase + this.n++;
    const id = this.ids[Math.floor(this.random() * this.ids.length)]!;
    const roll = this.random();
    const current = this.current.get(id);
    if (roll < 0.07 && current?.tombstone) return { n, kind: 'purge', id, version: current.version };
    if (roll < 0.1 && current !== undefined) return { n, kind: 'evict', id, version: current.version };
    const lag = this.random() < 0.15 ? Math.floor(this.random() * 64) : 0;
    const version = Buffer.alloc(12);
    version.writeUIntBE(++this.counter - lag, 2, 6);
    version.writeUInt32BE(n >>> 0, 8);
    return { n, kind: roll < 0.72 ? 'put' : 'delete', id, version };
  }

  acknowledged(op: WorkloadOp, applied: boolean): void {
    if (!applied) return;
    if (op.kind === 'purge' || op.kind === 'evict') this.current.delete(op.id);
    else this.current.set(op.id, { version: op.version, tombstone: op.kind === 'delete' });
  }
}

/** Runs one op against the engine and logs it: issue before submitting, ack or error after it settled. */
export async function runOp(engine: Engine, workload: Workload, op: WorkloadOp, log: (event: LogEvent) => void): Promise<'ok' | 'stopped'> {
  const version = op.version.toString('hex');
  log({ type: 'issue', n: op.n, kind: op.kind, id: op.id, version });
  try {
    if (op.kind === 'purge' || op.kind === 'evict') {
      const removed = op.kind === 'purge' ? (await engine.purgeTombstone(op.id, op.version)).purged : (await engine.evict(op.id, op.version)).evicted;
      log({ type: 'ack', n: op.n, applied: removed, version: undefined });
      workload.acknowledged(op, removed);
    } else {
      const result = op.kind === 'put' ? await engine.put(op.id, op.version, blockData(op.id, version)) : await engine.delete(op.id, op.version);
      log({ type: 'ack', n: op.n, applied: result.applied, version: result.version.toString('hex') });
      workload.acknowledged(op, result.applied);
    }
    return 'ok';
  } catch (error) {
    log({ type: 'error', n: op.n, code: isEngineError(error) ? error.code : String(error) });
    return isEngineError(error, 'IO_ERROR') || isEngineError(error, 'CLOSED') ? 'stopped' : 'ok';
  }
}

/** `concurrency` workers issuing ops until `stop()` says so or the engine stops. */
export async function runWorkload(engine: Engine, workload: Workload, concurrency: number, log: (event: LogEvent) => void, stop: () => boolean): Promise<void> {
  const worker = async (): Promise<void> => {
    while (!stop()) if ((await runOp(engine, workload, workload.next(), log)) === 'stopped') return;
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export interface Verdict {
  state: ModelState;
  problems: string[];
  acked: number;
  unacked: number;
}

/**
 * Judges the store after a crash. For each id, E = the state after the last acknowledged op (on top
 * of `before`). The stored state must be E itself, or the result of ops issued but never answered:
 * (or answered IO_ERROR, whose outcome is unknown): a put/tombstone with exactly such an op's
 * version, newer than E unless a purge or evict was in flight, or nothing when one was in flight. A stored block's bytes must be f(id, version). Any checksum
 * error fails the verdict.
 */
export async function verifyRecovered(engine: Engine, events: LogEvent[], before: ModelState, ids: string[]): Promise<Verdict> {
  const issued = new Map<number, Extract<LogEvent, { type: 'issue' }>>();
  const answered = new Set<number>();
  const expected: ModelState = new Map(before);
  const problems: string[] = [];
  for (const event of events) {
    if (event.type === 'issue') {
      issued.set(event.n, event);
      continue;
    }
    // An IO_ERROR answer leaves the outcome unknown (the write may have reached the disk): in flight.
    if (event.type === 'error' && event.code === 'IO_ERROR') continue;
    answered.add(event.n);
    const op = issued.get(event.n);
    if (op === undefined) {
      problems.push(`answer for op ${event.n} that was never issued`);
      continue;
    }
    if (event.type !== 'ack') continue;
    const removal = op.kind === 'purge' || op.kind === 'evict';
    if (!event.applied && !removal && (event.version === undefined || Buffer.compare(Buffer.from(event.version, 'hex'), Buffer.from(op.version, 'hex')) < 0)) {
      problems.push(`${op.id}: ${op.kind} ${op.version} not applied but the stored version ${event.version} is older`);
    }
    if (!event.applied) continue;
    if (removal) expected.delete(op.id);
    else expected.set(op.id, { kind: op.kind === 'put' ? 'put' : 'tombstone', version: op.version });
  }
  const inFlight = new Map<string, Extract<LogEvent, { type: 'issue' }>[]>();
  for (const op of issued.values()) {
    if (answered.has(op.n)) continue;
    inFlight.set(op.id, [...(inFlight.get(op.id) ?? []), op]);
  }

  const state: ModelState = new Map();
  for await (const record of engine.scan({ withData: true })) {
    const version = record.version.toString('hex');
    state.set(record.id, { kind: record.tombstone ? 'tombstone' : 'put', version });
    if (!ids.includes(record.id)) problems.push(`unknown id ${record.id} stored`);
    if (!record.tombstone && !record.data?.equals(blockData(record.id, version))) problems.push(`${record.id}: bytes of ${version} are not the bytes written`);
  }
  for (const id of ids) {
    const problem = judge(id, state.get(id), expected.get(id), inFlight.get(id) ?? []);
    if (problem !== undefined) problems.push(problem);
    const got = await engine.head(id);
    if ((got === undefined) !== (state.get(id) === undefined)) problems.push(`${id}: head and scan disagree`);
  }
  const stats = engine.stats();
  if (stats.blocks + stats.tombstones !== state.size) problems.push(`stats count ${stats.blocks}+${stats.tombstones} records, scan found ${state.size}`);
  return { state, problems, acked: answered.size, unacked: issued.size - answered.size };
}

function judge(id: string, stored: StoredState | undefined, expected: StoredState | undefined, inFlight: Extract<LogEvent, { type: 'issue' }>[]): string | undefined {
  const describe = (s: StoredState | undefined): string => (s === undefined ? 'nothing' : `${s.kind} ${s.version}`);
  if (stored?.kind === expected?.kind && stored?.version === expected?.version) return undefined;
  const removalInFlight = inFlight.some((op) => op.kind === 'purge' || op.kind === 'evict');
  if (stored === undefined) return removalInFlight ? undefined : `${id}: acknowledged ${describe(expected)} but nothing is stored`;
  const source = inFlight.find((op) => op.version === stored.version && (op.kind === 'put' ? 'put' : op.kind === 'delete' ? 'tombstone' : '') === stored.kind);
  if (source === undefined) return `${id}: stored ${describe(stored)} was neither acknowledged last (${describe(expected)}) nor in flight`;
  if (expected !== undefined && !removalInFlight && Buffer.compare(Buffer.from(stored.version, 'hex'), Buffer.from(expected.version, 'hex')) <= 0) {
    return `${id}: stored ${describe(stored)} is not newer than the acknowledged ${describe(expected)}`;
  }
  return undefined;
}
