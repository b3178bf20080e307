// One error class for the package, with a stable machine `code`: callers branch on the code, never
// on the message text. ZooKeeper's own error codes map onto the codes of the same name.

export type CoordErrorCode =
  /** No session could be established within connectTimeoutMs. */
  | 'CONNECT_TIMEOUT'
  /** The znode does not exist. */
  | 'NO_NODE'
  /** The znode already exists. */
  | 'NODE_EXISTS'
  /** The znode's version is not the expected one (someone else changed it). */
  | 'BAD_VERSION'
  /** The znode has children, so it cannot be removed. */
  | 'NOT_EMPTY'
  /** Ephemeral znodes cannot have children. */
  | 'NO_CHILDREN_FOR_EPHEMERALS'
  /** The session expired: this client is dead, build a new one. */
  | 'SESSION_EXPIRED'
  /** The connection dropped while the request was in flight: it may or may not have been applied. */
  | 'CONNECTION_LOSS'
  /** No answer within operationTimeoutMs (typically while disconnected): it may still be applied. */
  | 'OPERATION_TIMEOUT'
  /** The server refused the credentials. */
  | 'AUTH_FAILED'
  /** The znode's ACL does not allow this client the operation. */
  | 'NO_AUTH'
  /** The ACL given is invalid (for example CREATOR_ALL without credentials). */
  | 'INVALID_ACL'
  /** A node with this name is registered by another live session. */
  | 'NAME_TAKEN'
  /** This node's cluster token is not the one the cluster was created with (cluster-secret.ts). */
  | 'SECRET_MISMATCH'
  /** A znode's content is not the JSON shape it must have. */
  | 'BAD_DATA'
  /** An argument is invalid (caught before anything is sent). */
  | 'BAD_ARGUMENT'
  /** The client was closed. */
  | 'CLOSED'
  /** The ZooKeeper server process did not start (or answer) in time. */
  | 'ZK_START_FAILED'
  /** Any other ZooKeeper error; `zkCode` carries ZooKeeper's number. */
  | 'ZK_ERROR';

export interface CoordErrorDetails {
  readonly path?: string;
  /** ZooKeeper's numeric error code, when ZooKeeper reported the error. */
  readonly zkCode?: number;
  /** In a failed transaction: the index of the op that failed. */
  readonly opIndex?: number;
  readonly cause?: unknown;
}

export class CoordError extends Error {
  override readonly name = 'CoordError';

  constructor(
    readonly code: CoordErrorCode,
    message: string,
    readonly details: CoordErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
  }
}

export function isCoordError(error: unknown, ...codes: CoordErrorCode[]): error is CoordError {
  return error instanceof CoordError && (codes.length === 0 || codes.includes(error.code));
}

/** ZooKeeper's numeric error codes (org.apache.zookeeper.KeeperException.Code) we name ourselves. */
const ZK_CODES: ReadonlyMap<number, CoordErrorCode> = new Map<number, CoordErrorCode>([
  [-4, 'CONNECTION_LOSS'],
  [-7, 'OPERATION_TIMEOUT'],
  [-101, 'NO_NODE'],
  [-102, 'NO_AUTH'],
  [-103, 'BAD_VERSION'],
  [-108, 'NO_CHILDREN_FOR_EPHEMERALS'],
  [-110, 'NODE_EXISTS'],
  [-111, 'NOT_EMPTY'],
  [-112, 'SESSION_EXPIRED'],
  [-114, 'INVALID_ACL'],
  [-115, 'AUTH_FAILED'],
]);

/** Converts what node-zookeeper-client reports (an Exception with a numeric code) to a CoordError. */
export function fromZkError(error: unknown, operation: string, path: string, opIndex?: number): CoordError {
  if (error instanceof CoordError) return error;
  const zkCode = zkErrorCode(error);
  if (zkCode === undefined) {
    return new CoordError('ZK_ERROR', `${operation} ${path}: ${String(error)}`, { path, opIndex, cause: error });
  }
  return fromZkCode(zkCode, operation, path, opIndex, error);
}

export function fromZkCode(zkCode: number, operation: string, path: string, opIndex?: number, cause?: unknown): CoordError {
  const code = ZK_CODES.get(zkCode) ?? 'ZK_ERROR';
  return new CoordError(code, `${operation} ${path}: ${code} (ZooKeeper error ${zkCode})`, { path, zkCode, opIndex, cause });
}

/** The numeric code of a node-zookeeper-client Exception, or undefined for anything else. */
export function zkErrorCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** Errors after which the same ZooKeeper call may succeed once the client is connected again. */
export function isTransientCoordError(error: unknown): boolean {
  return isCoordError(error, 'CONNECTION_LOSS', 'OPERATION_TIMEOUT', 'CLOSED', 'SESSION_EXPIRED');
}

export interface RetryTransientOptions {
  /** Give up (rethrow the last error) once this long has passed since the first attempt. */
  readonly withinMs: number;
  /** Attempts at most, whatever the time. */
  readonly attemptsMax?: number;
  readonly pauseMs?: number;
  readonly onRetry?: (error: unknown, attempt: number) => void;
}

/**
 * Runs an idempotent ZooKeeper step again while it fails transiently (a server restart, a session
 * being replaced), bounded in attempts and time; any other error, or the bound, rethrows.
 */
export async function retryTransient<T>(step: () => Promise<T>, options: RetryTransientOptions): Promise<T> {
  const deadline = Date.now() + options.withinMs;
  const attemptsMax = options.attemptsMax ?? 1_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (!isTransientCoordError(error) || attempt >= attemptsMax || Date.now() >= deadline) throw error;
      options.onRetry?.(error, attempt);
      await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 250));
    }
  }
}
