// The retry policy, pure: which failures are worth another attempt, for which calls, and how long to
// wait before it. The client performs the attempts; this file only decides.
//
// Idempotency decisions (also in the package README):
//  - GET and HEAD change nothing: retried on any transient failure.
//  - DELETE writes a tombstone (DESIGN §2: idempotent): a retry writes another tombstone with a newer
//    version, which leaves the same state. Retried like a read.
//  - PUT is NOT retried after a failure that may have taken effect (timeout, connection lost after
//    sending, `503 UNAVAILABLE`, `500`): the retry would store the bytes again under a NEWER version,
//    so if another writer put the same id in between, the retry silently overwrites that newer
//    write with older intent (last writer wins by version, not by intent). A PUT is retried only when
//    the failed attempt certainly had no effect — the connection was never made, or the node refused
//    before coordinating (`NOT_READY`, `SHUTTING_DOWN`, `STALE_EPOCH`, `408` body not received,
//    `503` with reason `ring-unconfirmed`) — or when the caller opts in with `retry: true` (sound when
//    it is the only writer of that id).
import { ServerError, TransportError, type Applied } from './errors.js';

export type Method = 'GET' | 'HEAD' | 'PUT' | 'DELETE';

export interface RetryPolicy {
  /** Attempts after the first. */
  readonly retries: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

/** What a failed attempt tells the client. */
export interface FailureClass {
  /** Another attempt could succeed (the failure is transient). */
  readonly transient: boolean;
  /** Whether the attempt may have changed stored state. */
  readonly applied: Applied;
  /** The ring the client routes by may be out of date. */
  readonly ringSuspect: boolean;
  /** The node did not take a connection: skip it for a while. */
  readonly nodeDown: boolean;
}

const PERMANENT: FailureClass = Object.freeze({ transient: false, applied: 'maybe', ringSuspect: false, nodeDown: false });

/** Server codes answered before the node did anything with the request. */
const REFUSED_BEFORE_EFFECT = new Set(['NOT_READY', 'SHUTTING_DOWN', 'STALE_EPOCH', 'REQUEST_TIMEOUT']);
/** Server codes (or status-derived codes) worth another attempt. */
const TRANSIENT_SERVER_CODES = new Set([...REFUSED_BEFORE_EFFECT, 'UNAVAILABLE', 'INTERNAL', 'HTTP_502', 'HTTP_504']);

export function classifyFailure(error: unknown): FailureClass {
  if (error instanceof TransportError) {
    if (error.code === 'UNREACHABLE') {
      return { transient: true, applied: error.applied, ringSuspect: true, nodeDown: error.applied === 'no' };
    }
    // TIMEOUT here is an attempt's own timeout; a call out of budget never reaches the policy.
    if (error.code === 'TIMEOUT') return { transient: true, applied: 'maybe', ringSuspect: false, nodeDown: false };
    return PERMANENT;
  }
  if (error instanceof ServerError) {
    if (!TRANSIENT_SERVER_CODES.has(error.code)) return PERMANENT;
    const refused = REFUSED_BEFORE_EFFECT.has(error.code) || (error.code === 'UNAVAILABLE' && error.details['reason'] === 'ring-unconfirmed');
    return { transient: true, applied: refused ? 'no' : 'maybe', ringSuspect: error.code === 'STALE_EPOCH', nodeDown: false };
  }
  return PERMANENT;
}

export function isIdempotent(method: Method): boolean {
  return method !== 'PUT';
}

/** Whether a call of `method` that failed as `failure` may be attempted again. */
export function mayRetry(method: Method, failure: FailureClass, retryUnsafe: boolean): boolean {
  return failure.transient && (isIdempotent(method) || failure.applied === 'no' || retryUnsafe);
}

/**
 * Wait before attempt `attempt` (1 for the first retry): "full jitter", a uniform draw in
 * [0, min(max, base·2^(attempt-1))]. `random` returns a number in [0, 1).
 */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}
