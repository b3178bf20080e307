// The local replica: the engine on this node's device, seen through the Replica interface the
// coordinator uses for every owner. Engine errors become replica errors with stable codes.
import type { Logger } from 'pino';
import { Engine, EngineError } from '@ringblock/engine';
import { ReplicaError, type Replica, type StoredBlock, type WriteOutcome } from './store.js';
import { compareVersions } from './version.js';
import type { StorageSnapshot } from './metrics.js';

export class LocalReplica implements Replica {
  /** Called for every corrupt record met on a read (metrics). */
  onChecksumFailure: () => void = () => {};

  private constructor(readonly engine: Engine, private readonly log: Logger) {}

  /** `onSync` gets every fdatasync's duration (journal sync latency). */
  static async open(device: string, sizeBytes: number, log: Logger, onSync?: (durationMs: number) => void): Promise<LocalReplica> {
    const engine = await Engine.open(device, { create: true, sizeBytes, compareVersions, ...(onSync ? { onSync } : {}) });
    return new LocalReplica(engine, log);
  }

  async write(id: string, version: Buffer, data: Buffer | undefined): Promise<WriteOutcome> {
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
      const record = await this.engine.get(id);
      if (!record) return undefined;
      return { version: Buffer.from(record.version), tombstone: record.tombstone, data: record.data ? Buffer.from(record.data.buffer, record.data.byteOffset, record.data.byteLength) : undefined };
    } catch (error) {
      throw this.translate(error, id);
    }
  }

  storage(): StorageSnapshot {
    const stats = this.engine.stats();
    return { blocks: stats.blocks, tombstones: stats.tombstones, usedBytes: stats.usedBytes, capacityBytes: stats.capacityBytes };
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
