// One connection to a peer carrying many replica calls at once (the binary protocol of frames.ts):
// opened on first use by an HTTP upgrade with the cluster token, shared by every coordinator call
// to that peer, answers matched by request id. Frames queued in one event-loop turn leave in one
// write (FrameWriter), so a burst of replica writes costs one syscall instead of one HTTP request
// each. Bounded: calls in flight, time per call, idle time.
//
// Lifecycle: idle → connecting → open → (connection lost) idle …; close() → closed, for good.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Context } from '@opentelemetry/api';
import { injectTraceHeaders } from '../tracing.js';
import { ReplicaError, type Replica, type StoredBlock, type WriteOutcome } from '../store.js';
import type { PeerTransport } from '../peer-transport.js';
import { FrameWriter } from './frame-writer.js';
import { decodeAnswer, encodeRequest, FrameReader, REPLICATION_PATH, REPLICATION_PROTOCOL, type ReadRequest, type ReplicaAnswer, type WriteRequest } from './frames.js';

/** Calls in flight on one link at most; more fail at once (the peer is not keeping up). */
const LINK_PENDING_MAX = 4096;
/** A link with nothing in flight for this long is closed (a peer that left keeps no socket). */
const LINK_IDLE_MS = 30_000;

type LinkState = 'idle' | 'connecting' | 'open' | 'closed';
type Call = Omit<WriteRequest, 'requestId'> | Omit<ReadRequest, 'requestId'>;

/** The peer answered the upgrade with an HTTP status instead of switching protocols. */
export class UpgradeRefused extends ReplicaError {
  constructor(readonly status: number, addr: string) {
    super('REFUSED', `peer ${addr} refused the replication protocol (HTTP ${status})`);
  }
}

export interface LinkOptions {
  addr: string;
  token: string;
  /** Bound on connecting, and on each call's answer. */
  timeoutMs: number;
  pendingMax?: number;
  idleMs?: number;
  /** TLS (verified against its CA) when the cluster runs TLS. */
  transport?: PeerTransport | undefined;
}

interface Pending {
  resolve: (answer: ReplicaAnswer) => void;
  reject: (error: ReplicaError) => void;
  deadlineMs: number;
}

export class ReplicationLink {
  private state: LinkState = 'idle';
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextRequestId = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private writer: FrameWriter | undefined;
  private lastActiveMs = 0;

  constructor(private readonly options: LinkOptions) {}

  async call(call: Call): Promise<ReplicaAnswer> {
    if (this.state === 'closed') throw new ReplicaError('UNREACHABLE', 'this node is shutting down');
    if (this.pending.size >= (this.options.pendingMax ?? LINK_PENDING_MAX)) throw new ReplicaError('REFUSED', `peer ${this.options.addr}: ${this.pending.size} calls in flight already`);
    const socket = this.usableSocket() ?? (await this.connect());
    // The connection may have closed while this call waited for it: nothing would answer.
    if (socket !== this.socket || !isUsable(socket)) throw new ReplicaError('UNREACHABLE', `peer ${this.options.addr}: the replication connection closed`);
    const requestId = this.allocateRequestId();
    const frame = encodeRequest({ ...call, requestId } as WriteRequest | ReadRequest);
    return new Promise<ReplicaAnswer>((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject, deadlineMs: performance.now() + this.options.timeoutMs });
      this.lastActiveMs = performance.now();
      this.writer!.send(frame);
    });
  }

  close(): void {
    this.state = 'closed';
    this.socket?.destroy();
    this.lost(new ReplicaError('UNREACHABLE', 'this node is shutting down'));
  }

  /**
   * The open socket when a frame written to it can still be answered; a socket that ended (the
   * peer closed its side) is retired first, so this call opens a new connection instead of
   * failing on one that can only be torn down. Nothing was sent on it for this call: safe.
   */
  private usableSocket(): Socket | undefined {
    const socket = this.socket;
    if (socket === undefined || isUsable(socket)) return socket;
    socket.destroy();
    return undefined;
  }

  private allocateRequestId(): number {
    // Ids wrap at 2^32; a wrapped id still in flight (impossible below LINK_PENDING_MAX) is skipped.
    do this.nextRequestId = (this.nextRequestId + 1) >>> 0;
    while (this.pending.has(this.nextRequestId));
    return this.nextRequestId;
  }

  private connect(): Promise<Socket> {
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private open(): Promise<Socket> {
    const { addr, token, timeoutMs } = this.options;
    const colon = addr.lastIndexOf(':');
    this.state = 'connecting';
    return new Promise<Socket>((resolve, reject) => {
      const fail = (error: ReplicaError) => {
        clearTimeout(timer);
        if (this.state === 'connecting') this.state = 'idle';
        reject(error);
      };
      const target = {
        host: addr.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
        port: Number(addr.slice(colon + 1)),
        path: REPLICATION_PATH,
        agent: false as const,
        headers: { connection: 'Upgrade', upgrade: REPLICATION_PROTOCOL, authorization: `Bearer ${token}` },
      };
      const tls = this.options.transport?.tls;
      const request = tls ? httpsRequest({ ...target, ...(tls.ca ? { ca: tls.ca } : {}) }) : httpRequest(target);
      const timer = setTimeout(() => request.destroy(new ReplicaError('TIMEOUT', `peer ${addr}: no answer to the replication upgrade within ${timeoutMs} ms`)), timeoutMs);
      request.on('upgrade', (_response, socket, head) => {
        clearTimeout(timer);
        if (this.state === 'closed') {
          socket.destroy();
          return reject(new ReplicaError('UNREACHABLE', 'this node is shutting down'));
        }
        this.adopt(socket, head);
        resolve(socket);
      });
      request.on('response', (response) => {
        response.resume();
        fail(new UpgradeRefused(response.statusCode ?? 0, addr));
      });
      request.on('error', (error) => fail(error instanceof ReplicaError ? error : new ReplicaError('UNREACHABLE', `peer ${addr}: ${error.message}`)));
      request.end();
    });
  }

  private adopt(socket: Socket, head: Buffer): void {
    this.socket = socket;
    this.writer = new FrameWriter(socket);
    this.state = 'open';
    this.lastActiveMs = performance.now();
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    const reader = new FrameReader((kind, requestId, body) => this.answered(decodeAnswer(kind, requestId, body)));
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (error) {
        socket.destroy(error as Error);
      }
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
    // The peer ended its side (it is draining, or closed an idle link): no answer can come any
    // more, so the connection is torn down at once (the 'close' below fails what is in flight) and
    // the next call reconnects. An upgraded socket allows half-open connections: without this it
    // would stay open for writing, and the next call would be written where nothing answers.
    socket.on('end', () => socket.destroy());
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      if (this.state !== 'closed') this.state = 'idle';
      this.lost(new ReplicaError('UNREACHABLE', `peer ${this.options.addr}: the replication connection closed`));
    });
    if (head.length > 0) onData(head);
    const sweepMs = Math.max(20, Math.min(500, this.options.timeoutMs / 4));
    this.sweepTimer = setInterval(() => this.sweep(socket), sweepMs).unref();
  }

  private answered(answer: ReplicaAnswer): void {
    const pending = this.pending.get(answer.requestId);
    // An answer after its call timed out: dropped.
    if (!pending) return;
    this.pending.delete(answer.requestId);
    this.lastActiveMs = performance.now();
    pending.resolve(answer);
  }

  /** Times out calls past their deadline (in insertion order: every call has the same timeout) and closes an idle link. */
  private sweep(socket: Socket): void {
    const nowMs = performance.now();
    for (const [requestId, pending] of this.pending) {
      if (pending.deadlineMs > nowMs) break;
      this.pending.delete(requestId);
      pending.reject(new ReplicaError('TIMEOUT', `peer ${this.options.addr}: no answer within ${this.options.timeoutMs} ms`));
    }
    // Idle: closed, and the next call opens a new connection (a peer that left keeps no socket).
    // Destroyed rather than ended: nothing is in flight, and a socket only half closed would stay
    // this.socket, taking (and failing) the next call.
    if (this.pending.size === 0 && nowMs - this.lastActiveMs > (this.options.idleMs ?? LINK_IDLE_MS)) socket.destroy();
  }

  private lost(error: ReplicaError): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const call of pending) call.reject(error);
  }
}

function isUsable(socket: Socket): boolean {
  return !socket.destroyed && socket.writable && !socket.readableEnded;
}

/** The coordinator's view of a peer reached over a link: answers mapped back to outcomes and ReplicaErrors. */
export function linkReplica(link: ReplicationLink, addr: string, epoch: () => number): Replica {
  return {
    write: async (id, version, data, trace): Promise<WriteOutcome> => {
      const answer = await link.call({ kind: 'write', epoch: epoch(), blockId: id, version, data, traceparent: traceparentOf(trace) });
      if (answer.kind === 'written') return answer.current ? { result: answer.result, current: answer.current } : { result: answer.result };
      throw failureOf(addr, answer, 'write');
    },
    read: async (id, trace): Promise<StoredBlock | undefined> => {
      const answer = await link.call({ kind: 'read', epoch: epoch(), blockId: id, traceparent: traceparentOf(trace) });
      if (answer.kind === 'found') return { version: answer.version, tombstone: answer.tombstone, data: answer.data };
      if (answer.kind === 'missing') return undefined;
      throw failureOf(addr, answer, 'read');
    },
  };
}

function traceparentOf(trace: Context | undefined): string | undefined {
  if (!trace) return undefined;
  const headers: Record<string, string> = {};
  injectTraceHeaders(trace, headers);
  return headers.traceparent;
}

function failureOf(addr: string, answer: ReplicaAnswer, call: string): ReplicaError {
  if (answer.kind !== 'failed') return new ReplicaError('REFUSED', `peer ${addr} answered a ${call} with "${answer.kind}"`);
  if (answer.code === 'STALE_EPOCH') return new ReplicaError('STALE_EPOCH', `peer ${addr} is on a newer ring epoch`, answer.epoch);
  if (answer.code === 'DEVICE_FULL') return new ReplicaError('DEVICE_FULL', `peer ${addr} has a full device`);
  if (answer.code === 'CHECKSUM_MISMATCH') return new ReplicaError('CHECKSUM_MISMATCH', `peer ${addr} holds a corrupt copy`);
  if (answer.code === 'SHUTTING_DOWN') return new ReplicaError('UNREACHABLE', `peer ${addr} is shutting down`);
  return new ReplicaError('REFUSED', `peer ${addr} refused the ${call}: ${answer.code}: ${answer.message}`);
}
