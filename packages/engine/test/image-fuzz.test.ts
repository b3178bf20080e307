// Device-image fuzzing: the real engine writes a known set of blocks, overwrites and tombstones (two
// namespaces) to a file device; then, round after round, a copy of that image is damaged at seeded
// places aimed by the layout (support/image-damage.ts) and opened again by the real engine. Two
// base images: one closed cleanly, one copied while open with the checkpoint held back (recovery
// then checks the data of every record, as after a crash). Each round checks:
// - open succeeds or fails with a typed open error (never another exception, never a hang: every
//   call is bounded in time); it must succeed while one superblock copy is intact and the file is
//   whole (DESIGN §7 via superblock.ts: two copies survive a damaged one), and fail with
//   TRUNCATED_DEVICE when only the length is wrong;
// - every read returns a (version, bytes) pair that was written for that id, or not-found, or
//   CHECKSUM_MISMATCH — never other bytes; a record whose header and data page were not touched
//   (and that no damaged sector names) reads back exactly as last written;
// - scan and stats agree with the reads, and scrub reports every block whose read failed its checksum;
// - on some rounds the damaged store still takes writes that survive a reopen.
//   RINGBLOCK_IMAGE_FUZZ_SEED=7 RINGBLOCK_IMAGE_FUZZ_ROUNDS=5000 node packages/engine/dist/test/image-fuzz.test.js
//   RINGBLOCK_IMAGE_FUZZ_SEED=7 RINGBLOCK_IMAGE_FUZZ_ONLY=12,40 node packages/engine/dist/test/image-fuzz.test.js
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  checkRecordHeader, dataOffset, decodeRecordHeader, decodeSuperblockCopy, deviceBytesForGroups, encodeSuperblock, Engine, type EngineOptions, headerOffset, isEngineError, loadHasher,
  RECORD_TOMBSTONE, SLOTS_PER_GROUP, SUPERBLOCK_COPY_OFFSETS, BLOCK_SIZE_BYTES, HEADER_SIZE_BYTES,
} from '../src/index.js';
import { tempDir } from './support/devices.js';
import { block, v } from './support/engines.js';
import { damage, Random, SUPERBLOCK_COPY_BYTES, type DamageArea, type ImageFacts } from './support/image-damage.js';

const SEED = Number(process.env['RINGBLOCK_IMAGE_FUZZ_SEED'] ?? 1);
const ROUNDS = Number(process.env['RINGBLOCK_IMAGE_FUZZ_ROUNDS'] ?? 500);
const ONLY = process.env['RINGBLOCK_IMAGE_FUZZ_ONLY']?.split(',').map(Number);
/** 5 groups: 4 allocated at format, one above the watermark. */
const GROUPS = 5;
/** Bound on any one engine call (open, a read, scrub, close). */
const CALL_TIMEOUT_MS = 10_000;
const DAMAGES_PER_ROUND_MAX = 3;
const PROBLEMS_SHOWN_MAX = 20;
const OPEN_CODES = new Set(['BAD_MAGIC', 'UNFORMATTED', 'UNSUPPORTED_FORMAT', 'TRUNCATED_DEVICE', 'CORRUPT_SUPERBLOCK', 'DEVICE_TOO_SMALL', 'FOREIGN_DATA']);

const hasher = await loadHasher();

interface Written {
  version: Buffer;
  tombstone: boolean;
  data?: Buffer;
}

/** Per key (`<namespace>/<id>`), every version written, oldest first (the last is current). */
type History = Map<string, Written[]>;

const keyOf = (namespace: number, id: string) => `${namespace}/${id}`;
const splitKey = (key: string) => ({ namespace: Number(key.slice(0, key.indexOf('/'))), id: key.slice(key.indexOf('/') + 1) });

/** Writes the same set to every base image: puts in two namespaces, overwrites, tombstones (some of ids never stored). */
async function writeKnownSet(engine: Engine): Promise<History> {
  const history: History = new Map();
  const record = (namespace: number, id: string, written: Written) => history.set(keyOf(namespace, id), [...(history.get(keyOf(namespace, id)) ?? []), written]);
  const put = async (namespace: number, id: string, n: number) => {
    const data = block(`${namespace}/${id}@${n}`);
    await engine.put(id, v(n), data, { namespace });
    record(namespace, id, { version: v(n), tombstone: false, data });
  };
  const remove = async (namespace: number, id: string, n: number) => {
    await engine.delete(id, v(n), { namespace });
    record(namespace, id, { version: v(n), tombstone: true });
  };
  const batch = async (count: number, op: (i: number) => Promise<void>) => {
    for (let start = 0; start < count; start += 32) await Promise.all(Array.from({ length: Math.min(32, count - start) }, (_, i) => op(start + i)));
  };
  await batch(160, (i) => put(0, `b-${i}`, 1));
  await batch(60, (i) => put(0, `b-${i * 2}`, 2));
  await batch(25, (i) => remove(0, `b-${i * 5 + 1}`, 3));
  await batch(5, (i) => remove(0, `ghost-${i}`, 3));
  await batch(20, (i) => put(1, `b-${i}`, 1));
  return history;
}

interface BaseImage {
  name: 'closed' | 'live';
  bytes: Buffer;
  /** The current record of each key as its headers say: slot and whether it has a data page. */
  slots: Map<string, { slot: number; put: boolean }>;
  facts: ImageFacts;
}

/** The newest valid header per key in `image` (decoded here with the format code, apart from recovery). */
function currentSlots(image: Buffer, allocatedSlots: number): Map<string, { slot: number; put: boolean; seq: number }> {
  const uuid = image.subarray(40, 56);
  const newest = new Map<string, { slot: number; put: boolean; seq: number }>();
  for (let slot = 0; slot < allocatedSlots; slot++) {
    const offset = headerOffset(slot);
    if (offset + HEADER_SIZE_BYTES > image.length || checkRecordHeader(hasher, image, offset, uuid) !== 'valid') continue;
    const header = decodeRecordHeader(image, offset);
    const key = keyOf(header.namespace, header.id);
    if ((newest.get(key)?.seq ?? -1) < header.seq) newest.set(key, { slot, put: header.kind !== RECORD_TOMBSTONE, seq: header.seq });
  }
  return newest;
}

async function baseImage(dir: string, name: BaseImage['name']): Promise<{ image: BaseImage; history: History }> {
  const path = join(dir, `base-${name}`);
  // The live image: the checkpoint never moves while it is written, so every record is above it, and
  // superseded headers are wiped one per round, so some are still on disk when it is copied.
  const options: EngineOptions = name === 'live' ? { checkpointRecords: 1_000_000, checkpointIntervalMs: 3_600_000, maxWipesPerRound: 1 } : {};
  const engine = await Engine.open(path, { create: true, sizeBytes: deviceBytesForGroups(GROUPS), ...options });
  const history = await writeKnownSet(engine);
  const allocatedSlots = engine.stats().allocatedGroups * SLOTS_PER_GROUP;
  let bytes: Buffer;
  if (name === 'live') {
    bytes = readFileSync(path); // every write was acknowledged, so it is on the file; the superblock is the format's
    await engine.close();
  } else {
    await engine.close();
    bytes = readFileSync(path);
  }
  const slots = currentSlots(bytes, allocatedSlots);
  const facts: ImageFacts = { allocatedSlots, groups: GROUPS, live: [...slots.values()].map(({ slot, put }) => ({ slot, put })), neededBytes: deviceBytesForGroups(GROUPS) };
  return { image: { name, bytes, slots, facts }, history };
}

/** Keys whose current record a damage may have changed: its header or data page differs, or a damaged sector now holds a valid header naming it. */
function touchedKeys(base: BaseImage, damaged: Buffer): Set<string> {
  const differs = (offset: number, length: number) => offset + length > damaged.length || base.bytes.compare(damaged, offset, offset + length, offset, offset + length) !== 0;
  const touched = new Set<string>();
  for (const [key, { slot, put }] of base.slots) if (differs(headerOffset(slot), HEADER_SIZE_BYTES) || (put && differs(dataOffset(slot), BLOCK_SIZE_BYTES))) touched.add(key);
  const uuid = base.bytes.subarray(40, 56);
  for (let slot = 0; slot < base.facts.allocatedSlots; slot++) {
    const offset = headerOffset(slot);
    if (offset + HEADER_SIZE_BYTES > damaged.length) break;
    if (!differs(offset, HEADER_SIZE_BYTES) || checkRecordHeader(hasher, damaged, offset, uuid) !== 'valid') continue;
    const header = decodeRecordHeader(damaged, offset);
    touched.add(keyOf(header.namespace, header.id));
  }
  return touched;
}

function bounded<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`HANG: ${what} took longer than ${CALL_TIMEOUT_MS} ms`)), CALL_TIMEOUT_MS)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Tally {
  rounds: number;
  areas: Map<DamageArea, number>;
  opens: Map<string, number>;
  reads: Map<string, number>;
  scrubCorrupt: number;
  writeRounds: number;
}

const count = <K>(map: Map<K, number>, key: K, by = 1) => map.set(key, (map.get(key) ?? 0) + by);

type ReadResult = { type: 'record'; version: Buffer; tombstone: boolean; data?: Buffer } | { type: 'absent' } | { type: 'checksum' } | { type: 'error'; error: unknown };

async function readKey(engine: Engine, key: string): Promise<ReadResult> {
  const { namespace, id } = splitKey(key);
  try {
    const found = await bounded(`get ${key}`, engine.get(id, { namespace }));
    if (found === undefined) return { type: 'absent' };
    return { type: 'record', version: found.version, tombstone: found.tombstone, ...(found.data ? { data: found.data } : {}) };
  } catch (error) {
    return isEngineError(error, 'CHECKSUM_MISMATCH') ? { type: 'checksum' } : { type: 'error', error };
  }
}

/** Judges one read against the history: a written (version, bytes) pair; exactly the last one when untouched. */
function judgeRead(key: string, read: ReadResult, history: History, touched: boolean): { problem?: string; label: string } {
  const written = history.get(key)!;
  const last = written[written.length - 1]!;
  if (read.type === 'error') return { problem: `${key}: read failed with ${String((read.error as Error).stack ?? read.error).slice(0, 300)}`, label: 'error' };
  if (read.type === 'absent') return touched ? { label: 'not found' } : { problem: `${key}: untouched record not found`, label: 'not found' };
  if (read.type === 'checksum') return touched ? { label: 'checksum error' } : { problem: `${key}: untouched record reported corrupt`, label: 'checksum error' };
  const match = written.find((w) => w.version.equals(read.version) && w.tombstone === read.tombstone && (w.tombstone || (read.data !== undefined && w.data!.equals(read.data))));
  if (!match) return { problem: `${key}: returned version ${read.version.toString('hex')}${read.tombstone ? ' (tombstone)' : ''} with bytes that were never written for it`, label: 'WRONG BYTES' };
  if (match === last) return { label: 'intact' };
  return touched ? { label: 'older version' } : { problem: `${key}: untouched record read as an older version`, label: 'older version' };
}

interface RoundContext {
  dir: string;
  bases: BaseImage[];
  history: History;
  tally: Tally;
}

async function runRound(round: number, context: RoundContext): Promise<string[]> {
  const random = new Random(SEED * 1_000_003 + round);
  const base = context.bases[round % context.bases.length]!;
  let image: Buffer = Buffer.from(base.bytes);
  const done: string[] = [];
  for (let i = random.between(1, DAMAGES_PER_ROUND_MAX); i > 0; i--) {
    const result = damage(random, image, base.facts);
    image = result.image;
    count(context.tally.areas, result.area);
    done.push(result.description);
    if (result.area === 'truncate') break; // the last damage of its round: the other areas may be gone
  }
  const label = `seed ${SEED} round ${round} (${base.name} image; ${done.join('; ')})`;
  const path = join(context.dir, `round-${round}`);
  writeFileSync(path, image);
  try {
    return (await checkRound(path, base, image, random, context)).map((problem) => `${label}: ${problem}`);
  } catch (error) {
    return [`${label}: ${(error as Error).stack ?? String(error)}`];
  } finally {
    rmSync(path, { force: true });
  }
}

async function checkRound(path: string, base: BaseImage, image: Buffer, random: Random, context: RoundContext): Promise<string[]> {
  const { tally, history } = context;
  const intactCopy = SUPERBLOCK_COPY_OFFSETS.some((offset) => image.length >= offset + SUPERBLOCK_COPY_BYTES && base.bytes.compare(image, offset, offset + SUPERBLOCK_COPY_BYTES, offset, offset + SUPERBLOCK_COPY_BYTES) === 0);
  const whole = image.length >= base.facts.neededBytes;
  const cached = random.fraction() < 0.3;
  let engine: Engine;
  try {
    engine = await bounded('open', Engine.open(path, cached ? { readCacheRecords: 32 } : {}));
  } catch (error) {
    const code = isEngineError(error) ? error.code : `untyped ${(error as Error).name}`;
    count(tally.opens, `refused ${code}`);
    if (!isEngineError(error) || !OPEN_CODES.has(error.code)) return [`open failed with ${(error as Error).stack ?? String(error)}`];
    if (intactCopy && whole) return [`open refused a whole device with an intact superblock copy: ${code}: ${error.message}`];
    if (intactCopy && !whole && code !== 'TRUNCATED_DEVICE') return [`a cut-short device with an intact superblock was refused with ${code}, not TRUNCATED_DEVICE`];
    return [];
  }
  count(tally.opens, 'opened');
  const problems: string[] = [];
  try {
    if (!intactCopy || !whole) problems.push(`opened although ${intactCopy ? 'the file is shorter than its superblock says' : 'no superblock copy is intact'}`);
    problems.push(...(await checkReads(engine, base, image, cached, context)));
    if (random.fraction() < 0.25 && problems.length === 0) {
      tally.writeRounds++;
      engine = await writeAndReopen(engine, path, base, image, history, problems);
    }
  } finally {
    await bounded('close', engine.close()).catch((error: Error) => problems.push(`close failed: ${error.message}`));
  }
  return problems;
}

async function checkReads(engine: Engine, base: BaseImage, image: Buffer, cached: boolean, context: RoundContext): Promise<string[]> {
  const { tally, history } = context;
  const touched = touchedKeys(base, image);
  const problems: string[] = [];
  const corrupt: string[] = [];
  let found = 0;
  for (const key of history.keys()) {
    const read = await readKey(engine, key);
    const verdict = judgeRead(key, read, history, touched.has(key));
    count(tally.reads, verdict.label);
    if (verdict.problem) problems.push(verdict.problem);
    if (read.type === 'record' || read.type === 'checksum') found++;
    if (read.type === 'checksum') corrupt.push(key);
    if (cached && read.type === 'record') {
      const again = await readKey(engine, key);
      if (again.type !== 'record' || !again.version.equals(read.version) || (read.data && !again.data?.equals(read.data))) problems.push(`${key}: a second (cached) read differs from the first`);
    }
  }
  const stats = engine.stats();
  if (stats.blocks + stats.tombstones !== found) problems.push(`stats count ${stats.blocks + stats.tombstones} records, reads found ${found}`);
  let scanned = 0;
  for (const namespace of [0, 1]) {
    for await (const record of engine.scan({ namespace, withData: true, onCorrupt: () => undefined })) {
      scanned++;
      const verdict = judgeRead(keyOf(namespace, record.id), history.has(keyOf(namespace, record.id)) ? { type: 'record', version: record.version, tombstone: record.tombstone, ...(record.data ? { data: record.data } : {}) } : { type: 'error', error: new Error(`scan yielded unknown id ${record.id}`) }, history, true);
      if (verdict.problem) problems.push(`scan: ${verdict.problem}`);
    }
  }
  if (scanned !== found - corrupt.length) problems.push(`scan yielded ${scanned} records, reads ${found - corrupt.length} intact`);
  const scrub = await bounded('scrub', engine.scrub());
  tally.scrubCorrupt += scrub.corruptTotal;
  const reported = new Set(scrub.corrupt.map((block) => `${block.namespace}/${block.position}`));
  for (const key of corrupt) {
    const { namespace, id } = splitKey(key);
    if (!reported.has(`${namespace}/${hasher.h64(Buffer.from(id))}`)) problems.push(`${key}: a read reported corruption that scrub did not (scrub: ${scrub.corruptTotal})`);
  }
  return problems;
}

/** The damaged store takes a new block and an overwrite of an untouched key; both survive a reopen, as do the untouched keys. */
async function writeAndReopen(engine: Engine, path: string, base: BaseImage, image: Buffer, history: History, problems: string[]): Promise<Engine> {
  const touched = touchedKeys(base, image);
  const untouched = [...history.keys()].filter((key) => !touched.has(key) && splitKey(key).namespace === 0);
  const fresh = block('after the damage');
  await bounded('put', engine.put('after-damage', v(1000), fresh));
  const overwritten = untouched[0];
  const overwrite = block(`overwrite of ${overwritten}`);
  if (overwritten) await bounded('put', engine.put(splitKey(overwritten).id, v(1001), overwrite));
  await bounded('close', engine.close());
  const reopened = await bounded('reopen', Engine.open(path));
  const check = async (id: string, data: Buffer) => {
    const got = await bounded(`get ${id}`, reopened.get(id)).catch((error: Error) => error);
    if (!(got && 'data' in got && got.data?.equals(data))) problems.push(`after reopening, ${id} does not read as written after the damage (${got instanceof Error ? got.message : 'absent or other bytes'})`);
  };
  await check('after-damage', fresh);
  if (overwritten) await check(splitKey(overwritten).id, overwrite);
  for (const key of untouched.slice(1)) {
    const verdict = judgeRead(key, await readKey(reopened, key), history, false);
    if (verdict.problem) problems.push(`after writing and reopening: ${verdict.problem}`);
  }
  return reopened;
}

t.setTimeout(900_000);

t.test('a bit flip in the format version of one superblock copy: the other copy opens the device (was UNSUPPORTED_FORMAT, "formatted by a newer engine")', async (t) => {
  const path = join(tempDir(t), 'device');
  const engine = await Engine.open(path, { create: true, sizeBytes: deviceBytesForGroups(2) });
  await engine.put('kept', v(1), block('kept'));
  await engine.close();
  const flipped = readFileSync(path);
  flipped[9]! ^= 0x04; // copy 0 now names format version 1025, and fails its checksum
  writeFileSync(path, flipped);
  const opened = await Engine.open(path);
  t.same((await opened.get('kept'))?.data, block('kept'), 'opened with the intact copy');
  await opened.grow({ sizeBytes: deviceBytesForGroups(3) });
  await opened.close();
  const rewritten = readFileSync(path);
  t.same(SUPERBLOCK_COPY_OFFSETS.map((offset) => decodeSuperblockCopy(hasher, rewritten, offset).state), ['valid', 'valid'], 'the next superblock rewrite repairs the damaged copy');

  // A genuine newer superblock (its checksum holds) is still believed over an older valid copy.
  const newer = readFileSync(path);
  const current = decodeSuperblockCopy(hasher, newer, SUPERBLOCK_COPY_OFFSETS[1]);
  if (current.state !== 'valid') throw new Error('copy 1 should be valid');
  encodeSuperblock(hasher, { ...current.superblock, formatVersion: 2 }).copy(newer, SUPERBLOCK_COPY_OFFSETS[0]);
  writeFileSync(path, newer);
  await t.rejects(Engine.open(path), { code: 'UNSUPPORTED_FORMAT' }, 'a checksummed copy of format version 2 refuses the device');
});

t.test(`damaged device images are refused with a typed error or read without wrong bytes (seed ${SEED}, ${ONLY ? `rounds ${ONLY.join(',')}` : `${ROUNDS} rounds`})`, async (t) => {
  const dir = tempDir(t, 'ringblock-image-fuzz-');
  const closed = await baseImage(dir, 'closed');
  const live = await baseImage(dir, 'live');
  for (const base of [closed.image, live.image]) {
    const copies = SUPERBLOCK_COPY_OFFSETS.map((offset) => base.bytes.subarray(offset, offset + SUPERBLOCK_COPY_BYTES));
    t.ok(copies[0]!.equals(copies[1]!), `${base.name} image: both superblock copies hold the same superblock`);
    const current = [...closed.history].map(([key, written]) => `${key} ${written.at(-1)!.version.toString('hex')}`);
    const onDisk = [...currentSlots(base.bytes, base.facts.allocatedSlots)].map(([key, { slot }]) => `${key} ${decodeRecordHeader(base.bytes, headerOffset(slot)).version.toString('hex')}`);
    t.same(onDisk.sort(), current.sort(), `${base.name} image: its headers name exactly the records written (${base.slots.size})`);
  }
  const context: RoundContext = { dir, bases: [closed.image, live.image], history: closed.history, tally: { rounds: 0, areas: new Map(), opens: new Map(), reads: new Map(), scrubCorrupt: 0, writeRounds: 0 } };
  const started = performance.now();
  const problems: string[] = [];
  for (const round of ONLY ?? Array.from({ length: ROUNDS }, (_, i) => i)) {
    problems.push(...(await runRound(round, context)));
    context.tally.rounds++;
  }
  const { tally } = context;
  const list = (map: Map<string, number>) => [...map].sort().map(([key, n]) => `${key} ${n}`).join(', ');
  t.comment(`${tally.rounds} rounds in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${SEED}); damage: ${list(tally.areas)}`);
  t.comment(`opens: ${list(tally.opens)}; reads: ${list(tally.reads)}; scrub found ${tally.scrubCorrupt} corrupt blocks; ${tally.writeRounds} rounds wrote and reopened`);
  t.same(problems.slice(0, PROBLEMS_SHOWN_MAX), [], 'every open is a success or a typed refusal, every read a written record, not-found or CHECKSUM_MISMATCH');
  if (problems.length > 0) t.comment(`${problems.length} problems; replay a round with RINGBLOCK_IMAGE_FUZZ_SEED=${SEED} RINGBLOCK_IMAGE_FUZZ_ONLY=<round>`);
  t.notOk(tally.reads.has('WRONG BYTES'), 'no read returned bytes that were not written for its id');
});
