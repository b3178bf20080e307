// The chaos workload: a bounded number of client loops issuing PUT, GET and DELETE at every
// consistency level over a small key space (so keys are overwritten and raced), each through a
// random node that is not under a fault, recording every operation in the history. Bodies are chaos
// blocks (./block.ts), so every read names the write it came from.
import { setTimeout as delay } from 'node:timers/promises';
import { BLOCK_BYTES, decodeBlock, encodeBlock } from './block.js';
import type { History, Level, NewOperation, Operation, OperationKind } from './history.js';
import type { Random } from './random.js';
import { versionFromEtag } from './versions.js';

export interface Target {
  name: string;
  url: string;
}

export interface WorkloadOptions {
  history: History;
  random: Random;
  clients: number;
  keys: number;
  /** Nodes a client may send to now (running, ready, not faulted). */
  targets: () => readonly Target[];
  requestTimeoutMs?: number;
  /** Keys are `<prefix>-<index>` (default `chaos`); a run against a long-lived cluster picks its own. */
  keyPrefix?: string;
}

export const CLIENTS_MAX = 64;
export const KEYS_MAX = 4096;
const REQUEST_TIMEOUT_MS_DEFAULT = 10_000;
/** A client with no node to send to waits this long before looking again. */
const NO_TARGET_WAIT_MS = 100;
const KIND_WEIGHTS: readonly (readonly [OperationKind, number])[] = [['put', 45], ['get', 40], ['delete', 15]];
const LEVEL_WEIGHTS: readonly (readonly [Level, number])[] = [['one', 20], ['quorum', 60], ['all', 20]];

export const KEY_PREFIX_DEFAULT = 'chaos';

export function keyName(index: number, prefix = KEY_PREFIX_DEFAULT): string {
  return `${prefix}-${index}`;
}

export class Workload {
  private running = false;
  private loops: Promise<void> | undefined;
  private nextWriteId = 1;

  constructor(private readonly options: WorkloadOptions) {
    if (!Number.isInteger(options.clients) || options.clients < 1 || options.clients > CLIENTS_MAX) throw new RangeError(`clients must be 1..${CLIENTS_MAX}, got ${options.clients}`);
    if (!Number.isInteger(options.keys) || options.keys < 1 || options.keys > KEYS_MAX) throw new RangeError(`keys must be 1..${KEYS_MAX}, got ${options.keys}`);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const loops = Array.from({ length: this.options.clients }, (_, client) => this.client(client, this.options.random.fork(client)));
    this.loops = Promise.all(loops).then(() => undefined);
  }

  /** Stops issuing and waits for the operations in flight (each bounded by the request timeout). */
  async stop(): Promise<void> {
    this.running = false;
    await this.loops;
  }

  private async client(client: number, random: Random): Promise<void> {
    const { history } = this.options;
    while (this.running) {
      if (history.full) {
        history.truncated = true;
        return;
      }
      const targets = this.options.targets();
      if (targets.length === 0) {
        await delay(NO_TARGET_WAIT_MS);
        continue;
      }
      const kind = random.weighted(KIND_WEIGHTS);
      await runOperation(history, {
        phase: 'workload',
        client,
        kind,
        key: keyName(random.below(this.options.keys), this.options.keyPrefix),
        level: random.weighted(LEVEL_WEIGHTS),
        target: random.pick(targets),
        ...(kind === 'put' ? { writeId: this.nextWriteId++ } : {}),
        timeoutMs: this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT,
      });
    }
  }
}

/** What to do: the fields of the operation known before it is sent (`writeId` for a PUT only). */
export type OperationRequest = Pick<Operation, 'phase' | 'client' | 'kind' | 'key' | 'level' | 'writeId'> & { target: Target; timeoutMs: number };

/** Performs one operation over HTTP and records it; never throws for what the server or network does. */
export async function runOperation(history: History, request: OperationRequest): Promise<Operation> {
  const { kind, key, level, target } = request;
  const method = kind === 'put' ? 'PUT' : kind === 'get' ? 'GET' : 'DELETE';
  const body = kind === 'put' ? encodeBlock(key, request.writeId!) : undefined;
  const startMs = history.now();
  const base = { phase: request.phase, client: request.client, kind, key, level, node: target.name, startMs, ...(request.writeId !== undefined ? { writeId: request.writeId } : {}) };
  let answer: Omit<NewOperation, keyof typeof base | 'endMs'>;
  try {
    const response = await fetch(`${target.url}/block/${key}?consistency=${level}`, { method, ...(body ? { body } : {}), signal: AbortSignal.timeout(request.timeoutMs) });
    const bytes = Buffer.from(await response.arrayBuffer());
    answer = describeAnswer(kind, key, response.status, versionFromEtag(response.headers.get('etag')), bytes);
  } catch (error) {
    answer = { status: null, code: transportCode(error) };
  }
  return history.add({ ...base, ...answer, endMs: history.now() });
}

function describeAnswer(kind: OperationKind, key: string, status: number, version: string | undefined, bytes: Buffer): Pick<Operation, 'status' | 'code' | 'version' | 'writeId' | 'garbage'> {
  const versioned = version === undefined ? {} : { version };
  if (status >= 400) return { status, code: errorCode(bytes) };
  if (kind !== 'get' || status !== 200) return { status, ...versioned };
  if (version === undefined) return { status, code: 'NO_ETAG' };
  if (bytes.length !== BLOCK_BYTES) return { status, version, garbage: `${bytes.length} bytes` };
  const decoded = decodeBlock(bytes);
  if (!decoded.ok) return { status, version, garbage: decoded.reason };
  if (decoded.key !== key) return { status, version, garbage: `the bytes of key ${decoded.key} write ${decoded.writeId}` };
  return { status, version, writeId: decoded.writeId };
}

function errorCode(bytes: Buffer): string {
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { code?: unknown };
    return typeof parsed.code === 'string' ? parsed.code : 'NO_CODE';
  } catch {
    return 'NOT_JSON';
  }
}

function transportCode(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'TIMEOUT';
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  return error instanceof Error ? error.name : 'ERROR';
}
