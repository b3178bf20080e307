// Test support: real node:http servers on port 0 that answer the documented block API (DESIGN §2)
// from a shared in-memory store and serve `GET /cluster/ring`, record every request, and let a test
// inject faults per node. Every server is closed in the test's teardown.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { loadHasher, Ring } from '@ringblock/ring';
import type { Test } from 'tap';
import { RingblockClient, type ClientOptions } from '../../src/index.js';

export interface Seen {
  readonly method: string;
  /** Path without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** Answers a request itself (returns true) or lets the fake's normal behaviour answer it. */
export type Fault = (seen: Seen, res: ServerResponse) => boolean | Promise<boolean>;

export interface FakeNode {
  readonly name: string;
  readonly origin: string;
  /** `host:port`, as the ring publishes it. */
  readonly addr: string;
  readonly seen: Seen[];
  /** Block requests only. */
  blockRequests(): Seen[];
  fault: Fault | undefined;
  close(): Promise<void>;
}

export interface StoredBlock {
  data: Buffer;
  version: string;
}

/** State several fake nodes share: the blocks and the ring they publish. */
export class FakeClusterState {
  readonly blocks = new Map<string, StoredBlock | 'tombstone'>();
  epoch = 1;
  replicationFactor = 3;
  vnodes = 16;
  members: { name: string; addr: string }[] = [];
  #counter = 0;

  nextVersion(node: string): string {
    this.#counter++;
    return `${this.#counter.toString(16).padStart(16, '0')}-${node}`;
  }

  async ringAnswer(): Promise<unknown> {
    const ring = new Ring({ nodes: this.members, vnodes: this.vnodes, replicationFactor: this.replicationFactor, hasher: await loadHasher() });
    return {
      epoch: this.epoch,
      replicationFactor: this.replicationFactor,
      vnodes: this.vnodes,
      nodes: ring.nodes.map((node) => ({ name: node.name, addr: node.addr ?? null, zone: null })),
      tokens: ring.tokens(),
    };
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, code: string, details: Record<string, unknown> = {}, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: `fake ${code}`, code, ...details }, headers);
}

/** Starts one fake node named `name`, serving `state`. */
export async function startFakeNode(t: Test, name: string, state: FakeClusterState): Promise<FakeNode> {
  const seen: Seen[] = [];
  const node: FakeNode = {
    name,
    origin: '',
    addr: '',
    seen,
    blockRequests: () => seen.filter((request) => request.path.startsWith('/block/')),
    fault: undefined,
    close: async () => undefined,
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const request: Seen = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(request);
      void answer(node, state, request, res);
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  Object.assign(node, {
    origin: `http://127.0.0.1:${port}`,
    addr: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
  t.teardown(() => node.close());
  return node;
}

/** Starts `count` fake nodes `fake-1…` sharing one state, published as the ring's members. */
export async function startFakeCluster(t: Test, count: number): Promise<{ state: FakeClusterState; nodes: FakeNode[] }> {
  const state = new FakeClusterState();
  const nodes: FakeNode[] = [];
  for (let index = 1; index <= count; index++) nodes.push(await startFakeNode(t, `fake-${index}`, state));
  state.members = nodes.map((node) => ({ name: node.name, addr: node.addr }));
  return { state, nodes };
}

/** A client of `nodes` with fast backoff, closed in the test's teardown. */
export async function clientFor(t: Test, nodes: readonly (FakeNode | string)[], options: Partial<ClientOptions> = {}): Promise<RingblockClient> {
  const client = await RingblockClient.create({
    nodes: nodes.map((node) => (typeof node === 'string' ? node : node.origin)),
    backoffBaseMs: 1,
    backoffMaxMs: 5,
    ...options,
  });
  t.teardown(() => client.close());
  return client;
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function answer(node: FakeNode, state: FakeClusterState, request: Seen, res: ServerResponse): Promise<void> {
  if (node.fault && (await node.fault(request, res))) return;
  if (request.path === '/cluster/ring' && request.method === 'GET') return sendJson(res, 200, await state.ringAnswer());
  const match = /^\/block\/([^/]+)$/.exec(request.path);
  if (!match) return sendError(res, 404, 'NOT_FOUND');
  const id = decodeURIComponent(match[1]!);
  const stored = state.blocks.get(id);
  switch (request.method) {
    case 'PUT': {
      if (request.body.length !== 4096) return sendError(res, request.body.length > 4096 ? 413 : 400, 'BLOCK_SIZE');
      const version = state.nextVersion(node.name);
      state.blocks.set(id, { data: request.body, version });
      return sendJson(res, 201, { id, version }, { etag: `"${version}"` });
    }
    case 'DELETE': {
      const version = state.nextVersion(node.name);
      state.blocks.set(id, 'tombstone');
      res.writeHead(204, { etag: `"${version}"` });
      return void res.end();
    }
    case 'GET':
    case 'HEAD': {
      if (stored === undefined || stored === 'tombstone') return sendError(res, 404, 'NOT_FOUND');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 4096, etag: `"${stored.version}"` });
      return void res.end(request.method === 'GET' ? stored.data : undefined);
    }
    default:
      return sendError(res, 405, 'METHOD_NOT_ALLOWED');
  }
}
