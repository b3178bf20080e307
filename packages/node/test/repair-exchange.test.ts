// Anti-entropy between three real peers (engines on temporary files, real HTTP, no ZooKeeper):
// identical replicas exchange only roots; divergent replicas (missed writes, stale versions, missed
// deletes, a wiped device) converge to identical (id, version, tombstone, bytes) in one round per
// node; tombstones are purged only when every owner was compared and holds them, and never come
// back; a full repair runs as a task; the routes check token, epoch, bodies; the byte rate holds.
import t from 'tap';
import type { Test } from 'tap';
import type { Engine } from '@ringblock/engine';
import { encodeVersion, versionToText } from '../src/version.js';
import { fill, randomBlock, rng, version } from './transfer-harness.js';
import { checksums, internalHeaders, startCluster, TOKEN, type TestCluster } from './repair-harness.js';

const NOW_MS = Date.now();
const DAY_MS = 24 * 3_600_000;

async function same(t: Test, cluster: TestCluster, what: string): Promise<string[]> {
  const contents = [...(await cluster.contents()).entries()];
  const [first, ...rest] = contents;
  for (const [name, lines] of rest) t.same(lines, first![1], `${what}: ${name} holds exactly what ${first![0]} holds`);
  return first![1];
}

/** Writes the same records to several engines. */
async function fillAll(engines: Engine[], seed: number, count: number, tombstoneShare = 0.2, prefix = 'b'): Promise<void> {
  for (const engine of engines) await fill(engine, rng(seed), count, tombstoneShare, prefix);
}

function totals(cluster: TestCluster) {
  const sum = { rangesCompared: 0, rangesRepaired: 0, blocksRepaired: 0, bytesSent: 0, compareBytes: 0, failures: 0, tombstonesPurged: 0 };
  for (const node of cluster.nodes) {
    const own = node.repair.status().totals;
    for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += own[key];
  }
  return sum;
}

t.test('identical replicas: every pair compared, nothing streamed', async (t) => {
  const cluster = await startCluster(t);
  await fillAll(cluster.nodes.map((node) => node.engine), 1, 1500);
  await cluster.roundEverywhere();
  const sum = totals(cluster);
  // 8 vnodes × 3 nodes = 24 ranges, each owned by all three, compared as 6 arcs of 4: 3 pairs each.
  t.equal(sum.rangesCompared, 6 * 3, 'every (arc, pair) compared once');
  t.equal(sum.rangesRepaired, 0);
  t.equal(sum.blocksRepaired, 0);
  t.equal(sum.bytesSent, 0, 'no stream');
  // In sync, a comparison is one exchange of top-level hashes: no drilling down.
  t.ok(sum.compareBytes > 0 && sum.compareBytes < sum.rangesCompared * 1024, `${sum.compareBytes} bytes of Merkle exchanges for ${sum.rangesCompared} comparisons`);
  t.equal(sum.failures, 0);
  const first = cluster.node('node-1').repair.status();
  t.equal(first.lastRound?.outcome, 'completed');
  t.equal(first.rangesInSync, 6, 'node-1 leads every arc and found each in sync with all owners');
  t.equal(cluster.node('node-3').repair.status().lastRound?.rangesTotal, 0, 'the last name by order starts no comparison');
});

t.test('divergent replicas converge in one round per node, newest winning both ways', async (t) => {
  const cluster = await startCluster(t);
  const [one, two, three] = cluster.nodes.map((node) => node.engine) as [Engine, Engine, Engine];
  await fillAll([one, two, three], 2, 1200, 0.1, 'shared');
  // Each node missed writes others took, holds some stale versions, and missed some deletes.
  await fill(one, rng(3), 300, 0.2, 'only1');
  await fill(two, rng(4), 300, 0.2, 'only2');
  await fill(three, rng(5), 300, 0.2, 'only3');
  const random = rng(6);
  for (let i = 0; i < 200; i++) {
    const id = `shared-overwrite-${i}`;
    const older = version(1_700_000_000_000 + i, 'node-1');
    const newer = version(1_700_000_100_000 + i, 'node-2');
    const engines = [one, two, three];
    const stale = engines[i % 3]!;
    for (const engine of engines) {
      if (engine === stale) await engine.put(id, older, randomBlock(random));
      else if (i % 2 === 0) await engine.put(id, newer, Buffer.alloc(4096, i % 256));
      else await engine.delete(id, newer);
    }
  }
  const final = await (async () => {
    await cluster.roundEverywhere();
    return same(t, cluster, 'after one round on every node');
  })();
  t.equal(final.filter((line) => line.startsWith('shared-overwrite-')).every((line) => line.includes(version(0, 'node-2').subarray(8).toString('hex'))), true, 'every overwritten id holds the newer version');
  t.equal(final.length, 1200 + 900 + 200, 'every record of every node, once');
  const sum = totals(cluster);
  t.ok(sum.rangesRepaired > 0 && sum.blocksRepaired >= 900 + 200, `${sum.blocksRepaired} records repaired in ${sum.rangesRepaired} range comparisons`);
  t.equal(sum.failures, 0);

  const before = totals(cluster);
  await cluster.roundEverywhere();
  const after = totals(cluster);
  t.equal(after.blocksRepaired, before.blocksRepaired, 'a second round finds nothing to repair');
  t.equal(after.rangesRepaired, before.rangesRepaired);
});

t.test('a wiped replica is restored; it only pulls', async (t) => {
  const cluster = await startCluster(t);
  const [one, two] = cluster.nodes.map((node) => node.engine) as [Engine, Engine];
  await fillAll([one, two], 7, 2000, 0.2);
  // node-3 holds nothing (a new device); node-1 and node-2 compare with it in their rounds.
  await cluster.roundEverywhere();
  await same(t, cluster, 'after the rounds');
  t.equal((await cluster.contents()).get('node-3')!.length, 2000);
});

t.test("a migration sender's catch-up runs while a migration does; rounds and plain trees wait", async (t) => {
  const cluster = await startCluster(t);
  const [one, two] = cluster.nodes.map((node) => node.engine) as [Engine, Engine];
  await fillAll([one, two], 21, 800, 0.1, 'shared');
  // node-2 holds writes node-1 missed (and a newer overwrite); node-1 holds one node-2 missed.
  await fill(two, rng(22), 150, 0.2, 'missed-by-1');
  await fill(one, rng(23), 20, 0, 'missed-by-2');
  await one.put('overwritten', version(1_700_000_000_000, 'node-1'), randomBlock(rng(24)));
  await two.put('overwritten', version(1_700_000_500_000, 'node-2'), Buffer.alloc(4096, 7));
  cluster.migrating = true;

  const merkle = await fetch(`${cluster.node('node-2').url}/internal/merkle`, { method: 'POST', headers: internalHeaders(cluster.epoch), body: JSON.stringify({ depth: 10, queries: [{ start: '1', end: '1000', level: 0 }] }) });
  t.equal(merkle.status, 503, 'a plain tree request waits out the migration');
  const wholeRing = { start: 0n, end: 0n };
  const { repairer } = cluster.node('node-1').repair;
  const result = await repairer.catchUp(wholeRing, 'node-2');
  t.ok(result.differed, 'the trees differed');
  t.equal(result.applied, 150 + 20 + 1, `every missed record applied, one side or the other (${result.bytes} bytes streamed)`);
  const contents = await cluster.contents();
  t.same(contents.get('node-1'), contents.get('node-2'), 'node-1 and node-2 hold the same records after the catch-up');
  t.ok(contents.get('node-1')!.some((line) => line.startsWith('overwritten ') && line.includes(version(1_700_000_500_000, 'node-2').toString('hex'))), 'the newer overwrite won');
  t.equal(contents.get('node-3')!.length, 0, 'the third node was not involved');
  t.equal(repairer.status().rounds, 0, 'no anti-entropy round ran');

  const again = await repairer.catchUp(wholeRing, 'node-2');
  t.same(again, { differed: false, applied: 0, bytes: 0, recordsCompared: contents.get('node-1')!.length }, 'in sync: only roots are compared, after hashing every record of the range here (the cost the transfer limiter is charged)');
  await t.rejects(repairer.catchUp(wholeRing, 'node-9'), { code: 'REFUSED' }, 'an unknown peer is refused');
  const aborted = new AbortController();
  aborted.abort();
  await t.rejects(repairer.catchUp(wholeRing, 'node-3', aborted.signal), 'an aborted transfer stops its catch-up');
});

t.test('a wiped leader pulls everything in its own round', async (t) => {
  const cluster = await startCluster(t);
  await fillAll(cluster.nodes.slice(1).map((node) => node.engine), 8, 1000, 0.2);
  const node1 = cluster.node('node-1');
  node1.repair.repairer.requestRound('test', 0);
  await node1.repair.repairer.idle();
  t.equal((await cluster.contents()).get('node-1')!.length, 1000, 'node-1 pulled every record from its peers');
  const status = node1.repair.status();
  t.equal(status.totals.bytesSent, 0, 'node-1 had nothing to push');
  t.ok(status.lastRound!.bytesStreamed > 700 * 4096, 'the pulls streamed the data (about 800 blocks, 200 tombstones)');
});

t.test('tombstones', async (t) => {
  const graceMs = DAY_MS;
  const oldVersion = (i: number) => encodeVersion({ physicalMs: NOW_MS - 2 * DAY_MS + i, logical: 0, node: 'node-2' });
  const older = (i: number) => encodeVersion({ physicalMs: NOW_MS - 3 * DAY_MS + i, logical: 0, node: 'node-1' });
  const fresh = (i: number) => encodeVersion({ physicalMs: NOW_MS - 1000 + i, logical: 0, node: 'node-2' });

  /** node-1 and node-2 took 100 old deletes and 100 fresh ones; node-3 missed them all and holds the older puts. */
  async function setUp(cluster: TestCluster): Promise<void> {
    const [one, two, three] = cluster.nodes.map((node) => node.engine) as [Engine, Engine, Engine];
    for (let i = 0; i < 100; i++) {
      await three.put(`old-${i}`, older(i), Buffer.alloc(4096, 1));
      await three.put(`fresh-${i}`, older(i), Buffer.alloc(4096, 2));
      for (const engine of [one, two]) {
        await engine.delete(`old-${i}`, oldVersion(i));
        await engine.delete(`fresh-${i}`, fresh(i));
      }
    }
    await fillAll([one, two, three], 9, 300, 0, 'live');
  }

  const held = async (cluster: TestCluster, prefix: string) => {
    const counts: Record<string, number> = {};
    for (const [name, lines] of await cluster.contents()) counts[name] = lines.filter((line) => line.startsWith(prefix)).length;
    return counts;
  };

  await t.test('with an owner down nothing is purged; once it is back, old tombstones go everywhere and stay gone', async (t) => {
    const cluster = await startCluster(t, { limits: { tombstoneGraceMs: graceMs } });
    await setUp(cluster);
    cluster.live.delete('node-3');
    await cluster.roundEverywhere();
    t.same(await held(cluster, 'old-'), { 'node-1': 100, 'node-2': 100 }, 'node-3 is down: the tombstones stay');
    t.equal(totals(cluster).tombstonesPurged, 0);

    cluster.live.add('node-3');
    await cluster.roundEverywhere();
    const contents = await cluster.contents();
    t.ok(['old-', 'fresh-'].every((prefix) => contents.get('node-3')!.filter((line) => line.startsWith(prefix)).every((line) => line.includes(' T '))), 'node-3 holds the deletes now, not its older puts');
    t.same(await held(cluster, 'old-'), { 'node-1': 100, 'node-2': 100, 'node-3': 100 }, 'in sync with every owner: the old tombstones are pending, not purged yet');
    t.equal(cluster.node('node-1').repair.status().purgesPending.tombstones, 100);

    await cluster.roundEverywhere();
    t.same(await held(cluster, 'old-'), { 'node-1': 0, 'node-2': 0, 'node-3': 0 }, 'in sync again in the next round: purged on every owner');
    t.same(await held(cluster, 'fresh-'), { 'node-1': 100, 'node-2': 100, 'node-3': 100 }, 'tombstones inside the grace stay');
    t.equal(totals(cluster).tombstonesPurged, 300, '100 tombstones on each of three nodes');

    await cluster.roundEverywhere();
    await cluster.roundEverywhere();
    t.same(await held(cluster, 'old-'), { 'node-1': 0, 'node-2': 0, 'node-3': 0 }, 'later rounds bring nothing back');
    await same(t, cluster, 'after the purge');
  });

  await t.test('a tombstone that reappears on one owner spreads back as a tombstone, never as a put, and is purged again', async (t) => {
    const cluster = await startCluster(t, { limits: { tombstoneGraceMs: graceMs } });
    await setUp(cluster);
    await cluster.roundEverywhere();
    await cluster.roundEverywhere();
    t.same(await held(cluster, 'old-'), { 'node-1': 0, 'node-2': 0, 'node-3': 0 });
    await cluster.node('node-3').engine.delete('old-0', oldVersion(0));
    let puts = 0;
    for (let round = 0; round < 4; round++) {
      await cluster.roundEverywhere();
      puts += [...(await cluster.contents()).values()].flat().filter((line) => line.startsWith('old-0 ') && !line.includes(' T ')).length;
    }
    t.equal(puts, 0, 'it spread back as a tombstone, never as a put');
    t.same(await held(cluster, 'old-'), { 'node-1': 0, 'node-2': 0, 'node-3': 0 }, 'held by every owner again: purged again');
  });

  await t.test('the leader alone decides: the purge route refuses a non-leader, an old epoch, a tombstone inside the grace', async (t) => {
    const cluster = await startCluster(t, { limits: { tombstoneGraceMs: graceMs } });
    const two = cluster.node('node-2');
    await two.engine.delete('x-1', oldVersion(1));
    await two.engine.delete('x-2', fresh(2));
    const purge = (from: string, epoch: number, id: string, v: Buffer) => {
      const position = checksums.h64(Buffer.from(id));
      const body = { from, start: (position - 1n).toString(), end: position.toString(), tombstones: [{ id, version: versionToText(v) }] };
      return fetch(`${two.url}/internal/repair/purge`, { method: 'POST', headers: internalHeaders(epoch), body: JSON.stringify(body) });
    };
    const purged = async (reply: Promise<Response>) => ((await (await reply).json()) as { purged: number }).purged;
    t.equal(await purged(purge('node-3', cluster.epoch, 'x-1', oldVersion(1))), 0, 'node-3 does not lead the range');
    t.equal((await purge('node-1', cluster.epoch - 1, 'x-1', oldVersion(1))).status, 409, 'an older epoch is refused');
    t.equal((await purge('node-1', cluster.epoch + 1, 'x-1', oldVersion(1))).status, 409, 'a newer epoch too (the owners may differ)');
    t.equal(await purged(purge('node-1', cluster.epoch, 'x-1', older(1))), 0, 'another version is not purged');
    t.equal(await purged(purge('node-1', cluster.epoch, 'x-1', oldVersion(1))), 1, 'the leader, this epoch, the exact version: purged');
    t.equal(await two.engine.get('x-1'), undefined);
    t.equal(await purged(purge('node-1', cluster.epoch, 'x-2', fresh(2))), 0, 'a tombstone inside the grace stays');
    t.ok((await two.engine.get('x-2'))?.tombstone);
  });

  await t.test('no purge while a migration runs', async (t) => {
    const cluster = await startCluster(t, { limits: { tombstoneGraceMs: graceMs } });
    await setUp(cluster);
    cluster.migrating = true;
    const node1 = cluster.node('node-1').repair.repairer;
    node1.requestRound('test', 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.equal(node1.status().round, null, 'the round waits for the migration to end');
    const merkle = await fetch(`${cluster.node('node-2').url}/internal/merkle`, { method: 'POST', headers: internalHeaders(cluster.epoch), body: JSON.stringify({ depth: 4, queries: [{ start: '1', end: '2', level: 0 }] }) });
    t.equal(merkle.status, 503, 'peers do not answer trees during a migration');
    cluster.migrating = false;
    await node1.idle();
    t.equal(node1.status().lastRound?.outcome, 'completed', 'it ran once the migration ended');
    t.equal(node1.status().purgesPending.tombstones, 100, 'and left the old tombstones pending');
  });

  await t.test('a round sooner than the settle time after the one that found the range in sync purges nothing', async (t) => {
    const cluster = await startCluster(t, { limits: { tombstoneGraceMs: graceMs, purgeSettleMs: 60_000 } });
    await setUp(cluster);
    await cluster.roundEverywhere();
    await cluster.roundEverywhere();
    t.same(await held(cluster, 'old-'), { 'node-1': 100, 'node-2': 100, 'node-3': 100 });
    t.equal(totals(cluster).tombstonesPurged, 0);
  });
});

t.test('a full repair task: started on one node, run by all, reported from any', async (t) => {
  const cluster = await startCluster(t);
  const [one, two] = cluster.nodes.map((node) => node.engine) as [Engine, Engine];
  await fillAll([one, two], 10, 500, 0.2);
  const started = await fetch(`${cluster.node('node-2').url}/cluster/repair`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(started.status, 202);
  const { task, status } = (await started.json()) as { task: string; status: string };
  t.match(status, `/repairs/${task}`);
  type Report = { state: string; nodes: { node: string; state: string }[]; progress: { rangesDone: number; rangesTotal: number; blocksRepaired: number } };
  let report: Report | undefined;
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 100))) {
    report = (await (await fetch(`${cluster.node('node-3').url}/repairs/${task}`)).json()) as Report;
    if (report.state !== 'running') break;
  }
  if (!report) throw new Error('no report');
  t.equal(report.state, 'done');
  t.same(report.nodes.map((node) => `${node.node}:${node.state}`).sort(), ['node-1:done', 'node-2:done', 'node-3:done']);
  t.equal(report.progress.rangesDone, report.progress.rangesTotal);
  t.equal(report.progress.rangesTotal, 6 * 3);
  t.ok(report.progress.blocksRepaired >= 500, 'node-3 received the blocks');
  await same(t, cluster, 'after the task');
  t.equal((await fetch(`${cluster.node('node-1').url}/repairs/00000000-0000-0000-0000-000000000000`)).status, 404);
  t.equal((await fetch(`${cluster.node('node-1').url}/cluster/repair`, { method: 'POST' })).status, 401, 'the admin route needs the token');
});

t.test('the internal routes check token, epoch and bodies', async (t) => {
  const cluster = await startCluster(t);
  const url = `${cluster.node('node-1').url}/internal/merkle`;
  const body = JSON.stringify({ depth: 10, queries: [{ start: '1', end: '1000', level: 0 }] });
  t.equal((await fetch(url, { method: 'POST', body })).status, 401);
  const stale = await fetch(url, { method: 'POST', headers: internalHeaders(cluster.epoch - 1), body });
  t.equal(stale.status, 409);
  t.equal(((await stale.json()) as { epoch: number }).epoch, cluster.epoch);
  const ok = await fetch(url, { method: 'POST', headers: internalHeaders(cluster.epoch), body });
  t.equal(ok.status, 200);
  const answer = (await ok.json()) as { results: { tree: string; records: number; hashes: string }[] };
  t.equal(answer.results[0]!.hashes, '0'.repeat(16), 'an empty range: root 0');
  const bad = async (payload: unknown) => (await fetch(url, { method: 'POST', headers: internalHeaders(cluster.epoch), body: JSON.stringify(payload) })).status;
  t.equal(await bad({ depth: 15, queries: [{ start: '1', end: '2', level: 0 }] }), 400, 'depth beyond the bound');
  t.equal(await bad({ depth: 10, queries: [{ start: '1', end: '2', level: 11 }] }), 400, 'level below the leaves');
  t.equal(await bad({ depth: 12, queries: [{ start: '1', end: '2', level: 12 }] }), 400, 'more hashes than one answer carries');
  t.equal(await bad({ depth: 10, queries: [{ start: '-1', end: '2', level: 0 }] }), 400, 'not a position');
  t.equal(await bad({ depth: 10, queries: [{ start: '1', end: '2', level: 2, indexes: [3, 1] }] }), 400, 'indexes out of order');
  t.equal((await fetch(url, { method: 'POST', headers: internalHeaders(cluster.epoch), body: 'x'.repeat(300 * 1024) })).status, 413, 'a body beyond the bound');
  const missing = await fetch(url, { method: 'POST', headers: internalHeaders(cluster.epoch), body: JSON.stringify({ depth: 10, queries: [{ start: '1', end: '1000', level: 3, tree: '0123456789abcdef' }] }) });
  t.same(await missing.json(), { results: [{ missing: true }] }, 'an unknown tree is reported missing');
  const push = await fetch(`${cluster.node('node-1').url}/internal/repair/push`, { method: 'POST', headers: internalHeaders(cluster.epoch), body: JSON.stringify({ from: 'stranger', start: '1', end: '2', transferId: '0'.repeat(32) }) });
  t.equal(push.status, 409, 'a push only goes to a known node');
});

t.test('the repair byte rate holds', async (t) => {
  const bytesPerSecond = 1024 * 1024;
  const cluster = await startCluster(t, { limits: { bytesPerSecond } });
  const [one, two] = cluster.nodes.map((node) => node.engine) as [Engine, Engine];
  await fillAll([one, two], 11, 1000, 0);
  const node1 = cluster.node('node-1').repair.repairer;
  const started = performance.now();
  node1.requestRound('test', 0);
  await node1.idle();
  const seconds = (performance.now() - started) / 1000;
  const sent = node1.status().totals.bytesSent;
  t.ok(sent > 1000 * 4096, `node-1 sent ${sent} bytes to node-3`);
  // The bucket starts full (a quarter second of rate, at least 256 KiB).
  const allowed = 256 * 1024 + bytesPerSecond * seconds;
  t.ok(sent <= allowed, `${(sent / seconds / 1024).toFixed(0)} KiB/s over ${seconds.toFixed(2)} s within ${bytesPerSecond / 1024} KiB/s (+ burst)`);
  t.ok(seconds >= (sent - 256 * 1024) / bytesPerSecond * 0.95, 'it took as long as the rate asks');
});
