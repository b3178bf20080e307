// Damage on disk: bit flips in data and headers, torn header writes, a full device, and devices
// that are not ours, newer, truncated, blank or damaged — each refused or reported with its code.
import { openSync, closeSync, readSync, writeSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  checkRecordHeader, dataOffset, decodeRecordHeader, deviceBytesForGroups, encodeRecordHeader, Engine, HEADER_SIZE_BYTES, headerOffset,
  loadHasher, RECORD_PUT, SLOTS_PER_GROUP,
} from '../src/index.js';
import { high32, low32 } from '../src/hash.js';
import { tempDir } from './support/devices.js';
import { block, freshEngine, v } from './support/engines.js';

const hasher = await loadHasher();

function readAt(path: string, position: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  const bytes = Buffer.alloc(length);
  readSync(fd, bytes, 0, length, position);
  closeSync(fd);
  return bytes;
}

function writeAt(path: string, position: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, position);
  closeSync(fd);
}

function flipByte(path: string, position: number): void {
  writeAt(path, position, Buffer.from([readAt(path, position, 1)[0]! ^ 0x20]));
}

/** The device uuid and the slot's decoded header, checking the slot holds `id`. */
function slotHeader(path: string, slot: number, id: string) {
  const uuid = readAt(path, 40, 16);
  const header = readAt(path, headerOffset(slot), HEADER_SIZE_BYTES);
  if (checkRecordHeader(hasher, header, 0, uuid) !== 'valid' || decodeRecordHeader(header, 0).id !== id) throw new Error(`slot ${slot} does not hold ${id}`);
  return { uuid, header: decodeRecordHeader(header, 0) };
}

t.test('a flipped data byte: CHECKSUM_MISMATCH on get, reported by scrub, repaired by a put', async (t) => {
  const fresh = await freshEngine(t, 2);
  await fresh.engine.put('victim', v(3), block('victim'));
  await fresh.engine.put('bystander', v(3), block('bystander'));
  slotHeader(fresh.path, 0, 'victim');
  flipByte(fresh.path, dataOffset(0) + 1234);
  const engine = await fresh.reopen();
  await t.rejects(engine.get('victim'), { code: 'CHECKSUM_MISMATCH', details: { id: 'victim', part: 'data' } });
  t.same((await engine.head('victim'))?.version, v(3), 'the header is intact: head answers');
  t.same((await engine.get('bystander'))?.data, block('bystander'));
  const scrub = await engine.scrub();
  t.match(scrub, { checked: 2, corruptTotal: 1, aborted: false });
  t.match(scrub.corrupt, [{ id: 'victim', part: 'data', namespace: 0, slot: 0 }]);
  await t.rejects(async () => {
    for await (const _record of engine.scan({ withData: true })) {
      // iterate
    }
  }, { code: 'CHECKSUM_MISMATCH' }, 'a range iteration without onCorrupt throws');
  t.ok(engine.stats().checksumFailures >= 2);
  t.same(await engine.put('victim', v(3), block('victim')), { applied: true, version: v(3) }, 'a put of the same version repairs the block');
  t.same((await engine.get('victim'))?.data, block('victim'));
  t.equal((await engine.scrub()).corruptTotal, 0);
});

t.test('a flipped header byte: CHECKSUM_MISMATCH on get and in scrub; after a restart the record is dropped and named', async (t) => {
  const fresh = await freshEngine(t, 2);
  await fresh.engine.put('victim', v(3), block('victim'));
  await fresh.engine.put('bystander', v(3), block('bystander'));
  const { header } = slotHeader(fresh.path, 0, 'victim');
  flipByte(fresh.path, headerOffset(0) + 64 + header.id.length + 2); // inside the version bytes
  await t.rejects(fresh.engine.get('victim'), { code: 'CHECKSUM_MISMATCH', details: { id: 'victim', part: 'header' } });
  await t.rejects(fresh.engine.head('victim'), { code: 'CHECKSUM_MISMATCH' });
  const scrub = await fresh.engine.scrub();
  t.match(scrub.corrupt, [{ id: 'victim', part: 'header' }], 'scrub names the id the damaged header still holds');
  t.same((await fresh.engine.get('bystander'))?.data, block('bystander'));
  // Recovery cannot tell bit rot from a torn, unacknowledged write: it ignores the header and says so.
  const engine = await fresh.reopen();
  t.equal(await engine.get('victim'), undefined);
  t.match(engine.stats().recovery, { tornHeaders: 1, tornHeaderIds: ['victim'] });
  t.same(await engine.put('victim', v(3), block('victim')), { applied: true, version: v(3) }, 'a replica can write it back');
});

t.test('a torn last header write is discarded and the earlier record kept', async (t) => {
  const fresh = await freshEngine(t, 2);
  await fresh.engine.put('x', v(1), block('x1'));
  await fresh.engine.close();
  const { uuid } = slotHeader(fresh.path, 0, 'x');
  const position = hasher.h64(Buffer.from('x'));
  const header = (seq: number, deviceUuid: Buffer) => {
    const sector = Buffer.alloc(HEADER_SIZE_BYTES);
    encodeRecordHeader(hasher, {
      kind: RECORD_PUT, namespace: 0, idBytes: Buffer.from('x'), version: v(2), seq, positionHigh: high32(position), positionLow: low32(position),
      dataChecksum: hasher.h64(block('x2')), uuid: deviceUuid,
    }, sector, 0);
    return sector;
  };
  // A newer record for x whose sector write tore: its seq bytes did not all land.
  const torn = header(1000, uuid);
  torn.fill(0xa5, 16, 20);
  writeAt(fresh.path, headerOffset(5), torn);
  writeAt(fresh.path, dataOffset(5), block('x2'));
  writeAt(fresh.path, headerOffset(6), Buffer.alloc(HEADER_SIZE_BYTES, 0x5c)); // garbage without our magic
  writeAt(fresh.path, headerOffset(7), header(2000, Buffer.alloc(16, 7))); // intact, but another device's
  const engine = await fresh.reopen();
  t.same((await engine.get('x'))?.data, block('x1'), 'the acknowledged record stands');
  t.match(engine.stats().recovery, { records: 1, tornHeaders: 1, foreignHeaders: 1 });
  t.same(await engine.put('y', v(1), block('y')), { applied: true, version: v(1) });
  t.equal((await engine.scrub()).corruptTotal, 0);
  t.equal(engine.stats().blocks, 2);
});

t.test('a full device refuses puts with DEVICE_FULL, keeps accepting deletes, and recovers space', async (t) => {
  const fresh = await freshEngine(t, 1); // one group; a sixteenth of its slots reserved for deletes
  let engine = fresh.engine;
  const reserve = SLOTS_PER_GROUP / 16;
  const usable = SLOTS_PER_GROUP - reserve;
  t.equal(engine.stats().reserveSlots, reserve);
  const results = await Promise.allSettled(Array.from({ length: SLOTS_PER_GROUP }, (_, i) => engine.put(`f-${i}`, v(1), block(`f-${i}`))));
  t.equal(results.filter((r) => r.status === 'fulfilled').length, usable);
  const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  t.match(refused.reason, { code: 'DEVICE_FULL', message: /full.*reserved for deletes/ });
  await t.rejects(engine.put('f-0', v(2), block('overwrite')), { code: 'DEVICE_FULL' }, 'an overwrite needs a free slot too');
  t.same((await engine.get('f-0'))?.data, block('f-0'), 'a refused overwrite leaves the old block');
  for (let i = 0; i < 10; i++) t.same((await engine.delete(`f-${i}`, v(2))).applied, true, `delete ${i} on a full device`);
  engine = await fresh.reopen();
  t.match(engine.stats(), { blocks: usable - 10, tombstones: 10 });
  for (let i = 0; i < 10; i++) t.same((await engine.purgeTombstone(`f-${i}`, v(2))).purged, true);
  const again = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => engine.put(`n-${i}`, v(1), block(`n-${i}`))));
  t.equal(again.filter((r) => r.status === 'fulfilled').length, 10, 'space freed by deletes and purges is usable again');
  const deletes = await Promise.allSettled(Array.from({ length: reserve + 4 }, (_, i) => engine.delete(`never-${i}`, v(1))));
  t.equal(deletes.filter((r) => r.status === 'fulfilled').length, reserve, 'new tombstones use the reserve, then refuse');
  t.match((deletes.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason, { code: 'DEVICE_FULL' });
  engine = await fresh.reopen();
  t.match(engine.stats(), { blocks: usable, tombstones: reserve, freeSlots: 0 });
  t.equal((await engine.scrub()).corruptTotal, 0, 'a full device is not a corrupt one');
  t.same((await engine.get('n-3'))?.data, block('n-3'));
});

t.test('devices that are not ours, newer, truncated, blank or damaged are refused with their codes', async (t) => {
  const dir = tempDir(t);
  const size = deviceBytesForGroups(4);
  const path = (name: string) => join(dir, name);

  writeFileSync(path('foreign'), Buffer.alloc(size));
  writeAt(path('foreign'), 1024, Buffer.from('an ext4 superblock, say'));
  await t.rejects(Engine.open(path('foreign')), { code: 'BAD_MAGIC', message: /foreign.*not a ringblock device/ });
  await t.rejects(Engine.open(path('foreign'), { create: true }), { code: 'FOREIGN_DATA', message: /refusing to format.*force/ });
  const forced = await Engine.open(path('foreign'), { create: true, force: true });
  t.equal(forced.stats().groups, 4, 'force formats foreign data');
  await forced.close();

  writeFileSync(path('blank'), Buffer.alloc(size));
  await t.rejects(Engine.open(path('blank')), { code: 'UNFORMATTED', message: /blank.*create: true/ });
  const created = await Engine.open(path('blank'), { create: true });
  await created.put('kept', v(1), block('kept'));
  await created.close();
  const sameDevice = await Engine.open(path('blank'), { create: true });
  t.ok(await sameDevice.get('kept'), 'create opens an existing ringblock device without formatting it');
  await sameDevice.close();
  await t.rejects(Engine.format(path('blank')), { code: 'FOREIGN_DATA', message: /not blank.*force/ }, 'format will not erase a device without force');
  await Engine.format(path('blank'), { force: true });
  const erased = await Engine.open(path('blank'));
  t.equal(await erased.get('kept'), undefined, 'a forced format starts empty');
  await erased.close();

  await Engine.format(path('newer'), { sizeBytes: size });
  for (const copy of [0, 2048]) writeAt(path('newer'), copy + 8, Buffer.from([2, 0, 0, 0]));
  await t.rejects(Engine.open(path('newer')), { code: 'UNSUPPORTED_FORMAT', message: /newer ringblock engine.*format version 2/ });
  await t.rejects(Engine.open(path('newer'), { create: true }), { code: 'UNSUPPORTED_FORMAT' }, 'create does not format over a newer device');

  await Engine.format(path('truncated'), { sizeBytes: size });
  truncateSync(path('truncated'), deviceBytesForGroups(2) + 100);
  await t.rejects(Engine.open(path('truncated')), { code: 'TRUNCATED_DEVICE', message: /describes 4 groups.*truncated/ });
  truncateSync(path('truncated'), 1000);
  await t.rejects(Engine.open(path('truncated')), { code: 'TRUNCATED_DEVICE' });

  await Engine.format(path('damaged'), { sizeBytes: size });
  flipByte(path('damaged'), 30);
  const oneCopy = await Engine.open(path('damaged'));
  t.pass('one damaged superblock copy: the other opens the device');
  await oneCopy.grow({ sizeBytes: deviceBytesForGroups(5) });
  await oneCopy.close();
  t.equal((await reopenStats(path('damaged'))).groups, 5, 'a superblock rewrite repairs both copies');
  flipByte(path('damaged'), 30);
  flipByte(path('damaged'), 2048 + 30);
  await t.rejects(Engine.open(path('damaged')), { code: 'CORRUPT_SUPERBLOCK', message: /Both superblock copies/ });

  writeFileSync(path('tiny'), Buffer.alloc(10_000));
  await t.rejects(Engine.open(path('tiny'), { create: true }), { code: 'DEVICE_TOO_SMALL' });
});

async function reopenStats(path: string) {
  const engine = await Engine.open(path);
  const stats = engine.stats();
  await engine.close();
  return stats;
}

t.test('scrub is rate-limited and abortable', async (t) => {
  const { engine } = await freshEngine(t, 2);
  await Promise.all(Array.from({ length: 40 }, (_, i) => engine.put(`s-${i}`, v(1), block(`s-${i}`))));
  const paced = await engine.scrub({ blocksPerSecond: 100 });
  t.equal(paced.checked, 40);
  t.ok(paced.durationMs >= 300, `40 blocks at 100/s took ${Math.round(paced.durationMs)} ms`);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const aborted = await engine.scrub({ blocksPerSecond: 50, signal: controller.signal });
  t.equal(aborted.aborted, true);
  t.ok(aborted.checked < 40, `stopped after ${aborted.checked} blocks`);
});

t.test('two ids with one xxh64 position: the second is refused with HASH_COLLISION', async (t) => {
  // A real xxh64 collision is out of reach, so the device is given a record whose id is "taken"
  // but whose position is that of "wanted", as if the two ids hashed alike.
  const fresh = await freshEngine(t, 2);
  await fresh.engine.close();
  const uuid = readAt(fresh.path, 40, 16);
  const position = hasher.h64(Buffer.from('wanted'));
  const header = Buffer.alloc(HEADER_SIZE_BYTES);
  encodeRecordHeader(hasher, {
    kind: RECORD_PUT, namespace: 0, idBytes: Buffer.from('taken'), version: v(1), seq: 1, positionHigh: high32(position), positionLow: low32(position),
    dataChecksum: hasher.h64(block('taken')), uuid,
  }, header, 0);
  writeAt(fresh.path, headerOffset(0), header);
  writeAt(fresh.path, dataOffset(0), block('taken'));
  const engine = await fresh.reopen();
  t.equal(await engine.get('wanted'), undefined, 'the other id is not returned for it');
  await t.rejects(engine.put('wanted', v(2), block('wanted')), { code: 'HASH_COLLISION', message: /wanted.*same xxh64 position.*taken/ });
  await t.rejects(engine.delete('wanted', v(2)), { code: 'HASH_COLLISION' });
  let stored = 0;
  for await (const record of engine.scan({ withData: true })) stored += record.id === 'taken' && record.data?.equals(block('taken')) ? 1 : 0;
  t.equal(stored, 1, 'the stored id stays as it was');
});

t.test('read cache: a client write serves the reads after it, a bulk write does not; scrub and a reopen do not trust the cache', async (t) => {
  const fresh = await freshEngine(t, 2, { readCacheRecords: 16 });
  const { engine } = fresh;
  await engine.put('victim', v(3), block('victim'));
  flipByte(fresh.path, dataOffset(0) + 99);
  const hitsBefore = engine.stats().readCache.hits;
  t.same((await engine.get('victim'))?.data, block('victim'), 'the write cached its own data: the read is served from memory');
  t.equal(engine.stats().readCache.hits, hitsBefore + 1);
  const first = await engine.get('victim');
  first!.data![0] = 0xff;
  first!.version[0] = 0xff;
  t.same((await engine.get('victim'))?.data, block('victim'), 'callers get copies: changing one changes nothing cached');
  const shared = await engine.get('victim', { shared: true });
  const again = await engine.get('victim', { shared: true });
  t.ok(shared!.data!.buffer === again!.data!.buffer && shared!.data!.equals(block('victim')), '`shared`: the cache hands out its own buffer, no copy');
  t.equal((await engine.scrub()).corruptTotal, 1, 'the scrubber reads the device, not the cache');
  await engine.put('bulk', v(4), block('bulk'), { background: true });
  const slot = engine.stats().slots - engine.stats().freeSlots; // the bulk record's slot is the last used
  flipByte(fresh.path, dataOffset(slot - 1) + 7);
  t.same((await engine.head('bulk'))?.version, v(4), 'its header (cached at the write) answers head');
  await t.rejects(engine.get('bulk'), { code: 'CHECKSUM_MISMATCH', details: { part: 'data' } }, 'a bulk write caches no data: the read meets the damage');
  await t.rejects(fresh.reopen({ readCacheRecords: 16 }).then((reopened) => reopened.get('victim')), { code: 'CHECKSUM_MISMATCH' }, 'a reopened engine starts cold');
});
