// Typed errors of bulk transfer, with stable machine codes (as undici's `UND_ERR_*`): the stream
// codes say how a received stream was bad, the others how a send failed. `lastPosition` is the last
// ring position the receiver holds durably for this transfer when that is known, so a retry resumes
// after it instead of starting over.

export type TransferErrorCode =
  // A received stream is bad (the receiver answers these with the lastPosition it applied).
  /** The stream does not start with the transfer magic: not a transfer stream. */
  | 'BAD_MAGIC'
  /** The stream header names a format version this node does not speak. */
  | 'UNSUPPORTED_VERSION'
  /** A header, frame or trailer does not match its xxh64 checksum. */
  | 'CHECKSUM_MISMATCH'
  /** The stream ended before its trailer. */
  | 'TRUNCATED'
  /** A frame declares more payload bytes than the decoder's bound. */
  | 'FRAME_TOO_LARGE'
  /** Frame structure is wrong: unknown type or flags, bytes after the trailer, a trailer that disagrees. */
  | 'BAD_FRAME'
  /** A record is malformed, outside the range, or out of ring order. */
  | 'BAD_RECORD'
  /** The request body exceeds the receiver's byte bound. */
  | 'TOO_LARGE'
  /** The request body did not arrive in time (idle or total bound). */
  | 'TIMEOUT'
  // A send failed.
  /** The receiver routes by a newer ring epoch (409); `epoch` carries it. */
  | 'STALE_EPOCH'
  /** The receiver refused the cluster token (401). */
  | 'UNAUTHORIZED'
  /** The receiver answered with an error status not covered above (`status`, `remoteCode`). */
  | 'REFUSED'
  /** The connection failed or timed out before an answer arrived. */
  | 'UNREACHABLE'
  /** Reading the local range failed (the source engine). */
  | 'SOURCE_FAILED'
  /** The caller's signal aborted the transfer. */
  | 'ABORTED'
  /** Too many transfers are in flight or waiting. */
  | 'BUSY'
  /** An option is invalid (checked once, up front). */
  | 'BAD_OPTION';

/** Codes worth another attempt: the cause may be transient (a cut connection, a flipped bit, load). */
const RETRYABLE_CODES: ReadonlySet<TransferErrorCode> = new Set<TransferErrorCode>([
  'CHECKSUM_MISMATCH', 'TRUNCATED', 'TIMEOUT', 'UNREACHABLE', 'REFUSED', 'BUSY',
]);

export interface TransferErrorDetails {
  /** Last position the receiver holds durably for this transfer; undefined when unknown or none. */
  lastPosition?: bigint;
  /** HTTP status the receiver answered with. */
  status?: number;
  /** The `code` of the receiver's JSON answer. */
  remoteCode?: string;
  /** The receiver's ring epoch (STALE_EPOCH). */
  epoch?: number;
  cause?: unknown;
}

export class TransferError extends Error {
  readonly lastPosition: bigint | undefined;
  readonly status: number | undefined;
  readonly remoteCode: string | undefined;
  readonly epoch: number | undefined;

  constructor(readonly code: TransferErrorCode, message: string, details: TransferErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'TransferError';
    this.lastPosition = details.lastPosition;
    this.status = details.status;
    this.remoteCode = details.remoteCode;
    this.epoch = details.epoch;
  }

  /** The same error, now knowing what the receiver holds durably. */
  withLastPosition(lastPosition: bigint | undefined): TransferError {
    const { status, remoteCode, epoch } = this;
    return new TransferError(this.code, this.message, { lastPosition, status, remoteCode, epoch, cause: this.cause });
  }

  get retryable(): boolean {
    // A refusal is worth retrying when the receiver was busy or failed (5xx), not when its device is full (507).
    if (this.code === 'REFUSED') return this.status === undefined || (this.status >= 500 && this.status !== 507) || this.status === 408;
    return RETRYABLE_CODES.has(this.code);
  }
}

export function isTransferError(error: unknown, code?: TransferErrorCode): error is TransferError {
  return error instanceof TransferError && (code === undefined || error.code === code);
}
