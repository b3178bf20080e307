// Self-healing without anti-entropy (DESIGN §5, §7): hinted handoff brings a restarted node up to
// date; a corrupt copy is never returned and is repaired by the read that met it or by the scrubber.
import t from 'tap';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, getBlock, putBlock, randomBlock, replicaRecord, request, startCluster } from './support/cluster.js';
import type { LocalCluster } from '../src/local-cluster.js';

/** Flips one byte of `data` where it is stored in a node's device file (the bytes are random, so unique). */
async function corruptOnDisk(cluster: LocalCluster, node: string, data: Buffer): Promise<void> {
  const device = join(cluster.node(node).spec.dataDir, 'device.img');
  const image = await readFile(device);
  const offset = image.indexOf(data);
  if (offset < 0) throw new Error(`the block's bytes are not in ${device}`);
  const file = await open(device, 'r+');
  try {
    await file.write(Buffer.from([data[100]! ^ 0xff]), 0, 1, offset + 100);
  } finally {
    await file.close();
  }
}

t.test('hinted handoff alone brings a restarted node up to date', async (t) => {
  const cluster = await startCluster(t, { env: { RINGBLOCK_HINT_REPLAY_INTERVAL: '500ms', RINGBLOCK_SCRUB_INTERVAL: '0', RINGBLOCK_ANTI_ENTROPY: 'off' } });
  const [one, two, three] = cluster.nodes;
  const started = Date.now();
  await three!.kill();
  const ids = Array.from({ length: 2000 }, (_, index) => `hinted-${index}`);
  const writers = 16;
  // Written, then overwritten, at quorum through the two live nodes.
  for (const round of [0, 1]) {
    await Promise.all(Array.from({ length: writers }, async (_, worker) => {
      for (let index = worker; index < ids.length; index += writers) {
        const reply = await putBlock((index % 2 ? one : two)!.spec.url, ids[index]!, randomBlock());
        if (reply.status !== 201) throw new Error(`round ${round}: PUT ${ids[index]} answered ${reply.status} ${reply.body.toString()}`);
      }
    }));
  }
  const pending = async () => {
    let total = 0;
    for (const node of [one!, two!]) total += Number(/^ringblock_hints_pending\{[^}]*\} (\d+)/m.exec((await request(`${node.spec.url}/metrics`)).body.toString())?.[1] ?? 0);
    return total;
  };
  t.ok((await pending()) >= ids.length, 'the coordinators hold a hint for every block node-3 missed');
  three!.start();
  await three!.waitReady();
  t.comment(`writes took ${Date.now() - started} ms`);
  await eventually('every hint replayed', async () => (await pending()) === 0, 60_000, 250);
  t.comment(`restart and replay took ${Date.now() - started} ms`);
  const { epoch } = (await request(`${one!.spec.url}/cluster/ring`)).json<{ epoch: number }>();
  const differing: string[] = [];
  for (const id of ids) {
    const records = await Promise.all(cluster.nodes.map((node) => replicaRecord(cluster, node.spec.url, id, epoch)));
    const [first, ...rest] = records;
    if (!first || rest.some((record) => !record || record.version !== first.version || !record.data.equals(first.data))) differing.push(id);
  }
  t.same(differing.slice(0, 5), [], `all three replicas hold identical (id, version, bytes) for all ${ids.length} blocks`);
});

t.test('a corrupt copy is never returned and gets repaired', async (t) => {
  const cluster = await startCluster(t, { env: { RINGBLOCK_SCRUB_INTERVAL: '1s', RINGBLOCK_READ_REPAIR_CHANCE: '0' } });
  const url = (name: string) => cluster.node(name).spec.url;

  await t.test('by the read that meets it', async (t) => {
    const data = randomBlock();
    t.equal((await putBlock(url('node-1'), 'flipped-read', data, 'all')).status, 201);
    await corruptOnDisk(cluster, 'node-1', data);
    // At `one` node-1 reads its own copy first: the checksum fails, another owner answers.
    const got = await getBlock(url('node-1'), 'flipped-read', 'one');
    t.equal(got.status, 200);
    t.ok(got.body.equals(data), 'the bytes returned are the ones written');
    await eventually('node-1 repaired', async () => (await replicaRecord(cluster, url('node-1'), 'flipped-read'))?.data.equals(data));
  });

  await t.test('by the scrubber, with no read at all', async (t) => {
    const data = randomBlock();
    t.equal((await putBlock(url('node-1'), 'flipped-scrub', data, 'all')).status, 201);
    await corruptOnDisk(cluster, 'node-2', data);
    await eventually('node-2 repaired by the scrubber', async () => {
      const health = (await request(`${url('node-2')}/health`)).json<{ scrub: { repaired: number } }>();
      return health.scrub.repaired >= 1 && (await replicaRecord(cluster, url('node-2'), 'flipped-scrub').catch(() => undefined))?.data.equals(data);
    }, 30_000);
    const metrics = (await request(`${url('node-2')}/metrics`)).body.toString();
    t.match(metrics, /^ringblock_scrub_blocks_repaired_total\{[^}]*\} [1-9]/m, 'the repair is counted');
    for (const name of ['node-1', 'node-2', 'node-3']) t.ok((await getBlock(url(name), 'flipped-scrub', 'all')).body.equals(data));
  });
});
