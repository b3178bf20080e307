// Connection management: one undici Pool per node origin with a bounded number of connections,
// keep-alive shorter than the node's, and one attempt of one request with its own time bound.
// Failures come back as TransportError with a stable code and whether the request may have reached
// the node (`applied`), which is what the retry policy needs to know.
import { Pool, type Dispatcher } from 'undici';
import { TransportError } from './errors.js';
import { KEEP_ALIVE_MAX_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS, POOLS_MAX } from './limits.js';
import type { Method } from './retry.js';

export interface PoolSettings {
  readonly connectionsPerNode: number;
  readonly connectTimeoutMs: number;
  /** Backstop for undici's own header/body timers; the attempt's signal normally fires first. */
  readonly attemptTimeoutMs: number;
}

/** Makes the dispatcher for one node origin; the default is an undici Pool. Tests may swap it. */
export type DispatcherFactory = (origin: string, options: Pool.Options) => Dispatcher;

export const defaultDispatcherFactory: DispatcherFactory = (origin, options) => new Pool(origin, options);

export interface Answer {
  readonly status: number;
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly body: Dispatcher.ResponseData['body'];
}

export interface AttemptRequest {
  readonly method: Method;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array;
}

/** Errors raised before a connection exists: the request certainly never reached the node. */
const CONNECT_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUT_ERROR_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const MALFORMED_ERROR_CODES = new Set(['HPE_INVALID_CONSTANT', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_HEADERS_OVERFLOW']);

export class NodePools {
  readonly #pools = new Map<string, Dispatcher>();
  readonly #options: Pool.Options;
  #closed = false;

  constructor(
    settings: PoolSettings,
    private readonly factory: DispatcherFactory = defaultDispatcherFactory,
  ) {
    this.#options = {
      connections: settings.connectionsPerNode,
      connectTimeout: settings.connectTimeoutMs,
      headersTimeout: settings.attemptTimeoutMs,
      bodyTimeout: settings.attemptTimeoutMs,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      keepAliveMaxTimeout: KEEP_ALIVE_MAX_TIMEOUT_MS,
      pipelining: 1,
    };
  }

  get size(): number {
    return this.#pools.size;
  }

  /**
   * Sends one request to `origin`. `signal` bounds the attempt (timeout and caller cancellation);
   * it must stay live until the answer's body is consumed. Throws TransportError.
   */
  async send(origin: string, request: AttemptRequest, signal: AttemptSignal): Promise<Answer> {
    const pool = this.#pool(origin);
    try {
      const answer = await pool.request({
        path: request.path,
        method: request.method,
        headers: request.headers ?? null,
        body: request.body ?? null,
        // undici listens with addEventListener and reads `aborted` and `reason`: all it needs.
        signal: signal as unknown as AbortSignal,
      });
      return { status: answer.statusCode, headers: answer.headers, body: answer.body };
    } catch (error) {
      throw transportError(error, origin, signal);
    }
  }

  /** Closes the pools of origins not in `keep` (their in-flight requests finish first). */
  retain(keep: ReadonlySet<string>): void {
    for (const [origin, pool] of this.#pools) {
      if (keep.has(origin)) continue;
      this.#pools.delete(origin);
      void pool.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.close().catch(() => undefined)));
  }

  #pool(origin: string): Dispatcher {
    let pool = this.#pools.get(origin);
    if (pool) return pool;
    if (this.#closed) throw new TransportError('CLOSED', 'the client is closed', origin, 'no');
    if (this.#pools.size >= POOLS_MAX) {
      throw new TransportError('OVERLOADED', `more than ${POOLS_MAX} node origins in use`, origin, 'no');
    }
    pool = this.factory(origin, this.#options);
    this.#pools.set(origin, pool);
    return pool;
  }
}

/** Why an attempt's signal fired: the attempt ran out of time, or the caller cancelled. */
export const ATTEMPT_TIMED_OUT = Symbol('attempt timed out');
export const CALLER_ABORTED = Symbol('caller aborted');

/**
 * Maps an error thrown while sending a request or reading its answer to a TransportError. An error
 * after the attempt's signal fired is that signal's doing, whatever undici reports.
 */
export function transportError(error: unknown, origin: string, signal: Pick<AttemptSignal, 'aborted' | 'reason'>): TransportError {
  if (error instanceof TransportError) return error;
  const options = { cause: error };
  if (signal.aborted) {
    if (signal.reason === CALLER_ABORTED) return new TransportError('ABORTED', `request to ${origin} cancelled by the caller`, origin, 'maybe', options);
    return new TransportError('TIMEOUT', `request to ${origin} timed out`, origin, 'maybe', options);
  }
  const code = errorCode(error);
  const text = `${origin}: ${(error as Error)?.message ?? String(error)}`;
  if (CONNECT_ERROR_CODES.has(code)) return new TransportError('UNREACHABLE', `cannot connect to ${text}`, origin, 'no', options);
  if (TIMEOUT_ERROR_CODES.has(code)) return new TransportError('TIMEOUT', `timed out: ${text}`, origin, 'maybe', options);
  if (code === 'UND_ERR_CLOSED' || code === 'UND_ERR_DESTROYED') return new TransportError('CLOSED', `connection pool closed: ${text}`, origin, 'no', options);
  if (MALFORMED_ERROR_CODES.has(code) || code.startsWith('HPE_')) return new TransportError('BAD_RESPONSE', `malformed answer from ${text}`, origin, 'maybe', options);
  // A reset or close after connecting may come after the node read the request: assume it did.
  return new TransportError('UNREACHABLE', `connection failed: ${text}`, origin, 'maybe', options);
}

/** `code` of an error, of the first of an AggregateError (happy-eyeballs connect), or of its cause. */
function errorCode(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const { code, errors, cause } = error as { code?: unknown; errors?: unknown; cause?: unknown };
  if (typeof code === 'string' && code !== '') return code;
  if (Array.isArray(errors) && errors.length > 0) return errorCode(errors[0]);
  return cause === undefined ? '' : errorCode(cause);
}

/** An attempt registers one listener (undici's); the bound only catches a leak. */
const ATTEMPT_LISTENERS_MAX = 8;

/**
 * The signal of one attempt, handed to undici (which takes any object with addEventListener). Not an
 * AbortController: one is made per attempt, and making an EventTarget and listening on it cost a
 * tenth of the client's CPU per GET under load (profiled); this holds the one listener an attempt has.
 */
export class AttemptSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: (() => void)[] = [];

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.#listeners.length >= ATTEMPT_LISTENERS_MAX) throw new Error(`an attempt signal holds at most ${ATTEMPT_LISTENERS_MAX} listeners`);
    this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const index = this.#listeners.indexOf(listener);
    if (index >= 0) this.#listeners.splice(index, 1);
  }

  /** Fires once: later calls change nothing (the first reason stands). */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) listener();
  }
}

/**
 * A signal for one attempt: fires with ATTEMPT_TIMED_OUT after `timeoutMs`, or with CALLER_ABORTED
 * when `caller` fires. `dispose` must be called when the attempt is over.
 */
export function attemptSignal(timeoutMs: number, caller: AbortSignal | undefined): { signal: AttemptSignal; dispose(): void } {
  const signal = new AttemptSignal();
  const onAbort = (): void => signal.abort(CALLER_ABORTED);
  if (caller?.aborted) onAbort();
  else caller?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => signal.abort(ATTEMPT_TIMED_OUT), timeoutMs);
  return {
    signal,
    dispose: () => {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
    },
  };
}
