// The write path: per-key ordering, version checks, and group commit.
//
// Every put, delete and tombstone purge is an op. Ops of one key run one at a time, in arrival
// order (a "line" per key), so the version check of an op always sees its key's committed state.
// The op at the head of its line is *prepared* (its key's current header is read and the versions
// compared: a stale op is answered at once with the stored version), then waits in `ready` for
// the flusher. The flusher runs rounds, one at a time; a round takes up to maxBatchOps ready ops
// and up to maxWipesPerRound pending wipes and performs, in this order:
//   1. moves the allocated-groups watermark when a slot lies beyond it (superblock write + sync);
//   2. writes the data pages of the round's puts, coalesced per group, into slots that hold no
//      live record: superseded slots first (waiting to be wiped: the new header replaces the old
//      one, which is that slot's wipe), then free slots, lowest first;
//   3. writes the record headers of puts and tombstones, and zeroes the headers of the superseded
//      slots left to wipe and of purged tombstones, coalesced per group;
//   4. one fdatasync;
//   5. commits: updates the index, frees wiped slots, queues the superseded slots for wiping, and
//      only then resolves the ops' promises.
// Concurrent ops share the round's sync: that is the group commit.
//
// One sync per round, not two (data, sync, headers, sync, as first designed): a power loss during
// the sync may leave a new header on disk without its data page. That write was not acknowledged,
// and recovery finds it: the superblock's checkpointSeq says up to which seq every record's data is
// known durable (moved forward after rounds' syncs completed, every checkpointRecords records or
// checkpointIntervalMs), and recovery checks the data checksum of every newer put before trusting
// it; one that fails is discarded, and the key's previous record — whose header is only wiped in a
// later round — stands. So a crash still leaves the old or the new block, never a mix, and a round
// costs one sync: twice the throughput, half the latency. The price is reading the data of at most
// about checkpointRecords records when opening after a crash.
import type { BlockKey, EngineCore } from './core.js';
import { timedSync } from './core.js';
import { assert, EngineError } from './errors.js';
import { planRuns } from './io-runs.js';
import type { SlotPiece } from './io-runs.js';
import { dataOffset, groupOfSlot, HEADER_SIZE_BYTES, headerOffset, nextAllocatedGroups } from './layout.js';
import { encodeRecordHeader, RECORD_PUT, RECORD_TOMBSTONE } from './record.js';
import { readSlot, type SlotRead } from './reader.js';
import { join64 } from './hash.js';

const ZERO_HEADER = Buffer.alloc(HEADER_SIZE_BYTES);

/**
 * `purge` removes a tombstone after its grace; `evict` removes whatever record is current (block or
 * tombstone) when its version is exactly the one given: a node drops its copy of a range it no
 * longer owns. Both free the slot by wiping its header after every earlier wipe is durable, so no
 * older record of the id can come back from a stale header.
 */
export type WriteKind = 'put' | 'delete' | 'purge' | 'evict';

function isRemoval(kind: WriteKind): kind is 'purge' | 'evict' {
  return kind === 'purge' || kind === 'evict';
}

export interface OpResult {
  /** Whether the op changed the store (for a purge: whether the tombstone was purged). */
  applied: boolean;
  /** The version stored for the key afterwards (the op's own when applied), if any. */
  version: Buffer | undefined;
}

export interface WriteOp {
  kind: WriteKind;
  key: BlockKey;
  lineKey: string;
  version: Buffer;
  data: Buffer | undefined;
  dataChecksum: bigint;
  resolve: (result: OpResult) => void;
  reject: (error: Error) => void;
  /** Set when prepared: the slot of the key's current record, or -1. */
  currentSlot: number;
  /** Set when prepared (purge): wipes that must be durable before the tombstone's header is wiped. */
  wipeBarrier: number;
  /** Set when selected into a round (put, delete): the slot the new record goes to. */
  slot: number;
  /** Set when its header is encoded (put, delete): the record's seq. */
  seq: number;
  /** A bulk write (migration, repair) that yields to other writes (see selectRound). */
  background: boolean;
}

export interface PipelineLimits {
  maxQueuedOps: number;
  maxBatchOps: number;
  /** Background ops in a round at most while foreground ops wait. */
  maxBackgroundOpsPerRound: number;
  /** Wipes (512-byte header writes) per round at most. */
  maxWipesPerRound: number;
  /** Slots only deletes may use, so a full device still accepts deletes. */
  reserveSlots: number;
  /** How long a round may wait for ops whose preparation (a header read) is under way. */
  lingerMs: number;
  /**
   * How long superseded headers wait for a write round to be zeroed in before they get a round
   * (and a sync) of their own; 0 wipes at once. A full round's worth (maxWipesPerRound) never waits.
   */
  wipeLingerMs: number;
  /** The checkpoint moves when this many records are newer than it… */
  checkpointRecords: number;
  /** …or when the oldest record beyond it is this old. */
  checkpointIntervalMs: number;
}

interface Round {
  ops: WriteOp[];
  /** Superseded slots whose headers the round zeroes (they are free afterwards). */
  wipes: number[];
  /** Something waits for a slot a read holds (see ReadPins). */
  heldByRead: boolean;
  /** Superseded slots the round's records were put in (their old headers are overwritten). */
  reused: number;
  /** The highest seq written in the round (0 when it wrote no record header). */
  maxSeq: number;
}

export class WritePipeline {
  private readonly lines = new Map<string, WriteOp[]>();
  private ready: WriteOp[] = [];
  private queued = 0;
  private preparing = 0;
  private running = false;
  private closed = false;
  private failure: EngineError | undefined;
  private wakeLinger: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];
  /** Every record with seq ≤ durableSeq is durable (its round's sync completed). */
  private durableSeq = 0;
  private checkpointing: Promise<void> | undefined;
  private lastCheckpointMs = performance.now();
  /** Armed while wipes wait for a write round; when it fires they are due on their own. */
  private wipeTimer: NodeJS.Timeout | undefined;
  private wipesOverdue = false;

  constructor(private readonly core: EngineCore, private readonly limits: PipelineLimits) {
    // A stopped pipeline waiting for a read's slot goes on once the read lets go of it.
    core.pins.onRelease = () => {
      if (!this.running) this.kick();
    };
  }

  get queuedOps(): number {
    return this.queued;
  }

  /** Starts writing whatever is pending (the stale headers recovery found). */
  start(): void {
    this.kick();
  }

  /** Queues an op; throws (BUSY, CLOSED, IO_ERROR) when it cannot be accepted. */
  submit(op: WriteOp): void {
    if (this.failure !== undefined) throw this.stoppedError();
    if (this.closed) throw new EngineError('CLOSED', 'The engine is closed.');
    if (this.queued >= this.limits.maxQueuedOps) {
      throw new EngineError('BUSY', `Too many writes are queued (${this.queued}); retry later.`, { queued: this.queued });
    }
    this.queued++;
    const line = this.lines.get(op.lineKey);
    if (line !== undefined) {
      line.push(op);
      return;
    }
    this.lines.set(op.lineKey, [op]);
    this.prepare(op);
  }

  /**
   * Refuses new ops and resolves once every accepted op is settled, pending wipes are written and
   * the checkpoint covers everything (so the next open reads no data pages).
   */
  async close(): Promise<void> {
    this.closed = true;
    this.clearWipeTimer();
    this.kick();
    while (this.queued > 0 || this.running) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.checkpointing;
    if (this.failure === undefined && this.durableSeq > this.core.superblocks.superblock.checkpointSeq) await this.checkpoint();
  }

  private prepare(op: WriteOp): void {
    if (this.failure !== undefined) {
      // Settle asynchronously: a long line of ops must not settle recursively.
      queueMicrotask(() => this.finish(op, () => op.reject(this.stoppedError())));
      return;
    }
    this.preparing++;
    prepareOp(this.core, op).then(
      (outcome) => {
        this.preparing--;
        if (outcome === 'ready') this.ready.push(op);
        else this.finish(op, () => op.resolve(outcome));
        this.kick();
      },
      (error: Error) => {
        this.preparing--;
        this.finish(op, () => op.reject(error));
        this.kick();
      },
    );
  }

  /** Settles an op and lets the next op of its key start. */
  private finish(op: WriteOp, settle: () => void): void {
    this.queued--;
    const line = this.lines.get(op.lineKey);
    assert(line !== undefined && line[0] === op, 'a finished op heads its key line');
    line.shift();
    if (line.length > 0) this.prepare(line[0]!);
    else this.lines.delete(op.lineKey);
    settle();
    if (this.queued === 0 && !this.running) this.notifyIdle();
  }

  private kick(): void {
    if (this.preparing === 0 || this.ready.length >= this.limits.maxBatchOps) this.wakeLinger?.();
    if (this.failure !== undefined) this.rejectReady();
    if (!this.running && this.failure === undefined && this.hasWork()) {
      this.running = true;
      void this.run();
    }
    if (!this.running && this.queued === 0) this.notifyIdle();
  }

  private hasWork(): boolean {
    return this.ready.length > 0 || this.wipesDue();
  }

  /**
   * Whether pending wipes alone are worth a round. Zeroing a superseded header is not urgent: its
   * slot is what the next put or delete is written to anyway (the new header replaces the old,
   * which is that slot's wipe), a purge that needs earlier wipes durable is a ready op whose round
   * takes them, and recovery tells a stale header by its seq. A round of wipes alone costs a sync,
   * and right after every round of overwrites it would run before the next writes arrive (they
   * come a network round trip later), so each write round paid two syncs and the writes arriving
   * meanwhile waited for the second. So wipes wait up to wipeLingerMs for a write round to ride
   * along with; they go at once when closing, when a full round's worth is pending, or when the
   * wait is disabled.
   */
  private wipesDue(): boolean {
    const pending = this.core.wipes.pending;
    if (pending === 0) {
      this.clearWipeTimer();
      return false;
    }
    if (this.closed || this.wipesOverdue || pending >= this.limits.maxWipesPerRound || this.limits.wipeLingerMs === 0) return true;
    this.wipeTimer ??= setTimeout(() => {
      this.wipeTimer = undefined;
      this.wipesOverdue = true;
      this.kick();
    }, this.limits.wipeLingerMs);
    return false;
  }

  private clearWipeTimer(): void {
    clearTimeout(this.wipeTimer);
    this.wipeTimer = undefined;
    this.wipesOverdue = false;
  }

  /** A read holds a slot this pipeline waits for; its unpin kicks the pipeline again. */
  private heldByRead(round: Round): boolean {
    return round.heldByRead || this.core.wipes.heldByRead;
  }

  private async run(): Promise<void> {
    try {
      while (this.hasWork() && this.failure === undefined) {
        await this.linger();
        const round = this.selectRound();
        if (round.ops.length === 0 && round.wipes.length === 0 && this.heldByRead(round)) break;
        if (round.ops.length === 0 && round.wipes.length === 0 && this.hasWork()) {
          // Every round writes something or answers DEVICE_FULL; stalling would strand callers.
          this.failure = new EngineError('IO_ERROR', 'internal error: the write pipeline made no progress');
          this.rejectReady();
        }
        if (round.ops.length > 0 || round.wipes.length > 0) await this.execute(round);
      }
    } finally {
      this.running = false;
      if (this.queued === 0) this.notifyIdle();
    }
  }

  /** Lets just-answered callers submit again and ops under preparation join this round (bounded wait). */
  private async linger(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.preparing === 0 || this.ready.length >= this.limits.maxBatchOps || this.limits.lingerMs === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.limits.lingerMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeLinger = done;
    });
    this.wakeLinger = undefined;
  }

  /**
   * Picks the round's ops and their slots: superseded slots first, in wipe-queue order (a purge's
   * barrier counts wipes in that order), then free slots lowest first (runs stay contiguous).
   */
  private selectRound(): Round {
    const { allocator, wipes, pins, cache } = this.core;
    const round: Round = { ops: [], wipes: [], reused: 0, maxSeq: 0, heldByRead: false };
    const waiting: WriteOp[] = [];
    // Foreground writes first; background ones (migration, repair) fill the rest, and while any
    // foreground write waits they take at most maxBackgroundOpsPerRound, so a bulk transfer can
    // neither delay a client write by rounds nor make its round large.
    const foreground = this.ready.filter((op) => !op.background);
    const backgroundMax = foreground.length > 0 ? this.limits.maxBackgroundOpsPerRound : this.limits.maxBatchOps;
    let backgroundTaken = 0;
    for (const op of foreground.length === this.ready.length ? this.ready : [...foreground, ...this.ready.filter((op) => op.background)]) {
      if (round.ops.length >= this.limits.maxBatchOps || (op.background && backgroundTaken >= backgroundMax)) {
        waiting.push(op);
        continue;
      }
      if (op.background) backgroundTaken++;
      if (isRemoval(op.kind)) {
        // Its header is zeroed: not while a read holds it (the read would see an empty header).
        const heldByRead = pins.has(op.currentSlot);
        round.heldByRead ||= heldByRead;
        if (wipes.durableTotal >= op.wipeBarrier && !heldByRead) {
          cache.drop(op.currentSlot);
          round.ops.push(op);
        } else {
          waiting.push(op);
        }
      } else if (wipes.pending > 0 && !wipes.heldByRead) {
        op.slot = wipes.take(1)[0]!;
        cache.drop(op.slot);
        round.reused++;
        round.ops.push(op);
      } else if (allocator.free > (op.kind === 'put' ? this.limits.reserveSlots : 0)) {
        op.slot = allocator.allocate();
        cache.drop(op.slot);
        round.ops.push(op);
      } else if (wipes.heldByRead) {
        // The slot to reuse is being read: not full, only waiting for that read.
        round.heldByRead = true;
        waiting.push(op);
      } else {
        this.finish(op, () => op.reject(deviceFullError(op, allocator.free, this.limits.reserveSlots)));
      }
    }
    this.ready = waiting;
    round.wipes = wipes.take(this.limits.maxWipesPerRound);
    for (const slot of round.wipes) cache.drop(slot);
    return round;
  }

  private async execute(round: Round): Promise<void> {
    this.core.removals.begin(round.ops.filter((op) => isRemoval(op.kind)).map((op) => op.currentSlot));
    try {
      await this.executeFenced(round);
    } finally {
      this.core.removals.end();
    }
  }

  private async executeFenced(round: Round): Promise<void> {
    try {
      await this.extendWatermark(round);
      const puts = round.ops.filter((op) => op.kind === 'put');
      if (puts.length > 0) {
        const refused = await this.writeData(puts);
        if (refused !== undefined) this.refusePuts(round, refused);
      }
      await this.writeHeaders(round);
      await timedSync(this.core);
    } catch (error) {
      this.failure = error instanceof EngineError ? error : new EngineError('IO_ERROR', `Write failed: ${String(error)}`, {}, error);
      for (const op of round.ops) this.finish(op, () => op.reject(this.stoppedError()));
      this.rejectReady();
      return;
    }
    this.commit(round);
  }

  /** Recovery reads headers only below the watermark: it must be durable before a slot above it is written. */
  private async extendWatermark(round: Round): Promise<void> {
    let highestGroup = -1;
    for (const op of round.ops) if (!isRemoval(op.kind)) highestGroup = Math.max(highestGroup, groupOfSlot(op.slot));
    const { superblock } = this.core.superblocks;
    if (highestGroup < superblock.allocatedGroups) return;
    const allocatedGroups = nextAllocatedGroups(superblock.allocatedGroups, highestGroup + 1, superblock.groupCount);
    await this.core.superblocks.update({ allocatedGroups });
    this.core.metrics.superblockWrites++;
  }

  /** Writes the data pages (before any header of the round); returns the ENOSPC error if the file system refused them. */
  private async writeData(puts: WriteOp[]): Promise<EngineError | undefined> {
    const pieces: SlotPiece[] = puts.map((op) => ({ slot: op.slot, bytes: op.data! }));
    try {
      await Promise.all(planRuns(pieces).map((run) => this.core.device.writev(run.buffers, dataOffset(run.firstSlot))));
    } catch (error) {
      // A sparse file on a full file system: no header was written, so nothing changed on disk.
      if (error instanceof EngineError && error.details['errno'] === 'ENOSPC') return error;
      throw error;
    }
    return undefined;
  }

  private refusePuts(round: Round, cause: EngineError): void {
    round.ops = round.ops.filter((op) => {
      if (op.kind !== 'put') return true;
      this.core.allocator.release(op.slot);
      this.finish(op, () => op.reject(new EngineError('DEVICE_FULL', `The file system holding ${this.core.device.path} is full.`, { id: op.key.id }, cause)));
      return false;
    });
  }

  private async writeHeaders(round: Round): Promise<void> {
    const records = round.ops.filter((op) => !isRemoval(op.kind));
    const encoded = Buffer.allocUnsafe(records.length * HEADER_SIZE_BYTES);
    const pieces: SlotPiece[] = records.map((op, i) => {
      round.maxSeq = this.core.nextSeq;
      op.seq = this.core.nextSeq;
      encodeRecordHeader(this.core.hasher, {
        kind: op.kind === 'put' ? RECORD_PUT : RECORD_TOMBSTONE,
        namespace: op.key.namespace,
        idBytes: op.key.idBytes,
        version: op.version,
        seq: this.core.nextSeq++,
        positionHigh: op.key.positionHigh,
        positionLow: op.key.positionLow,
        dataChecksum: op.dataChecksum,
        uuid: this.core.uuid,
      }, encoded, i * HEADER_SIZE_BYTES);
      return { slot: op.slot, bytes: encoded.subarray(i * HEADER_SIZE_BYTES, (i + 1) * HEADER_SIZE_BYTES) };
    });
    for (const op of round.ops) if (isRemoval(op.kind)) pieces.push({ slot: op.currentSlot, bytes: ZERO_HEADER });
    for (const slot of round.wipes) pieces.push({ slot, bytes: ZERO_HEADER });
    await Promise.all(planRuns(pieces).map((run) => this.core.device.writev(run.buffers, headerOffset(run.firstSlot))));
  }

  /** The round is durable: publish it to the index and answer its ops. */
  private commit(round: Round): void {
    const { index, allocator, wipes, counters, metrics, cache } = this.core;
    for (const slot of round.wipes) allocator.release(slot);
    wipes.markDurable(round.reused + round.wipes.length);
    metrics.batches++;
    metrics.batchedOps += round.ops.length;
    for (const op of round.ops) {
      const { namespace, positionHigh, positionLow } = op.key;
      const before = op.currentSlot < 0 ? 'absent' : index.isTombstone(namespace, positionHigh, positionLow) ? 'tombstone' : 'block';
      if (isRemoval(op.kind)) {
        assert(index.remove(namespace, positionHigh, positionLow) === op.currentSlot, 'purged slot is the current one');
        allocator.release(op.currentSlot);
        counters.change(namespace, before, 'absent');
      } else {
        const previous = index.set(namespace, positionHigh, positionLow, op.slot, op.kind === 'delete');
        assert(previous === op.currentSlot, 'a key changed while its op was in flight');
        // What a client just made durable: the next version check needs no read, and its data
        // (the engine's own copy, already on the device) serves the reads that follow it — a GET
        // after a PUT is the common case. Bulk writes (migration, repair) are not cached: a
        // rebuild of many blocks would flush the hot ones out (and each entry cost a Map update
        // and an object on the receiver's busiest path). The scrubber re-reads the device.
        if (!op.background) {
          const cachedData = op.kind === 'put' ? op.data : undefined;
          cache.set(op.slot, { id: op.key.id, namespace, position: join64(positionHigh, positionLow), version: Buffer.from(op.version), tombstone: op.kind === 'delete', seq: op.seq, ...(cachedData ? { data: cachedData } : {}) });
        }
        if (previous >= 0) wipes.push(previous);
        counters.change(namespace, before, op.kind === 'put' ? 'block' : 'tombstone');
      }
      this.finish(op, () => op.resolve({ applied: true, version: op.version }));
    }
    if (round.maxSeq > 0) this.durableSeq = round.maxSeq;
    this.maybeCheckpoint();
  }

  /** Moves the checkpoint in the background when enough records (or time) lie beyond it. */
  private maybeCheckpoint(): void {
    if (this.checkpointing !== undefined || this.failure !== undefined) return;
    const behind = this.durableSeq - this.core.superblocks.superblock.checkpointSeq;
    if (behind <= 0) return;
    if (behind < this.limits.checkpointRecords && performance.now() - this.lastCheckpointMs < this.limits.checkpointIntervalMs) return;
    this.checkpointing = this.checkpoint().catch((error: unknown) => {
      this.failure ??= error instanceof EngineError ? error : new EngineError('IO_ERROR', `Checkpoint failed: ${String(error)}`, {}, error);
      this.rejectReady();
    }).finally(() => {
      this.checkpointing = undefined;
    });
  }

  /** Records durableSeq in the superblock; everything up to it was synced by completed rounds. */
  private async checkpoint(): Promise<void> {
    this.lastCheckpointMs = performance.now();
    await this.core.superblocks.update({ checkpointSeq: this.durableSeq });
    this.core.metrics.superblockWrites++;
  }

  private rejectReady(): void {
    const ready = this.ready;
    this.ready = [];
    for (const op of ready) this.finish(op, () => op.reject(this.stoppedError()));
  }

  private stoppedError(): EngineError {
    const cause = this.failure;
    return new EngineError('IO_ERROR', `The engine stopped writing after an I/O error (${cause?.message ?? 'unknown'}); reopen it.`, {}, cause);
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * Reads the key's current record and decides: 'ready' (the op changes the store) or the answer
 * to give at once (a stale or equal version, a purge of something that is not that tombstone).
 * Runs while the op heads its key line, so the key's current slot cannot change meanwhile.
 */
async function prepareOp(core: EngineCore, op: WriteOp): Promise<'ready' | OpResult> {
  const slot = core.index.get(op.key.namespace, op.key.positionHigh, op.key.positionLow);
  op.currentSlot = slot;
  if (slot < 0) return isRemoval(op.kind) ? { applied: false, version: undefined } : 'ready';
  // The key heads its line, so its current slot stays put while this reads it: caching is safe.
  const hit = core.cache.get(slot, false);
  const read: SlotRead = hit !== undefined ? { ok: true, record: { ...hit, version: Buffer.from(hit.version) } } : await readSlot(core, slot, op.key, 'header');
  // A copy goes to the cache: the version read here may be handed to the caller.
  if (hit === undefined && read.ok) core.cache.set(slot, { ...read.record, version: Buffer.from(read.record.version) });
  if (!read.ok) {
    // The current record is unreadable: its version is unknown, so a put or delete replaces it
    // (this is how a replica repairs it); a purge cannot prove it is the tombstone asked for.
    core.metrics.checksumFailures++;
    return isRemoval(op.kind) ? { applied: false, version: undefined } : 'ready';
  }
  const stored = read.record;
  if (stored.id !== op.key.id) {
    throw new EngineError('HASH_COLLISION', `Block id ${op.key.id} has the same xxh64 position as the stored id ${stored.id} in namespace ${op.key.namespace}; it cannot be stored.`, {
      id: op.key.id, storedId: stored.id, namespace: op.key.namespace,
    });
  }
  const order = core.compareVersions(op.version, stored.version);
  if (isRemoval(op.kind)) {
    if ((op.kind === 'purge' && !stored.tombstone) || order !== 0) return { applied: false, version: stored.version };
    op.wipeBarrier = core.wipes.enqueuedTotal;
    return 'ready';
  }
  if (order > 0) return 'ready';
  if (order === 0 && op.kind === 'put' && !stored.tombstone && !(await readSlot(core, slot, op.key, 'data')).ok) {
    // Same version, corrupt data page: the put is the repair.
    core.metrics.checksumFailures++;
    return 'ready';
  }
  return { applied: false, version: stored.version };
}

function deviceFullError(op: WriteOp, freeSlots: number, reserveSlots: number): EngineError {
  const why = op.kind === 'put' && freeSlots > 0 ? ` (the last ${freeSlots} free slots are reserved for deletes)` : '';
  return new EngineError('DEVICE_FULL', `The device is full${why}; block ${op.key.id} was not stored.`, {
    id: op.key.id, freeSlots, reserveSlots,
  });
}
