// The engine's API on regular files: puts, reads, last-writer-wins, tombstones and purges,
// namespaces, ring-range iteration, grow, stats, reopen, limits and closing.
import { copyFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { deviceBytesForGroups, Engine, EngineError, loadHasher, SLOTS_PER_GROUP } from '../src/index.js';
import { block, freshEngine, v } from './support/engines.js';
import { rng } from './support/model.js';
import { SimDevice } from './support/sim-device.js';

const hasher = await loadHasher();
const position = (id: string) => hasher.h64(Buffer.from(id));

t.test('put, get, head and reopen', async (t) => {
  const fresh = await freshEngine(t);
  const { engine } = fresh;
  t.same(await engine.put('alpha', v(1), block('alpha 1')), { applied: true, version: v(1) });
  const got = await engine.get('alpha');
  t.same(got, { id: 'alpha', namespace: 0, position: position('alpha'), version: v(1), tombstone: false, data: block('alpha 1') });
  t.same(await engine.head('alpha'), { id: 'alpha', namespace: 0, position: position('alpha'), version: v(1), tombstone: false });
  t.equal(await engine.get('never-written'), undefined);
  t.equal(await engine.head('never-written'), undefined);
  const data = block('caller buffer');
  const writing = engine.put('beta', v(1), data);
  data.fill(0); // the engine copied the bytes when put was called
  await writing;
  t.same((await engine.get('beta'))?.data, block('caller buffer'));
  const reopened = await fresh.reopen();
  t.same((await reopened.get('alpha'))?.data, block('alpha 1'));
  t.same((await reopened.get('beta'))?.version, v(1));
});

t.test('last writer wins: newer applies, older and equal do not', async (t) => {
  const { engine } = await freshEngine(t);
  await engine.put('x', v(5), block('x5'));
  t.same(await engine.put('x', v(4), block('x4')), { applied: false, version: v(5) }, 'older version is not applied');
  t.same(await engine.put('x', v(5), block('x5 again')), { applied: false, version: v(5) }, 'equal version is an idempotent no-op');
  t.same((await engine.get('x'))?.data, block('x5'));
  t.same(await engine.put('x', v(6), block('x6')), { applied: true, version: v(6) });
  t.same((await engine.get('x'))?.data, block('x6'));
  t.same(await engine.delete('x', v(6)), { applied: false, version: v(6) }, 'a delete at the same version is not applied');
  t.same(await engine.put('x', Buffer.from([0, 0, 0, 0, 0, 0, 0, 6, 1]), block('longer')), { applied: true, version: Buffer.from([0, 0, 0, 0, 0, 0, 0, 6, 1]) }, 'bytewise: a longer version with the same prefix is newer');
});

t.test('concurrent writes of one id: the highest version wins whatever the order', async (t) => {
  const { engine } = await freshEngine(t);
  const versions = [7, 3, 9, 1, 8, 2, 9, 5];
  const results = await Promise.all(versions.map((n, i) => (i % 3 === 2 ? engine.delete('hot', v(n)) : engine.put('hot', v(n), block(`hot ${n}`)))));
  t.same((await engine.head('hot'))?.version, v(9));
  t.equal(results.filter((r) => r.applied && r.version.equals(v(9))).length, 1, 'version 9 applied once');
  for (const result of results) t.ok(result.applied || Buffer.compare(result.version, v(0)) > 0, 'a not-applied write reports the stored version');
});

t.test('deletes are tombstones with versions', async (t) => {
  const fresh = await freshEngine(t);
  const { engine } = fresh;
  await engine.put('doomed', v(1), block('doomed'));
  t.same(await engine.delete('doomed', v(2)), { applied: true, version: v(2) });
  t.same(await engine.get('doomed'), { id: 'doomed', namespace: 0, position: position('doomed'), version: v(2), tombstone: true });
  t.same(await engine.put('doomed', v(1), block('late')), { applied: false, version: v(2) }, 'a late older put loses to the tombstone');
  t.same(await engine.delete('ghost', v(3)), { applied: true, version: v(3) }, 'deleting an id never stored leaves a tombstone');
  t.same(await engine.put('ghost', v(2), block('ghost')), { applied: false, version: v(3) });
  t.same(await engine.put('doomed', v(3), block('reborn')), { applied: true, version: v(3) }, 'a newer put replaces the tombstone');
  t.same((await engine.get('doomed'))?.data, block('reborn'));
  const reopened = await fresh.reopen();
  t.equal((await reopened.get('ghost'))?.tombstone, true, 'tombstones survive reopen');
  t.same(reopened.stats().tombstones, 1);
  t.same(reopened.stats().blocks, 1);
});

t.test('purgeTombstone removes exactly that tombstone and frees its slot', async (t) => {
  const fresh = await freshEngine(t);
  const { engine } = fresh;
  await engine.put('p', v(1), block('p'));
  t.same(await engine.purgeTombstone('p', v(1)), { purged: false }, 'a block is not purged');
  await engine.delete('p', v(2));
  t.same(await engine.purgeTombstone('p', v(3)), { purged: false }, 'another version is not purged');
  t.same(await engine.purgeTombstone('never', v(3)), { purged: false });
  const freeBefore = engine.stats().freeSlots;
  t.same(await engine.purgeTombstone('p', v(2)), { purged: true });
  t.equal(await engine.get('p'), undefined);
  t.equal(engine.stats().tombstones, 0);
  t.ok(engine.stats().freeSlots > freeBefore, 'the slot is free again');
  const reopened = await fresh.reopen();
  t.equal(await reopened.get('p'), undefined, 'the purge survives reopen: no older record resurrects');
  t.same(await reopened.put('p', v(1), block('p again')), { applied: true, version: v(1) }, 'after a purge an older write is accepted (hence the grace period)');
});

t.test('custom compareVersions orders versions', async (t) => {
  // Versions as little-endian counters: bytewise order would be wrong.
  const compareVersions = (a: Uint8Array, b: Uint8Array) => Number(Buffer.from(a).readBigUInt64LE() - Buffer.from(b).readBigUInt64LE());
  const le = (n: number) => {
    const version = Buffer.alloc(8);
    version.writeBigUInt64LE(BigInt(n));
    return version;
  };
  const { engine } = await freshEngine(t, 8, { compareVersions });
  await engine.put('c', le(256), block('256'));
  t.same(await engine.put('c', le(2), block('2')), { applied: false, version: le(256) });
  t.same(await engine.put('c', le(257), block('257')), { applied: true, version: le(257) });
});

t.test('namespaces are kept apart', async (t) => {
  const fresh = await freshEngine(t);
  const { engine } = fresh;
  await engine.put('shared-id', v(5), block('block'));
  await engine.put('shared-id', v(1), block('hint'), { namespace: 1 });
  t.same((await engine.get('shared-id'))?.data, block('block'));
  t.same((await engine.get('shared-id', { namespace: 1 }))?.data, block('hint'));
  t.equal((await engine.get('shared-id', { namespace: 1 }))?.namespace, 1);
  await engine.delete('shared-id', v(2), { namespace: 1 });
  t.equal((await engine.get('shared-id'))?.tombstone, false, 'a delete in namespace 1 leaves namespace 0 alone');
  t.equal(await engine.get('shared-id', { namespace: 2 }), undefined);
  const ids = async (namespace: number) => {
    const seen: string[] = [];
    for await (const record of engine.scan({ namespace })) seen.push(`${record.id}:${record.tombstone}`);
    return seen;
  };
  t.same(await ids(0), ['shared-id:false']);
  t.same(await ids(1), ['shared-id:true']);
  t.same(engine.stats().namespaces, { 0: { blocks: 1, tombstones: 0 }, 1: { blocks: 0, tombstones: 1 } });
  const reopened = await fresh.reopen();
  t.same((await reopened.get('shared-id'))?.data, block('block'));
  t.equal((await reopened.get('shared-id', { namespace: 1 }))?.tombstone, true);
});

t.test('invalid input is refused with typed errors', async (t) => {
  const { engine } = await freshEngine(t);
  const refusals: [() => Promise<unknown>, string][] = [
    [() => engine.put('', v(1), block('x')), 'BAD_ID'],
    [() => engine.put('a'.repeat(256), v(1), block('x')), 'BAD_ID'],
    [() => engine.put('no/slash', v(1), block('x')), 'BAD_ID'],
    [() => engine.get('spaces are bad'), 'BAD_ID'],
    [() => engine.put('ok', v(1), Buffer.alloc(4095)), 'BLOCK_SIZE'],
    [() => engine.put('ok', v(1), Buffer.alloc(4097)), 'BLOCK_SIZE'],
    [() => engine.put('ok', Buffer.alloc(65, 1), block('x')), 'VERSION_TOO_LONG'],
    [() => engine.put('ok', Buffer.alloc(0), block('x')), 'BAD_VERSION'],
    [() => engine.delete('ok', Buffer.alloc(65, 1)), 'VERSION_TOO_LONG'],
    [() => engine.put('ok', v(1), block('x'), { namespace: 256 }), 'BAD_NAMESPACE'],
    [() => engine.get('ok', { namespace: -1 }), 'BAD_NAMESPACE'],
    [() => engine.scrub({ blocksPerSecond: 0 }), 'BAD_OPTION'],
  ];
  for (const [call, code] of refusals) await t.rejects(call(), { code, name: 'EngineError' }, code);
  t.ok(await engine.put('A-z0.9_~:-', v(1), block('x')), 'every allowed character');
  t.ok(await engine.put('a'.repeat(255), Buffer.alloc(64, 9), block('x')), '255-byte id and 64-byte version');
  t.same((await engine.get('a'.repeat(255)))?.version, Buffer.alloc(64, 9));
  await t.rejects(Engine.open(fresh_path(), {}), { code: 'BAD_OPTION' }, 'a missing file without create');
  await t.rejects(Engine.open(fresh_path(), { create: true }), { code: 'BAD_OPTION' }, 'create without sizeBytes');
  await t.rejects(Engine.open(fresh_path(), { create: true, sizeBytes: 1000 }), { code: 'DEVICE_TOO_SMALL' });
  await t.rejects(Engine.open(fresh_path(), { maxBatchOps: 0 }), { code: 'BAD_OPTION' });
});

function fresh_path(): string {
  return `/tmp/ringblock-missing-${process.pid}-${Math.random().toString(36).slice(2)}`;
}

t.test('ring-range iteration: order, wrap-around, whole ring, tombstones and data', async (t) => {
  const { engine } = await freshEngine(t);
  const ids = Array.from({ length: 300 }, (_, i) => `r-${i}`);
  await Promise.all(ids.map((id, i) => (i % 10 === 0 ? engine.delete(id, v(1)) : engine.put(id, v(1), block(id)))));
  const sorted = ids.map((id) => ({ id, position: position(id) })).sort((a, b) => (a.position < b.position ? -1 : 1));
  const collect = async (start: bigint, end: bigint, withData = false) => {
    const seen: { id: string; position: bigint }[] = [];
    for await (const record of engine.rangeEntries(start, end, { withData })) {
      if (withData && !record.tombstone && !record.data?.equals(block(record.id))) t.fail(`wrong data for ${record.id}`);
      if (record.tombstone !== (Number(record.id.slice(2)) % 10 === 0)) t.fail(`wrong tombstone flag for ${record.id}`);
      seen.push({ id: record.id, position: record.position });
    }
    return seen;
  };
  const a = sorted[40]!.position;
  const b = sorted[200]!.position;
  t.same(await collect(a, b, true), sorted.slice(41, 201), '(a, b] ascending, with data');
  t.same(await collect(b, a), [...sorted.slice(201), ...sorted.slice(0, 41)], '(b, a] wraps past 2^64-1');
  t.same(await collect(a, a), [...sorted.slice(41), ...sorted.slice(0, 41)], 'start == end is the whole ring, from start');
  t.same(await collect(0n, (1n << 64n) - 1n), sorted.slice(sorted[0]!.position === 0n ? 1 : 0), '(0, max]');
  t.same((await collect(a, a + 1n)).length, 0, 'an empty range');
  let scanned = 0;
  for await (const record of engine.scan()) if (record.data === undefined) scanned++;
  t.equal(scanned, 300, 'scan yields every record, without data by default');
  const early = engine.rangeEntries(0n, 0n)[Symbol.asyncIterator]();
  await early.next();
  await early.return?.(undefined);
  t.pass('an iteration can stop early');
});

t.test('range scans share one sorted snapshot, which is let go once idle; scans after that build another', async (t) => {
  const { engine } = await freshEngine(t, 16, { rangeSnapshotIdleMs: 2_000 });
  await Promise.all(Array.from({ length: 2000 }, (_, i) => engine.put(`s-${i}`, v(1), block(`s-${i}`))));
  const count = async (start: bigint, end: bigint) => {
    let records = 0;
    for await (const _record of engine.rangeEntries(start, end)) records++;
    return records;
  };
  const bare = engine.stats().indexBytes;
  const half = 1n << 63n;
  const [first, second] = await Promise.all([count(0n, half), count(half, 0n)]);
  t.equal(first + second, 2000, 'two arcs scanned at once cover every record');
  const holding = engine.stats().indexBytes;
  t.ok(holding >= bare + 2000 * 8, `the snapshot (8 B per key) and its journal are held: ${bare} → ${holding} bytes`);
  // Let go by a timer once idle (the behaviour is time-based): bounded wait.
  const deadline = Date.now() + 10_000;
  while (engine.stats().indexBytes > bare && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(engine.stats().indexBytes, bare, 'idle, the snapshot and the journal are let go');
  await engine.put('s-new', v(1), block('s-new'));
  t.equal((await count(0n, half)) + (await count(half, 0n)), 2001, 'a later scan builds a fresh snapshot and sees the new key');
  await t.rejects(Engine.open(fresh_path(), { rangeSnapshotIdleMs: 0 }), { code: 'BAD_OPTION' }, 'the idle time is at least 1 ms');
});

t.test('grow a file: capacity increases, data stays, survives reopen', async (t) => {
  const fresh = await freshEngine(t, 2, { reserveSlots: 0 });
  const { engine } = fresh;
  const slots = 2 * SLOTS_PER_GROUP;
  t.equal(engine.stats().slots, slots);
  await Promise.all(Array.from({ length: slots }, (_, i) => engine.put(`g-${i}`, v(1), block(`g-${i}`))));
  await t.rejects(engine.put('one-more', v(1), block('x')), { code: 'DEVICE_FULL' });
  t.same(await engine.grow(), { groupsAdded: 0, slotsAdded: 0, capacityBytes: slots * 4096 }, 'nothing to add without a bigger device');
  const grown = await engine.grow({ sizeBytes: deviceBytesForGroups(5) + 1000 });
  t.same(grown, { groupsAdded: 3, slotsAdded: 3 * SLOTS_PER_GROUP, capacityBytes: 5 * SLOTS_PER_GROUP * 4096 });
  t.same(await engine.put('one-more', v(1), block('x')), { applied: true, version: v(1) });
  await Promise.all(Array.from({ length: 2 * SLOTS_PER_GROUP }, (_, i) => engine.put(`h-${i}`, v(1), block(`h-${i}`))));
  const reopened = await fresh.reopen();
  t.equal(reopened.stats().slots, 5 * SLOTS_PER_GROUP);
  t.equal(reopened.stats().blocks, slots + 1 + 2 * SLOTS_PER_GROUP);
  for (let i = 0; i < slots; i += 9) t.same((await reopened.get(`g-${i}`))?.data, block(`g-${i}`));
  for (let i = 0; i < 2 * SLOTS_PER_GROUP; i += 9) t.same((await reopened.get(`h-${i}`))?.data, block(`h-${i}`));
});

t.test('stats follow puts, overwrites, deletes and purges', async (t) => {
  const fresh = await freshEngine(t, 4);
  const { engine } = fresh;
  const empty = engine.stats();
  const slots = 4 * SLOTS_PER_GROUP;
  t.match(empty, { blocks: 0, tombstones: 0, usedBytes: 0, slots, freeSlots: slots, capacityBytes: slots * 4096, groups: 4, reserveSlots: Math.min(64, slots / 16) });
  for (let i = 0; i < 10; i++) await engine.put(`s-${i}`, v(1), block(`s-${i}`));
  await engine.put('s-0', v(2), block('s-0 again'));
  await engine.delete('s-1', v(2));
  await engine.delete('s-never', v(2));
  await engine.purgeTombstone('s-never', v(2));
  await fresh.reopen();
  const stats = fresh.engine.stats();
  t.match(stats, { blocks: 9, tombstones: 1, usedBytes: 9 * 4096, freeSlots: slots - 10, namespaces: { 0: { blocks: 9, tombstones: 1 } } });
  t.match(stats.recovery, { records: 10, staleRecords: 0, tornHeaders: 0 }, 'superseded headers were wiped before close');
  t.equal(stats.device.kind, 'file');
  t.match(stats.device.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-/);
});

t.test('group commit: concurrent puts share syncs', async (t) => {
  let syncs = 0;
  const { engine } = await freshEngine(t, 8, { onSync: () => syncs++ });
  await Promise.all(Array.from({ length: 64 }, (_, i) => engine.put(`gc-${i}`, v(1), block(`gc-${i}`))));
  t.ok(syncs <= 8, `64 concurrent puts took ${syncs} syncs`);
  t.equal(engine.stats().syncs, syncs);
  t.ok(engine.stats().batchedOps / engine.stats().batches >= 8, 'ops were batched');
});

for (const readCacheRecords of [0, 4]) t.test(`reads racing overwrites and slot reuse never see another block or a false checksum error (read cache ${readCacheRecords})`, async (t) => {
  // Slow reads on a simulated disk: a read spans several commit rounds, so the slot it looked up
  // is superseded, wiped and reused by other blocks meanwhile (with a cache: entries of reused slots).
  const random = rng(5);
  const device = new SimDevice(Buffer.alloc(deviceBytesForGroups(2)), {}, () => Math.floor(random() * 4));
  const engine = await Engine.openDevice(device, { create: true, reserveSlots: 0, readCacheRecords });
  t.teardown(() => engine.close());
  await engine.put('contended', v(1), block('contended 1'));
  let writing = true;
  const writer = (async () => {
    for (let n = 2; n < 300; n++) await Promise.all([engine.put('contended', v(n), block(`contended ${n}`)), engine.put(`other-${n % 7}`, v(n), block(`other ${n}`))]);
    writing = false;
  })();
  let reads = 0;
  const reader = async () => {
    while (writing) {
      const record = await engine.get('contended');
      const n = Number(record!.version.readBigUInt64BE());
      if (!record!.data!.equals(block(`contended ${n}`))) t.fail(`read of version ${n} returned other bytes`);
      reads++;
    }
  };
  await Promise.all([writer, reader(), reader(), reader(), reader()]);
  t.ok(reads > 50, `${reads} reads raced the overwrites`);
  t.equal(engine.stats().checksumFailures, 0);
  if (readCacheRecords > 0) t.ok(engine.stats().readCache.hits > 0, `${engine.stats().readCache.hits} reads and version checks served from the cache`);
});

t.test('reads racing purges and evicts see the record or nothing, never a false checksum error', async (t) => {
  // A purge or evict zeroes the current slot's header: a read looking the key up meanwhile must wait
  // for it, not read the zeroed header. Slow reads, so many of them overlap a removal's round.
  const random = rng(11);
  const device = new SimDevice(Buffer.alloc(deviceBytesForGroups(2)), {}, () => Math.floor(random() * 3));
  const engine = await Engine.openDevice(device, { create: true, reserveSlots: 0 });
  t.teardown(() => engine.close());
  const keys = Array.from({ length: 40 }, (_, i) => `gone-${i}`);
  let reads = 0;
  let removed = 0;
  for (let round = 1; round <= 5; round++) {
    await Promise.all(keys.map((id, i) => (i % 2 === 0 ? engine.delete(id, v(round)) : engine.put(id, v(round), block(`${id} ${round}`)))));
    let removing = true;
    const reader = async () => {
      for (let n = 0; removing && n < 10_000; n++) {
        const id = keys[Math.floor(random() * keys.length)]!;
        const record = await engine.get(id);
        if (record && !record.tombstone && !record.data!.equals(block(`${id} ${round}`))) t.fail(`${id} read other bytes`);
        reads++;
      }
    };
    const readers = [reader(), reader(), reader(), reader()];
    const outcomes = await Promise.all(keys.map((id, i) => (i % 2 === 0 ? engine.purgeTombstone(id, v(round)).then((r) => r.purged) : engine.evict(id, v(round)).then((r) => r.evicted))));
    removing = false;
    await Promise.all(readers);
    removed += outcomes.filter(Boolean).length;
  }
  t.equal(removed, 5 * keys.length, 'every tombstone purged and every block evicted');
  t.ok(reads > 100, `${reads} reads raced the removals`);
  t.equal(engine.stats().checksumFailures, 0);
});

t.test('an overwrite costs one sync: its superseded header is zeroed by the next write or, idle, after wipeLingerMs', async (t) => {
  // A block store's workload is overwrites. Zeroing each overwrite's old header in a round of its
  // own doubled the device flushes of a steady stream of writes; the wipe rides along with the
  // next round instead, and a crash meanwhile finds the stale header and keeps the newer record.
  let syncs = 0;
  let onSync: (() => void) | undefined;
  const options = { wipeLingerMs: 60_000, onSync: () => { syncs++; onSync?.(); } };
  const fresh = await freshEngine(t, 4, options);
  const { engine, path } = fresh;
  await engine.put('a', v(1), block('a 1'));
  t.equal(syncs, 1, 'a first put: one round, one sync');
  for (let n = 2; n <= 6; n++) {
    await engine.put('a', v(n), block(`a ${n}`));
    t.equal(syncs, n, `overwrite ${n - 1}: one more sync, none for its wipe`);
    t.equal(engine.stats().pendingWipes, 1, 'the superseded slot waits for the next write, which reuses it');
  }
  // What a power loss right now leaves: the stale header is on disk, and recovery prefers the newer record.
  const crashed = `${path}.crashed`;
  copyFileSync(path, crashed);
  const afterCrash = await Engine.open(crashed);
  t.same((await afterCrash.get('a'))?.data, block('a 6'), 'the last acknowledged write survives a crash with a wipe pending');
  t.equal(afterCrash.stats().recovery.staleRecords, 1, 'the pending wipe is one stale header on disk');
  await afterCrash.close();
  rmSync(crashed);

  // Idle: the wipe gets its own round once the linger passes (the default 20 ms; 0 wipes at once).
  for (const wipeLingerMs of [20, 0]) {
    syncs = 0;
    const idle = await freshEngine(t, 4, { ...options, wipeLingerMs });
    await idle.engine.put('b', v(1), block('b 1'));
    const wiped = new Promise<void>((resolve) => (onSync = () => syncs === 3 && resolve()));
    await idle.engine.put('b', v(2), block('b 2'));
    await wiped;
    onSync = undefined;
    t.equal(idle.engine.stats().pendingWipes, 0, `wipeLingerMs ${wipeLingerMs}: the wipe's own round ran`);
    const reopened = await idle.reopen({});
    t.equal(reopened.stats().recovery.staleRecords, 0, 'no stale header left on disk');
  }
  await t.rejects(Engine.open(join(dirname(path), 'other'), { create: true, sizeBytes: deviceBytesForGroups(1), wipeLingerMs: -1 }), { code: 'BAD_OPTION' });
});

t.test('a read holding a superseded slot delays its reuse, not the writes', async (t) => {
  // A read that takes long (a stalled disk) keeps its slot pinned; overwrites meanwhile go to free
  // slots, and the pinned slot (with every wipe queued after it) is wiped once the read is done.
  let stalls = 0;
  const device = new SimDevice(Buffer.alloc(deviceBytesForGroups(1)), {}, () => (stalls-- > 0 ? 300 : 0));
  const engine = await Engine.openDevice(device, { create: true, reserveSlots: 0 });
  t.teardown(() => engine.close());
  await engine.put('held', v(1), block('held 1'));
  stalls = 2; // the get's header and data reads, which reach the device first
  const slowRead = engine.get('held');
  for (let n = 2; n <= 20; n++) await engine.put('held', v(n), block(`held ${n}`));
  t.equal(engine.stats().pendingWipes, 19, 'no superseded slot is wiped while the oldest is being read');
  t.same((await slowRead)?.data, block('held 1'), 'the read returns what was current when it looked up');
  await engine.put('other', v(1), block('other'));
  t.equal(engine.stats().pendingWipes, 0, 'all wiped once the read let go');
  t.same((await engine.get('held'))?.data, block('held 20'));
  t.equal(engine.stats().checksumFailures, 0);
});

t.test('limits and closing', async (t) => {
  const fresh = await freshEngine(t, 8, { maxQueuedOps: 4 });
  const { engine } = fresh;
  const accepted = Array.from({ length: 4 }, (_, i) => engine.put(`q-${i}`, v(1), block('q')));
  await t.rejects(engine.put('q-overflow', v(1), block('q')), { code: 'BUSY' }, 'a full queue answers BUSY');
  await Promise.all(accepted);
  await t.rejects(Engine.open(fresh.path), { code: 'IN_USE' }, 'one engine per device in a process');
  const pending = Array.from({ length: 3 }, (_, i) => engine.put(`late-${i}`, v(1), block('late')));
  const closing = engine.close();
  await t.rejects(engine.put('after-close', v(1), block('x')), { code: 'CLOSED' });
  await t.rejects(engine.get('q-0'), { code: 'CLOSED' });
  t.same((await Promise.all(pending)).map((r) => r.applied), [true, true, true], 'close finishes accepted writes');
  await closing;
  await engine.close();
  t.pass('close is idempotent');
  const reopened = await fresh.reopen();
  t.ok(await reopened.get('late-2'));
  t.type(new EngineError('CLOSED', 'x'), Error);
});

t.test('after a failed write or sync the engine refuses writes, keeps reading, and closes', async (t) => {
  const device = new SimDevice(Buffer.alloc(deviceBytesForGroups(2)), { sync: 3 });
  const engine = await Engine.openDevice(device, { create: true });
  await engine.put('before', v(1), block('before'));
  // Many ops of one key queue behind each other; the failed sync must settle all of them.
  const results = await Promise.allSettled([
    ...Array.from({ length: 50 }, (_, i) => engine.put('same-key', v(i + 1), block(`same ${i}`))),
    ...Array.from({ length: 20 }, (_, i) => engine.delete(`other-${i}`, v(1))),
  ]);
  const failed = results.filter((r) => r.status === 'rejected');
  t.ok(failed.length > 0, 'ops in flight at the failure are rejected');
  for (const r of failed) t.match((r as PromiseRejectedResult).reason, { code: 'IO_ERROR' });
  await t.rejects(engine.put('after', v(1), block('after')), { code: 'IO_ERROR', message: /stopped writing after an I\/O error.*reopen/ });
  await engine.close();
  t.pass('close completes after a failure');
});

t.test('bulk writes (migration, repair) leave the read cache to client blocks', async (t) => {
  const { engine } = await freshEngine(t, 8, { readCacheRecords: 64 });
  const hot = Array.from({ length: 32 }, (_, i) => `hot-${i}`);
  await Promise.all(hot.map((id) => engine.put(id, v(1), block(id))));
  const readAll = async () => Promise.all(hot.map(async (id) => (await engine.get(id))!.data!.equals(block(id))));
  t.ok((await readAll()).every(Boolean));
  const before = engine.stats().readCache;
  t.equal(before.entries, 32, 'the client writes are cached');
  // Ten times the cache's size arrives in bulk.
  for (let i = 0; i < 640; i += 64) {
    await Promise.all(Array.from({ length: 64 }, (_, j) => engine.put(`bulk-${i + j}`, v(1), block(`bulk-${i + j}`), { background: true })));
  }
  t.equal(engine.stats().readCache.entries, 32, 'no bulk record entered the cache');
  t.ok((await readAll()).every(Boolean));
  const after = engine.stats().readCache;
  t.equal(after.hits - before.hits, 32, 'every hot block was still served from the cache');
  t.equal(after.misses, before.misses, 'not one miss');
  t.ok((await engine.get('bulk-5'))!.data!.equals(block('bulk-5')), 'a bulk block reads back from the device');
});

t.test('adoptData: a put keeps the caller\'s bytes, also a view at an offset of a larger buffer', async (t) => {
  const { engine } = await freshEngine(t);
  const frame = new Uint8Array(3 * 4096 + 100);
  for (let i = 0; i < frame.length; i++) frame[i] = (i * 31) & 0xff;
  const views = [frame.subarray(50, 50 + 4096), Buffer.from(frame.buffer, 50 + 4096, 4096)];
  await Promise.all(views.map((view, i) => engine.put(`adopted-${i}`, v(1), view, { adoptData: true, background: true })));
  for (const [i, view] of views.entries()) t.ok((await engine.get(`adopted-${i}`))!.data!.equals(Buffer.from(view)), `view ${i} stored exactly`);
  await t.rejects(engine.put('adopted-short', v(1), frame.subarray(0, 4095), { adoptData: true }), { code: 'BLOCK_SIZE' });
});
