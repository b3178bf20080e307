// Reads of stored records. Every read verifies the header checksum, that the header belongs to the
// key asked for, and (with data) the data checksum; a mismatch is a typed CHECKSUM_MISMATCH error,
// never data. A read pins the slot it looked up (core.ts, ReadPins) until it completes: the key may
// be overwritten meanwhile, but its old slot is neither wiped nor reused under the read, so the read
// returns the record that was current at its lookup, and a failed check is real corruption.
import type { EngineCore } from './core.js';
import { EngineError } from './errors.js';
import { join64 } from './hash.js';
import { BLOCK_SIZE_BYTES, dataOffset, HEADER_SIZE_BYTES, headerOffset } from './layout.js';
import { checkRecordHeader, decodeRecordHeader, RECORD_TOMBSTONE, salvageId } from './record.js';
import { isValidId } from './validate.js';

/** Rounds a read waits for when they remove its key's slot (each changes the key: a bound, not a limit met). */
const REMOVAL_WAITS_MAX = 4;

/** What is looked up: a key's namespace and position, and its id when the caller knows it. */
export interface KeyRef {
  namespace: number;
  positionHigh: number;
  positionLow: number;
  id?: string;
}

export interface BlockHead {
  id: string;
  namespace: number;
  /** xxh64 of the id: the block's ring position. */
  position: bigint;
  version: Buffer;
  tombstone: boolean;
}

export interface BlockRecord extends BlockHead {
  /** The 4096 bytes (absent for tombstones and when not asked for). */
  data?: Buffer;
}

export interface StoredRecord extends BlockRecord {
  seq: number;
}

export type SlotRead =
  | { ok: true; record: StoredRecord }
  | { ok: false; part: 'header' | 'data'; reason: string; id?: string };

export type ReadMode = 'header' | 'data';

/**
 * Reads the record in `slot` and checks it is the record of `key` (namespace and position; the id
 * is left to the caller, which tells a hash collision from a match). With mode 'data', a put's data
 * page is read (at the same time as its header) and checked against the header's data checksum.
 */
export async function readSlot(core: EngineCore, slot: number, key: KeyRef, mode: ReadMode): Promise<SlotRead> {
  const header = Buffer.allocUnsafe(HEADER_SIZE_BYTES);
  const data = mode === 'data' ? Buffer.allocUnsafe(BLOCK_SIZE_BYTES) : undefined;
  await Promise.all([core.device.read(header, headerOffset(slot)), data && core.device.read(data, dataOffset(slot))]);
  const state = checkRecordHeader(core.hasher, header, 0, core.uuid);
  if (state !== 'valid') {
    return { ok: false, part: 'header', reason: `header is ${state === 'empty' ? 'empty' : 'not intact'}`, id: salvageId(core.hasher, header, 0, isValidId) };
  }
  const decoded = decodeRecordHeader(header, 0);
  if (decoded.namespace !== key.namespace || decoded.positionHigh !== key.positionHigh >>> 0 || decoded.positionLow !== key.positionLow >>> 0) {
    return { ok: false, part: 'header', reason: 'header belongs to another key' };
  }
  const tombstone = decoded.kind === RECORD_TOMBSTONE;
  const record: StoredRecord = {
    id: decoded.id,
    namespace: decoded.namespace,
    position: join64(decoded.positionHigh, decoded.positionLow),
    version: decoded.version,
    tombstone,
    seq: decoded.seq,
  };
  if (data === undefined || tombstone) return { ok: true, record };
  if (core.hasher.h64(data) !== decoded.dataChecksum) return { ok: false, part: 'data', reason: 'data checksum mismatch', id: decoded.id };
  record.data = data;
  return { ok: true, record };
}

/**
 * The current record of `key`, or undefined when there is none (or another id holds its position).
 * With `cached` (the default) a verified record in the read cache is served and a verified read is
 * cached; scrubs and range scans read the device itself and leave the cache alone.
 */
export async function readCurrent(core: EngineCore, key: KeyRef, mode: ReadMode, cached = true, shared = false): Promise<StoredRecord | undefined> {
  // Lookup and pin in the same turn: the slot is current now, so no round has taken it for a wipe
  // or reuse; only a purge or evict under way may be zeroing it, and then the read waits for it.
  let slot = core.index.get(key.namespace, key.positionHigh, key.positionLow);
  for (let waits = 0; slot >= 0 && core.removals.has(slot) && waits < REMOVAL_WAITS_MAX; waits++) {
    await core.removals.settled();
    slot = core.index.get(key.namespace, key.positionHigh, key.positionLow);
  }
  if (slot < 0) return undefined;
  if (cached) {
    const hit = core.cache.get(slot, mode === 'data');
    if (hit !== undefined && sameKey(hit, key)) {
      const answer = key.id === undefined || hit.id === key.id ? copyOf(hit, mode, shared) : undefined;
      // Answer in a later turn, as a device read would: a loop of cached reads must not starve I/O.
      await new Promise<void>((resolve) => setImmediate(resolve));
      return answer;
    }
  }
  core.pins.pin(slot);
  let read: SlotRead;
  try {
    read = await readSlot(core, slot, key, mode);
    // Still pinned: the slot cannot have been taken for a write since it was read.
    if (read.ok && cached) core.cache.set(slot, read.record);
  } finally {
    core.pins.unpin(slot);
  }
  if (read.ok) return key.id === undefined || read.record.id === key.id ? (cached ? copyOf(read.record, mode) : read.record) : undefined;
  core.metrics.checksumFailures++;
  throw corruptionError(key, slot, read);
}

function sameKey(record: StoredRecord, key: KeyRef): boolean {
  return record.namespace === key.namespace && record.position === join64(key.positionHigh, key.positionLow);
}

/** Callers own what they get: the cached record and its buffers stay untouched (`shared`: the data buffer is the cache's, read-only). */
function copyOf(record: StoredRecord, mode: ReadMode, shared = false): StoredRecord {
  const copy: StoredRecord = { ...record, version: Buffer.from(record.version) };
  if (mode === 'data' && record.data !== undefined) copy.data = shared ? record.data : Buffer.from(record.data);
  else delete copy.data;
  return copy;
}

export function corruptionError(key: KeyRef, slot: number, read: Extract<SlotRead, { ok: false }>): EngineError {
  const id = key.id ?? read.id;
  const position = join64(key.positionHigh, key.positionLow);
  const what = id === undefined ? `the block at position ${position} of namespace ${key.namespace}` : `block ${id}`;
  return new EngineError('CHECKSUM_MISMATCH', `Stored ${read.part} of ${what} is corrupt (${read.reason}); it is not returned and should be repaired from a replica.`, {
    id, namespace: key.namespace, position: position.toString(), slot, part: read.part, reason: read.reason,
  });
}
