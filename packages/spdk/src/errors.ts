// The client's one error class (RPC.md §1.4): SPDK's own errors keep SPDK's numeric `code` and exact
// `message`; failures of the transport get stable string codes of our own. Callers branch on `code`.
import { ERRNO, errnoOfText, JSONRPC_ERROR, type ErrnoName } from './errno.js';

/** Codes for failures that never reached SPDK or whose answer was lost. */
export type SpdkTransportErrorCode =
  /** No reply within the call's timeout. SPDK may still carry the request out. */
  | 'SPDK_TIMEOUT'
  /** The socket could not be connected (absent, refused, connect timeout). Nothing was sent. */
  | 'SPDK_UNREACHABLE'
  /** The connection dropped while the call was in flight: it may or may not have been applied. */
  | 'SPDK_CONNECTION_LOST'
  /** A reply that is not a JSON-RPC response we can match (the connection is reset). */
  | 'SPDK_BAD_REPLY'
  /** The bounded queue of calls waiting for an in-flight slot is full. Nothing was sent. */
  | 'SPDK_OVERLOADED'
  /** The request would not fit SPDK's 256 KiB receive buffer (RPC.md §1.2). Nothing was sent. */
  | 'SPDK_REQUEST_TOO_LARGE'
  /** The client was closed. */
  | 'SPDK_CLOSED';

/** SPDK's numeric JSON-RPC error code, or one of our transport codes. */
export type SpdkErrorCode = number | SpdkTransportErrorCode;

export class SpdkRpcError extends Error {
  override readonly name = 'SpdkRpcError';

  /**
   * @param code SPDK's `error.code` (e.g. -19, -32602) or a transport code.
   * @param message SPDK's `error.message` verbatim for SPDK errors (classify by code and message, §1.4).
   * @param method the JSON-RPC method called.
   */
  constructor(
    readonly code: SpdkErrorCode,
    message: string,
    readonly method: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }

  /** True when SPDK itself answered with an error (as opposed to a transport failure). */
  get fromSpdk(): boolean {
    return typeof this.code === 'number';
  }
}

export function isSpdkRpcError(error: unknown, ...codes: SpdkErrorCode[]): error is SpdkRpcError {
  return error instanceof SpdkRpcError && (codes.length === 0 || codes.includes(error.code));
}

/** True for our transport codes: SPDK did not answer (or the answer was lost). */
export function isSpdkTransportError(error: unknown): error is SpdkRpcError {
  return error instanceof SpdkRpcError && typeof error.code === 'string';
}

/**
 * The positive errno an SPDK error stands for (RPC.md §1.4): synchronous module errors carry `-errno`
 * as the code; asynchronous lvol/blobstore failures come as -32602 (delete: -32603) with the strerror
 * text as message. Undefined when neither applies.
 */
export function spdkErrno(error: unknown): number | undefined {
  if (!(error instanceof SpdkRpcError) || typeof error.code !== 'number') return undefined;
  if (error.code < 0 && error.code > -4096) return -error.code;
  if (error.code === JSONRPC_ERROR.INVALID_PARAMS || error.code === JSONRPC_ERROR.INTERNAL_ERROR) return errnoOfText(error.message);
  return undefined;
}

/** True when the SPDK error stands for the named errno, whether reported synchronously or by a callback. */
export function isSpdkErrno(error: unknown, name: ErrnoName): boolean {
  return spdkErrno(error) === ERRNO[name];
}
