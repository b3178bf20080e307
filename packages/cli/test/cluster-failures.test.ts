// Node failures in a real 3-node cluster: quorum survives one loss, two losses answer 503 with the
// counts, a restarted node rejoins with its data, and the down grace decides ring membership.
import t from 'tap';
import { eventually, getBlock, putBlock, randomBlock, request, startCluster } from './support/cluster.js';

interface ClusterJson {
  epoch: number;
  members: { name: string; state: string; inRing: boolean }[];
}

const cluster = async (url: string) => (await request(`${url}/cluster`)).json<ClusterJson>();
const bytesMoved = async (url: string) => Number(/^ringblock_migration_bytes_moved_total\{[^}]*\} (\d+)/m.exec((await request(`${url}/metrics`)).body.toString())?.[1]);

t.test('losing nodes', async (t) => {
  const local = await startCluster(t, { env: { RINGBLOCK_DOWN_GRACE: '60s' } });
  const [one, two, three] = local.nodes;
  const stored = new Map<string, Buffer>();
  for (let index = 0; index < 20; index++) {
    const data = randomBlock();
    stored.set(`before-${index}`, data);
    t.equal((await putBlock(one!.spec.url, `before-${index}`, data)).status, 201);
  }
  const epochBefore = (await cluster(one!.spec.url)).epoch;

  await t.test('one of three SIGKILLed: quorum PUT and GET keep succeeding', async (t) => {
    await three!.kill();
    for (let index = 0; index < 20; index++) {
      const data = randomBlock();
      stored.set(`during-${index}`, data);
      t.equal((await putBlock(index % 2 ? one!.spec.url : two!.spec.url, `during-${index}`, data)).status, 201);
    }
    for (const [id, data] of stored) t.ok((await getBlock(one!.spec.url, id)).body.equals(data), `${id} readable at quorum`);
  });

  await t.test('two down: 503 UNAVAILABLE with required/acked; one still works', async (t) => {
    await two!.kill();
    const put = await putBlock(one!.spec.url, 'lonely', randomBlock());
    t.equal(put.status, 503);
    t.equal(put.json().code, 'UNAVAILABLE');
    t.equal(put.json().required, 2);
    t.ok((put.json().acked as number) <= 1);
    const get = await getBlock(one!.spec.url, 'before-0');
    t.equal(get.status, 503);
    t.equal(get.json().code, 'UNAVAILABLE');
    const data = randomBlock();
    t.equal((await putBlock(one!.spec.url, 'lonely', data, 'one')).status, 201, 'PUT at one');
    t.ok((await getBlock(one!.spec.url, 'lonely', 'one')).body.equals(data), 'GET at one');
    stored.set('lonely', data);
  });

  await t.test('killed nodes restart with their data and rejoin; inside the grace the epoch does not change', async (t) => {
    const movedBefore = await bytesMoved(one!.spec.url);
    two!.start();
    three!.start();
    await Promise.all([two!.waitReady(), three!.waitReady()]);
    const after = await cluster(one!.spec.url);
    t.equal(after.epoch, epochBefore, 'restarts inside the down grace leave the ring epoch alone');
    t.equal(await bytesMoved(one!.spec.url), movedBefore, 'and move no data');
    t.same(after.members.map((m) => m.state), ['live', 'live', 'live']);
    for (let index = 0; index < 20; index++) {
      const got = await getBlock(three!.spec.url, `before-${index}`, 'one');
      t.ok(got.body.equals(stored.get(`before-${index}`)!), `node-3 kept before-${index} across SIGKILL`);
    }
    for (const [id, data] of stored) {
      if (id === 'lonely') continue;
      t.ok((await getBlock(two!.spec.url, id)).body.equals(data), `${id} reads back at quorum through node-2`);
    }
  });
});

t.test('a node down past the grace leaves the ring; a new node joins it', async (t) => {
  const local = await startCluster(t, { env: { RINGBLOCK_DOWN_GRACE: '2s' } });
  const [one, , three] = local.nodes;
  const before = await cluster(one!.spec.url);
  t.equal(before.members.length, 3);
  await three!.kill();
  const after = await eventually('node-3 to leave the ring', async () => {
    const now = await cluster(one!.spec.url);
    return now.members.some((m) => m.name === 'node-3') ? undefined : now;
  });
  t.ok(after.epoch > before.epoch, 'removing a node commits a new epoch');
  t.same(after.members.map((m) => m.name), ['node-1', 'node-2']);
  const data = randomBlock();
  t.equal((await putBlock(one!.spec.url, 'two-node', data, 'all')).status, 201, 'all = both remaining owners');
  const added = await local.addNode('node-4');
  const grown = await eventually('node-4 in the ring', async () => {
    const now = await cluster(added.spec.url);
    return now.members.find((m) => m.name === 'node-4')?.inRing ? now : undefined;
  });
  t.ok(grown.epoch > after.epoch, 'adding a node commits a new epoch');
});
