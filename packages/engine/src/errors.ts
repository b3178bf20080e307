// Typed errors of the engine. Every error a caller can act on carries a stable machine `code`
// (the HTTP node maps them: DEVICE_FULL → 507, BAD_ID → 400, BLOCK_SIZE → 400/413, BUSY → 503…)
// and a human sentence that says what happened and, where there is one, what to do.

export type EngineErrorCode =
  /** No free slot is left for this write (a put may not use the slots reserved for deletes). */
  | 'DEVICE_FULL'
  /** A stored header or data page does not match its xxh64 checksum: the bytes are not returned. */
  | 'CHECKSUM_MISMATCH'
  /** The device holds non-zero data that is not a ringblock superblock. */
  | 'BAD_MAGIC'
  /** The device was written by a newer engine (format version) or with a geometry this one lacks. */
  | 'UNSUPPORTED_FORMAT'
  /** The device is smaller than its superblock says it was formatted for. */
  | 'TRUNCATED_DEVICE'
  /** Formatting was asked for over non-zero data that is not ours; pass `force` to overwrite it. */
  | 'FOREIGN_DATA'
  /** The device is blank (all zero); pass `create: true` to format it. */
  | 'UNFORMATTED'
  /** Both superblock copies carry our magic but fail their checksums. */
  | 'CORRUPT_SUPERBLOCK'
  /** The device (or the requested size) cannot hold the superblock and one slot group. */
  | 'DEVICE_TOO_SMALL'
  | 'BAD_ID'
  | 'BAD_VERSION'
  | 'VERSION_TOO_LONG'
  | 'BAD_NAMESPACE'
  | 'BLOCK_SIZE'
  | 'BAD_OPTION'
  /** Two distinct ids of one namespace share their xxh64: the second one cannot be stored. */
  | 'HASH_COLLISION'
  | 'CLOSED'
  /** Too many writes are queued; retry later (backpressure). */
  | 'BUSY'
  /** The device is already open in this process. */
  | 'IN_USE'
  /** A read, write or sync failed; after a failed write or sync the engine refuses writes until reopened. */
  | 'IO_ERROR';

export class EngineError extends Error {
  override readonly name = 'EngineError';
  readonly code: EngineErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: EngineErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.details = details;
  }
}

export function isEngineError(error: unknown, code?: EngineErrorCode): error is EngineError {
  return error instanceof EngineError && (code === undefined || error.code === code);
}

/** Stops the process's current operation when an invariant that must hold does not (TigerStyle). */
export function assert(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`engine invariant violated: ${what}`);
}
