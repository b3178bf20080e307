// The JSON-RPC client against a scripted server: framing, out-of-order and split replies, timeouts,
// a dropped connection with calls in flight, bad replies, bounds (RPC.md §1.2–1.4).
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { isSpdkRpcError, JsonValueSplitter, SpdkApi, SpdkRpcClient, SpdkRpcError, type SpdkRpcClientOptions } from '../src/index.js';
import { sleep, tempDir, type Teardown } from './helpers.js';

interface Request {
  readonly id: number;
  readonly method: string;
  readonly params?: unknown;
  readonly raw: string;
  readonly socket: net.Socket;
}

/** A server that records requests and lets the test answer them byte by byte. */
class ScriptedServer {
  readonly requests: Request[] = [];
  readonly sockets: net.Socket[] = [];
  halfClosedByClient = false;
  private waiters: (() => void)[] = [];

  private constructor(
    readonly server: net.Server,
    readonly socketPath: string,
  ) {}

  static async start(t: Teardown): Promise<ScriptedServer> {
    const socketPath = path.join(tempDir(t, 'client'), 'fake.sock');
    let scripted!: ScriptedServer;
    const server = net.createServer({ allowHalfOpen: true }, (socket) => scripted.onConnection(socket));
    scripted = new ScriptedServer(server, socketPath);
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    t.teardown(() => {
      for (const socket of scripted.sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return scripted;
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.push(socket);
    const splitter = new JsonValueSplitter(256 * 1024);
    socket.on('error', () => undefined);
    socket.on('end', () => {
      this.halfClosedByClient = true;
    });
    socket.on('data', (chunk: Buffer) => {
      for (const item of splitter.push(chunk)) {
        if (item.kind !== 'value') continue;
        const parsed = JSON.parse(item.text) as { id: number; method: string; params?: unknown };
        this.requests.push({ ...parsed, raw: item.text, socket });
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  async waitForRequests(count: number): Promise<Request[]> {
    while (this.requests.length < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.requests.slice(0, count);
  }

  static reply(request: Request, result: unknown): string {
    return `${JSON.stringify({ jsonrpc: '2.0', id: request.id, result })}\n`;
  }
}

/** A scripted server and a client on it (closed in teardown). */
async function scripted(t: Teardown, options: Partial<SpdkRpcClientOptions> = {}): Promise<{ server: ScriptedServer; client: SpdkRpcClient }> {
  const server = await ScriptedServer.start(t);
  const client = new SpdkRpcClient({ socketPath: server.socketPath, ...options });
  t.teardown(() => client.close());
  return { server, client };
}

t.test('pipelined calls: requests framed as JSON values, replies out of order, split and merged', async (t) => {
  const { server, client } = await scripted(t);
  const api = new SpdkApi(client);
  const calls = [api.bdevWaitForExamine(), api.bdevGetBdevs({ name: 'a' }), client.call('custom', { n: 3 })];
  const requests = await server.waitForRequests(3);
  t.same(
    requests.map((request) => [request.method, request.params]),
    [
      ['bdev_wait_for_examine', undefined],
      ['bdev_get_bdevs', { name: 'a' }],
      ['custom', { n: 3 }],
    ],
  );
  t.notOk(requests[0]!.raw.includes('params'), 'params omitted for a method that rejects any params (RPC.md §1.5)');
  t.ok(requests.every((request) => JSON.parse(request.raw).jsonrpc === '2.0'));
  t.equal(new Set(requests.map((request) => request.id)).size, 3, 'distinct ids');
  const [first, second, third] = requests as [Request, Request, Request];
  const socket = first.socket;
  socket.write(ScriptedServer.reply(third, { big: 1 }));
  const secondReply = ScriptedServer.reply(second, [{ name: 'a' }]);
  socket.write(secondReply.slice(0, 10));
  await sleep(20);
  socket.write(secondReply.slice(10) + ScriptedServer.reply(first, true));
  t.same(await Promise.all(calls), [true, [{ name: 'a' }], { big: 1 }]);
  t.notOk(server.halfClosedByClient, 'the client never half-closes');
});

t.test('u64 counters above 2^53 stay exact; repeated keys are collected', async (t) => {
  const { server, client } = await scripted(t);
  const call = client.call('bdev_get_iostat');
  const [request] = await server.waitForRequests(1);
  request!.socket.write(`{"jsonrpc":"2.0","id":${request!.id},"result":{"ticks":18446744073709551615,"t":1,"t":2}}\n`);
  t.same(await call, { ticks: 18446744073709551615n, t: [1, 2] });
});

t.test('SPDK errors keep code and message; the method is named', async (t) => {
  const { server, client } = await scripted(t);
  const call = new SpdkApi(client).bdevGetBdevs({ name: 'x' });
  const [request] = await server.waitForRequests(1);
  request!.socket.write(`{"jsonrpc":"2.0","id":${request!.id},"error":{"code":-19,"message":"No such device"}}\n`);
  const error = await call.catch((e: unknown) => e);
  t.ok(error instanceof SpdkRpcError);
  t.match(error, { code: -19, message: 'No such device', method: 'bdev_get_bdevs', fromSpdk: true });
});

t.test('a reply of the wrong kind is SPDK_BAD_REPLY', async (t) => {
  const { server, client } = await scripted(t);
  const call = new SpdkApi(client).bdevLvolCreate({ lvs_name: 'l', lvol_name: 'v', size_in_mib: 1 });
  const [request] = await server.waitForRequests(1);
  request!.socket.write(ScriptedServer.reply(request!, 42));
  await t.rejects(call, { code: 'SPDK_BAD_REPLY' });
});

t.test('per-call timeout; a late reply is ignored and the connection still works', async (t) => {
  const { server, client } = await scripted(t, { callTimeoutMs: 5_000 });
  const started = Date.now();
  const slow = client.call('slow', undefined, { timeoutMs: 100 });
  const [request] = await server.waitForRequests(1);
  await t.rejects(slow, { code: 'SPDK_TIMEOUT', method: 'slow' });
  t.ok(Date.now() - started >= 90, 'waited the call timeout');
  t.equal(client.inFlightCount, 0);
  request!.socket.write(ScriptedServer.reply(request!, 'late'));
  const next = client.call('next');
  const [, nextRequest] = await server.waitForRequests(2);
  nextRequest!.socket.write(ScriptedServer.reply(nextRequest!, 'ok'));
  t.equal(await next, 'ok');
  t.equal(server.sockets.length, 1, 'same connection');
});

t.test('a dropped connection fails the calls in flight; the next call reconnects', async (t) => {
  const { server, client } = await scripted(t);
  const calls = [client.call('a'), client.call('b')];
  const [request] = await server.waitForRequests(2);
  request!.socket.destroy();
  for (const call of calls) await t.rejects(call, { code: 'SPDK_CONNECTION_LOST' });
  const again = client.call('c');
  const requests = await server.waitForRequests(3);
  requests[2]!.socket.write(ScriptedServer.reply(requests[2]!, 'back'));
  t.equal(await again, 'back');
  t.equal(server.sockets.length, 2, 'a new connection');
});

t.test('unparseable replies and id-less errors reset the connection (SPDK_BAD_REPLY)', async (t) => {
  const { server, client } = await scripted(t);
  const garbage = client.call('a');
  const [first] = await server.waitForRequests(1);
  first!.socket.write('this is not json\n');
  await t.rejects(garbage, { code: 'SPDK_BAD_REPLY' });
  const idless = client.call('b');
  const requests = await server.waitForRequests(2);
  requests[1]!.socket.write('{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid request"}}\n');
  await t.rejects(idless, { code: 'SPDK_BAD_REPLY', message: /-32600/ });
  t.equal(server.sockets.length, 2);
});

t.test('nothing listening: SPDK_UNREACHABLE', async (t) => {
  const client = new SpdkRpcClient({ socketPath: path.join(tempDir(t, 'none'), 'absent.sock') });
  t.teardown(() => client.close());
  await t.rejects(client.call('spdk_get_version'), { code: 'SPDK_UNREACHABLE' });
});

t.test('bounded in-flight calls and queue', async (t) => {
  const { server, client } = await scripted(t, { inFlightMax: 2, queuedMax: 1 });
  const calls = [client.call('a'), client.call('b'), client.call('c')];
  await t.rejects(client.call('d'), { code: 'SPDK_OVERLOADED' });
  const firstTwo = await server.waitForRequests(2);
  await sleep(30);
  t.equal(server.requests.length, 2, 'the third waits for a slot');
  t.equal(client.queuedCount, 1);
  firstTwo[0]!.socket.write(ScriptedServer.reply(firstTwo[0]!, 1));
  const all = await server.waitForRequests(3);
  for (const request of all.slice(1)) request.socket.write(ScriptedServer.reply(request, request.method));
  t.same(await Promise.all(calls), [1, 'b', 'c']);
});

t.test('requests larger than SPDK receive buffer are refused before sending', async (t) => {
  const { server, client } = await scripted(t);
  await t.rejects(client.call('big', { blob: 'x'.repeat(256 * 1024) }), { code: 'SPDK_REQUEST_TOO_LARGE' });
  t.equal(server.requests.length, 0);
});

t.test('close fails pending calls and later ones with SPDK_CLOSED', async (t) => {
  const server = await ScriptedServer.start(t);
  const client = new SpdkRpcClient({ socketPath: server.socketPath });
  const pending = client.call('a').catch((error: unknown) => error);
  await server.waitForRequests(1);
  await client.close();
  t.ok(isSpdkRpcError(await pending, 'SPDK_CLOSED'));
  await t.rejects(client.call('b'), { code: 'SPDK_CLOSED' });
});

t.test('options are validated up front', async (t) => {
  t.throws(() => new SpdkRpcClient({ socketPath: '/x', inFlightMax: 0 }), RangeError);
  t.throws(() => new SpdkRpcClient({ socketPath: '/x', callTimeoutMs: -1 }), RangeError);
  t.throws(() => new SpdkRpcClient({ socketPath: '' }), RangeError);
});
