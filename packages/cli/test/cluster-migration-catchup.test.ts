// A quorum write one old owner missed survives a ring change that leaves only one of its holders
// among the new owners (the bug the coordination simulator found, RELIABILITY.md): the migration's
// sender of a range may be exactly the old owner that missed it, so it catches up with the other old
// owners before it streams (migration/plan.ts). Real ZooKeeper, real processes; anti-entropy, hints
// and read repair are off, so only the migration can place the write on the new owner.
import t from 'tap';
import xxhash from 'xxhash-wasm';
import { eventually, getBlock, putBlock, randomBlock, replicaRecord, request, startCluster } from './support/cluster.js';
import { clusterOf, ownersOf, type PublishedRing } from './support/verify.js';

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
    t.equal((await putBlock(stay, id, randomBlock())).status, 201);
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
