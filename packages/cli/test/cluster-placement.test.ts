// 5 nodes, RF 3: every block lives on exactly its three ring owners, computed here independently of
// the node's code from the ring's published tokens (DESIGN §4).
import t from 'tap';
import xxhash from 'xxhash-wasm';
import { putBlock, randomBlock, replicaRecord, request, startCluster } from './support/cluster.js';
import { ownersOf, type PublishedRing } from './support/verify.js';

t.test('5 nodes, RF 3: each block is stored on exactly its three owners', async (t) => {
  const cluster = await startCluster(t, { nodes: 5 });
  const urls = new Map(cluster.nodes.map((node) => [node.spec.name, node.spec.url]));
  const first = cluster.nodes[0]!.spec.url;
  const ring = (await request(`${first}/cluster/ring`)).json<PublishedRing & { nodes: unknown[] }>();
  t.equal(ring.nodes.length, 5, 'all five nodes are in the committed ring');
  t.equal(ring.tokens.length, 5 * 128, '128 vnodes per node');
  const { h64 } = await xxhash();
  const blocks = 40;
  for (let index = 0; index < blocks; index++) {
    const id = `placed-${index}`;
    const data = randomBlock();
    const via = cluster.nodes[index % 5]!.spec.url;
    t.equal((await putBlock(via, id, data, 'all')).status, 201);
    const owners = ownersOf(h64(id), ring);
    t.equal(owners.length, 3);
    for (const [name, url] of urls) {
      const record = await replicaRecord(cluster, url, id);
      if (owners.includes(name)) {
        t.ok(record?.data.equals(data), `${id} is on owner ${name}`);
      } else {
        t.equal(record, undefined, `${id} is not on non-owner ${name}`);
      }
    }
  }
});
