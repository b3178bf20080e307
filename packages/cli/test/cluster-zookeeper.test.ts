// ZooKeeper outages and paused nodes: nodes keep serving on the last committed ring while they can
// confirm it, refuse writes once they cannot, and re-register when they are back.
import t from 'tap';
import { eventually, getBlock, putBlock, randomBlock, request, startCluster } from './support/cluster.js';

interface Health {
  state: string;
  zookeeper: { connected: boolean; ringConfirmed: boolean };
  ring: { epoch: number };
}

const health = async (url: string) => (await request(`${url}/health`)).json<Health>();

t.test('ZooKeeper stopped and restarted', async (t) => {
  const cluster = await startCluster(t, { env: { RINGBLOCK_SESSION_TIMEOUT: '6s' } });
  const urls = cluster.nodes.map((node) => node.spec.url);
  const epoch = (await health(urls[0]!)).ring.epoch;
  const before = randomBlock();
  t.equal((await putBlock(urls[0]!, 'zk-outage', before)).status, 201);

  await cluster.stopZooKeeper();
  // Within the session timeout the ring is still confirmed: reads and writes go on.
  const during = randomBlock();
  t.equal((await putBlock(urls[1]!, 'zk-outage', during)).status, 201, 'writes go on during a short outage');
  for (const url of urls) t.ok((await getBlock(url, 'zk-outage')).body.equals(during), `read through ${url} during the outage`);

  await cluster.restartZooKeeper();
  for (const url of urls) {
    await eventually(`${url} reconnected`, async () => {
      const now = await health(url);
      return now.zookeeper.connected && now.zookeeper.ringConfirmed;
    });
  }
  t.equal((await health(urls[2]!)).ring.epoch, epoch, 'same ring after the outage');
  const after = randomBlock();
  t.equal((await putBlock(urls[2]!, 'zk-outage', after)).status, 201);
  t.ok((await getBlock(urls[0]!, 'zk-outage')).body.equals(after));
});

t.test('ZooKeeper down past the session timeout: writes and quorum reads are refused, reads at one go on', async (t) => {
  const cluster = await startCluster(t, { env: { RINGBLOCK_SESSION_TIMEOUT: '2s' } });
  const url = cluster.nodes[0]!.spec.url;
  const data = randomBlock();
  t.equal((await putBlock(url, 'fenced', data)).status, 201);
  await cluster.stopZooKeeper();
  const refused = await eventually('writes refused', async () => {
    const reply = await putBlock(url, 'fenced-probe', randomBlock());
    return reply.status === 503 ? reply : undefined;
  }, 15_000);
  t.equal(refused.json().code, 'UNAVAILABLE');
  t.equal((await request(`${url}/ready`)).status, 503, 'not ready while fenced');
  t.ok((await getBlock(url, 'fenced', 'one')).body.equals(data), 'reads at one still served from the last committed ring');
  const quorumRead = await getBlock(url, 'fenced');
  t.equal(quorumRead.status, 503, 'a quorum read is refused: the ring it would route by may have moved on');
  t.equal(quorumRead.json().code, 'UNAVAILABLE');
  await cluster.restartZooKeeper();
  await eventually('writes accepted again', async () => (await putBlock(url, 'fenced-probe', randomBlock())).status === 201, 30_000);
});

t.test('a node paused past its session timeout re-registers and never serves writes meanwhile', async (t) => {
  const cluster = await startCluster(t, { env: { RINGBLOCK_SESSION_TIMEOUT: '2s' } });
  const paused = cluster.nodes[2]!;
  const url = paused.spec.url;
  paused.signal('SIGSTOP');
  // The others see its ephemeral znode vanish once its session expires.
  await eventually('node-3 seen down', async () => {
    const members = (await request(`${cluster.nodes[0]!.spec.url}/cluster`)).json<{ members: { name: string; state: string }[] }>().members;
    return members.find((m) => m.name === 'node-3')?.state === 'down';
  });
  // A write sent while it is paused is handled first thing on SIGCONT, before it can reconfirm.
  const pending = putBlock(url, 'paused-write', randomBlock());
  paused.signal('SIGCONT');
  const reply = await pending;
  t.equal(reply.status, 503, 'the first write after the pause is refused: the ring was not confirmed');
  t.equal(reply.json().code, 'UNAVAILABLE');
  await eventually('node-3 live again', async () => {
    const members = (await request(`${cluster.nodes[0]!.spec.url}/cluster`)).json<{ members: { name: string; state: string }[] }>().members;
    return members.find((m) => m.name === 'node-3')?.state === 'live';
  });
  await eventually('node-3 serves writes again', async () => (await putBlock(url, 'paused-write', randomBlock())).status === 201);
});
