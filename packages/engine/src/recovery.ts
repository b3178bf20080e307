// Recovery on open: reads the header area of every allocated group (one 128 KiB read per group, a
// few in flight), keeps for each (namespace, position) the valid header with the highest seq, and
// rebuilds the index, the free-slot bitmap and the list of superseded ("stale") headers still on
// disk, which the engine wipes (or overwrites with new records). A header that fails its checksum is a
// write that was never acknowledged (torn or garbage): it is ignored and its slot is free.
// A header newer than the superblock's checkpointSeq may have reached the disk without its data
// (a round writes data and headers under one sync): its data page is read and checked first, and
// a mismatch means the write was never acknowledged — the header is discarded (and wiped by the
// engine before the slot is reused), so the key's previous record stands.
// The scan is the hot path of opening a device (a million headers): it reads fields through a
// Uint32Array view of the area and touches the index once per header.
import { NamespaceCounters } from './counters.js';
import type { DeviceReader } from './device.js';
import type { Hasher } from './hash.js';
import { KeyIndex } from './key-index.js';
import { BLOCK_SIZE_BYTES, dataOffset, groupOffset, HEADER_AREA_BYTES, HEADER_SIZE_BYTES, SLOTS_PER_GROUP } from './layout.js';
import { MAX_VERSION_BYTES, RECORD_FIXED_BYTES, RECORD_MAGIC, RECORD_PUT, RECORD_TOMBSTONE, salvageId } from './record.js';
import { SlotAllocator } from './slot-allocator.js';
import type { Superblock } from './superblock.js';
import { isValidId } from './validate.js';

const GROUP_READS_IN_FLIGHT = 8;
const DATA_READS_IN_FLIGHT = 16;
const MAX_TORN_IDS_REPORTED = 100;
const SLOT_FREE = 0;
const SLOT_PUT = 1;
const SLOT_TOMBSTONE = 2;
const SLOT_STALE = 3;
const HEADER_WORDS = HEADER_SIZE_BYTES / 4;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export interface RecoveryReport {
  groupsRead: number;
  records: number;
  staleRecords: number;
  /**
   * Headers of this device that failed their checksum, ignored: a torn write that was never
   * acknowledged — or a record lost to bit rot, which recovery cannot tell apart; replicas repair it.
   */
  tornHeaders: number;
  /** The ids such headers still name (at most 100), for logging and repair. */
  tornHeaderIds: string[];
  /** Headers of another device (left from earlier contents), ignored. */
  foreignHeaders: number;
  /** Records newer than the checkpoint whose data was checked. */
  verifiedRecords: number;
  /** Of those, records whose data never reached the disk (unacknowledged writes): discarded. */
  unsyncedRecords: number;
  durationMs: number;
}

export interface RecoveredState {
  index: KeyIndex;
  allocator: SlotAllocator;
  counters: NamespaceCounters;
  /** Slots whose headers are superseded records, ascending: to be wiped (or overwritten) by the engine. */
  staleSlots: number[];
  /** Free slots whose headers are discarded unsynced records: to be wiped before anything else is written. */
  discardedSlots: number[];
  /** The highest seq of any header on the device. */
  maxSeq: number;
  nextSeq: number;
  report: RecoveryReport;
}

export async function recover(device: DeviceReader, superblock: Readonly<Superblock>, hasher: Hasher): Promise<RecoveredState> {
  if (!LITTLE_ENDIAN) throw new Error('recovery reads headers through little-endian word views');
  const startedMs = performance.now();
  const scan = new HeaderScan(hasher, superblock);
  let nextGroup = 0;
  const worker = async (): Promise<void> => {
    const memory = new ArrayBuffer(HEADER_AREA_BYTES); // word aligned, never pooled
    const views: AreaViews = { area: Buffer.from(memory), bytes: new Uint8Array(memory), words: new Uint32Array(memory), data: new DataView(memory) };
    while (nextGroup < superblock.allocatedGroups) {
      const group = nextGroup++;
      await device.read(views.area, groupOffset(group));
      scan.addGroup(group, views);
    }
  };
  await Promise.all(Array.from({ length: GROUP_READS_IN_FLIGHT }, worker));
  await scan.verifyUncheckpointed(device);
  return scan.finish(performance.now() - startedMs);
}

/** A valid header newer than the checkpoint, waiting for its data to be checked. */
interface Uncheckpointed {
  slot: number;
  kind: number;
  namespace: number;
  seq: number;
  high: number;
  low: number;
  dataChecksum: bigint;
}

/** One header area seen as a Buffer, plain bytes (cheap subarrays), words and a DataView. */
interface AreaViews {
  area: Buffer;
  bytes: Uint8Array;
  words: Uint32Array;
  data: DataView;
}

class HeaderScan {
  readonly index: KeyIndex;
  private readonly slotStates: Uint8Array;
  private readonly seqBySlot: Float64Array;
  private readonly uuidWords: Uint32Array;
  private maxSeq = 0;
  private tornHeaders = 0;
  private readonly tornHeaderIds: string[] = [];
  private foreignHeaders = 0;
  private readonly uncheckpointed: Uncheckpointed[] = [];
  private readonly discardedSlots: number[] = [];

  constructor(private readonly hasher: Hasher, private readonly superblock: Readonly<Superblock>) {
    const allocatedSlots = superblock.allocatedGroups * SLOTS_PER_GROUP;
    // Sized for every allocated slot holding a record (the usual case): no rehash while scanning;
    // finish() shrinks it if most slots turned out free.
    this.index = new KeyIndex(allocatedSlots);
    this.slotStates = new Uint8Array(allocatedSlots);
    this.seqBySlot = new Float64Array(allocatedSlots);
    const uuid = new Uint8Array(16);
    uuid.set(superblock.uuid);
    this.uuidWords = new Uint32Array(uuid.buffer);
  }

  addGroup(group: number, views: AreaViews): void {
    const { area, words } = views;
    for (let i = 0; i < SLOTS_PER_GROUP; i++) {
      const w = i * HEADER_WORDS; // header layout: see record.ts
      if (words[w + 2] !== RECORD_MAGIC) continue;
      const u = this.uuidWords;
      if (words[w + 10] !== u[0] || words[w + 11] !== u[1] || words[w + 12] !== u[2] || words[w + 13] !== u[3]) {
        this.foreignHeaders++;
        continue;
      }
      const offset = i * HEADER_SIZE_BYTES;
      if (!this.intact(views, offset)) {
        this.addTorn(area, offset);
        continue;
      }
      const slot = group * SLOTS_PER_GROUP + i;
      const seq = words[w + 5]! * 2 ** 32 + words[w + 4]!;
      this.maxSeq = Math.max(this.maxSeq, seq);
      const kind = area[offset + 12]!;
      const namespace = area[offset + 13]!;
      if (seq > this.superblock.checkpointSeq && kind === RECORD_PUT) {
        this.uncheckpointed.push({ slot, kind, namespace, seq, high: words[w + 7]!, low: words[w + 6]!, dataChecksum: views.data.getBigUint64(offset + 32, true) });
        continue;
      }
      this.addRecord(slot, kind, namespace, seq, words[w + 7]!, words[w + 6]!);
    }
  }

  /** Checks the data of puts newer than the checkpoint; keeps those whose data is on disk. */
  async verifyUncheckpointed(device: DeviceReader): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      const page = Buffer.allocUnsafe(BLOCK_SIZE_BYTES);
      while (next < this.uncheckpointed.length) {
        const record = this.uncheckpointed[next++]!;
        await device.read(page, dataOffset(record.slot));
        if (this.hasher.h64(page) === record.dataChecksum) this.addRecord(record.slot, record.kind, record.namespace, record.seq, record.high, record.low);
        else this.discardedSlots.push(record.slot);
      }
    };
    await Promise.all(Array.from({ length: DATA_READS_IN_FLIGHT }, worker));
    this.discardedSlots.sort((a, b) => a - b);
  }

  /** The checks of checkRecordHeader after magic and uuid: kind, lengths and checksum. */
  private intact(views: AreaViews, offset: number): boolean {
    const { bytes } = views;
    const kind = bytes[offset + 12];
    const idLength = bytes[offset + 14]!;
    const versionLength = bytes[offset + 15]!;
    if ((kind !== RECORD_PUT && kind !== RECORD_TOMBSTONE) || idLength === 0 || versionLength === 0 || versionLength > MAX_VERSION_BYTES) return false;
    const end = offset + RECORD_FIXED_BYTES + idLength + versionLength;
    return views.data.getBigUint64(offset, true) === this.hasher.h64(bytes.subarray(offset + 8, end));
  }

  private addTorn(area: Buffer, offset: number): void {
    this.tornHeaders++;
    const id = salvageId(this.hasher, area, offset, isValidId);
    if (id !== undefined && this.tornHeaderIds.length < MAX_TORN_IDS_REPORTED) this.tornHeaderIds.push(id);
  }

  private addRecord(slot: number, kind: number, namespace: number, seq: number, high: number, low: number): void {
    const state = kind === RECORD_TOMBSTONE ? SLOT_TOMBSTONE : SLOT_PUT;
    this.seqBySlot[slot] = seq;
    this.slotStates[slot] = state;
    const previous = this.index.set(namespace, high, low, slot, state === SLOT_TOMBSTONE);
    if (previous < 0) return;
    if (this.seqBySlot[previous]! < seq) {
      this.slotStates[previous] = SLOT_STALE;
      return;
    }
    // The record seen earlier is the newer one (rare: groups are read in any order): put it back.
    this.index.set(namespace, high, low, previous, this.slotStates[previous] === SLOT_TOMBSTONE);
    this.slotStates[slot] = SLOT_STALE;
  }

  finish(durationMs: number): RecoveredState {
    const allocator = new SlotAllocator(this.superblock.groupCount * SLOTS_PER_GROUP);
    const staleSlots: number[] = [];
    let records = 0;
    for (let slot = 0; slot < this.slotStates.length; slot++) {
      const state = this.slotStates[slot];
      if (state === SLOT_FREE) allocator.release(slot);
      else if (state === SLOT_STALE) staleSlots.push(slot);
      else records++;
    }
    allocator.releaseRange(this.slotStates.length, allocator.capacity);
    this.index.compact();
    const counters = new NamespaceCounters();
    for (let at = 0; at < this.index.tableSize; at++) {
      if (this.index.isOccupiedAt(at)) counters.change(this.index.namespaceAt(at), 'absent', this.index.tombstoneAt(at) ? 'tombstone' : 'block');
    }
    return {
      index: this.index,
      allocator,
      counters,
      staleSlots,
      discardedSlots: this.discardedSlots,
      maxSeq: this.maxSeq,
      // Above the checkpoint too: the headers that carried the highest seqs may have been wiped, and
      // a new record at or below the checkpoint would be trusted without its data being checked.
      nextSeq: Math.max(this.maxSeq, this.superblock.checkpointSeq) + 1,
      report: {
        groupsRead: this.superblock.allocatedGroups,
        records,
        staleRecords: staleSlots.length,
        tornHeaders: this.tornHeaders,
        tornHeaderIds: this.tornHeaderIds,
        foreignHeaders: this.foreignHeaders,
        verifiedRecords: this.uncheckpointed.length,
        unsyncedRecords: this.discardedSlots.length,
        durationMs,
      },
    };
  }
}
