import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { findFreePort, fourLetterWord, isZooKeeperServing, startZooKeeper, ZkClient } from '../src/index.js';
import { rejection, startTestZooKeeper, tempDir, TICK_TIME_MS } from './helpers.js';

const CLIENT = { sessionTimeoutMs: 4_000, connectTimeoutMs: 5_000 };

t.test('findFreePort gives bindable ports below the kernel ephemeral range (a restart keeps its port)', async (t) => {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const ports = await Promise.all(Array.from({ length: 8 }, () => findFreePort()));
  for (const port of ports) {
    t.ok(port >= 10_000 && port < low!, `${port} lies below the ephemeral range (from ${low})`);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ host: '127.0.0.1', port, exclusive: true }, resolve));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  // Sockets the kernel numbers itself (listen(0), outgoing connections) never land there.
  const assigned = net.createServer();
  await new Promise<void>((resolve) => assigned.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.ok((assigned.address() as net.AddressInfo).port >= low!, 'the kernel assigns from the ephemeral range');
  await new Promise<void>((resolve) => assigned.close(() => resolve()));
});

t.test('starts, answers ruok and srvr, stops', async (t) => {
  const zk = await startTestZooKeeper(t);
  t.match(zk.connect, /^127\.0\.0\.1:\d+$/);
  t.ok(zk.pid > 0);
  t.equal(await fourLetterWord('127.0.0.1', zk.port, 'ruok', 2_000), 'imok');
  t.match(await fourLetterWord('127.0.0.1', zk.port, 'srvr', 2_000), /Mode: standalone/);
  t.ok(existsSync(path.join(zk.dataDir, 'conf', 'zoo.cfg')));
  await zk.stop();
  const exit = await zk.exited;
  t.ok(exit.code !== null || exit.signal !== null, 'process exited');
  t.notOk(await isZooKeeperServing('127.0.0.1', zk.port, 500), 'not serving after stop');
  await zk.stop(); // idempotent
});

t.test('restarts on the same port and dataDir with its data', async (t) => {
  const dataDir = tempDir(t, 'zk-restart');
  const first = await startZooKeeper({ dataDir, tickTimeMs: TICK_TIME_MS });
  t.teardown(() => first.stop());
  const client = await ZkClient.connect(first.connect, CLIENT);
  await client.create('/kept', Buffer.from('across restarts'));
  await client.close();
  await first.stop();

  const second = await startZooKeeper({ dataDir, port: first.port, tickTimeMs: TICK_TIME_MS });
  t.teardown(() => second.stop());
  t.equal(second.port, first.port);
  const again = await ZkClient.connect(second.connect, CLIENT);
  t.teardown(() => again.close());
  t.equal((await again.get('/kept')).data.toString(), 'across restarts');
});

t.test('a start that fails reports the log tail', async (t) => {
  const zk = await startTestZooKeeper(t);
  // Same port: the second server cannot bind it.
  const error = await rejection(startZooKeeper({ dataDir: tempDir(t, 'zk-clash'), port: zk.port, startTimeoutMs: 15_000 }));
  t.equal(error.code, 'ZK_START_FAILED');
  t.match(error.message, /zookeeper\.log \(tail\)/);
  t.match(error.message, /Address already in use|BindException/);
});

t.test('a missing java is reported clearly', async (t) => {
  const error = await rejection(startZooKeeper({ dataDir: tempDir(t, 'zk-nojava'), java: '/nonexistent/java', startTimeoutMs: 5_000 }));
  t.equal(error.code, 'ZK_START_FAILED');
  t.match(error.message, /ENOENT/);
});
