import t from 'tap';
import { digestId, findFreePort, isCoordError, ZkClient, type ZkConnectOptions, type ZkNodeData } from '../src/index.js';
import { rejection, startTcpProxy, startTestZooKeeper, waitForEvent } from './helpers.js';

const OPTIONS: ZkConnectOptions = { sessionTimeoutMs: 4_000, connectTimeoutMs: 5_000 };
const EVENT_WAIT_MS = 5_000;

t.test('ZooKeeper client', async (t) => {
  const zk = await startTestZooKeeper(t);
  const connect = async (options: Partial<ZkConnectOptions> = {}): Promise<ZkClient> => {
    const client = await ZkClient.connect(zk.connect, { ...OPTIONS, ...options });
    t.teardown(() => client.close());
    return client;
  };
  const client = await connect();

  t.test('session basics', async (t) => {
    t.equal(client.state, 'connected');
    t.match(client.sessionId, /^0x[0-9a-f]+$/);
    t.ok(client.sessionTimeoutMs > 0);
    await client.exists('/');
    t.ok(client.leaseUntil > Date.now(), 'an answered request gives a lease');
  });

  t.test('create, get, set, exists, children, remove', async (t) => {
    t.equal(await client.create('/crud', Buffer.from('one')), '/crud');
    const read = await client.get('/crud');
    t.equal(read.data.toString(), 'one');
    t.equal(read.version, 0);
    const stat = await client.set('/crud', Buffer.from('two'), 0);
    t.equal(stat.version, 1);
    t.equal((await client.get('/crud')).data.toString(), 'two');
    t.equal((await client.exists('/crud'))?.version, 1);
    t.equal(await client.exists('/missing'), undefined);
    await client.mkdirp('/crud/a/b');
    await client.mkdirp('/crud/a/b'); // idempotent
    await client.create('/crud/c', null);
    t.same((await client.children('/crud')).sort(), ['a', 'c']);
    const sequential = await client.create('/crud/s-', null, { mode: 'persistent_sequential' });
    t.match(sequential, /^\/crud\/s-\d{10}$/);
    await client.remove('/crud/c');
    t.equal(await client.exists('/crud/c'), undefined);
  });

  t.test('error codes', async (t) => {
    await client.create('/codes', Buffer.from('x'));
    t.equal((await rejection(client.create('/codes', null))).code, 'NODE_EXISTS');
    t.equal((await rejection(client.get('/codes/none'))).code, 'NO_NODE');
    const badVersion = await rejection(client.set('/codes', Buffer.from('y'), 7));
    t.equal(badVersion.code, 'BAD_VERSION');
    t.equal(badVersion.details.path, '/codes');
    await client.create('/codes/child', null);
    t.equal((await rejection(client.remove('/codes'))).code, 'NOT_EMPTY');
    t.equal((await rejection(client.remove('/codes/child', 3))).code, 'BAD_VERSION');
    t.equal((await rejection(client.get('no-slash'))).code, 'BAD_ARGUMENT');
    t.equal(await client.getIfExists('/codes/none'), undefined);
  });

  t.test('JSON helpers', async (t) => {
    const parse = (value: unknown): { n: number } => {
      if (typeof value !== 'object' || value === null || typeof (value as { n?: unknown }).n !== 'number') throw new Error('n must be a number');
      return value as { n: number };
    };
    await client.createJson('/json', { n: 1 });
    const read = await client.getJson('/json', parse);
    t.same(read.value, { n: 1 });
    await client.setJson('/json', { n: 2 }, read.version);
    t.same((await client.getJson('/json', parse)).value, { n: 2 });
    await client.create('/json-bad', Buffer.from('{not json'));
    t.equal((await rejection(client.getJson('/json-bad', parse))).code, 'BAD_DATA');
    await client.createJson('/json-shape', { n: 'one' });
    const shape = await rejection(client.getJson('/json-shape', parse));
    t.equal(shape.code, 'BAD_DATA');
    t.match(shape.message, /n must be a number/);
  });

  t.test('transactions are atomic', async (t) => {
    await client.create('/tx', null);
    const results = await client
      .transaction([
        { op: 'create', path: '/tx/a', data: Buffer.from('a') },
        { op: 'create', path: '/tx/b' },
        { op: 'set', path: '/tx', data: Buffer.from('committed'), version: 0 },
        { op: 'check', path: '/tx/a', version: 0 },
      ])
      .commit();
    t.same(
      results.map((result) => result.op),
      ['create', 'create', 'set', 'check'],
    );
    t.same(results[0], { op: 'create', path: '/tx/a' });
    t.same((await client.children('/tx')).sort(), ['a', 'b']);

    // The second op fails, so the first (and the third) must not apply.
    const failed = await rejection(
      client
        .transaction([
          { op: 'create', path: '/tx/c' },
          { op: 'create', path: '/tx/a' },
          { op: 'remove', path: '/tx/b' },
        ])
        .commit(),
    );
    t.equal(failed.code, 'NODE_EXISTS');
    t.equal(failed.details.opIndex, 1);
    t.same((await client.children('/tx')).sort(), ['a', 'b'], 'nothing applied');

    // Expected version 0 must be checked (the library would turn 0 into "any version").
    const stale = await rejection(client.transaction([{ op: 'set', path: '/tx', data: Buffer.from('stale'), version: 0 }]).commit());
    t.equal(stale.code, 'BAD_VERSION');
    const staleCheck = await rejection(
      client
        .transaction([
          { op: 'check', path: '/tx', version: 0 },
          { op: 'remove', path: '/tx/a', version: 0 },
        ])
        .commit(),
    );
    t.equal(staleCheck.code, 'BAD_VERSION');
    t.equal(staleCheck.details.opIndex, 0);
    t.equal((await client.get('/tx')).data.toString(), 'committed');
    t.ok(await client.exists('/tx/a'));
  });

  t.test('watchData is re-armed: successive changes are all observed', async (t) => {
    const seen: (ZkNodeData | undefined)[] = [];
    const changes = new (await import('node:events')).EventEmitter();
    const watch = await client.watchData('/watched', (node) => {
      seen.push(node);
      changes.emit('change', node);
    });
    t.teardown(() => watch.close());
    t.equal(seen.length, 1);
    t.equal(seen[0], undefined, 'missing at first');

    const other = await connect();
    const created = waitForEvent<[ZkNodeData | undefined]>(changes, 'change', EVENT_WAIT_MS, (node) => node?.data.toString() === 'v0');
    await other.create('/watched', Buffer.from('v0'));
    await created;
    const first = waitForEvent<[ZkNodeData | undefined]>(changes, 'change', EVENT_WAIT_MS, (node) => node?.data.toString() === 'v1');
    await other.set('/watched', Buffer.from('v1'), 0);
    await first;
    const second = waitForEvent<[ZkNodeData | undefined]>(changes, 'change', EVENT_WAIT_MS, (node) => node?.data.toString() === 'v2');
    await other.set('/watched', Buffer.from('v2'), 1);
    await second;
    const removed = waitForEvent<[ZkNodeData | undefined]>(changes, 'change', EVENT_WAIT_MS, (node) => node === undefined);
    await other.remove('/watched');
    await removed;
    t.same(
      seen.map((node) => node?.data.toString()),
      [undefined, 'v0', 'v1', 'v2', undefined],
    );

    watch.close();
    await other.create('/watched', Buffer.from('after close'));
    await other.get('/watched'); // a round trip after the change: a watch notification would have come first
    await client.exists('/watched');
    t.equal(seen.length, 5, 'nothing delivered after close');
  });

  t.test('watchChildren is re-armed', async (t) => {
    await client.create('/kids', null);
    const changes = new (await import('node:events')).EventEmitter();
    const watch = await client.watchChildren('/kids', (children) => changes.emit('change', children));
    t.teardown(() => watch.close());
    const withA = waitForEvent<[readonly string[]]>(changes, 'change', EVENT_WAIT_MS, (children) => children.join() === 'a');
    await client.create('/kids/a', null);
    await withA;
    const withB = waitForEvent<[readonly string[]]>(changes, 'change', EVENT_WAIT_MS, (children) => children.join() === 'a,b');
    await client.create('/kids/b', null);
    await withB;
    const onlyB = waitForEvent<[readonly string[]]>(changes, 'change', EVENT_WAIT_MS, (children) => children.join() === 'b');
    await client.remove('/kids/a');
    await onlyB;
    t.pass('three successive changes observed');
  });

  t.test('a watch survives a reconnection and sees what changed meanwhile', async (t) => {
    const proxy = await startTcpProxy(t, zk.port);
    const viaProxy = await ZkClient.connect(proxy.connect, OPTIONS);
    t.teardown(() => viaProxy.close());
    await client.create('/reconnect', Buffer.from('before'));
    const changes = new (await import('node:events')).EventEmitter();
    const watch = await viaProxy.watchData('/reconnect', (node) => changes.emit('change', node?.data.toString()));
    t.teardown(() => watch.close());

    const disconnected = waitForEvent(viaProxy, 'disconnected', EVENT_WAIT_MS);
    proxy.block();
    await disconnected;
    await client.set('/reconnect', Buffer.from('while away'), -1);
    const seen = waitForEvent<[string]>(changes, 'change', EVENT_WAIT_MS, (data) => data === 'while away');
    proxy.unblock();
    await seen;
    const next = waitForEvent<[string]>(changes, 'change', EVENT_WAIT_MS, (data) => data === 'after');
    await client.set('/reconnect', Buffer.from('after'), -1);
    await next;
    t.equal(viaProxy.state, 'connected');
  });

  t.test('a reconnection that a server accepts and never answers is given up and tried again, keeping the session', async (t) => {
    const proxy = await startTcpProxy(t, zk.port);
    const viaProxy = await ZkClient.connect(proxy.connect, OPTIONS);
    t.teardown(() => viaProxy.close());
    const session = viaProxy.sessionId;
    const disconnected = waitForEvent(viaProxy, 'disconnected', EVENT_WAIT_MS);
    // As a ZooKeeper server starting up can: the reconnection's TCP connect succeeds, its handshake
    // is never answered (the library's own connect timer stops at the TCP connect).
    const held = proxy.hang();
    await disconnected;
    await held; // the client's reconnection now waits on a silent connection
    const reconnected = waitForEvent(viaProxy, 'connected', OPTIONS.sessionTimeoutMs);
    proxy.unblock();
    await reconnected;
    t.equal(viaProxy.sessionId, session, 'the same session, well inside its timeout');
    t.ok(await viaProxy.exists('/'), 'and it answers');
  });

  t.test('requests while disconnected are bounded by operationTimeoutMs', async (t) => {
    const proxy = await startTcpProxy(t, zk.port);
    const viaProxy = await ZkClient.connect(proxy.connect, { ...OPTIONS, operationTimeoutMs: 300 });
    t.teardown(() => viaProxy.close());
    const disconnected = waitForEvent(viaProxy, 'disconnected', EVENT_WAIT_MS);
    proxy.block();
    await disconnected;
    const error = await rejection(viaProxy.get('/'));
    t.equal(error.code, 'OPERATION_TIMEOUT');
    proxy.unblock();
  });

  t.test('digest ACLs: only the user can read or write', async (t) => {
    const alice = { user: 'alice', password: 'secret' };
    const owner = await connect({ auth: alice });
    await owner.createJson('/private', { secret: true });
    t.same((await owner.getJson('/private', (value) => value)).value, { secret: true });

    const anonymous = await connect();
    t.equal((await rejection(anonymous.get('/private'))).code, 'NO_AUTH');
    t.equal((await rejection(anonymous.set('/private', Buffer.from('{}'), -1))).code, 'NO_AUTH');
    t.equal((await rejection(anonymous.create('/private/child', null))).code, 'NO_AUTH');

    const mallory = await connect({ auth: { user: 'alice', password: 'guess' } });
    t.equal((await rejection(mallory.get('/private'))).code, 'NO_AUTH');

    const aliceAgain = await connect({ auth: alice });
    await aliceAgain.setJson('/private', { secret: 'still' }, -1);
    t.same((await aliceAgain.getJson('/private', (value) => value)).value, { secret: 'still' });
    t.match(digestId(alice), /^alice:[A-Za-z0-9+/]+=*$/);
  });

  t.test('connect times out with CONNECT_TIMEOUT', async (t) => {
    const port = await findFreePort();
    const started = Date.now();
    const error = await rejection(ZkClient.connect(`127.0.0.1:${port}`, { sessionTimeoutMs: 2_000, connectTimeoutMs: 600 }));
    t.equal(error.code, 'CONNECT_TIMEOUT');
    t.ok(Date.now() - started < 3_000, 'bounded');
  });

  t.test('a closed client rejects with CLOSED', async (t) => {
    const short = await ZkClient.connect(zk.connect, OPTIONS);
    await short.close();
    t.equal(short.state, 'closed');
    const error = await rejection(short.get('/'));
    t.ok(isCoordError(error, 'CLOSED'));
  });

  t.test('closing ends the session: ephemeral znodes go at once', async (t) => {
    const owner = await ZkClient.connect(zk.connect, OPTIONS);
    await owner.create('/eph', null, { mode: 'ephemeral' });
    t.ok((await client.exists('/eph'))?.ephemeralOwner === owner.sessionId);
    await owner.close();
    t.equal(await client.exists('/eph'), undefined);
  });

  t.test('session expiry kills the client; calls reject with SESSION_EXPIRED', async (t) => {
    const proxy = await startTcpProxy(t, zk.port);
    const victim = await ZkClient.connect(proxy.connect, { sessionTimeoutMs: 2_000, connectTimeoutMs: 5_000 });
    t.teardown(() => victim.close());
    await victim.create('/victim', null, { mode: 'ephemeral' });
    const disconnected = waitForEvent(victim, 'disconnected', EVENT_WAIT_MS);
    proxy.block();
    await disconnected;
    // Another client attaching to the same session and closing it ends the session on the server;
    // the victim learns it when it reconnects.
    const thief = await ZkClient.connect(zk.connect, { ...OPTIONS, session: victim.sessionCredentials() });
    await thief.close();
    t.equal(await client.exists('/victim'), undefined, 'its ephemeral znode is gone');
    const expired = waitForEvent(victim, 'expired', 10_000);
    proxy.unblock();
    await expired;
    t.equal(victim.state, 'expired');
    t.equal((await rejection(victim.get('/'))).code, 'SESSION_EXPIRED');
  });
});
