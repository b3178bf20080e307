// Barrier-based two-phase migration in a real cluster (DESIGN §6): a node joins and a node is
// decommissioned while clients keep writing; no acknowledged write is lost, every block ends on
// exactly its owners in the new ring, and stale copies are garbage-collected after the grace.
import t from 'tap';
import { eventually, request, startCluster } from './support/cluster.js';
import { Workload } from './support/workload.js';
import { clusterOf, verifyAll, verifyPlacement } from './support/verify.js';

t.test('scale up and decommission under traffic lose no acknowledged write', async (t) => {
  const cluster = await startCluster(t, { env: { RINGBLOCK_STALE_GRACE: '2s' } });
  const urls = () => cluster.nodes.filter((node) => node.running && node.ready).map((node) => node.spec.url);
  const workload = new Workload(urls, 400);
  const first = cluster.node('node-1').spec.url;
  await workload.settle(first);
  const before = await clusterOf(first);
  const blocksBefore = (await request(`${first}/health`)).json<{ device: { blocks: number } }>().device.blocks;
  workload.start();

  await t.test('a fourth node joins through a migration', async (t) => {
    await cluster.addNode('node-4');
    const joined = await eventually('node-4 in the committed ring', async () => {
      const now = await clusterOf(first);
      return now.members.find((m) => m.name === 'node-4')?.inRing && now.migration === null ? now : undefined;
    }, 60_000);
    t.ok(joined.epoch > before.epoch, `epoch ${before.epoch} → ${joined.epoch}`);
  });

  await t.test('stale copies are garbage-collected after the grace', async (t) => {
    // node-1 gave up part of its ranges to node-4 (4 nodes, RF 3: it keeps about 3/4 of them).
    const released = await eventually('node-1 to release stale blocks', async () => {
      const blocks = (await request(`${first}/health`)).json<{ device: { blocks: number } }>().device.blocks;
      return blocks < blocksBefore ? blocks : undefined;
    }, 30_000);
    t.ok(released < blocksBefore, `node-1 holds ${released} blocks, down from ${blocksBefore}`);
  });

  await t.test('node-2 is decommissioned: a task, its data moved, then out of the ring', async (t) => {
    const reply = await request(`${first}/cluster/nodes/node-2/decommission`, { method: 'POST', headers: { authorization: `Bearer ${cluster.token}` } });
    t.equal(reply.status, 202);
    const taskId = reply.json<{ task: string }>().task;
    const again = await request(`${first}/cluster/nodes/node-2/decommission`, { method: 'POST', headers: { authorization: `Bearer ${cluster.token}` } });
    t.equal(again.json<{ task: string }>().task, taskId, 'asking twice gives the same task');
    t.equal((await request(`${first}/cluster/nodes/node-2/decommission`, { method: 'POST' })).status, 401, 'the token is required');
    const done = await eventually('the decommission task to finish', async () => {
      const task = (await request(`${cluster.node('node-3').spec.url}/tasks/${taskId}`)).json<{ state: string }>();
      return task.state === 'done' ? task : undefined;
    }, 60_000);
    t.equal(done.state, 'done');
    const now = await clusterOf(first);
    t.notOk(now.members.find((m) => m.name === 'node-2')?.inRing, 'node-2 is out of the ring');
  });

  await workload.stop();
  await t.test('every acknowledged write is readable, on exactly its owners', async (t) => {
    t.ok(workload.acknowledged > 100, `${workload.acknowledged} writes were acknowledged during the changes`);
    t.comment(`failed writes by reason: ${JSON.stringify(Object.fromEntries(workload.failures))}`);
    await verifyAll(t, cluster, workload);
    await verifyPlacement(t, cluster, workload, 100);
  });

});
