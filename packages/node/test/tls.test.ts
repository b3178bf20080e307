// TLS for client and peer traffic: certificates generated here with openssl (a cluster CA, a node
// certificate for 127.0.0.1 it signed, and an unrelated CA), three real nodes with their engines
// and a real ZooKeeper on 127.0.0.1. Blocks written at `all` must cross the replica links over TLS;
// a plain-HTTP client and a client trusting another CA are refused; wrong TLS files stop start-up
// naming the variable.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import pino from 'pino';
import { Agent, request } from 'undici';
import { findFreePort, startZooKeeper } from '@ringblock/coord';
import { parseConfig, RingblockNode } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ringblock-tls-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA (name.ca.pem, name.ca.key) and, signed by it, a certificate for 127.0.0.1 (name.pem, name.key). */
function certificates(name: string): { ca: string; cert: string; key: string } {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name} test CA`, '-keyout', `${name}.ca.key`, '-out', `${name}.ca.pem`);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name} node`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
  writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${name}.ca.pem`, '-CAkey', `${name}.ca.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
  return { ca: join(dir, `${name}.ca.pem`), cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

const cluster = certificates('cluster');
const other = certificates('other');
const TOKEN = randomBytes(16).toString('hex');
const silent = pino({ level: 'silent' });

const zk = await startZooKeeper({ dataDir: join(dir, 'zk'), tickTimeMs: 250 });
t.teardown(() => zk.stop());

function nodeEnv(name: string, port: number, tls: Record<string, string>): Record<string, string> {
  return {
    RINGBLOCK_NAME: name, RINGBLOCK_PORT: String(port), RINGBLOCK_ADVERTISE_ADDR: `127.0.0.1:${port}`, RINGBLOCK_ZK: zk.connect, RINGBLOCK_CLUSTER: 'tls-test',
    RINGBLOCK_DATA_DIR: join(dir, name), RINGBLOCK_DEVICE_SIZE: '32M', RINGBLOCK_TOKEN: TOKEN, RINGBLOCK_LOG_LEVEL: 'silent', ...tls,
  };
}

const clusterTls = { RINGBLOCK_TLS_CERT: cluster.cert, RINGBLOCK_TLS_KEY: cluster.key, RINGBLOCK_TLS_CA: cluster.ca };
const ports = [await findFreePort(), await findFreePort(), await findFreePort()];
const nodes: RingblockNode[] = [];
for (const [index, port] of ports.entries()) nodes.push(await RingblockNode.start(parseConfig(nodeEnv(`node-${index + 1}`, port, clusterTls)), silent));
t.teardown(() => Promise.all(nodes.map((node) => node.stop())));

const trusting = new Agent({ connect: { ca: readFileSync(cluster.ca) } });
t.teardown(() => trusting.close());
const url = (index: number, path: string) => `https://127.0.0.1:${ports[index]}${path}`;

/** Until every node routes by a ring of all three (they join one by one through migrations). */
async function settled(): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const answer = await request(url(0, '/cluster'), { dispatcher: trusting });
    const status = (await answer.body.json()) as { members: { inRing: boolean }[]; migration: unknown };
    if (status.migration === null && status.members.filter((member) => member.inRing).length === 3) return;
    if (performance.now() > deadline) throw new Error('the TLS cluster did not settle with three nodes within 60 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

t.test('over TLS: written at all through one node, read at all through each of the others, then deleted', async (t) => {
  await settled();
  const health = await request(url(1, '/health'), { dispatcher: trusting });
  t.same(((await health.body.json()) as { transport: unknown }).transport, { tls: true, peerProtocol: 'binary' }, '/health says TLS is on (and shows no key material)');
  const block = randomBytes(4096);
  const put = await request(url(0, '/block/secret-1?consistency=all'), { method: 'PUT', body: block, dispatcher: trusting });
  await put.body.dump();
  t.equal(put.statusCode, 201, 'every replica acknowledged over the TLS links');
  for (const index of [1, 2]) {
    const get = await request(url(index, '/block/secret-1?consistency=all'), { dispatcher: trusting });
    t.equal(get.statusCode, 200);
    t.ok(Buffer.from(await get.body.arrayBuffer()).equals(block), `node-${index + 1} returns the bytes`);
  }
  const deleted = await request(url(2, '/block/secret-1?consistency=all'), { method: 'DELETE', dispatcher: trusting });
  await deleted.body.dump();
  t.equal(deleted.statusCode, 204);
  const gone = await request(url(1, '/block/secret-1?consistency=all'), { dispatcher: trusting });
  await gone.body.dump();
  t.equal(gone.statusCode, 404);
});

t.test('over TLS too, a request asking to upgrade to another protocol (a wss probe) is served as HTTPS', async (t) => {
  const socket = tlsConnect({ host: '127.0.0.1', port: ports[0]!, ca: readFileSync(cluster.ca) });
  t.teardown(() => socket.destroy());
  await once(socket, 'secureConnect');
  let answer = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (answer += chunk));
  const closed = once(socket, 'close');
  socket.write('GET /live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n');
  await closed;
  t.match(answer, /^HTTP\/1\.1 200 /, 'answered like any GET /live');
});

t.test('plain HTTP and a client trusting another CA get no answer', async (t) => {
  await t.rejects(request(`http://127.0.0.1:${ports[0]}/live`), 'plain HTTP on a TLS port');
  const wrongCa = new Agent({ connect: { ca: readFileSync(other.ca) } });
  t.teardown(() => wrongCa.close());
  await t.rejects(request(url(0, '/live'), { dispatcher: wrongCa }), { code: /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/ }, 'the certificate does not verify');
});

t.test('wrong TLS settings stop start-up naming the variable', async (t) => {
  const port = await findFreePort();
  const start = (tls: Record<string, string>) => RingblockNode.start(parseConfig(nodeEnv('node-x', port, tls)), silent);
  t.throws(() => parseConfig(nodeEnv('node-x', port, { RINGBLOCK_TLS_CERT: cluster.cert })), { message: /RINGBLOCK_TLS_KEY must be set together/ });
  t.throws(() => parseConfig(nodeEnv('node-x', port, { RINGBLOCK_TLS_CA: cluster.ca })), { message: /RINGBLOCK_TLS_CA needs RINGBLOCK_TLS_CERT/ });
  await t.rejects(start({ ...clusterTls, RINGBLOCK_TLS_KEY: join(dir, 'missing.key') }), { message: /RINGBLOCK_TLS_KEY names .*missing\.key, which cannot be read \(ENOENT\)/ });
  const mismatched = start({ RINGBLOCK_TLS_CERT: cluster.cert, RINGBLOCK_TLS_KEY: other.key });
  await t.rejects(mismatched, { code: 'BAD_CONFIG', message: /do not make a TLS context/ });
});
