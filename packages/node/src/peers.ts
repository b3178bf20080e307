// Replica calls to other peers: by default over the binary replication protocol (one multiplexed
// link per peer, replication/link.ts); over HTTP when so configured or while a peer refuses the
// upgrade (a node of an older version during a rolling upgrade). HTTP: one undici Pool per peer
// address with a bounded number of connections, timeouts on every call, every response body
// consumed or destroyed.
import { Pool, errors as undiciErrors } from 'undici';
import type { Dispatcher } from 'undici';
import type { Context } from '@opentelemetry/api';
import { injectTraceHeaders } from './tracing.js';
import { ReplicaError, type Replica, type StoredBlock, type WriteOutcome, type WriteResult } from './store.js';
import { versionFromText, versionToText } from './version.js';
import type { PeerProtocol } from './config.js';
import { peerConnectOptions, peerOrigin, type PeerTransport } from './peer-transport.js';
import { linkReplica, ReplicationLink, UpgradeRefused } from './replication/link.js';

export const HEADER_VERSION = 'x-ringblock-version';
export { HEADER_EPOCH } from './http/epoch.js';
import { HEADER_EPOCH } from './http/epoch.js';
export const HEADER_RESULT = 'x-ringblock-result';
export const HEADER_TOMBSTONE = 'x-ringblock-tombstone';

/** Bound on distinct peer addresses with an open pool or link; more means a bug (or an attack) upstream. */
const PEER_POOLS_MAX = 1024;
/** A peer that refused the replication upgrade is reached over HTTP for this long, then asked again. */
const HTTP_FALLBACK_MS = 60_000;

export interface PeerOptions {
  token: string;
  timeoutMs: number;
  connections: number;
  /** The ring epoch this node routes by, sent with every internal request. */
  epoch: () => number;
  protocol?: PeerProtocol;
  /** Plain HTTP or TLS (with the CA peers are verified against). */
  transport?: PeerTransport;
  /** A replication link with nothing in flight for this long is closed (default 30 s). */
  linkIdleMs?: number;
}

export class Peers {
  private readonly pools = new Map<string, Pool>();
  private readonly links = new Map<string, { link: ReplicationLink; replica: Replica }>();
  /** Peers that refused the upgrade: until when they are reached over HTTP. */
  private readonly httpUntilMs = new Map<string, number>();
  private closed = false;

  constructor(private readonly options: PeerOptions) {}

  replica(addr: string): Replica {
    const http: Replica = {
      write: (id, version, data, trace) => this.write(addr, id, version, data, trace),
      read: (id, trace) => this.read(addr, id, trace),
    };
    if (this.options.protocol === 'http') return http;
    return {
      write: (id, version, data, trace) => this.overLink(addr, http, (replica) => replica.write(id, version, data, trace)),
      read: (id, trace) => this.overLink(addr, http, (replica) => replica.read(id, trace)),
    };
  }

  private async overLink<T>(addr: string, http: Replica, call: (replica: Replica) => Promise<T>): Promise<T> {
    const until = this.httpUntilMs.get(addr);
    if (until !== undefined && until > performance.now()) return call(http);
    try {
      return await call(this.link(addr));
    } catch (error) {
      // Only "no such route" means a peer without the protocol; a 401 (token) or 503 (stopping,
      // full) would be answered the same over HTTP.
      if (!(error instanceof UpgradeRefused) || (error.status !== 404 && error.status !== 405)) throw error;
      this.httpUntilMs.set(addr, performance.now() + HTTP_FALLBACK_MS);
      return call(http);
    }
  }

  private link(addr: string): Replica {
    let entry = this.links.get(addr);
    if (!entry) {
      if (this.closed) throw new ReplicaError('UNREACHABLE', 'this node is shutting down');
      if (this.links.size >= PEER_POOLS_MAX) throw new ReplicaError('REFUSED', `more than ${PEER_POOLS_MAX} peer addresses`);
      const link = new ReplicationLink({ addr, token: this.options.token, timeoutMs: this.options.timeoutMs, transport: this.options.transport, idleMs: this.options.linkIdleMs });
      entry = { link, replica: linkReplica(link, addr, this.options.epoch) };
      this.links.set(addr, entry);
    }
    return entry.replica;
  }

  async write(addr: string, id: string, version: Buffer, data: Buffer | undefined, trace?: Context): Promise<WriteOutcome> {
    const response = await this.call(addr, {
      method: data ? 'PUT' : 'DELETE',
      path: `/internal/block/${id}`,
      headers: { ...this.headers(trace), [HEADER_VERSION]: versionToText(version), ...(data ? { 'content-type': 'application/octet-stream' } : {}) },
      body: data,
    });
    await response.body.dump();
    if (response.statusCode !== 200) throw this.failure(addr, response.statusCode, response.headers);
    const result = header(response.headers, HEADER_RESULT) as WriteResult;
    const current = versionFromText(header(response.headers, HEADER_VERSION) ?? '');
    return current ? { result, current } : { result };
  }

  async read(addr: string, id: string, trace?: Context): Promise<StoredBlock | undefined> {
    const response = await this.call(addr, { method: 'GET', path: `/internal/block/${id}`, headers: this.headers(trace) });
    if (response.statusCode === 404) {
      await response.body.dump();
      return undefined;
    }
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw this.failure(addr, response.statusCode, response.headers);
    }
    const version = versionFromText(header(response.headers, HEADER_VERSION) ?? '');
    const tombstone = header(response.headers, HEADER_TOMBSTONE) === '1';
    const body = Buffer.from(await response.body.arrayBuffer());
    if (!version) throw new ReplicaError('REFUSED', `peer ${addr} answered without a valid version`);
    return { version, tombstone, data: tombstone ? undefined : body };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { link } of this.links.values()) link.close();
    this.links.clear();
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((pool) => pool.close()));
  }

  /** The token and our epoch; with a trace context, its `traceparent` too (the receiver continues the trace). */
  private headers(trace: Context | undefined): Record<string, string> {
    const headers = { authorization: `Bearer ${this.options.token}`, [HEADER_EPOCH]: String(this.options.epoch()) };
    if (trace) injectTraceHeaders(trace, headers);
    return headers;
  }

  private pool(addr: string): Pool {
    let pool = this.pools.get(addr);
    if (!pool) {
      if (this.closed) throw new ReplicaError('UNREACHABLE', 'this node is shutting down');
      if (this.pools.size >= PEER_POOLS_MAX) throw new ReplicaError('REFUSED', `more than ${PEER_POOLS_MAX} peer addresses`);
      pool = peerPool(addr, { connections: this.options.connections, connectTimeoutMs: this.options.timeoutMs, answerTimeoutMs: this.options.timeoutMs }, this.options.transport);
      this.pools.set(addr, pool);
    }
    return pool;
  }

  private async call(addr: string, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    try {
      return await this.pool(addr).request(options);
    } catch (error) {
      if (error instanceof ReplicaError) throw error;
      const timeout = error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError || error instanceof undiciErrors.ConnectTimeoutError;
      throw new ReplicaError(timeout ? 'TIMEOUT' : 'UNREACHABLE', `peer ${addr}: ${(error as Error).message}`);
    }
  }

  private failure(addr: string, status: number, headers: Record<string, string | string[] | undefined>): ReplicaError {
    if (status === 409) return new ReplicaError('STALE_EPOCH', `peer ${addr} is on a newer ring epoch`, Number(header(headers, HEADER_EPOCH)));
    if (status === 507) return new ReplicaError('DEVICE_FULL', `peer ${addr} has a full device`);
    if (status === 422) return new ReplicaError('CHECKSUM_MISMATCH', `peer ${addr} holds a corrupt copy`);
    return new ReplicaError('REFUSED', `peer ${addr} answered ${status}`);
  }
}

/**
 * A bounded connection pool to one peer, with timeouts on connecting and on every answer. Its
 * keep-alive is shorter than the server's, so a pooled socket is never reused as the peer closes it.
 */
export function peerPool(addr: string, options: { connections: number; connectTimeoutMs: number; answerTimeoutMs: number }, transport?: PeerTransport): Pool {
  return new Pool(peerOrigin(transport, addr), {
    ...peerConnectOptions(transport),
    connections: options.connections,
    connectTimeout: options.connectTimeoutMs,
    headersTimeout: options.answerTimeoutMs,
    bodyTimeout: options.answerTimeoutMs,
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 8_000,
    pipelining: 1,
  });
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
