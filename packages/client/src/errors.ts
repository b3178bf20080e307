// Typed errors with stable machine codes (the undici style). Callers branch on `code`, never on the
// message. Four kinds:
//  - ArgumentError: refused before anything was sent (bad id, wrong block size, bad option);
//  - ServerError: a node answered with an error status; `code` is the node's stable code (DESIGN §2);
//  - UnavailableError: the ServerError for `503 UNAVAILABLE`, with the node's `required`/`acked`;
//  - TransportError: no usable answer (timeout, connection failure, cancelled, malformed answer).

/** The stable codes a node puts in its JSON errors (DESIGN §2; packages/node's http/errors.ts). */
export type KnownServerCode =
  | 'BLOCK_SIZE'
  | 'BAD_ID'
  | 'BAD_REQUEST'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'CONFLICT'
  | 'UNAUTHORIZED'
  | 'UNAVAILABLE'
  | 'INSUFFICIENT_STORAGE'
  | 'STALE_EPOCH'
  | 'CHECKSUM_MISMATCH'
  | 'NOT_READY'
  | 'SHUTTING_DOWN'
  | 'REQUEST_TIMEOUT'
  | 'INTERNAL';

/** A node's code; one this client does not know yet passes through as the node wrote it. */
export type ServerCode = KnownServerCode | `HTTP_${number}` | (string & {});

export type ArgumentCode = 'BLOCK_SIZE' | 'BAD_ID' | 'BAD_CONSISTENCY' | 'BAD_OPTION';

export type TransportCode =
  /** The attempt or the whole call ran out of time. */
  | 'TIMEOUT'
  /** The connection failed (refused, reset, closed mid-answer). */
  | 'UNREACHABLE'
  /** The caller's AbortSignal fired. */
  | 'ABORTED'
  /** The answer did not follow the API (e.g. a GET body that is not 4096 bytes). */
  | 'BAD_RESPONSE'
  /** More calls in flight than `inFlightMax`. */
  | 'OVERLOADED'
  /** The client was closed. */
  | 'CLOSED';

export type RingblockErrorCode = ServerCode | ArgumentCode | TransportCode;

/**
 * Whether a failed attempt may have changed what the cluster stores: `no` when it certainly did not
 * (refused before any effect, connection never made), `maybe` otherwise. Decides if a PUT may be
 * retried (see client.ts).
 */
export type Applied = 'no' | 'maybe';

export abstract class RingblockError extends Error {
  abstract readonly code: RingblockErrorCode;
  /** Attempts made by the call that failed (1 when it was not retried). */
  attempts = 1;
}

export class ArgumentError extends RingblockError {
  override readonly name = 'ArgumentError';

  constructor(
    readonly code: ArgumentCode,
    message: string,
  ) {
    super(message);
  }
}

export class ServerError extends RingblockError {
  override readonly name: string = 'ServerError';

  constructor(
    readonly code: ServerCode,
    readonly status: number,
    message: string,
    /** The node (origin) that answered. */
    readonly node: string,
    /** Every field of the JSON error besides `error` and `code`. */
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

/** `503 UNAVAILABLE`: fewer replicas answered than the level needs; a write may have reached some. */
export class UnavailableError extends ServerError {
  override readonly name = 'UnavailableError';
  /** Replicas the consistency level needed. */
  readonly required: number;
  /** Replicas that answered. */
  readonly acked: number;

  constructor(status: number, message: string, node: string, details: Readonly<Record<string, unknown>>) {
    super('UNAVAILABLE', status, message, node, details);
    this.required = integerOr(details['required'], -1);
    this.acked = integerOr(details['acked'], -1);
  }
}

export class TransportError extends RingblockError {
  override readonly name = 'TransportError';

  constructor(
    readonly code: TransportCode,
    message: string,
    /** The node (origin) the attempt went to, when there was one. */
    readonly node: string | undefined,
    /** Whether the request may have reached the node and taken effect. */
    readonly applied: Applied,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function integerOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : fallback;
}
