// Two migration safety rules the coordination simulator led to (RELIABILITY.md), on real processes
// and real ZooKeeper:
// - A quorum write one old owner missed survives a ring change that leaves only one of its holders
//   among the new owners: the range's sender may be exactly the old owner that missed it, so it
//   catches up with the other old owners before it streams (migration/plan.ts). Anti-entropy, hints
//   and read repair are off, so only the migration can place the write on the new owner.
// - A ring change that would leave ranges with fewer live owners than a write quorum waits (and says
//   so in /cluster) until a down node is back, then runs.
import t from 'tap';
import xxhash from 'xxhash-wasm';
import { eventually, getBlock, putBlock, randomBlock, replicaRecord, request, startCluster } from './support/cluster.js';
import { clusterOf, ownersOf, type PublishedRing } from './support/verify.js';
import { renderStatus } from '../src/status.js';

const BLOCKS = 120;
const LEAVING = 'node-1';

t.test('a decommission keeps quorum writes that the range sender missed', async (t) => {
  const cluster = await startCluster(t, {
    nodes: 4,
    env: { RINGBLOCK_ANTI_ENTROPY: 'off', RINGBLOCK_HINTS: 'off', RINGBLOCK_READ_REPAIR_CHANCE: '0', RINGBLOCK_STALE_GRACE: '120s' },
  });
  const { h64 } = await xxhash();
  const stay = cluster.node('node-2').spec.url;
  const ring = (await request(`${stay}/cluster/ring`)).json<PublishedRing>();
  const internal = (owner: string, id: string, version: string, data: Buffer) =>
    request(`${cluster.node(owner).spec.url}/internal/block/${id}`, {
      method: 'PUT',
      body: data,
      headers: { authorization: `Bearer ${cluster.token}`, 'x-ringblock-version': version, 'x-ringblock-epoch': String(ring.epoch) },
    });

  // Blocks the leaving node owns: written to all three owners, then overwritten on the leaving node
  // and one other owner only — as if the third had missed a quorum write (no hint, no repair yet).
  const latest = new Map<string, { data: Buffer; version: string; holders: string[] }>();
  for (let n = 0; latest.size < BLOCKS && n < BLOCKS * 10; n++) {
    const id = `catchup-${n}`;
    const owners = ownersOf(h64(id), ring);
    if (!owners.includes(LEAVING)) continue;
    t.equal((await putBlock(stay, id, randomBlock(), 'all')).status, 201); // on every owner before we read one
    const first = (await replicaRecord(cluster, cluster.node(owners[0]!).spec.url, id))!.version;
    // A later version by the same clock form: the timestamp part moved on by one second.
    const [stamp, writer] = first.split('-') as [string, string];
    const version = `${(BigInt(`0x${stamp}`) + (1000n << 16n)).toString(16).padStart(16, '0')}-${writer}`;
    const holders = [LEAVING, owners.find((owner) => owner !== LEAVING)!];
    const data = randomBlock();
    for (const holder of holders) t.equal((await internal(holder, id, version, data)).status, 200);
    latest.set(id, { data, version, holders });
  }
  t.equal(latest.size, BLOCKS, `${BLOCKS} blocks owned by ${LEAVING}, each overwritten on 2 of its 3 owners`);

  const reply = await request(`${stay}/cluster/nodes/${LEAVING}/decommission`, { method: 'POST', headers: { authorization: `Bearer ${cluster.token}` } });
  t.equal(reply.status, 202);
  await eventually(`${LEAVING} out of the ring, migration over`, async () => {
    const now = await clusterOf(stay);
    return !now.members.find((m) => m.name === LEAVING)?.inRing && now.migration === null ? now : undefined;
  }, 60_000);

  const after = (await request(`${stay}/cluster/ring`)).json<PublishedRing>();
  t.ok(after.epoch > ring.epoch, `ring epoch ${ring.epoch} → ${after.epoch}`);
  const short: string[] = [];
  for (const [id, { version }] of latest) {
    const owners = ownersOf(h64(id), after);
    let holding = 0;
    for (const owner of owners) if ((await replicaRecord(cluster, cluster.node(owner).spec.url, id))?.version === version) holding++;
    if (holding < 2) short.push(`${id}: latest version on ${holding} of new owners ${owners.join(',')}`);
  }
  t.same(short.slice(0, 10), [], `every block's latest version is on a quorum of its new owners (${short.length} short)`);

  const stale: string[] = [];
  for (const node of cluster.nodes.filter((node) => node.running && node.spec.name !== LEAVING)) {
    for (const [id, { data }] of latest) {
      const got = await getBlock(node.spec.url, id);
      if (got.status !== 200 || !got.body.equals(data)) stale.push(`${id} via ${node.spec.name}: ${got.status}`);
    }
  }
  t.same(stale.slice(0, 10), [], `quorum reads through every remaining node return the latest write (${stale.length} stale)`);
});

t.test('a decommission while two other nodes are down waits for one of them, then runs', async (t) => {
  const cluster = await startCluster(t, { nodes: 5, env: { RINGBLOCK_DOWN_GRACE: '300s', RINGBLOCK_STALE_GRACE: '120s' } });
  const stay = cluster.node('node-3').spec.url;
  const blocks = new Map<string, Buffer>();
  for (let n = 0; n < 60; n++) {
    const data = randomBlock();
    t.equal((await putBlock(stay, `wait-${n}`, data)).status, 201);
    blocks.set(`wait-${n}`, data);
  }
  const before = await clusterOf(stay);
  await cluster.node('node-1').kill();
  await cluster.node('node-2').kill();
  await eventually('node-1 and node-2 seen down', async () => {
    const now = await clusterOf(stay);
    return now.members.filter((m) => m.state === 'down').length === 2 ? now : undefined;
  }, 30_000);
  const reply = await request(`${stay}/cluster/nodes/node-5/decommission`, { method: 'POST', headers: { authorization: `Bearer ${cluster.token}` } });
  t.equal(reply.status, 202);
  const waiting = await eventually('the decommission to wait as undersupplied', async () => {
    const now = (await request(`${stay}/cluster`)).json<{ migration: unknown; pendingChange: { target: string[]; undersuppliedRanges: number } | null; epoch: number }>();
    return now.pendingChange !== null && now.pendingChange.undersuppliedRanges > 0 && now.migration === null ? now : undefined;
  }, 30_000);
  t.same(waiting.pendingChange!.target, ['node-1', 'node-2', 'node-3', 'node-4'], 'the wanted ring: without node-5');
  t.equal(waiting.epoch, before.epoch, 'no ring change yet');
  t.match(renderStatus(waiting), /ring change to \[node-1, node-2, node-3, node-4\] waits: \d+ ranges would have too few live owners/, '`ringblock status` says why it waits');

  cluster.node('node-1').start();
  await cluster.node('node-1').waitReady();
  await eventually('node-5 out of the ring', async () => {
    const now = await clusterOf(stay);
    return !now.members.find((m) => m.name === 'node-5')?.inRing && now.migration === null ? now : undefined;
  }, 90_000);
  const after = (await request(`${stay}/cluster`)).json<{ pendingChange: unknown; epoch: number }>();
  t.equal(after.pendingChange, null, 'nothing pending once it ran');
  t.ok(after.epoch > before.epoch, `ring epoch ${before.epoch} → ${after.epoch}`);
  const unreadable: string[] = [];
  for (const [id, data] of blocks) {
    const got = await getBlock(stay, id);
    if (got.status !== 200 || !got.body.equals(data)) unreadable.push(`${id}: ${got.status}`);
  }
  t.same(unreadable, [], 'every block reads back at quorum (node-2 still down)');
});
