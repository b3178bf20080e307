// Anti-entropy in a real 3-node cluster (DESIGN §5): a wiped device is restored, a node that missed
// writes converges with hinted handoff off, deletes made while a replica was down stay deleted after
// it returns and the tombstone grace passes (and the tombstones are purged), and `ringblock repair`
// runs a full repair as a task. Periodic rounds are off (RINGBLOCK_ANTI_ENTROPY_INTERVAL=0): what
// heals here are the rounds after a node comes back, and the repair task (the tombstone test turns
// periodic rounds on: a purge needs a second round after the one that found every owner in sync).
import t from 'tap';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalCluster } from '../src/local-cluster.js';
import { repair } from '../src/repair-command.js';
import { deleteBlock, eventually, getBlock, putBlock, randomBlock, replicaRecord, request, startCluster } from './support/cluster.js';

/** Without hints and periodic rounds, only anti-entropy's event-driven rounds (or a task) repair. */
const ENV = { RINGBLOCK_HINTS: 'off', RINGBLOCK_ANTI_ENTROPY_INTERVAL: '0', RINGBLOCK_READ_REPAIR_CHANCE: '0', RINGBLOCK_SCRUB_INTERVAL: '0' };
const CONVERGE_MS = 90_000;

type Replica = Awaited<ReturnType<typeof replicaRecord>>;

/** Every node's own record of each id (internal route: no read repair). */
async function records(cluster: LocalCluster, ids: readonly string[]): Promise<Map<string, Replica[]>> {
  const { epoch } = (await request(`${cluster.nodes[0]!.spec.url}/cluster/ring`)).json<{ epoch: number }>();
  const out = new Map<string, Replica[]>();
  for (const id of ids) out.set(id, await Promise.all(cluster.nodes.map((node) => replicaRecord(cluster, node.spec.url, id, epoch))));
  return out;
}

/** Ids whose three replicas are not identical (version, tombstone, bytes) or not as `expected` says. */
async function differing(cluster: LocalCluster, ids: readonly string[], expected: (id: string, record: NonNullable<Replica>) => boolean = () => true): Promise<string[]> {
  const bad: string[] = [];
  for (const [id, replicas] of await records(cluster, ids)) {
    const [first, ...rest] = replicas;
    const same = first !== undefined && rest.every((record) => record && record.version === first.version && record.tombstone === first.tombstone && record.data.equals(first.data));
    if (!same || !expected(id, first)) bad.push(id);
  }
  return bad;
}

async function writeAll(url: (index: number) => string, ids: readonly string[], data: Map<string, Buffer>): Promise<void> {
  const workers = 8;
  await Promise.all(Array.from({ length: workers }, async (_, worker) => {
    for (let index = worker; index < ids.length; index += workers) {
      const block = randomBlock();
      const reply = await putBlock(url(index), ids[index]!, block);
      if (reply.status !== 201) throw new Error(`PUT ${ids[index]} answered ${reply.status} ${reply.body.toString()}`);
      data.set(ids[index]!, block);
    }
  }));
}

t.test('a wiped device is restored by anti-entropy', async (t) => {
  const cluster = await startCluster(t, { env: ENV });
  const [one, two] = cluster.nodes;
  const ids = Array.from({ length: 400 }, (_, index) => `wiped-${index}`);
  const data = new Map<string, Buffer>();
  await writeAll((index) => cluster.nodes[index % 3]!.spec.url, ids, data);
  t.same(await differing(cluster, ids), [], 'written to all three replicas');

  await two!.stop();
  await rm(join(two!.spec.dataDir, 'device.img'), { force: true });
  two!.start();
  await two!.waitReady();
  t.equal(await replicaRecord(cluster, two!.spec.url, ids[0]!), undefined, 'node-2 came back empty');

  const started = Date.now();
  const left = await eventually('node-2 restored', async () => {
    const bad = await differing(cluster, ids, (id, record) => record.data.equals(data.get(id)!));
    return bad.length === 0 ? bad : undefined;
  }, CONVERGE_MS, 1_000);
  t.same(left, [], `every key on every owner with identical version and bytes (${Date.now() - started} ms)`);
  const health = (await request(`${one!.spec.url}/health`)).json<{ antiEntropy?: { totals: { blocksRepaired: number } } }>();
  t.comment(`node-1 anti-entropy: ${JSON.stringify(health.antiEntropy?.totals ?? 'not in /health')}`);
});

t.test('with hints off, a node that missed writes and overwrites converges by anti-entropy alone', async (t) => {
  const cluster = await startCluster(t, { env: ENV });
  const [one, two, three] = cluster.nodes;
  const ids = Array.from({ length: 600 }, (_, index) => `missed-${index}`);
  const data = new Map<string, Buffer>();
  await writeAll((index) => cluster.nodes[index % 3]!.spec.url, ids.slice(0, 300), data);
  await three!.stop();
  // Written (the second half) and overwritten (all) at quorum through the two live nodes.
  await writeAll((index) => (index % 2 ? one : two)!.spec.url, ids, data);
  await writeAll((index) => (index % 2 ? two : one)!.spec.url, ids.slice(0, 400), data);
  three!.start();
  await three!.waitReady();
  const stale = (await differing(cluster, ids)).length;
  t.ok(stale > 0, `node-3 came back behind (${stale} ids differ)`);

  const left = await eventually('all three replicas identical', async () => {
    const bad = await differing(cluster, ids, (id, record) => record.data.equals(data.get(id)!));
    return bad.length === 0 ? bad : undefined;
  }, CONVERGE_MS, 1_000);
  t.same(left, [], 'identical (id, version, bytes) for every block, the last write everywhere');
});

t.test('deletes while a replica is down stay deleted after it returns and the grace passes', async (t) => {
  const graceMs = 3_000;
  // A purge takes two rounds that find the range in sync (the second one settle time later): periodic rounds on.
  const cluster = await startCluster(t, { env: { ...ENV, RINGBLOCK_TOMBSTONE_GRACE: `${graceMs}ms`, RINGBLOCK_ANTI_ENTROPY_INTERVAL: '3s' } });
  const [one, two, three] = cluster.nodes;
  const ids = Array.from({ length: 150 }, (_, index) => `deleted-${index}`);
  const kept = Array.from({ length: 50 }, (_, index) => `kept-${index}`);
  const data = new Map<string, Buffer>();
  await writeAll((index) => cluster.nodes[index % 3]!.spec.url, [...ids, ...kept], data);
  await three!.stop();
  for (const [index, id] of ids.entries()) {
    const reply = await deleteBlock((index % 2 ? one : two)!.spec.url, id);
    if (reply.status !== 204) throw new Error(`DELETE ${id} answered ${reply.status}`);
  }

  await t.test('while node-3 is down, past the grace, a full repair purges nothing', async (t) => {
    await new Promise((resolve) => setTimeout(resolve, graceMs + 500));
    const token = cluster.token;
    const started = await request(`${one!.spec.url}/cluster/repair`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    t.equal(started.status, 202);
    const { task } = started.json<{ task: string }>();
    const report = await eventually('the repair task to end', async () => {
      const status = (await request(`${one!.spec.url}/repairs/${task}`)).json<{ state: string }>();
      return status.state === 'running' ? undefined : status;
    }, CONVERGE_MS, 500);
    t.equal(report.state, 'failed', 'node-3 could not take part');
    for (const node of [one!, two!]) {
      const tombstones = (await Promise.all(ids.slice(0, 20).map((id) => replicaRecord(cluster, node.spec.url, id)))).filter((record) => record?.tombstone).length;
      t.equal(tombstones, 20, `${node.spec.name} keeps the tombstones: node-3 does not hold them yet`);
    }
  });

  await t.test('node-3 returns with the old blocks: the deletes win everywhere, then the tombstones go', async (t) => {
    three!.start();
    await three!.waitReady();
    const gone = await eventually('tombstones purged on every owner', async () => {
      const remaining = [...(await records(cluster, ids)).values()].flat().filter((record) => record !== undefined);
      if (remaining.some((record) => !record!.tombstone)) throw new Error('a deleted block came back as a put');
      return remaining.length === 0 ? true : undefined;
    }, CONVERGE_MS, 1_000);
    t.ok(gone, 'no owner holds any record of the deleted blocks');
    for (const node of cluster.nodes) {
      const reads = await Promise.all(ids.slice(0, 30).map((id) => getBlock(node.spec.url, id, 'all')));
      t.same(reads.filter((reply) => reply.status !== 404).map((reply) => reply.status), [], `reads at all through ${node.spec.name} find nothing`);
    }
    t.same(await differing(cluster, kept, (id, record) => record.data.equals(data.get(id)!)), [], 'the blocks not deleted are untouched');
    // Later rounds (a full repair) bring nothing back.
    t.equal(await repair(['--url', one!.spec.url, '--token', cluster.token, '--watch']), 0, '`ringblock repair --watch` ends done');
    const back = [...(await records(cluster, ids)).values()].flat().filter((record) => record !== undefined);
    t.same(back, [], 'still nothing after another full repair');
  });
});

t.test('`ringblock repair` repairs what a node missed when no event-driven round runs', async (t) => {
  const cluster = await startCluster(t, { env: { ...ENV, RINGBLOCK_ANTI_ENTROPY: 'off' } });
  const [one, two, three] = cluster.nodes;
  await three!.stop();
  const ids = Array.from({ length: 200 }, (_, index) => `task-${index}`);
  const data = new Map<string, Buffer>();
  await writeAll((index) => (index % 2 ? one : two)!.spec.url, ids, data);
  three!.start();
  await three!.waitReady();
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  t.ok((await differing(cluster, ids)).length > 0, 'nothing repaired node-3 by itself');
  t.equal(await repair(['--url', two!.spec.url, '--token', cluster.token, '--watch']), 0);
  t.same(await differing(cluster, ids, (id, record) => record.data.equals(data.get(id)!)), [], 'after the task every replica is identical');
});
