// What the coordinator needs of a replica, local or remote: write a version (put or tombstone) under
// last-writer-wins, read the newest record. The local one is the engine; remote ones go over HTTP.
import type { Context } from '@opentelemetry/api';
export interface StoredBlock {
  version: Buffer;
  tombstone: boolean;
  /** 4096 bytes for a put, undefined for a tombstone. */
  data: Buffer | undefined;
}

/**
 * `applied`: this version is now the replica's; `equal`: it already had exactly this version (a
 * retried call); `newer`: it holds a newer version, given in `current`, and kept it.
 */
export type WriteResult = 'applied' | 'equal' | 'newer';

export interface WriteOutcome {
  result: WriteResult;
  current?: Buffer;
}

/** `trace`: set only when tracing is on, the context of the span this call belongs to (its parent). */
export interface Replica {
  /** `data` undefined writes a tombstone. */
  write(id: string, version: Buffer, data: Buffer | undefined, trace?: Context): Promise<WriteOutcome>;
  read(id: string, trace?: Context): Promise<StoredBlock | undefined>;
}

/** A replica call that failed; `code` says how, for the status the coordinator answers with. */
export class ReplicaError extends Error {
  constructor(
    readonly code: 'TIMEOUT' | 'UNREACHABLE' | 'STALE_EPOCH' | 'DEVICE_FULL' | 'CHECKSUM_MISMATCH' | 'REFUSED',
    message: string,
    readonly epoch?: number,
  ) {
    super(message);
  }
}
