// Deterministic tests of the pure parts: layout arithmetic, superblock and record header encoding,
// write-run planning, the index table, the slot allocator and ordered range collection.
import t from 'tap';
import { planRuns } from '../src/io-runs.js';
import {
  BLOCK_SIZE_BYTES, checkRecordHeader, collectRangeChunk, dataOffset, decodeRecordHeader, decodeSuperblockCopy, deviceBytesForGroups,
  encodeRecordHeader, encodeSuperblock, GROUP_BYTES, groupsForDeviceSize, HEADER_SIZE_BYTES, headerOffset, isValidId, KeyIndex,
  loadHasher, MAX_GROUPS, positionAt, RECORD_PUT, RECORD_TOMBSTONE, ringWindow, SlotAllocator, SLOTS_PER_GROUP, SUPERBLOCK_AREA_BYTES,
} from '../src/index.js';
import { high32, low32 } from '../src/hash.js';
import { nextAllocatedGroups } from '../src/layout.js';
import { salvageId } from '../src/record.js';
import { SlotQueue } from '../src/slot-allocator.js';
import { newSuperblock } from '../src/superblock.js';
import { rng } from './support/model.js';

const hasher = await loadHasher();
const uuid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

t.test('layout: groups, offsets and alignment', async (t) => {
  t.equal(SLOTS_PER_GROUP, 256);
  t.equal(GROUP_BYTES, 128 * 1024 + 1024 * 1024);
  t.equal(headerOffset(0), SUPERBLOCK_AREA_BYTES);
  t.equal(headerOffset(255), SUPERBLOCK_AREA_BYTES + 255 * HEADER_SIZE_BYTES);
  t.equal(dataOffset(0), SUPERBLOCK_AREA_BYTES + 128 * 1024);
  t.equal(dataOffset(255), SUPERBLOCK_AREA_BYTES + 128 * 1024 + 255 * 4096);
  t.equal(headerOffset(256), SUPERBLOCK_AREA_BYTES + GROUP_BYTES);
  for (const slot of [0, 1, 255, 256, 257, 12345, 2 ** 31 + 5, 2 ** 32 - 1]) {
    t.equal(dataOffset(slot) % BLOCK_SIZE_BYTES, 0, `data page of slot ${slot} is 4 KiB aligned`);
    t.equal(headerOffset(slot) % HEADER_SIZE_BYTES, 0, `header of slot ${slot} is sector aligned`);
  }
  t.ok(dataOffset(2 ** 32 - 1) + BLOCK_SIZE_BYTES <= deviceBytesForGroups(MAX_GROUPS + 1), 'the last slot fits the largest device');
  t.ok(Number.isSafeInteger(deviceBytesForGroups(MAX_GROUPS)), 'offsets stay exact doubles');
  t.equal(groupsForDeviceSize(deviceBytesForGroups(1) - 1), 0);
  t.equal(groupsForDeviceSize(deviceBytesForGroups(1)), 1);
  t.equal(groupsForDeviceSize(deviceBytesForGroups(7) + GROUP_BYTES - 1), 7);
  t.equal(groupsForDeviceSize(Number.MAX_SAFE_INTEGER), MAX_GROUPS);
  t.equal(nextAllocatedGroups(4, 5, 1000), 8, 'at least 4 groups more');
  t.equal(nextAllocatedGroups(800, 801, 1000), 900, 'an eighth more');
  t.equal(nextAllocatedGroups(990, 995, 1000), 1000, 'never past the device');
  t.equal(nextAllocatedGroups(16, 500, 1000), 500, 'at least what is needed');
});

t.test('superblock: round trip and every way a copy can be unusable', async (t) => {
  const superblock = { ...newSuperblock(uuid, 1000, 16, 1_700_000_000_000), generation: 7 };
  const area = Buffer.alloc(SUPERBLOCK_AREA_BYTES);
  encodeSuperblock(hasher, superblock).copy(area, 2048);
  const copy = decodeSuperblockCopy(hasher, area, 2048);
  t.same(copy, { state: 'valid', superblock });
  t.same(decodeSuperblockCopy(hasher, area, 0), { state: 'blank' });
  for (const offset of [12, 24, 40, 100, 121]) {
    const flipped = Buffer.from(area);
    flipped[2048 + offset]! ^= 0x10;
    t.equal(decodeSuperblockCopy(hasher, flipped, 2048).state, 'corrupt', `bit flip at byte ${offset} is detected`);
  }
  // A newer format may checksum differently, so its version is judged first: a flipped version
  // field reads as a newer format too, and the device is refused rather than guessed at.
  const newer = Buffer.from(area);
  newer.writeUInt32LE(2, 2048 + 8);
  t.same(decodeSuperblockCopy(hasher, newer, 2048), { state: 'unsupported', formatVersion: 2 });
  const foreign = Buffer.from(area);
  foreign.write('EXT4FS!!', 2048, 'latin1');
  t.equal(decodeSuperblockCopy(hasher, foreign, 2048).state, 'foreign');
  const magicFlip = Buffer.from(area);
  magicFlip[2048]! ^= 1;
  t.equal(decodeSuperblockCopy(hasher, magicFlip, 2048).state, 'foreign', 'a copy with a damaged magic is not ours (the other copy opens the device)');
});

t.test('record header: round trip, torn bytes, other devices, salvage', async (t) => {
  const idBytes = Buffer.from('volume-7:block.00042~x');
  const version = Buffer.from('0000018f2a3b4c5d-node-3');
  const position = hasher.h64(idBytes);
  const fields = {
    kind: RECORD_PUT as typeof RECORD_PUT, namespace: 1, idBytes, version, seq: 2 ** 40 + 5,
    positionHigh: high32(position), positionLow: low32(position), dataChecksum: 0x0123456789abcdefn, uuid,
  };
  const sector = Buffer.alloc(HEADER_SIZE_BYTES, 0xee);
  encodeRecordHeader(hasher, fields, sector, 0);
  t.equal(checkRecordHeader(hasher, sector, 0, uuid), 'valid');
  t.same(decodeRecordHeader(sector, 0), {
    kind: RECORD_PUT, namespace: 1, id: 'volume-7:block.00042~x', version, seq: 2 ** 40 + 5,
    positionHigh: high32(position), positionLow: low32(position), dataChecksum: 0x0123456789abcdefn,
  });
  t.ok(sector.subarray(64 + idBytes.length + version.length).every((byte) => byte === 0), 'the unused tail is zeroed');
  const used = 64 + idBytes.length + version.length;
  for (let offset = 0; offset < used; offset++) {
    const flipped = Buffer.from(sector);
    flipped[offset]! ^= 0x04;
    const state = checkRecordHeader(hasher, flipped, 0, uuid);
    const expected = offset >= 8 && offset < 12 ? 'empty' : offset >= 40 && offset < 56 ? 'foreign' : 'torn';
    if (state !== expected) t.fail(`flip at byte ${offset}: ${state}, expected ${expected}`);
  }
  t.equal(checkRecordHeader(hasher, sector, 0, Buffer.alloc(16, 1)), 'foreign', 'a header of another device is not ours');
  t.equal(checkRecordHeader(hasher, Buffer.alloc(HEADER_SIZE_BYTES), 0, uuid), 'empty');
  const versionFlip = Buffer.from(sector);
  versionFlip[64 + idBytes.length]! ^= 1;
  t.equal(salvageId(hasher, versionFlip, 0, isValidId), 'volume-7:block.00042~x', 'the id of a header with a bad version byte is still named');
  const idFlip = Buffer.from(sector);
  idFlip[64]! ^= 1;
  t.equal(salvageId(hasher, idFlip, 0, isValidId), undefined, 'a damaged id is not guessed');
  const tombstone = Buffer.alloc(HEADER_SIZE_BYTES);
  encodeRecordHeader(hasher, { ...fields, kind: RECORD_TOMBSTONE, dataChecksum: 0n }, tombstone, 0);
  t.equal(decodeRecordHeader(tombstone, 0).kind, RECORD_TOMBSTONE);
});

t.test('write runs: sorted, consecutive slots of one group per writev', async (t) => {
  const piece = (slot: number) => ({ slot, bytes: Buffer.from([slot & 0xff]) });
  const runs = planRuns([piece(5), piece(3), piece(4), piece(255), piece(256), piece(257), piece(270)]);
  t.same(runs.map((run) => [run.firstSlot, run.buffers.map((b) => b[0])]), [[3, [3, 4, 5]], [255, [255]], [256, [0, 1]], [270, [270 & 0xff]]]);
  t.same(planRuns([]), []);
});

t.test('key index: agrees with a Map under random sets and removes, including probe collisions', async (t) => {
  const random = rng(7);
  const index = new KeyIndex();
  const model = new Map<string, { slot: number; tombstone: boolean }>();
  // Few distinct low words: long probe runs, wrap-around and backward-shift deletion get exercised.
  const keys = Array.from({ length: 3000 }, (_, i) => ({ namespace: i % 3, high: (i * 2654435761) >>> 0, low: (i % 50) * 97 }));
  let mismatches = 0;
  for (let step = 0; step < 60_000; step++) {
    const key = keys[Math.floor(random() * keys.length)]!;
    const name = `${key.namespace}/${key.high}/${key.low}`;
    if (random() < 0.35) {
      const removed = index.remove(key.namespace, key.high, key.low);
      if (removed !== (model.get(name)?.slot ?? -1)) mismatches++;
      model.delete(name);
    } else {
      const slot = Math.floor(random() * 2 ** 32);
      const tombstone = random() < 0.3;
      const previous = index.set(key.namespace, key.high, key.low, slot, tombstone);
      if (previous !== (model.get(name)?.slot ?? -1)) mismatches++;
      model.set(name, { slot, tombstone });
    }
  }
  for (const key of keys) {
    const expected = model.get(`${key.namespace}/${key.high}/${key.low}`);
    if (index.get(key.namespace, key.high, key.low) !== (expected?.slot ?? -1)) mismatches++;
    if (index.isTombstone(key.namespace, key.high, key.low) !== (expected?.tombstone ?? false)) mismatches++;
  }
  t.equal(mismatches, 0);
  t.equal(index.size, model.size);
});

t.test('slot allocator: lowest free first, release, grow', async (t) => {
  const allocator = new SlotAllocator(100);
  t.equal(allocator.free, 0, 'a new allocator has every slot used (recovery releases the free ones)');
  allocator.grow(200);
  t.equal(allocator.free, 100);
  t.equal(allocator.allocate(), 100);
  for (let slot = 0; slot < 100; slot++) allocator.release(slot);
  t.equal(allocator.allocate(), 0);
  t.equal(allocator.allocate(), 1);
  allocator.release(0);
  t.equal(allocator.allocate(), 0, 'a released low slot is reused first');
  t.throws(() => allocator.release(150), /released twice/);
  const random = rng(3);
  const big = new SlotAllocator(0);
  big.grow(100_000);
  const used = new Set<number>();
  const order: number[] = [];
  for (let step = 0; step < 20_000; step++) {
    if (order.length > 0 && random() < 0.4) {
      const slot = order.splice(Math.floor(random() * order.length), 1)[0]!;
      big.release(slot);
      used.delete(slot);
    } else {
      const slot = big.allocate();
      let lowest = 0;
      while (used.has(lowest)) lowest++;
      if (slot !== lowest) t.fail(`allocated ${slot}, lowest free is ${lowest}`);
      used.add(slot);
      order.push(slot);
    }
  }
  t.equal(big.free, 100_000 - used.size);
  const full = new SlotAllocator(0);
  full.grow(3);
  t.same([full.allocate(), full.allocate(), full.allocate(), full.allocate()], [0, 1, 2, -1]);
});

t.test('slot queue: FIFO across growth', async (t) => {
  const queue = new SlotQueue();
  for (let i = 0; i < 50; i++) queue.push(i);
  t.same(queue.take(10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (let i = 50; i < 200; i++) queue.push(i);
  const all = queue.take(1000);
  t.same(all, Array.from({ length: 190 }, (_, i) => i + 10));
  t.equal(queue.size, 0);
});

t.test('range collection: chunks in ring order equal a brute-force filter, wrap-around included', async (t) => {
  const random = rng(11);
  const index = new KeyIndex();
  const positions: bigint[] = [];
  for (let i = 0; i < 2000; i++) {
    const position = (BigInt(Math.floor(random() * 2 ** 32)) << 32n) | BigInt(Math.floor(random() * 2 ** 32));
    positions.push(position);
    index.set(0, high32(position), low32(position), i, false);
    index.set(1, high32(position ^ 1n), low32(position ^ 1n), i, false); // another namespace: never returned
  }
  const max = (1n << 64n) - 1n;
  const cases: [bigint, bigint][] = [[0n, max], [max, max], [0n, 0n], [positions[5]!, positions[9]!], [positions[9]!, positions[5]!], [max - 5n, 1n << 62n], [positions[3]!, positions[3]!]];
  for (const [start, end] of cases) {
    const window = ringWindow(start, end);
    const inRange = (p: bigint) => (start < end ? p > start && p <= end : p > start || p <= end);
    const distance = (p: bigint) => (p - start - 1n + (1n << 64n)) % (1n << 64n);
    const expected = positions.filter(inRange).sort((a, b) => (distance(a) < distance(b) ? -1 : 1));
    for (const chunkSize of [7, 100, 5000]) {
      const got: bigint[] = [];
      let from = 0n;
      for (let chunks = 0; chunks < 1000; chunks++) {
        const chunk = collectRangeChunk(index, 0, window, from, chunkSize);
        for (const d of chunk.distances) got.push(positionAt(window, d));
        if (chunk.complete || chunk.distances.length === 0) break;
        from = chunk.distances[chunk.distances.length - 1]! + 1n;
      }
      t.same(got, expected, `(${start}, ${end}] in chunks of ${chunkSize}`);
    }
  }
  t.throws(() => ringWindow(-1n, 5n), { code: 'BAD_OPTION' });
  t.throws(() => ringWindow(0n, 1n << 64n), { code: 'BAD_OPTION' });
});
