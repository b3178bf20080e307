// Migration under faults (DESIGN §6): a participant lost mid-migration aborts it (the old ring stays
// authoritative) and a new one is planned from the live set; a node down past the grace is removed
// and its data re-replicated from the survivors. No acknowledged write is lost either way.
import t from 'tap';
import { eventually, request, startCluster } from './support/cluster.js';
import { Workload } from './support/workload.js';
import { clusterOf, verifyAll, verifyPlacement } from './support/verify.js';

interface MigrationJson {
  migration: { phase: string; epoch: number; participants: string[] } | null;
}

t.test('a participant lost mid-migration: abort, then a new migration from the live set', async (t) => {
  // Slow transfers (and a long down grace) keep the migration running while a participant dies.
  const cluster = await startCluster(t, { env: { RINGBLOCK_TRANSFER_RATE: '256K', RINGBLOCK_DOWN_GRACE: '120s', RINGBLOCK_STALE_GRACE: '60s' } });
  const urls = () => cluster.nodes.filter((node) => node.running && node.ready).map((node) => node.spec.url);
  const workload = new Workload(urls, 300, 4);
  const first = cluster.node('node-1').spec.url;
  await workload.settle(first);
  const before = await clusterOf(first);
  workload.start();
  const joining = cluster.addNode('node-4');
  const running = await eventually('a migration transferring', async () => {
    const status = (await request(`${first}/cluster`)).json<MigrationJson>();
    return status.migration?.phase === 'transferring' || status.migration?.phase === 'awaitingDone' ? status.migration : undefined;
  }, 60_000, 50);
  t.ok(running.participants.includes('node-3'), 'node-3 takes part in the migration');
  await cluster.node('node-3').kill();
  await joining;
  const after = await eventually('node-4 in the ring without node-3 taking part', async () => {
    const now = await clusterOf(first);
    return now.members.find((m) => m.name === 'node-4')?.inRing && now.migration === null ? now : undefined;
  }, 90_000);
  t.equal(after.epoch, before.epoch + 1, 'exactly one migration committed: the aborted one left no epoch behind');
  t.ok(after.members.find((m) => m.name === 'node-3')?.inRing, 'node-3 is down but inside its grace: still in the ring');
  await workload.stop();
  t.comment(`failed writes by reason: ${JSON.stringify(Object.fromEntries(workload.failures))}`);
  await verifyAll(t, cluster, workload);
});

t.test('a node down past the grace leaves the ring and its data is re-replicated', async (t) => {
  const cluster = await startCluster(t, { nodes: 4, env: { RINGBLOCK_DOWN_GRACE: '3s' } });
  const urls = () => cluster.nodes.filter((node) => node.running && node.ready).map((node) => node.spec.url);
  const workload = new Workload(urls, 300, 4);
  const first = cluster.node('node-1').spec.url;
  await workload.settle(first);
  workload.start();
  await cluster.node('node-4').kill();
  await eventually('node-4 removed from the ring', async () => {
    const now = await clusterOf(first);
    return !now.members.some((m) => m.name === 'node-4' && m.inRing) && now.migration === null ? now : undefined;
  }, 60_000);
  await workload.stop();
  t.comment(`failed writes by reason: ${JSON.stringify(Object.fromEntries(workload.failures))}`);
  await verifyAll(t, cluster, workload);
  // 3 nodes, RF 3: every block must now be on every survivor, including those node-4 held.
  await verifyPlacement(t, cluster, workload, 300);
});

t.test('the joining node killed mid-transfer, then ZooKeeper restarted mid-migration', async (t) => {
  const cluster = await startCluster(t, { env: { RINGBLOCK_TRANSFER_RATE: '256K', RINGBLOCK_DOWN_GRACE: '120s', RINGBLOCK_SESSION_TIMEOUT: '8s' } });
  const urls = () => cluster.nodes.filter((node) => node.running && node.ready && node.spec.name !== 'node-4').map((node) => node.spec.url);
  const workload = new Workload(urls, 300, 4);
  const first = cluster.node('node-1').spec.url;
  await workload.settle(first);
  const before = await clusterOf(first);
  workload.start();
  const transferring = async () => {
    const status = (await request(`${first}/cluster`)).json<MigrationJson>();
    return status.migration?.phase === 'transferring' || status.migration?.phase === 'awaitingDone' ? status.migration : undefined;
  };
  const joining = cluster.addNode('node-4');
  await eventually('a migration transferring to node-4', transferring, 60_000, 50);
  await cluster.node('node-4').kill();
  await joining.catch(() => undefined);
  await eventually('the migration aborted', async () => ((await clusterOf(first)).migration === null ? true : undefined), 60_000);
  t.equal((await clusterOf(first)).epoch, before.epoch, 'the aborted migration left the ring as it was');

  const node4 = cluster.node('node-4');
  node4.start();
  await eventually('a new migration transferring', transferring, 60_000, 50);
  await cluster.stopZooKeeper();
  await cluster.restartZooKeeper();
  await node4.waitReady();
  const after = await eventually('node-4 in the ring', async () => {
    const now = await clusterOf(first);
    return now.members.find((m) => m.name === 'node-4')?.inRing && now.migration === null ? now : undefined;
  }, 120_000);
  t.ok(after.epoch > before.epoch, `the ring moved on to epoch ${after.epoch}`);
  await workload.stop();
  t.comment(`failed writes by reason: ${JSON.stringify(Object.fromEntries(workload.failures))}`);
  await verifyAll(t, cluster, workload);
});
