// The binary replication protocol end to end on 127.0.0.1: the real Peers client over a real
// node:http server with the real ReplicationServer in front of a real engine on a temporary file.
// Last-writer-wins answers, many calls multiplexed on one connection, the token and epoch checks,
// falling back to HTTP for a peer that does not speak the protocol, timeouts, a lost connection,
// a peer breaking the protocol, back-pressure beyond the in-flight bound, and draining on stop.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import pino from 'pino';
import { createHttpServer } from '../src/http/server.js';
import { Router } from '../src/http/router.js';
import { internalRoutes } from '../src/internal-routes.js';
import { LocalReplica } from '../src/local-replica.js';
import { Peers } from '../src/peers.js';
import { encodeRequest, REPLICATION_PATH, REPLICATION_PROTOCOL } from '../src/replication/frames.js';
import { ReplicationServer } from '../src/replication/server.js';
import { ReplicaError, type Replica, type StoredBlock, type WriteOutcome } from '../src/store.js';
import { HybridClock, versionToText } from '../src/version.js';
import { HEADER_EPOCH } from '../src/peers.js';
import { randomBlock, rng } from './transfer-harness.js';

const TOKEN = 'a-cluster-token-for-the-test';
const LIMITS = { headersTimeoutMs: 5_000, requestTimeoutMs: 5_000, maxConnections: 64 };
const silent = pino({ level: 'silent' });

interface Observed {
  route: string;
  method: string;
  status: number;
}

/** Holds a replica's calls until released: for timeouts, back-pressure and draining. */
class Gate {
  private opened = false;
  private waiting: (() => void)[] = [];
  private watchers: { count: number; resolve: () => void }[] = [];
  held = 0;

  pass(): Promise<void> {
    if (this.opened) return Promise.resolve();
    this.held++;
    this.watchers = this.watchers.filter((watcher) => (this.held >= watcher.count ? (watcher.resolve(), false) : true));
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Resolves once `count` calls are held (rejects after 5 s). */
  holding(count: number): Promise<void> {
    if (this.held >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.held} of ${count} calls held within 5 s`)), 5_000);
      this.watchers.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  open(): void {
    this.opened = true;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

interface PeerUnderTest {
  addr: string;
  engine: LocalReplica;
  epoch: { value: number };
  newerEpochs: number[];
  observed: Observed[];
  replication: ReplicationServer | undefined;
  /** Server-side sockets (upgraded ones included). */
  sockets: Set<Socket>;
  stop(): Promise<void>;
}

async function startPeer(t: Test, options: { binary?: boolean; gate?: Gate } = {}): Promise<PeerUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), 'ringblock-replication-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const engine = await LocalReplica.open(join(dir, 'device'), 64 * 1024 * 1024, silent);
  const gate = options.gate;
  const local: Replica = gate
    ? {
        write: async (id, version, data, trace) => {
          await gate.pass();
          return engine.write(id, version, data, trace);
        },
        read: async (id) => {
          await gate.pass();
          return engine.read(id);
        },
      }
    : engine;
  const epoch = { value: 5 };
  const newerEpochs: number[] = [];
  const observed: Observed[] = [];
  const clock = new HybridClock('receiver');
  const router = new Router(internalRoutes({ local, clock, epoch: () => epoch.value, onNewerEpoch: (sent) => newerEpochs.push(sent), bodyTimeoutMs: 5_000 }), TOKEN);
  const observe = (route: string, method: string, status: number) => observed.push({ route, method, status });
  const http = createHttpServer(router, LIMITS, observe, () => undefined);
  const sockets = new Set<Socket>();
  http.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const replication = options.binary === false
    ? undefined
    : new ReplicationServer({ local, clock, epoch: () => epoch.value, onNewerEpoch: (sent) => newerEpochs.push(sent), authorize: (req) => router.authorize(req), observe, logError: () => undefined, plainRequest: http.serveIgnoringUpgrade });
  if (replication) http.server.on('upgrade', replication.handleUpgrade);
  const port = await http.listen(0, '127.0.0.1');
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all([http.close(2_000), replication?.close(2_000)]);
    await engine.close();
  };
  t.teardown(stop);
  return { addr: `127.0.0.1:${port}`, engine, epoch, newerEpochs, observed, replication, sockets, stop };
}

function client(t: Test, options: { token?: string; epoch?: () => number; timeoutMs?: number; linkIdleMs?: number } = {}): Peers {
  const peers = new Peers({ token: options.token ?? TOKEN, timeoutMs: options.timeoutMs ?? 2_000, connections: 4, epoch: options.epoch ?? (() => 5), protocol: 'binary', ...(options.linkIdleMs ? { linkIdleMs: options.linkIdleMs } : {}) });
  t.teardown(() => peers.close());
  return peers;
}

const clock = new HybridClock('sender');

t.test('writes, tombstones and reads over one connection, with last-writer-wins answers', async (t) => {
  const peer = await startPeer(t);
  const replica = client(t).replica(peer.addr);
  const random = rng(21);
  const data = randomBlock(random);
  const first = clock.next();
  t.same(await replica.write('b1', first, data), { result: 'applied' });
  t.equal((await replica.write('b1', first, data)).result, 'equal', 'the same version again: equal');
  const later = clock.next();
  const newer = await replica.write('b1', later, randomBlock(random));
  t.equal(newer.result, 'applied');
  const stale: WriteOutcome = await replica.write('b1', first, data);
  t.equal(stale.result, 'newer', 'an older version is refused');
  t.same(stale.current, later, 'with the version the replica holds');
  const block = (await replica.read('b1')) as StoredBlock;
  t.same(block.version, later);
  t.equal(block.tombstone, false);
  t.equal(block.data?.length, 4096);
  const deleted = clock.next();
  t.same(await replica.write('b1', deleted, undefined), { result: 'applied' }, 'a tombstone');
  const tombstone = (await replica.read('b1')) as StoredBlock;
  t.same({ version: tombstone.version, tombstone: tombstone.tombstone, data: tombstone.data }, { version: deleted, tombstone: true, data: undefined });
  t.equal(await replica.read('never-written'), undefined, 'nothing stored: undefined');
  t.equal(peer.replication?.sessionCount, 1, 'one connection carried every call');
  t.same(
    [...new Set(peer.observed.map((entry) => `${entry.route} ${entry.method} ${entry.status}`))].sort(),
    ['internal_block DELETE 200', 'internal_block GET 200', 'internal_block GET 404', 'internal_block PUT 200'],
    'each call counted under the internal replica route, as over HTTP',
  );
});

t.test('a thousand concurrent writes on one link all land with their own bytes', async (t) => {
  const peer = await startPeer(t);
  const replica = client(t).replica(peer.addr);
  const random = rng(22);
  const blocks = Array.from({ length: 1000 }, (_, index) => ({ id: `m-${index}`, data: randomBlock(random), version: clock.next() }));
  const outcomes = await Promise.all(blocks.map((block) => replica.write(block.id, block.version, block.data)));
  t.ok(outcomes.every((outcome) => outcome.result === 'applied'), 'every write applied');
  const reads = await Promise.all(blocks.map((block) => peer.engine.read(block.id)));
  t.ok(reads.every((read, index) => read?.data?.equals(blocks[index]!.data) && read.version.equals(blocks[index]!.version)), 'the engine holds each block\'s bytes and version');
  t.equal(peer.replication?.sessionCount, 1);
});

t.test('a wrong token is refused, and not retried over HTTP', async (t) => {
  const peer = await startPeer(t);
  const replica = client(t, { token: 'not-the-cluster-token' }).replica(peer.addr);
  await t.rejects(replica.write('b1', clock.next(), randomBlock(rng(1))), { code: 'REFUSED', message: /HTTP 401/ });
  t.equal(peer.observed.length, 0, 'no replica call reached the engine, over either protocol');
  t.equal(await peer.engine.read('b1'), undefined);
});

t.test('ring epochs: an older sender gets STALE_EPOCH with ours, a newer one makes us catch up', async (t) => {
  const peer = await startPeer(t);
  let ours = 4;
  const replica = client(t, { epoch: () => ours }).replica(peer.addr);
  await t.rejects(replica.write('b1', clock.next(), randomBlock(rng(2))), { code: 'STALE_EPOCH', epoch: 5 });
  await t.rejects(replica.read('b1'), { code: 'STALE_EPOCH', epoch: 5 });
  t.equal(await peer.engine.read('b1'), undefined, 'the stale write did not land');
  ours = 9;
  t.equal((await replica.write('b1', clock.next(), randomBlock(rng(2)))).result, 'applied');
  t.same(peer.newerEpochs, [9], 'told of the newer epoch');
});

t.test('a peer that does not speak the protocol is reached over HTTP', async (t) => {
  const peer = await startPeer(t, { binary: false });
  const replica = client(t).replica(peer.addr);
  const data = randomBlock(rng(3));
  const version = clock.next();
  t.same(await replica.write('b1', version, data), { result: 'applied' });
  t.ok((await replica.read('b1'))?.data?.equals(data));
  t.ok(peer.observed.some((entry) => entry.route === 'internal_block' && entry.method === 'PUT'), 'served by the /internal/block route');
});

t.test('a call the peer does not answer in time fails with TIMEOUT; the link keeps working', async (t) => {
  const gate = new Gate();
  const peer = await startPeer(t, { gate });
  const replica = client(t, { timeoutMs: 300 }).replica(peer.addr);
  const started = performance.now();
  await t.rejects(replica.write('b1', clock.next(), randomBlock(rng(4))), { code: 'TIMEOUT' });
  const waitedMs = performance.now() - started;
  t.ok(waitedMs >= 250 && waitedMs < 2_000, `timed out after ${waitedMs.toFixed(0)} ms (timeout 300 ms)`);
  gate.open();
  t.equal((await replica.write('b2', clock.next(), randomBlock(rng(4)))).result, 'applied', 'the next call is answered on the same link');
  t.equal(peer.replication?.sessionCount, 1);
});

t.test('a connection lost with calls in flight fails them as UNREACHABLE; the next call reconnects', async (t) => {
  const gate = new Gate();
  const peer = await startPeer(t, { gate });
  const replica = client(t).replica(peer.addr);
  const inFlight = Array.from({ length: 5 }, (_, index) => replica.write(`b${index}`, clock.next(), randomBlock(rng(index))));
  await gate.holding(5);
  for (const socket of peer.sockets) socket.destroy();
  const outcomes = await Promise.allSettled(inFlight);
  t.ok(outcomes.every((outcome) => outcome.status === 'rejected' && (outcome.reason as ReplicaError).code === 'UNREACHABLE'), 'every call in flight failed as UNREACHABLE');
  gate.open();
  t.equal((await replica.write('after', clock.next(), randomBlock(rng(9)))).result, 'applied', 'a new connection serves the next call');
});

t.test('an idle link is closed on both ends, and the next call opens a new one and succeeds', async (t) => {
  // Found from outside: the first write after 30 s without traffic failed with 503 on a healthy
  // cluster. The idle link was only ended, the peer kept its half-open side, and the next call
  // was written to a socket nothing would answer.
  const peer = await startPeer(t);
  const replica = client(t, { timeoutMs: 400, linkIdleMs: 150 }).replica(peer.addr);
  t.equal((await replica.write('before', clock.next(), randomBlock(rng(1)))).result, 'applied');
  t.equal(peer.replication?.sessionCount, 1);
  const serverSockets = [...peer.sockets];
  await Promise.all(serverSockets.map((socket) => (socket.destroyed ? undefined : once(socket, 'close'))));
  t.equal(peer.replication?.sessionCount, 0, 'the peer let go of the idle session');
  for (let call = 0; call < 3; call++) {
    t.equal((await replica.write(`after-${call}`, clock.next(), randomBlock(rng(2 + call)))).result, 'applied', `call ${call + 1} after the idle close is answered`);
  }
  t.same((await replica.read('after-2'))?.data, randomBlock(rng(4)));
  t.equal(peer.replication?.sessionCount, 1, 'over one new link');
});

t.test('a request asking to upgrade to another protocol is served as plain HTTP/1.1, body and keep-alive included', async (t) => {
  // Found from outside: `curl --http2` (Upgrade: h2c) got 404 "no upgrade at /block/…" and its PUT
  // was not stored. A server may ignore Upgrade; only the replication path upgrades.
  const peer = await startPeer(t);
  const data = randomBlock(rng(21));
  const version = versionToText(clock.next());
  const socket = connect(Number(peer.addr.split(':')[1]), '127.0.0.1');
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  const answered = (count: number) => new Promise<void>((resolve, reject) => {
    const check = () => (received.split('HTTP/1.1 ').length - 1 >= count && /\r\n\r\n/.test(received.slice(received.lastIndexOf('HTTP/1.1 '))) ? resolve() : undefined);
    socket.on('data', check);
    socket.once('close', () => reject(new Error(`closed after: ${received}`)));
    check();
  });
  const head = (method: string, path: string, extra: string) =>
    `${method} ${path} HTTP/1.1\r\nHost: ${peer.addr}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nAuthorization: Bearer ${TOKEN}\r\n${HEADER_EPOCH}: 5\r\n${extra}\r\n`;
  // The body arrives in two pieces: the first with the head, the second later.
  socket.write(head('PUT', '/internal/block/h2c-put', `x-ringblock-version: ${version}\r\nContent-Length: 4096\r\n`) + data.subarray(0, 1000).toString('latin1'), 'latin1');
  await new Promise((resolve) => setImmediate(resolve));
  socket.write(data.subarray(1000));
  await answered(1);
  t.match(received, /^HTTP\/1\.1 200 /, 'the PUT was answered as HTTP/1.1, not refused');
  t.match(received, /x-ringblock-result: applied/i);
  socket.write(head('GET', '/internal/block/h2c-put', ''), 'latin1');
  await answered(2);
  t.match(received.slice(received.lastIndexOf('HTTP/1.1 ')), /^HTTP\/1\.1 200 /, 'a second request on the same connection is served too');
  t.same((await peer.engine.read('h2c-put'))?.data, data, 'the bytes were stored exactly');
  t.equal(peer.replication?.sessionCount, 0, 'no replication session was opened');
});

t.test('a peer breaking the protocol loses its session; the node keeps serving others', async (t) => {
  const peer = await startPeer(t);
  const socket = await upgrade(peer.addr);
  const closed = new Promise((resolve) => socket.once('close', resolve));
  const garbage = Buffer.alloc(16, 0xff);
  socket.write(garbage);
  await closed;
  const bad = await upgrade(peer.addr);
  const badClosed = new Promise((resolve) => bad.once('close', resolve));
  // A well-formed frame of a kind no request has.
  const frame = Buffer.concat(encodeRequest({ kind: 'read', requestId: 1, epoch: 5, blockId: 'x', traceparent: undefined }));
  frame[4] = 0x42;
  bad.write(frame);
  await badClosed;
  const replica = client(t).replica(peer.addr);
  t.equal((await replica.write('b1', clock.next(), randomBlock(rng(5)))).result, 'applied');
  t.equal(peer.replication?.sessionCount, 1, 'only the good session is left');
});

t.test('more calls than a session serves at once: reading pauses, every call is answered', async (t) => {
  const gate = new Gate();
  const peer = await startPeer(t, { gate });
  const replica = client(t, { timeoutMs: 10_000 }).replica(peer.addr);
  const random = rng(23);
  const calls = Array.from({ length: 1500 }, (_, index) => replica.write(`p-${index}`, clock.next(), randomBlock(random)));
  await gate.holding(1024);
  // Nothing to await here: the check is that no more calls arrive while the session is full. The
  // frames of the read in progress are still served (a read holds at most 64 KiB, 15 frames).
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.ok(gate.held >= 1024 && gate.held <= 1024 + 16, `the session holds ${gate.held} calls in flight and reads no further`);
  gate.open();
  const outcomes = await Promise.all(calls);
  t.ok(outcomes.every((outcome) => outcome.result === 'applied'), 'all 1500 applied once reading resumed');
});

t.test('stopping drains: calls in flight are answered, later ones fail fast, the connection closes', async (t) => {
  const gate = new Gate();
  const peer = await startPeer(t, { gate });
  const replica = client(t).replica(peer.addr);
  const inFlight = Array.from({ length: 3 }, (_, index) => replica.write(`d-${index}`, clock.next(), randomBlock(rng(index))));
  await gate.holding(3);
  const closing = peer.replication!.close(5_000);
  gate.open();
  const outcomes = await Promise.all(inFlight);
  t.ok(outcomes.every((outcome) => outcome.result === 'applied'), 'what was in flight when the drain began was answered');
  await closing;
  t.equal(peer.replication?.sessionCount, 0, 'the session ended');
  await t.rejects(replica.write('after', clock.next(), randomBlock(rng(7))), { code: 'REFUSED', message: /HTTP 503/ }, 'a new connection is refused while the node stops');
});

/** An upgraded raw socket to the peer's replication path. */
function upgrade(addr: string): Promise<Socket> {
  const [host, port] = addr.split(':');
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host, port: Number(port), path: REPLICATION_PATH, agent: false, headers: { connection: 'Upgrade', upgrade: REPLICATION_PROTOCOL, authorization: `Bearer ${TOKEN}` } });
    request.on('upgrade', (_response, socket) => resolve(socket));
    request.on('response', (response) => reject(new Error(`upgrade answered ${response.statusCode}`)));
    request.on('error', reject);
    request.end();
  });
}
