// Ring-aware routing against fake nodes that publish a real ring (built with @ringblock/ring) and
// record what they receive: each request goes to the block's first live owner, results equal the
// plain mode's, and the ring is refreshed on 409 STALE_EPOCH, on a newer epoch, after a connection
// failure and with age — never more often than the rate bound.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadHasher, Ring } from '@ringblock/ring';
import t from 'tap';
import { clientFor, sendError, startFakeCluster, startFakeNode, type FakeClusterState, type FakeNode, type Fault } from './support/fake-node.js';

const hasher = await loadHasher();

/** Owners of `id`, computed independently of the client from what the fake cluster publishes. */
function expectedOwners(state: FakeClusterState, id: string): string[] {
  const ring = new Ring({ nodes: state.members, vnodes: state.vnodes, replicationFactor: state.replicationFactor, hasher });
  return ring.owners(id).map((node) => node.name);
}

/** Which fake node received the block requests for `id` (in order). */
function receivers(nodes: readonly FakeNode[], id: string): string[] {
  const path = `/block/${id}`;
  return nodes.flatMap((node) => node.seen.filter((seen) => seen.path === path).map(() => node.name));
}

function ringFetches(nodes: readonly FakeNode[]): number {
  return nodes.reduce((sum, node) => sum + node.seen.filter((seen) => seen.path === '/cluster/ring').length, 0);
}

/** The node answers 409 STALE_EPOCH to a request routed by an older epoch than the state's. */
const staleEpochGuard =
  (state: FakeClusterState): Fault =>
  (seen, res) => {
    const sent = Number(seen.headers['x-ringblock-epoch']);
    if (!seen.path.startsWith('/block/') || !(sent < state.epoch)) return false;
    sendError(res, 409, 'STALE_EPOCH', { epoch: state.epoch }, { 'x-ringblock-epoch': String(state.epoch) });
    return true;
  };

const ids = Array.from({ length: 40 }, (_, index) => `block-${index}`);

t.test('each request goes to the first owner, and results equal the plain mode’s', async (t) => {
  const { state, nodes } = await startFakeCluster(t, 4);
  state.replicationFactor = 2;
  const aware = await clientFor(t, nodes, { ringAware: true });
  const plain = await clientFor(t, nodes);
  t.equal(aware.stats().ringEpoch, 1, 'the ring was fetched at creation');
  t.equal(plain.stats().ringEpoch, null);

  for (const id of ids) {
    t.same(aware.owners(id), expectedOwners(state, id), `owners of ${id} computed like the nodes do`);
    const data = randomBytes(4096);
    const put = await aware.put(id, data);
    const got = await aware.get(id, { consistency: 'one' });
    const head = await aware.head(id, { consistency: 'all' });
    t.same(receivers(nodes, id), Array(3).fill(expectedOwners(state, id)[0]), `every request for ${id} went to its first owner`);
    t.same(await plain.get(id), got, 'the plain path reads the same block');
    t.same(head, { version: put.version });
    t.ok(got?.data.equals(data));
  }
  const stats = aware.stats();
  t.equal(stats.ownerAttempts, stats.attempts, 'every attempt went to an owner');
  t.equal(stats.retries, 0);
  const spread = new Set(ids.map((id) => expectedOwners(state, id)[0]));
  t.ok(spread.size >= 3, 'the blocks are spread over the nodes (the test means something)');
  const withEpoch = nodes.flatMap((node) => node.blockRequests()).filter((seen) => seen.headers['x-ringblock-epoch'] === '1');
  t.equal(withEpoch.length, ids.length * 3, 'ring-aware requests (only) carry the epoch they were routed by');
});

t.test('a 409 STALE_EPOCH refreshes the ring before the retry; the retry goes to the new owner', async (t) => {
  const { state, nodes } = await startFakeCluster(t, 3);
  state.replicationFactor = 1;
  for (const node of nodes) node.fault = staleEpochGuard(state);
  const client = await clientFor(t, nodes, { ringAware: true, ringRefreshIntervalMinMs: 0 });

  // A fourth node joins: the committed ring moves to epoch 2.
  const joined = await startFakeNode(t, 'fake-4', state);
  joined.fault = staleEpochGuard(state);
  const all = [...nodes, joined];
  state.members = all.map((node) => ({ name: node.name, addr: node.addr }));
  state.epoch = 2;
  const moved = ids.find((id) => expectedOwners(state, id)[0] === 'fake-4')!;
  t.ok(moved, 'some block moved to the new node');

  t.ok(await client.put(moved, randomBytes(4096)), 'the PUT succeeds: a 409 is refused before any effect, so even a PUT is retried');
  t.equal(client.stats().ringEpoch, 2, 'the client routes by the new ring');
  const [first, second] = receivers(all, moved);
  t.not(first, 'fake-4', 'the first attempt went by the old ring');
  t.equal(second, 'fake-4', 'the retry went to the owner in the new ring');

  for (const node of all) node.seen.length = 0;
  await client.get(moved);
  t.same(receivers(all, moved), ['fake-4'], 'later requests go straight to the new owner');
});

t.test('a newer epoch in an answer header triggers a background refresh', async (t) => {
  const { state, nodes } = await startFakeCluster(t, 3);
  const client = await clientFor(t, nodes, { ringAware: true, ringRefreshIntervalMinMs: 0 });
  state.epoch = 5;
  for (const node of nodes) {
    node.fault = (seen, res) => {
      if (!seen.path.startsWith('/block/')) return false;
      sendError(res, 404, 'NOT_FOUND', {}, { 'x-ringblock-epoch': '5' });
      return true;
    };
  }
  t.equal(await client.get('anything'), undefined);
  for (let wait = 0; wait < 100 && client.stats().ringEpoch !== 5; wait++) await sleep(10);
  t.equal(client.stats().ringEpoch, 5);
});

t.test('ring refreshes are rate-bounded whatever triggers them', async (t) => {
  const { state, nodes } = await startFakeCluster(t, 3);
  const client = await clientFor(t, nodes, { ringAware: true, ringRefreshIntervalMinMs: 60_000, retries: 3 });
  // Every node insists the client is stale, but publishes no newer ring: a refresh storm if unbounded.
  state.epoch = 1;
  for (const node of nodes) {
    node.fault = (seen, res) => {
      if (!seen.path.startsWith('/block/')) return false;
      sendError(res, 409, 'STALE_EPOCH', { epoch: 9 });
      return true;
    };
  }
  const before = ringFetches(nodes);
  const results = await Promise.allSettled(ids.map((id) => client.get(id)));
  t.ok(results.every((result) => result.status === 'rejected' && (result.reason as { code: string }).code === 'STALE_EPOCH'));
  t.equal(ringFetches(nodes) - before, 0, 'no fetch within the interval after the one at creation');
  t.equal(client.stats().retries, ids.length * 3, 'each call still made its bounded retries');
});

t.test('an owner that refuses connections: requests move to the next owner, and the ring is refreshed', async (t) => {
  const { state, nodes } = await startFakeCluster(t, 3);
  state.replicationFactor = 2;
  const client = await clientFor(t, nodes, { ringAware: true, ringRefreshIntervalMinMs: 0, retries: 2 });
  const victim = nodes[0]!;
  const theirs = ids.filter((id) => expectedOwners(state, id)[0] === victim.name);
  t.ok(theirs.length > 0);
  await victim.close();
  const fetchesBefore = ringFetches(nodes);

  for (const id of theirs) {
    t.ok(await client.put(id, randomBytes(4096)), `put ${id} succeeds`);
    const second = expectedOwners(state, id)[1]!;
    t.same(receivers(nodes, id), [second], `${id} went to its second owner`);
  }
  const stats = client.stats();
  t.ok(stats.retries >= 1 && stats.retries <= 1 + theirs.length, `retries only until the node is marked down (${stats.retries})`);
  t.ok(ringFetches(nodes) > fetchesBefore, 'the connection failure refreshed the ring');
});

t.test('an old ring is refreshed in the background', async (t) => {
  const { state, nodes } = await startFakeCluster(t, 3);
  const client = await clientFor(t, nodes, { ringAware: true, ringMaxAgeMs: 50, ringRefreshIntervalMinMs: 0 });
  state.epoch = 2;
  await sleep(80);
  await client.get('x');
  for (let wait = 0; wait < 100 && client.stats().ringEpoch !== 2; wait++) await sleep(10);
  t.equal(client.stats().ringEpoch, 2);
});

t.test('a ring answer that does not reproduce its tokens is refused: the client routes the plain way', async (t) => {
  const { state, nodes } = await startFakeCluster(t, 3);
  const honest = state.ringAnswer.bind(state);
  state.ringAnswer = async () => {
    const answer = (await honest()) as { tokens: { token: string; node: string }[] };
    answer.tokens[0] = { ...answer.tokens[0]!, token: '1' };
    return answer;
  };
  const client = await clientFor(t, nodes, { ringAware: true });
  t.equal(client.stats().ringEpoch, null);
  t.ok(client.stats().ringRefreshFailures >= 1);
  t.ok(await client.put('still-works', randomBytes(4096)));
  t.ok(await client.get('still-works'));
});
