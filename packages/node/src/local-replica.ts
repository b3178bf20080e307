// The local replica: the engine on this node's device, seen through the Replica interface the
// coordinator uses for every owner. Engine errors become replica errors with stable codes.
import type { Logger } from 'pino';
import { SpanKind, type Context, type Tracer } from '@opentelemetry/api';
import { Engine, EngineError } from '@ringblock/engine';
import { ReplicaError, type Replica, type StoredBlock, type WriteOutcome } from './store.js';
import { compareVersions } from './version.js';
import type { StorageSnapshot } from './metrics.js';
import { inSpan, pastSpan } from './tracing.js';

/** The engine's latest fdatasync: how many so far, when it ended (performance.now()) and how long it took. */
interface SyncRecord {
  count: number;
  endMs: number;
  durationMs: number;
}

/** A cached record: its 4 KiB of data plus the decoded header and the Map entry, roughly. */
const READ_CACHE_BYTES_PER_RECORD = 4_096 + 512;

export class LocalReplica implements Replica {
  /** Called for every corrupt record met on a read (metrics). */
  onChecksumFailure: () => void = () => {};
  /** Set when tracing is on: traced writes get an engine span and an engine.sync span. */
  tracer: Tracer | undefined;
  private lastSync: SyncRecord = { count: 0, endMs: 0, durationMs: 0 };

  private constructor(readonly engine: Engine, private readonly log: Logger) {}

  /** `onSync` gets every fdatasync's duration (journal sync latency); `readCacheBytes` bounds the engine's read cache. */
  static async open(device: string, sizeBytes: number, log: Logger, onSync?: (durationMs: number) => void, readCacheBytes = 0): Promise<LocalReplica> {
    const readCacheRecords = Math.floor(readCacheBytes / READ_CACHE_BYTES_PER_RECORD);
    const engine = await Engine.open(device, { create: true, sizeBytes, compareVersions, readCacheRecords, ...(onSync ? { onSync } : {}) });
    return new LocalReplica(engine, log);
  }

  /** Tracing on: the node reports every fdatasync's duration here as it ends. */
  syncEnded(durationMs: number): void {
    this.lastSync = { count: this.lastSync.count + 1, endMs: performance.now(), durationMs };
  }

  write(id: string, version: Buffer, data: Buffer | undefined, trace?: Context): Promise<WriteOutcome> {
    if (trace && this.tracer) return this.tracedWrite(this.tracer, trace, id, version, data);
    return this.writeEngine(id, version, data);
  }

  /**
   * A write in an engine span. Group commit: the round's sync ends right before the round's writes
   * are answered, so when an applied write returns, the engine's latest sync is the one it waited for.
   */
  private tracedWrite(tracer: Tracer, trace: Context, id: string, version: Buffer, data: Buffer | undefined): Promise<WriteOutcome> {
    const before = this.lastSync.count;
    return inSpan(tracer, trace, data ? 'engine.put' : 'engine.delete', SpanKind.INTERNAL, {}, async (context) => {
      const outcome = await this.writeEngine(id, version, data);
      const sync = this.lastSync;
      if (outcome.result === 'applied' && sync.count > before) pastSpan(tracer, context, 'engine.sync', sync.endMs, sync.durationMs, { 'ringblock.engine.syncs_waited': sync.count - before });
      return outcome;
    }, (outcome) => ({ 'ringblock.replica.result': outcome.result }));
  }

  private async writeEngine(id: string, version: Buffer, data: Buffer | undefined): Promise<WriteOutcome> {
    try {
      const outcome = data ? await this.engine.put(id, version, data) : await this.engine.delete(id, version);
      if (outcome.applied) return { result: 'applied' };
      return { result: compareVersions(outcome.version, version) === 0 ? 'equal' : 'newer', current: outcome.version };
    } catch (error) {
      throw this.translate(error, id);
    }
  }

  async read(id: string): Promise<StoredBlock | undefined> {
    try {
      // The cache's own buffer: nothing on the read path changes block data, it is only sent on.
      const record = await this.engine.get(id, { shared: true });
      if (!record) return undefined;
      return { version: Buffer.from(record.version), tombstone: record.tombstone, data: record.data ? Buffer.from(record.data.buffer, record.data.byteOffset, record.data.byteLength) : undefined };
    } catch (error) {
      throw this.translate(error, id);
    }
  }

  storage(): StorageSnapshot {
    const stats = this.engine.stats();
    return { blocks: stats.blocks, tombstones: stats.tombstones, usedBytes: stats.usedBytes, capacityBytes: stats.capacityBytes, readCache: { hits: stats.readCache.hits, misses: stats.readCache.misses } };
  }

  close(): Promise<void> {
    return this.engine.close();
  }

  private translate(error: unknown, id: string): unknown {
    if (!(error instanceof EngineError)) return error;
    if (error.code === 'DEVICE_FULL') return new ReplicaError('DEVICE_FULL', error.message);
    if (error.code === 'CHECKSUM_MISMATCH') {
      this.onChecksumFailure();
      this.log.error({ id, err: error }, 'checksum mismatch: a stored block is corrupt');
      return new ReplicaError('CHECKSUM_MISMATCH', error.message);
    }
    return error;
  }
}
