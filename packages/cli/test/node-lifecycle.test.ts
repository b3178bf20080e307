// A node's lifecycle as operators see it: SIGTERM drains in-flight requests and deregisters at once;
// a second process with a name already registered, or with another cluster token, refuses to
// serve with a clear message.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findFreePort } from '@ringblock/coord';
import { NodeProcess } from '../src/node-process.js';
import { connect } from 'node:net';
import { eventually, getBlock, putBlock, randomBlock, request, startCluster } from './support/cluster.js';

interface ClusterJson {
  members: { name: string; state: string }[];
}

t.test('SIGTERM drains in-flight requests, then deregisters', async (t) => {
  // A long session timeout: seeing node-3 down quickly proves it deregistered, not that it expired.
  const cluster = await startCluster(t, { env: { RINGBLOCK_SESSION_TIMEOUT: '20s' } });
  const leaving = cluster.node('node-3');
  const port = Number(new URL(leaving.spec.url).port);
  const blocks = Array.from({ length: 16 }, (_, index) => ({ id: `draining-${index}`, data: randomBlock() }));
  const started = Date.now();
  // Each request sends its headers and half its body, so it is in flight when SIGTERM arrives.
  const sockets = blocks.map((block) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.write(`PUT /block/${block.id} HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\nConnection: close\r\n\r\n`);
    socket.write(block.data.subarray(0, 2048));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(answer)));
    socket.on('error', () => undefined);
    return { socket, closed };
  });
  await eventually('16 requests in flight on node-3', async () => {
    const metrics = (await request(`${leaving.spec.url}/metrics`)).body.toString();
    return Number(/^ringblock_http_requests_in_flight\{[^}]*\} (\d+)/m.exec(metrics)?.[1]) > blocks.length;
  });
  leaving.signal('SIGTERM');
  for (const [index, { socket }] of sockets.entries()) socket.write(blocks[index]!.data.subarray(2048));
  const answers = await Promise.all(sockets.map(({ closed }) => closed));
  t.equal(await leaving.waitExit(), 0, 'the node exits cleanly');
  t.same(answers.map((answer) => answer.slice(0, 12)), answers.map(() => 'HTTP/1.1 201'), 'every in-flight request completed with 201');
  for (const block of blocks) {
    t.ok((await getBlock(cluster.node('node-1').spec.url, block.id)).body.equals(block.data), `${block.id}, acknowledged during the drain, is stored`);
  }
  const members = (await request(`${cluster.node('node-1').spec.url}/cluster`)).json<ClusterJson>().members;
  t.equal(members.find((m) => m.name === 'node-3')?.state, 'down', 'deregistered on stop, not left to session expiry');
  t.ok(Date.now() - started < 20_000, 'all of it well inside the session timeout');
});

t.test('a second process with a registered name does not serve', async (t) => {
  const cluster = await startCluster(t, { nodes: 1, env: { RINGBLOCK_SESSION_TIMEOUT: '2s' } });
  const original = cluster.node('node-1');
  const port = await findFreePort();
  const impostor = new NodeProcess({
    ...original.spec,
    url: `http://127.0.0.1:${port}`,
    env: { ...original.spec.env, RINGBLOCK_PORT: String(port), RINGBLOCK_ADVERTISE_ADDR: `127.0.0.1:${port}`, RINGBLOCK_DEVICE: join(original.spec.dataDir, 'impostor.img') },
    logFile: join(original.spec.dataDir, 'impostor.log'),
  });
  impostor.start();
  t.teardown(() => impostor.kill());
  const code = await impostor.waitExit();
  t.not(code, 0, 'the second process exits with an error');
  const log = await readFile(join(original.spec.dataDir, 'impostor.log'), 'utf8');
  t.match(log, /already registered/, 'and says why');
  const data = randomBlock();
  t.equal((await putBlock(original.spec.url, 'still-mine', data)).status, 201, 'the original keeps serving');
  t.ok((await getBlock(original.spec.url, 'still-mine')).body.equals(data));

  // Another name but another cluster token: it would join the ring and fail every internal call
  // made to it or by it (401). It is refused before it registers.
  const otherPort = await findFreePort();
  const wrongToken = new NodeProcess({
    ...original.spec,
    name: 'node-9',
    url: `http://127.0.0.1:${otherPort}`,
    env: { ...original.spec.env, RINGBLOCK_NAME: 'node-9', RINGBLOCK_TOKEN: 'not-the-cluster-token-at-all', RINGBLOCK_PORT: String(otherPort), RINGBLOCK_ADVERTISE_ADDR: `127.0.0.1:${otherPort}`, RINGBLOCK_DATA_DIR: join(original.spec.dataDir, 'node-9'), RINGBLOCK_DEVICE: join(original.spec.dataDir, 'node-9.img') },
    logFile: join(original.spec.dataDir, 'node-9.log'),
  });
  wrongToken.start();
  t.teardown(() => wrongToken.kill());
  t.not(await wrongToken.waitExit(), 0, 'a node with another token exits with an error');
  t.match(await readFile(join(original.spec.dataDir, 'node-9.log'), 'utf8'), /cluster token \(RINGBLOCK_TOKEN\) is not the one cluster \S+ was created with/, 'and says why');
  const members = (await request(`${original.spec.url}/cluster`)).json<ClusterJson>().members.map((member) => member.name);
  t.same(members, ['node-1'], 'it never became a member');
});
