// The engine: a durable store of fixed 4 KiB blocks on one device (see layout.ts for the format,
// write-pipeline.ts for the write path and its crash guarantees, recovery.ts for opening).
import { promises as fs } from 'node:fs';
import type { BlockKey, CompareVersions, EngineCore, EngineMetrics } from './core.js';
import { blockKey, compareBytes, ReadPins, RemovalFence, WipeLedger } from './core.js';
import { ReadCache, type ReadCacheStats } from './read-cache.js';
import type { NamespaceCount } from './counters.js';
import type { BlockDevice } from './device.js';
import { FileDevice } from './device.js';
import { EngineError, isEngineError } from './errors.js';
import { high32, loadHasher, low32 } from './hash.js';
import { BLOCK_SIZE_BYTES, groupsForDeviceSize, HEADER_SIZE_BYTES, headerOffset, SLOTS_PER_GROUP } from './layout.js';
import { Pacer } from './pacer.js';
import type { RangeChunk, RingWindow } from './range.js';
import { RangeSnapshot } from './range-snapshot.js';
import { positionAt, ringWindow } from './range.js';
import { readCurrent } from './reader.js';
import type { BlockHead, BlockRecord, KeyRef, StoredRecord } from './reader.js';
import type { RecoveredState, RecoveryReport } from './recovery.js';
import { recover } from './recovery.js';
import { uuidText } from './superblock.js';
import { SuperblockStore } from './superblock-store.js';
import { checkData, checkId, checkInteger, checkNamespace, checkVersion } from './validate.js';
import type { OpResult, WriteKind } from './write-pipeline.js';
import { WritePipeline } from './write-pipeline.js';

export const DEFAULT_MAX_QUEUED_OPS = 8192;
export const DEFAULT_MAX_BATCH_OPS = 512;
/** Background writes (migration, repair) per round while client writes wait: 256 KiB of data. */
export const DEFAULT_MAX_BACKGROUND_OPS_PER_ROUND = 64;
export const DEFAULT_LINGER_MS = 1;
/** Superseded headers wait this long for a write round to be zeroed in (see WritePipeline.wipesDue). */
export const DEFAULT_WIPE_LINGER_MS = 20;
export const DEFAULT_MAX_WIPES_PER_ROUND = 1024;
export const DEFAULT_CHECKPOINT_RECORDS = 16_384;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 1000;
/** Default slots kept for deletes: 64 (256 KiB of data), or a sixteenth of a tiny device. */
export const DEFAULT_RESERVE_SLOTS = 64;
/** Entries per ordered range chunk (one pass over the index each). */
const RANGE_CHUNK_ENTRIES = 4096;
/** Reads in flight while iterating a range. */
const RANGE_READ_AHEAD = 16;
export const DEFAULT_RANGE_SNAPSHOT_IDLE_MS = 60_000;
/** Yielding snapshot builds tried per chunk before one is built and used in a single turn. */
const SNAPSHOT_ATTEMPTS_MAX = 3;
/** Corrupt blocks a scrub lists (it counts all of them). */
const SCRUB_MAX_REPORTED = 10_000;

export interface EngineOptions {
  /** Format the device when it is blank (all zero) or, for a file, when it does not exist. */
  create?: boolean;
  /** Size of a file to create (needed when the file does not exist; an existing blank file is extended). */
  sizeBytes?: number;
  /** With `create`: format even over foreign non-zero data. */
  force?: boolean;
  /** Orders versions (default: bytewise lexicographic). Must be a total order. */
  compareVersions?: CompareVersions;
  /** Slots only deletes may use (default 64, at most a sixteenth of the device). */
  reserveSlots?: number;
  /** Writes queued at most before put/delete answer BUSY (default 8192). */
  maxQueuedOps?: number;
  /** Ops per group-commit round at most (default 512). */
  maxBatchOps?: number;
  /** Background writes in a round at most while other writes wait (default 64). */
  maxBackgroundOpsPerRound?: number;
  /** Superseded headers zeroed per round at most (default 1024). */
  maxWipesPerRound?: number;
  /** How long a round waits for ops whose version check is reading from disk (default 1 ms). */
  lingerMs?: number;
  /** How long superseded headers wait for a write round before a round (and sync) of their own (default 20 ms; 0: at once). */
  wipeLingerMs?: number;
  /**
   * The checkpoint (up to which seq all data is known durable) moves after this many records
   * (default 16384) or milliseconds (default 1000); opening after a crash reads the data pages of
   * the records beyond it.
   */
  checkpointRecords?: number;
  checkpointIntervalMs?: number;
  /** Called with every fdatasync's duration (for the journal sync latency metric). */
  onSync?: (durationMs: number) => void;
  /** Verified records kept in memory for reads and version checks (default 0: none; ~4.6 KiB each). */
  readCacheRecords?: number;
  /**
   * The sorted snapshot that range scans work from (8 bytes per block, plus the index's insert
   * journal) is let go once no scan used it for this long (default 60 000 ms): a migration's
   * hundreds of arc scans share one, and a node does not keep it between migrations or scrubs.
   */
  rangeSnapshotIdleMs?: number;
}

export interface NamespaceOption {
  /** 0 (the default) holds blocks; other values keep other records apart (e.g. 1 = hints). */
  namespace?: number;
}

export interface GetOptions extends NamespaceOption {
  /**
   * Hand out the read cache's own data buffer instead of a copy (no 4 KiB allocation per hit). The
   * caller must treat it as read-only: a change would change what later reads return.
   */
  shared?: boolean;
}

export interface WriteOptions extends NamespaceOption {
  /**
   * A bulk write (migration, repair): while other writes wait, a round takes at most
   * maxBackgroundOpsPerRound of these, so client writes are neither queued behind nor slowed by them.
   */
  background?: boolean;
  /**
   * put only: the engine keeps `data` itself instead of a copy (one 4 KiB allocation and copy less
   * per block). The caller hands it over and must not change it afterwards, e.g. a view into a
   * received frame that nothing reuses.
   */
  adoptData?: boolean;
}

export interface WriteResult {
  /** False when the stored version was newer or equal (last writer wins); nothing changed then. */
  applied: boolean;
  /** The version stored for the id after the call. */
  version: Buffer;
}

export interface CorruptBlock {
  namespace: number;
  position: bigint;
  /** Known when the header still names it. */
  id?: string;
  slot: number;
  part: 'header' | 'data';
  reason: string;
}

export interface RangeOptions extends NamespaceOption {
  withData?: boolean;
  /** When given, corrupt blocks are reported here and skipped; otherwise the iteration throws CHECKSUM_MISMATCH. */
  onCorrupt?: (block: CorruptBlock) => void;
}

export interface ScrubOptions {
  /** Blocks verified per second at most (default: as fast as the device allows). */
  blocksPerSecond?: number;
  signal?: AbortSignal;
}

export interface ScrubReport {
  checked: number;
  /** The corrupt blocks found (the first 10,000). */
  corrupt: CorruptBlock[];
  corruptTotal: number;
  aborted: boolean;
  durationMs: number;
}

export interface GrowResult {
  groupsAdded: number;
  slotsAdded: number;
  capacityBytes: number;
}

export interface EngineStats extends EngineMetrics {
  blocks: number;
  tombstones: number;
  /** Bytes of live block data (blocks × 4096). */
  usedBytes: number;
  /** Bytes of block data the device can hold (slots × 4096). */
  capacityBytes: number;
  freeSlots: number;
  slots: number;
  reserveSlots: number;
  groups: number;
  allocatedGroups: number;
  namespaces: Record<number, NamespaceCount>;
  pendingWipes: number;
  queuedOps: number;
  /** Heap bytes of the index, the free-slot bitmap and the sorted positions of arc scans. */
  indexBytes: number;
  readCache: ReadCacheStats;
  recovery: RecoveryReport;
  device: { path: string; kind: BlockDevice['kind']; uuid: string };
}

const openPaths = new Set<string>();

export class Engine {
  private closing = false;
  private closed: Promise<void> | undefined;
  private activeReads = 0;
  private readsDrained: (() => void) | undefined;
  private growing: Promise<unknown> = Promise.resolve();
  /** Sorted key positions for arc scans, built by the first one (range-snapshot.ts). */
  private rangeSnapshot: RangeSnapshot | undefined;
  /** The snapshot being built, shared by every scan that waits for it. */
  private rangeSnapshotBuild: Promise<RangeSnapshot> | undefined;
  private rangeSnapshotUsedMs = 0;
  /** While a snapshot is kept: lets it go once idle (unref'd: it never keeps the process alive). */
  private rangeSnapshotTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly core: EngineCore,
    private readonly pipeline: WritePipeline,
    private readonly reserveSlots: number,
    private readonly recovery: RecoveryReport,
    private readonly releasePath: () => void,
    private readonly rangeSnapshotIdleMs: number,
  ) {}

  /** Opens (and with `create`, formats) the store on a regular file or block device. */
  static async open(path: string, options: EngineOptions = {}): Promise<Engine> {
    checkOptions(options);
    const device = await FileDevice.open(path, { create: options.create, sizeBytes: options.sizeBytes });
    const guardKey = device.kind === 'file' ? await fs.realpath(path) : path;
    if (openPaths.has(guardKey)) {
      await device.close();
      throw new EngineError('IN_USE', `${path} is already open in this process.`, { path });
    }
    openPaths.add(guardKey);
    try {
      return await Engine.openDevice(device, options, () => openPaths.delete(guardKey));
    } catch (error) {
      openPaths.delete(guardKey);
      await device.close();
      throw error;
    }
  }

  /** Opens the store on an already opened device (tests put a simulated disk here). */
  static async openDevice(device: BlockDevice, options: EngineOptions = {}, onClose: () => void = () => {}): Promise<Engine> {
    checkOptions(options);
    const hasher = await loadHasher();
    const { store } = await SuperblockStore.open(device, hasher, {
      create: options.create ?? false,
      force: options.force ?? false,
      formatSizeBytes: options.sizeBytes,
      nowMs: Date.now(),
    });
    const recovered = await recover(device, store.superblock, hasher);
    await settleRecovery(device, store, recovered);
    const pins = new ReadPins();
    const core: EngineCore = {
      device,
      hasher,
      superblocks: store,
      uuid: store.superblock.uuid,
      index: recovered.index,
      allocator: recovered.allocator,
      counters: recovered.counters,
      wipes: new WipeLedger(pins),
      pins,
      removals: new RemovalFence(),
      cache: new ReadCache(readCacheRecords(options.readCacheRecords)),
      compareVersions: options.compareVersions ?? compareBytes,
      metrics: { syncs: 0, syncMsTotal: 0, batches: 0, batchedOps: 0, checksumFailures: 0, superblockWrites: 0 },
      onSync: options.onSync,
      nextSeq: recovered.nextSeq,
    };
    for (const slot of recovered.staleSlots) core.wipes.push(slot);
    const slots = recovered.allocator.capacity;
    const reserveSlots = options.reserveSlots ?? Math.min(DEFAULT_RESERVE_SLOTS, Math.floor(slots / 16));
    const pipeline = new WritePipeline(core, {
      maxQueuedOps: options.maxQueuedOps ?? DEFAULT_MAX_QUEUED_OPS,
      maxBatchOps: options.maxBatchOps ?? DEFAULT_MAX_BATCH_OPS,
      maxBackgroundOpsPerRound: options.maxBackgroundOpsPerRound ?? DEFAULT_MAX_BACKGROUND_OPS_PER_ROUND,
      maxWipesPerRound: options.maxWipesPerRound ?? DEFAULT_MAX_WIPES_PER_ROUND,
      reserveSlots,
      lingerMs: options.lingerMs ?? DEFAULT_LINGER_MS,
      wipeLingerMs: options.wipeLingerMs ?? DEFAULT_WIPE_LINGER_MS,
      checkpointRecords: options.checkpointRecords ?? DEFAULT_CHECKPOINT_RECORDS,
      checkpointIntervalMs: options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
    });
    const engine = new Engine(core, pipeline, reserveSlots, recovered.report, onClose, options.rangeSnapshotIdleMs ?? DEFAULT_RANGE_SNAPSHOT_IDLE_MS);
    // Superseded headers found on disk are wiped (or overwritten by new records) in the background.
    pipeline.start();
    return engine;
  }

  /** Formats `path` (a new file needs `sizeBytes`); a device that is not blank needs `force`. */
  static async format(path: string, options: { sizeBytes?: number; force?: boolean } = {}): Promise<void> {
    const device = await FileDevice.open(path, { create: true, sizeBytes: options.sizeBytes });
    try {
      if (options.sizeBytes !== undefined && device.kind === 'file') await device.extend(options.sizeBytes);
      await SuperblockStore.reformat(device, await loadHasher(), { force: options.force ?? false, nowMs: Date.now() });
    } finally {
      await device.close();
    }
  }

  get path(): string {
    return this.core.device.path;
  }

  /** Stores `data` (exactly 4096 bytes) as `id` at `version`, once durable, unless a newer or equal version is stored. */
  async put(id: string, version: Uint8Array, data: Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    checkId(id);
    checkVersion(version);
    checkData(data);
    let stored: Buffer;
    if (options.adoptData === true) {
      stored = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    } else {
      stored = Buffer.allocUnsafe(BLOCK_SIZE_BYTES);
      stored.set(data);
    }
    return this.write('put', this.key(id, options), version, stored, options.background === true) as Promise<WriteResult>;
  }

  /** Stores a tombstone for `id` at `version` (also when the id was never stored), unless a newer or equal version is stored. */
  async delete(id: string, version: Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    checkId(id);
    checkVersion(version);
    return this.write('delete', this.key(id, options), version, undefined, options.background === true) as Promise<WriteResult>;
  }

  /**
   * Removes the tombstone of `id` if it is the current record with exactly `version`, freeing its
   * slot. After a purge an older write of the id is accepted again, so purge only after a grace
   * period long enough for repair to have spread the tombstone.
   */
  async purgeTombstone(id: string, version: Uint8Array, options: NamespaceOption = {}): Promise<{ purged: boolean }> {
    checkId(id);
    checkVersion(version);
    const result = await this.write('purge', this.key(id, options), version, undefined);
    return { purged: result.applied };
  }

  /**
   * Removes the current record of `id` (block or tombstone) if its version is exactly `version`,
   * leaving no trace: for a copy this node no longer owns (the owners keep theirs). A record written
   * meanwhile has another version and stays.
   */
  async evict(id: string, version: Uint8Array, options: NamespaceOption = {}): Promise<{ evicted: boolean }> {
    checkId(id);
    checkVersion(version);
    const result = await this.write('evict', this.key(id, options), version, undefined);
    return { evicted: result.applied };
  }

  /** The block (data verified) or tombstone stored for `id`, or undefined. */
  async get(id: string, options: GetOptions = {}): Promise<BlockRecord | undefined> {
    checkId(id);
    const key = this.key(id, options);
    return this.tracked(async () => publicRecord(await readCurrent(this.core, key, 'data', true, options.shared === true)));
  }

  /** Version and tombstone flag of `id` (reads the header only), or undefined. */
  async head(id: string, options: NamespaceOption = {}): Promise<BlockHead | undefined> {
    checkId(id);
    const key = this.key(id, options);
    return this.tracked(async () => publicRecord(await readCurrent(this.core, key, 'header')));
  }

  /** Blocks and tombstones whose position lies in (startExclusive, endInclusive], wrapping when start >= end, in ring order. */
  async *rangeEntries(startExclusive: bigint, endInclusive: bigint, options: RangeOptions = {}): AsyncGenerator<BlockRecord> {
    const window = ringWindow(startExclusive, endInclusive);
    const namespace = checkNamespace(options.namespace);
    let fromDistance = 0n;
    for (;;) {
      this.checkOpen();
      const chunk = await this.collectChunk(namespace, window, fromDistance);
      yield* this.readChunk(window, namespace, chunk.distances, options);
      if (chunk.complete || chunk.distances.length === 0) return;
      fromDistance = chunk.distances[chunk.distances.length - 1]! + 1n;
    }
  }

  /**
   * One ordered chunk of the index, from the sorted snapshot and its journal (range-snapshot.ts),
   * for arcs and for the whole ring alike: a pass over the table per chunk (range.ts) made a scan of
   * the whole ring quadratic (a scrub of 1M blocks spent 5 s of CPU collecting chunks, 0.19 s from
   * the snapshot; a table pass is also one turn of up to 27 ms, a snapshot chunk 3). A snapshot
   * is built yielding to the event loop (client requests keep being served while it sorts), once
   * for every scan that needs it; while it builds there is no snapshot to use, since the journal
   * was restarted for the new one.
   */
  private async collectChunk(namespace: number, window: RingWindow, fromDistance: bigint): Promise<RangeChunk> {
    for (let attempt = 0; attempt < SNAPSHOT_ATTEMPTS_MAX; attempt++) {
      const snapshot = this.rangeSnapshot ?? (await this.buildRangeSnapshot());
      this.rangeSnapshotUsedMs = performance.now();
      const chunk = snapshot.collect(this.core.index, namespace, window, fromDistance, RANGE_CHUNK_ENTRIES);
      if (chunk !== undefined) return chunk;
      // Its journal overflowed: stale.
      if (this.rangeSnapshot === snapshot) this.rangeSnapshot = undefined;
    }
    // Inserts kept overflowing the journal between a build and its first use: build and use it in
    // one turn, which nothing can come between.
    this.rangeSnapshot = RangeSnapshot.build(this.core.index);
    this.releaseSnapshotWhenIdle();
    return this.rangeSnapshot.collect(this.core.index, namespace, window, fromDistance, RANGE_CHUNK_ENTRIES)!;
  }

  private buildRangeSnapshot(): Promise<RangeSnapshot> {
    this.rangeSnapshot = undefined;
    this.rangeSnapshotBuild ??= RangeSnapshot.buildYielding(this.core.index, () => new Promise((resolve) => setImmediate(resolve)))
      .then((snapshot) => {
        this.rangeSnapshot = snapshot;
        if (!this.closing) this.releaseSnapshotWhenIdle();
        return snapshot;
      })
      .finally(() => (this.rangeSnapshotBuild = undefined));
    return this.rangeSnapshotBuild;
  }

  private releaseSnapshotWhenIdle(): void {
    this.rangeSnapshotUsedMs = performance.now();
    if (this.rangeSnapshotTimer !== undefined) return;
    this.rangeSnapshotTimer = setInterval(() => {
      if (this.rangeSnapshotBuild !== undefined || performance.now() - this.rangeSnapshotUsedMs < this.rangeSnapshotIdleMs) return;
      this.dropRangeSnapshot();
    }, Math.max(1, Math.ceil(this.rangeSnapshotIdleMs / 4)));
    this.rangeSnapshotTimer.unref();
  }

  private dropRangeSnapshot(): void {
    clearInterval(this.rangeSnapshotTimer);
    this.rangeSnapshotTimer = undefined;
    this.rangeSnapshot = undefined;
    this.core.index.stopJournal();
  }

  /** Every record of a namespace, in ring order. */
  scan(options: RangeOptions = {}): AsyncGenerator<BlockRecord> {
    return this.rangeEntries(0n, 0n, options);
  }

  /**
   * Adds the capacity the device gained: re-reads its size (a file is first extended to `sizeBytes`)
   * and rewrites the superblock with the new group count. Crash-safe: until the superblock write is
   * durable the old capacity stands, and the new groups are not read as records before they are used.
   */
  async grow(options: { sizeBytes?: number } = {}): Promise<GrowResult> {
    this.checkOpen();
    const run = this.growing.then(() => this.tracked(async () => {
      const { device, superblocks, allocator } = this.core;
      if (options.sizeBytes !== undefined) await device.extend(options.sizeBytes);
      const groups = groupsForDeviceSize(await device.sizeBytes());
      const before = superblocks.superblock.groupCount;
      if (groups > before) {
        await superblocks.update({ groupCount: groups });
        this.core.metrics.superblockWrites++;
        allocator.grow(groups * SLOTS_PER_GROUP);
      }
      const groupsAdded = Math.max(0, groups - before);
      return { groupsAdded, slotsAdded: groupsAdded * SLOTS_PER_GROUP, capacityBytes: allocator.capacity * BLOCK_SIZE_BYTES };
    }));
    this.growing = run.catch(() => undefined);
    return run;
  }

  /** Reads and verifies every stored record (header and data checksums), at most `blocksPerSecond`. */
  async scrub(options: ScrubOptions = {}): Promise<ScrubReport> {
    const blocksPerSecond = options.blocksPerSecond;
    if (blocksPerSecond !== undefined && !(blocksPerSecond > 0)) {
      throw new EngineError('BAD_OPTION', `Option blocksPerSecond must be a positive number; got ${String(blocksPerSecond)}.`);
    }
    const startedMs = performance.now();
    const pacer = new Pacer(blocksPerSecond, options.signal);
    const report: ScrubReport = { checked: 0, corrupt: [], corruptTotal: 0, aborted: false, durationMs: 0 };
    const onCorrupt = (block: CorruptBlock): void => {
      report.checked++;
      report.corruptTotal++;
      if (report.corrupt.length < SCRUB_MAX_REPORTED) report.corrupt.push(block);
    };
    try {
      for (const namespace of this.core.counters.namespaces()) {
        for await (const _record of this.rangeEntries(0n, 0n, { namespace, withData: true, onCorrupt })) {
          report.checked++;
          if (options.signal?.aborted) throw options.signal.reason;
          await pacer.step();
        }
      }
    } catch (error) {
      if (!options.signal?.aborted) throw error;
      report.aborted = true;
    }
    report.durationMs = performance.now() - startedMs;
    return report;
  }

  stats(): EngineStats {
    const { allocator, counters, index, metrics, superblocks, wipes, device } = this.core;
    const total = counters.total();
    const namespaces: Record<number, NamespaceCount> = {};
    for (const namespace of counters.namespaces()) namespaces[namespace] = counters.get(namespace);
    return {
      blocks: total.blocks,
      tombstones: total.tombstones,
      usedBytes: total.blocks * BLOCK_SIZE_BYTES,
      capacityBytes: allocator.capacity * BLOCK_SIZE_BYTES,
      freeSlots: allocator.free,
      slots: allocator.capacity,
      reserveSlots: this.reserveSlots,
      groups: superblocks.superblock.groupCount,
      allocatedGroups: superblocks.superblock.allocatedGroups,
      namespaces,
      pendingWipes: wipes.pending,
      queuedOps: this.pipeline.queuedOps,
      indexBytes: index.heapBytes + allocator.heapBytes + (this.rangeSnapshot?.heapBytes ?? 0),
      readCache: this.core.cache.stats(),
      ...metrics,
      recovery: { ...this.recovery, tornHeaderIds: [...this.recovery.tornHeaderIds] },
      device: { path: device.path, kind: device.kind, uuid: uuidText(this.core.uuid) },
    };
  }

  /** Finishes every accepted write (and pending wipe), then closes the device. Idempotent. */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.dropRangeSnapshot();
    try {
      await this.pipeline.close();
      await this.growing;
      while (this.activeReads > 0) await new Promise<void>((resolve) => (this.readsDrained = resolve));
    } finally {
      await this.core.device.close();
      this.releasePath();
    }
  }

  private key(id: string, options: NamespaceOption): BlockKey {
    return blockKey(this.core.hasher, id, checkNamespace(options.namespace));
  }

  private write(kind: WriteKind, key: BlockKey, version: Uint8Array, data: Buffer | undefined, background = false): Promise<OpResult> {
    return new Promise<OpResult>((resolve, reject) => {
      this.pipeline.submit({
        kind,
        key,
        lineKey: `${key.namespace}/${key.id}`,
        version: Buffer.from(version),
        data,
        dataChecksum: data === undefined ? 0n : this.core.hasher.h64(data),
        resolve,
        reject,
        currentSlot: -1,
        wipeBarrier: 0,
        slot: -1,
        seq: 0,
        background,
      });
    });
  }

  private async *readChunk(window: RingWindow, namespace: number, distances: BigUint64Array, options: RangeOptions): AsyncGenerator<BlockRecord> {
    const mode = options.withData ? 'data' : 'header';
    const reads: (Promise<Settled> | undefined)[] = [];
    const startRead = (i: number): void => {
      if (i >= distances.length) return;
      const position = positionAt(window, distances[i]!);
      const key: KeyRef = { namespace, positionHigh: high32(position), positionLow: low32(position) };
      reads[i] = settle(this.tracked(() => readCurrent(this.core, key, mode, false)));
    };
    for (let i = 0; i < RANGE_READ_AHEAD; i++) startRead(i);
    for (let i = 0; i < distances.length; i++) {
      const read = await reads[i]!;
      reads[i] = undefined;
      startRead(i + RANGE_READ_AHEAD);
      if (read.ok) {
        const record = publicRecord(read.value);
        if (record !== undefined) yield record;
      } else if (options.onCorrupt !== undefined && isEngineError(read.error, 'CHECKSUM_MISMATCH')) {
        options.onCorrupt(corruptBlock(read.error));
      } else {
        throw read.error;
      }
    }
  }

  private async tracked<T>(read: () => Promise<T>): Promise<T> {
    this.checkOpen();
    this.activeReads++;
    try {
      return await read();
    } finally {
      this.activeReads--;
      if (this.activeReads === 0) this.readsDrained?.();
    }
  }

  private checkOpen(): void {
    if (this.closing) throw new EngineError('CLOSED', 'The engine is closed.');
  }
}

/**
 * After a crash: zeroes the headers of records whose data never reached the disk (before their
 * slots can be reused, or a later checkpoint would vouch for them), syncs what recovery read from
 * the page cache, and moves the checkpoint past every header on the device.
 */
async function settleRecovery(device: BlockDevice, store: SuperblockStore, recovered: RecoveredState): Promise<void> {
  if (recovered.maxSeq <= store.superblock.checkpointSeq) return;
  const zero = Buffer.alloc(HEADER_SIZE_BYTES);
  for (const slot of recovered.discardedSlots) await device.writev([zero], headerOffset(slot));
  await device.sync();
  await store.update({ checkpointSeq: recovered.maxSeq });
}

type Settled = { ok: true; value: StoredRecord | undefined } | { ok: false; error: unknown };

function settle(promise: Promise<StoredRecord | undefined>): Promise<Settled> {
  return promise.then((value) => ({ ok: true, value }), (error: unknown) => ({ ok: false, error }));
}

const READ_CACHE_RECORDS_MAX = 4_000_000;

function readCacheRecords(records: number | undefined): number {
  if (records === undefined) return 0;
  if (!Number.isSafeInteger(records) || records < 0 || records > READ_CACHE_RECORDS_MAX) {
    throw new EngineError('BAD_OPTION', `Option readCacheRecords must be a whole number from 0 to ${READ_CACHE_RECORDS_MAX}; got ${String(records)}.`);
  }
  return records;
}

function publicRecord(record: StoredRecord | undefined): BlockRecord | undefined {
  if (record === undefined) return undefined;
  const { id, namespace, position, version, tombstone, data } = record;
  return data === undefined ? { id, namespace, position, version, tombstone } : { id, namespace, position, version, tombstone, data };
}

function corruptBlock(error: EngineError): CorruptBlock {
  const details = error.details as { id?: string; namespace: number; position: string; slot: number; part: 'header' | 'data'; reason: string };
  const block: CorruptBlock = { namespace: details.namespace, position: BigInt(details.position), slot: details.slot, part: details.part, reason: details.reason };
  if (details.id !== undefined) block.id = details.id;
  return block;
}

function checkOptions(options: EngineOptions): void {
  checkInteger('sizeBytes', options.sizeBytes, 0, Number.MAX_SAFE_INTEGER);
  checkInteger('reserveSlots', options.reserveSlots, 0, 2 ** 32);
  checkInteger('maxQueuedOps', options.maxQueuedOps, 1, 1_000_000);
  checkInteger('maxBatchOps', options.maxBatchOps, 1, 4096);
  checkInteger('maxBackgroundOpsPerRound', options.maxBackgroundOpsPerRound, 1, 4096);
  checkInteger('maxWipesPerRound', options.maxWipesPerRound, 1, 65536);
  checkInteger('lingerMs', options.lingerMs, 0, 1000);
  checkInteger('wipeLingerMs', options.wipeLingerMs, 0, 60_000);
  checkInteger('rangeSnapshotIdleMs', options.rangeSnapshotIdleMs, 1, 3_600_000);
  checkInteger('checkpointRecords', options.checkpointRecords, 1, 1_000_000);
  checkInteger('checkpointIntervalMs', options.checkpointIntervalMs, 0, 3_600_000);
  if (options.compareVersions !== undefined && typeof options.compareVersions !== 'function') {
    throw new EngineError('BAD_OPTION', 'Option compareVersions must be a function (a, b) => number.');
  }
}

