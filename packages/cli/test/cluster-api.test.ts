// PUT/GET/DELETE through any node of a real 3-node cluster, and the ordering of writes that follow
// each other through different nodes.
import t from 'tap';
import { deleteBlock, getBlock, putBlock, randomBlock, request, startCluster } from './support/cluster.js';

t.test('a 3-node cluster serves blocks through every node', async (t) => {
  const cluster = await startCluster(t);
  const urls = cluster.nodes.map((node) => node.spec.url);

  await t.test('PUT through any node, GET through every node: identical bytes', async (t) => {
    for (const [index, url] of urls.entries()) {
      const data = randomBlock();
      const put = await putBlock(url, `put-through-${index}`, data);
      t.equal(put.status, 201, `PUT through node ${index + 1}`);
      t.match(put.headers.get('etag'), /^"[0-9a-f]{16}-node-\d"$/);
      for (const reader of urls) {
        const got = await getBlock(reader, `put-through-${index}`);
        t.equal(got.status, 200);
        t.ok(got.body.equals(data), `bytes read through ${reader} equal those written through ${url}`);
        t.equal(got.headers.get('etag'), put.headers.get('etag'));
        t.equal(got.headers.get('content-type'), 'application/octet-stream');
      }
    }
  });

  await t.test('overwrite and delete are visible everywhere', async (t) => {
    const first = randomBlock();
    const second = randomBlock();
    t.equal((await putBlock(urls[0]!, 'changing', first)).status, 201);
    t.equal((await putBlock(urls[1]!, 'changing', second)).status, 201);
    for (const url of urls) t.ok((await getBlock(url, 'changing')).body.equals(second), `overwrite seen through ${url}`);
    const deleted = await deleteBlock(urls[2]!, 'changing');
    t.equal(deleted.status, 204);
    for (const url of urls) {
      const got = await getBlock(url, 'changing');
      t.equal(got.status, 404, `deleted block is gone through ${url}`);
      t.equal(got.json().code, 'NOT_FOUND');
    }
    t.equal((await deleteBlock(urls[0]!, 'changing')).status, 204, 'DELETE is idempotent');
    t.equal((await deleteBlock(urls[0]!, 'never-written')).status, 204, 'DELETE of a block that never existed');
  });

  await t.test('HEAD, If-None-Match and consistency levels', async (t) => {
    const data = randomBlock();
    const put = await putBlock(urls[0]!, 'conditional', data, 'all');
    t.equal(put.status, 201);
    const etag = put.headers.get('etag')!;
    const head = await request(`${urls[1]}/block/conditional`, { method: 'HEAD' });
    t.equal(head.status, 200);
    t.equal(head.headers.get('etag'), etag);
    t.equal(head.body.length, 0);
    const notModified = await request(`${urls[2]}/block/conditional`, { headers: { 'if-none-match': etag } });
    t.equal(notModified.status, 304);
    for (const level of ['one', 'quorum', 'all']) {
      t.ok((await getBlock(urls[2]!, 'conditional', level)).body.equals(data), `GET at ${level}`);
    }
    const viaHeader = await request(`${urls[0]}/block/conditional`, { headers: { 'x-consistency': 'one' } });
    t.equal(viaHeader.status, 200);
    const badLevel = await getBlock(urls[0]!, 'conditional', 'most');
    t.equal(badLevel.status, 400);
  });

  await t.test('a write acknowledged through one node is always overwritten by a later write through another', async (t) => {
    // Versions must order writes that follow each other, whatever each coordinator's clock says:
    // many rapid rounds make clock ties within one millisecond common.
    const rounds = 300;
    let stale = 0;
    for (let round = 0; round < rounds; round++) {
      const first = randomBlock();
      const second = randomBlock();
      const a = urls[round % 3]!;
      const b = urls[(round + 1) % 3]!;
      const id = `ordered-${round % 7}`;
      if ((await putBlock(a, id, first)).status !== 201) t.fail('first write failed');
      if ((await putBlock(b, id, second)).status !== 201) t.fail('second write failed');
      const got = await getBlock(urls[(round + 2) % 3]!, id);
      if (!got.body.equals(second)) stale++;
    }
    t.equal(stale, 0, `every one of ${rounds} rounds read the second write`);
  });
});
