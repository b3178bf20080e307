// Anti-entropy calls to peers: one undici Pool per peer address with few connections (repair is
// background work), bounded timeouts, every answer read with a byte bound, failures as
// TransferErrors (so `retryable` means the same as for bulk transfer).
import type { Pool } from 'undici';
import { peerPool } from '../peers.js';
import type { PeerTransport } from '../peer-transport.js';
import { callHeaders, readSizedAnswer, requestError } from '../transfer/client.js';
import { TransferError } from '../transfer/errors.js';
import { parsePosition } from '../transfer/protocol.js';
import {
  MERKLE_PATH, merkleRequestJson, parseMerkleAnswer, parsePushAnswer, PURGE_PATH, purgeRequestJson, PUSH_PATH, pushRequestJson, TASKS_PATH,
  type MerkleRequest, type MerkleResult, type PurgeRequest, type PushAnswer, type PushRequest,
} from './protocol.js';
import type { TaskStart } from './progress.js';

/** Connections per peer: a round talks to one peer at a time, with a few ranges in flight. */
const CONNECTIONS_PER_PEER = 4;
const POOLS_MAX = 1024;
const CONNECT_TIMEOUT_MS = 10_000;

export interface RepairClientOptions {
  token: string;
  transport?: PeerTransport | undefined;
  epoch: () => number;
  /** Longest wait for an answer: a push runs for its budget plus one transfer request. */
  answerTimeoutMs: number;
  /** Bytes of a Merkle comparison call (request and answer bodies): the cost of finding nothing differs. */
  onCompareBytes?: (bytes: number) => void;
}

export class RepairClient {
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  constructor(private readonly options: RepairClientOptions) {}

  async merkle(addr: string, request: MerkleRequest, signal?: AbortSignal): Promise<MerkleResult[]> {
    const body = JSON.stringify(merkleRequestJson(request));
    const { status, answer, bytes } = await this.call(addr, 'POST', MERKLE_PATH, body, signal);
    this.options.onCompareBytes?.(Buffer.byteLength(body) + bytes);
    if (status !== 200) throw failure(status, answer);
    return parseMerkleAnswer(answer, request);
  }

  async push(addr: string, request: PushRequest, signal?: AbortSignal): Promise<PushAnswer> {
    return parsePushAnswer(await this.post(addr, PUSH_PATH, pushRequestJson(request), signal));
  }

  async purge(addr: string, request: PurgeRequest, signal?: AbortSignal): Promise<number> {
    const answer = await this.post(addr, PURGE_PATH, purgeRequestJson(request), signal);
    return Number(answer['purged']) || 0;
  }

  async startTask(addr: string, task: TaskStart, signal?: AbortSignal): Promise<void> {
    await this.post(addr, TASKS_PATH, task, signal, 202);
  }

  /** A peer's part of a task, or undefined when it does not know the task. */
  async taskPart(addr: string, task: string, signal?: AbortSignal): Promise<Record<string, unknown> | undefined> {
    const { status, answer } = await this.call(addr, 'GET', `${TASKS_PATH}/${task}`, undefined, signal);
    if (status === 404) return undefined;
    if (status !== 200) throw failure(status, answer);
    return answer;
  }

  /** The pool of a peer, for transfers to it (a repair stream is short: it may share the pool). */
  dispatcher(addr: string): Pool {
    return this.pool(addr);
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((pool) => pool.close()));
  }

  private async post(addr: string, path: string, body: unknown, signal: AbortSignal | undefined, expected = 200): Promise<Record<string, unknown>> {
    const { status, answer } = await this.call(addr, 'POST', path, JSON.stringify(body), signal);
    if (status !== expected) throw failure(status, answer);
    return answer;
  }

  private async call(addr: string, method: 'GET' | 'POST', path: string, body: string | undefined, signal: AbortSignal | undefined): Promise<{ status: number; answer: Record<string, unknown>; bytes: number }> {
    try {
      const response = await this.pool(addr).request({
        method,
        path,
        headers: { ...callHeaders({ to: addr, token: this.options.token, epoch: this.options.epoch }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body,
        signal,
      });
      return { status: response.statusCode, ...(await readSizedAnswer(response)) };
    } catch (error) {
      throw requestError(error, signal);
    }
  }

  private pool(addr: string): Pool {
    let pool = this.pools.get(addr);
    if (!pool) {
      if (this.closed) throw new TransferError('ABORTED', 'anti-entropy is stopping');
      if (this.pools.size >= POOLS_MAX) throw new TransferError('REFUSED', `more than ${POOLS_MAX} peer addresses`);
      pool = peerPool(addr, { connections: CONNECTIONS_PER_PEER, connectTimeoutMs: CONNECT_TIMEOUT_MS, answerTimeoutMs: this.options.answerTimeoutMs }, this.options.transport);
      this.pools.set(addr, pool);
    }
    return pool;
  }
}

/** An error answer as a TransferError: 409 is a stale epoch, 503 busy, others refusals. */
function failure(status: number, answer: Record<string, unknown>): TransferError {
  const remoteCode = typeof answer['code'] === 'string' ? answer['code'] : undefined;
  const message = `the peer answered ${status}${remoteCode ? ` ${remoteCode}` : ''}: ${String(answer['error'] ?? '')}`;
  const lastPosition = parsePosition(answer['lastPosition']);
  const details = { status, remoteCode, ...(typeof lastPosition === 'bigint' ? { lastPosition } : {}) };
  if (status === 401) return new TransferError('UNAUTHORIZED', message, details);
  if (status === 409) return new TransferError('STALE_EPOCH', message, { ...details, epoch: Number(answer['epoch']) });
  if (status === 503) return new TransferError('BUSY', message, details);
  return new TransferError('REFUSED', message, details);
}
