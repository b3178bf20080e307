// The volume lifecycle (DESIGN §8) as a pure state machine: an explicit transition table
// (state × event → rule), time as an input, retries with exponential backoff, reconcile against what
// SPDK really holds. stepVolume returns the next state, the transition record for the audit trail and
// the actions for the caller to perform; it performs no I/O. A request the table does not allow throws
// VolumeTransitionError without changing anything (the API answers 409; BACKEND_UNREACHABLE → 503).
//
//   pending → creating → available → attaching → attached → detaching → available → deleting → deleted
//   every in-progress state X has X_failed (retried with backoff) and ends in `error` after the last
//   attempt; `error` is left by reconcile (or delete). resizing/snapshotting return to where they began.

export const VOLUME_OPERATIONS = ['create', 'attach', 'detach', 'delete', 'resize', 'snapshot'] as const;
export type VolumeOperation = (typeof VOLUME_OPERATIONS)[number];

/** The state in which each operation is under way. */
export const IN_PROGRESS_STATE = {
  create: 'creating',
  attach: 'attaching',
  detach: 'detaching',
  delete: 'deleting',
  resize: 'resizing',
  snapshot: 'snapshotting',
} as const satisfies Record<VolumeOperation, string>;

type InProgressState = (typeof IN_PROGRESS_STATE)[VolumeOperation];
type FailedState = `${InProgressState}_failed`;

export const VOLUME_STATES = [
  'pending',
  'creating',
  'creating_failed',
  'available',
  'attaching',
  'attaching_failed',
  'attached',
  'detaching',
  'detaching_failed',
  'deleting',
  'deleting_failed',
  'deleted',
  'resizing',
  'resizing_failed',
  'snapshotting',
  'snapshotting_failed',
  'error',
] as const satisfies readonly string[];
export type VolumeState = (typeof VOLUME_STATES)[number];

/** States after which nothing happens without a new request (SSE closes with `done`). */
export const TERMINAL_VOLUME_STATES: readonly VolumeState[] = ['deleted', 'error'];

/** What SPDK (and the initiator) show for a volume when reconciling. */
export type VolumeObservation =
  /** No lvol. */
  | 'absent'
  /** The lvol exists (exported or not), no host attached. */
  | 'exists'
  /** The lvol is exported and a host is attached. */
  | 'attached'
  /** SPDK did not answer: nothing can be concluded. */
  | 'unreachable';

export type VolumeEvent =
  | { readonly type: 'create' }
  | { readonly type: 'attach' }
  | { readonly type: 'detach' }
  | { readonly type: 'delete' }
  | { readonly type: 'resize'; readonly sizeMib: number }
  | { readonly type: 'snapshot'; readonly snapshotName: string }
  /** The operation under way finished. */
  | { readonly type: 'succeeded' }
  /** The operation under way failed; `retryable: false` goes to `error` at once. */
  | { readonly type: 'failed'; readonly error: string; readonly retryable?: boolean }
  /** A retry timer fired (a no-op before retryAtMs). */
  | { readonly type: 'retry' }
  | { readonly type: 'reconcile'; readonly observed: VolumeObservation };

export type VolumeEventType = VolumeEvent['type'];
export const VOLUME_EVENT_TYPES: readonly VolumeEventType[] = ['create', 'attach', 'detach', 'delete', 'resize', 'snapshot', 'succeeded', 'failed', 'retry', 'reconcile'];

/** Arguments of the operation under way. */
export interface VolumeOperationArgs {
  readonly sizeMib?: number;
  readonly snapshotName?: string;
}

export interface VolumeFsmState {
  readonly state: VolumeState;
  /** Attempts made of the operation under way (1 = first try); 0 when none is. */
  readonly attempt: number;
  /** In a *_failed state: when the next attempt is due. */
  readonly retryAtMs?: number;
  /** Where resizing/snapshotting return to. */
  readonly returnTo?: 'available' | 'attached';
  readonly args?: VolumeOperationArgs;
  readonly lastError?: string;
}

export const INITIAL_VOLUME_STATE: VolumeFsmState = { state: 'pending', attempt: 0 };

export interface RetryPolicy {
  /** Attempts of one operation before `error` (the first try included). */
  readonly maxAttempts: number;
  readonly initialWaitMs: number;
  readonly multiplier: number;
  readonly maxWaitMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 5, initialWaitMs: 1_000, multiplier: 2, maxWaitMs: 60_000 };

export type VolumeAction =
  /** Perform `operation` (attempt n); report back with succeeded/failed. */
  | ({ readonly type: 'run'; readonly operation: VolumeOperation; readonly attempt: number } & VolumeOperationArgs)
  /** Send a `retry` event at atMs. */
  | { readonly type: 'schedule_retry'; readonly atMs: number };

/** One line of the audit trail. */
export interface VolumeTransitionRecord {
  readonly from: VolumeState;
  readonly to: VolumeState;
  readonly event: VolumeEventType;
  readonly atMs: number;
  readonly attempt: number;
  readonly error?: string;
}

export interface VolumeStep {
  readonly next: VolumeFsmState;
  readonly record: VolumeTransitionRecord;
  readonly actions: readonly VolumeAction[];
}

export type VolumeTransitionErrorCode =
  /** The table does not allow this event in this state (API: 409 Conflict). */
  | 'INVALID_TRANSITION'
  /** Reconcile could not see SPDK; the state stays (API: 503). */
  | 'BACKEND_UNREACHABLE';

export class VolumeTransitionError extends Error {
  override readonly name = 'VolumeTransitionError';
  constructor(
    readonly code: VolumeTransitionErrorCode,
    readonly state: VolumeState,
    readonly event: VolumeEventType,
  ) {
    super(code === 'INVALID_TRANSITION' ? `cannot ${event} a volume that is ${state}` : `cannot reconcile: SPDK unreachable (volume stays ${state})`);
  }
}

/** How a table cell resolves. */
export type TransitionRule =
  /** Go to a state. */
  | { readonly kind: 'goto'; readonly to: VolumeState }
  /** Start the operation of an in-progress state (attempt 1). */
  | { readonly kind: 'start'; readonly to: InProgressState }
  /** The operation finished: its done state (resize/snapshot: where they began). */
  | { readonly kind: 'finish' }
  /** The operation failed: X_failed with a retry scheduled, or `error` after the last attempt. */
  | { readonly kind: 'fail' }
  /** A retry is due: back to X with the next attempt (no-op before retryAtMs). */
  | { readonly kind: 'retry' }
  /** Align with what SPDK holds. */
  | { readonly kind: 'reconcile' };

const goto = (to: VolumeState): TransitionRule => ({ kind: 'goto', to });
const start = (to: InProgressState): TransitionRule => ({ kind: 'start', to });
const FINISH: TransitionRule = { kind: 'finish' };
const FAIL: TransitionRule = { kind: 'fail' };
const RETRY: TransitionRule = { kind: 'retry' };
const RECONCILE: TransitionRule = { kind: 'reconcile' };

/** The transition table. A (state, event) pair that is not listed is rejected (409). */
export const VOLUME_TRANSITIONS: Readonly<Record<VolumeState, Readonly<Partial<Record<VolumeEventType, TransitionRule>>>>> = {
  pending: { create: start('creating'), delete: goto('deleted'), reconcile: RECONCILE },
  creating: { succeeded: FINISH, failed: FAIL, reconcile: RECONCILE },
  creating_failed: { retry: RETRY, delete: start('deleting'), reconcile: RECONCILE },
  available: { attach: start('attaching'), delete: start('deleting'), resize: start('resizing'), snapshot: start('snapshotting'), reconcile: RECONCILE },
  attaching: { succeeded: FINISH, failed: FAIL, reconcile: RECONCILE },
  attaching_failed: { retry: RETRY, detach: start('detaching'), reconcile: RECONCILE },
  attached: { detach: start('detaching'), resize: start('resizing'), snapshot: start('snapshotting'), reconcile: RECONCILE },
  detaching: { succeeded: FINISH, failed: FAIL, reconcile: RECONCILE },
  detaching_failed: { retry: RETRY, reconcile: RECONCILE },
  deleting: { succeeded: FINISH, failed: FAIL, reconcile: RECONCILE },
  deleting_failed: { retry: RETRY, reconcile: RECONCILE },
  deleted: {},
  resizing: { succeeded: FINISH, failed: FAIL, reconcile: RECONCILE },
  resizing_failed: { retry: RETRY, reconcile: RECONCILE },
  snapshotting: { succeeded: FINISH, failed: FAIL, reconcile: RECONCILE },
  snapshotting_failed: { retry: RETRY, reconcile: RECONCILE },
  error: { delete: start('deleting'), reconcile: RECONCILE },
};

/** Where a finished operation lands (resize and snapshot: back to returnTo). */
const DONE_STATE: Readonly<Record<InProgressState, VolumeState | 'return'>> = {
  creating: 'available',
  attaching: 'attached',
  detaching: 'available',
  deleting: 'deleted',
  resizing: 'return',
  snapshotting: 'return',
};

const OPERATION_OF: ReadonlyMap<VolumeState, VolumeOperation> = new Map(VOLUME_OPERATIONS.map((operation) => [IN_PROGRESS_STATE[operation], operation]));

/** The operation under way in an in-progress or *_failed state. */
export function operationOf(state: VolumeState): VolumeOperation | undefined {
  return OPERATION_OF.get(state.replace(/_failed$/, '') as VolumeState);
}

export function isTerminalVolumeState(state: VolumeState): boolean {
  return TERMINAL_VOLUME_STATES.includes(state);
}

/** Wait before the attempt after failed attempt n: min(maxWaitMs, initialWaitMs · multiplier^(n−1)). */
export function retryDelayMs(policy: RetryPolicy, failedAttempt: number): number {
  return Math.min(policy.maxWaitMs, policy.initialWaitMs * policy.multiplier ** (failedAttempt - 1));
}

/** Checks a policy once, up front; throws RangeError naming the bad field. */
export function validateRetryPolicy(policy: RetryPolicy): RetryPolicy {
  const checks: [keyof RetryPolicy, boolean][] = [
    ['maxAttempts', Number.isSafeInteger(policy.maxAttempts) && policy.maxAttempts >= 1],
    ['initialWaitMs', Number.isFinite(policy.initialWaitMs) && policy.initialWaitMs >= 0],
    ['multiplier', Number.isFinite(policy.multiplier) && policy.multiplier >= 1],
    ['maxWaitMs', Number.isFinite(policy.maxWaitMs) && policy.maxWaitMs >= policy.initialWaitMs],
  ];
  for (const [field, ok] of checks) if (!ok) throw new RangeError(`retry policy: invalid ${field} (${String(policy[field])})`);
  return policy;
}

/**
 * Applies `event` at `nowMs`. Returns the step, or undefined for a retry that is not due yet.
 * Throws VolumeTransitionError (state unchanged) when the table rejects the pair, or when reconcile
 * observed `unreachable`.
 */
export function stepVolume(current: VolumeFsmState, event: VolumeEvent, nowMs: number, policy: RetryPolicy = DEFAULT_RETRY_POLICY): VolumeStep | undefined {
  const rule = VOLUME_TRANSITIONS[current.state][event.type];
  if (rule === undefined) throw new VolumeTransitionError('INVALID_TRANSITION', current.state, event.type);
  const resolved = resolveRule(current, event, rule, nowMs, policy);
  if (resolved === undefined) return undefined;
  const { next, actions } = resolved;
  const record: VolumeTransitionRecord = {
    from: current.state,
    to: next.state,
    event: event.type,
    atMs: nowMs,
    attempt: event.type === 'failed' ? current.attempt : next.attempt,
    ...(event.type === 'failed' ? { error: event.error } : {}),
  };
  return { next, record, actions };
}

interface Resolved {
  readonly next: VolumeFsmState;
  readonly actions: readonly VolumeAction[];
}

function resolveRule(current: VolumeFsmState, event: VolumeEvent, rule: TransitionRule, nowMs: number, policy: RetryPolicy): Resolved | undefined {
  switch (rule.kind) {
    case 'goto':
      return settled(rule.to);
    case 'start':
      return startOperation(current, event, rule.to);
    case 'finish':
      return finish(current);
    case 'fail':
      return fail(current, event as Extract<VolumeEvent, { type: 'failed' }>, nowMs, policy);
    case 'retry':
      return current.retryAtMs !== undefined && nowMs < current.retryAtMs ? undefined : attempt(current, current.state.replace(/_failed$/, '') as InProgressState, current.attempt + 1);
    case 'reconcile':
      return reconcile(current, (event as Extract<VolumeEvent, { type: 'reconcile' }>).observed);
  }
}

function settled(state: VolumeState): Resolved {
  return { next: { state, attempt: 0 }, actions: [] };
}

function startOperation(current: VolumeFsmState, event: VolumeEvent, to: InProgressState): Resolved {
  const returnTo = current.state === 'available' || current.state === 'attached' ? current.state : undefined;
  const args: VolumeOperationArgs = event.type === 'resize' ? { sizeMib: event.sizeMib } : event.type === 'snapshot' ? { snapshotName: event.snapshotName } : {};
  const base: VolumeFsmState = { state: current.state, attempt: 0, args, ...(to === 'resizing' || to === 'snapshotting' ? { returnTo } : {}) };
  return attempt(base, to, 1);
}

/** Enters `state` for attempt n of its operation, keeping returnTo and args. */
function attempt(current: VolumeFsmState, state: InProgressState, attemptNumber: number): Resolved {
  const operation = OPERATION_OF.get(state)!;
  const args = current.args ?? {};
  const next: VolumeFsmState = {
    state,
    attempt: attemptNumber,
    ...(current.returnTo === undefined ? {} : { returnTo: current.returnTo }),
    ...(current.args === undefined ? {} : { args }),
    ...(current.lastError === undefined ? {} : { lastError: current.lastError }),
  };
  return { next, actions: [{ type: 'run', operation, attempt: attemptNumber, ...args }] };
}

function finish(current: VolumeFsmState): Resolved {
  const done = DONE_STATE[current.state as InProgressState];
  return settled(done === 'return' ? (current.returnTo ?? 'available') : done);
}

function fail(current: VolumeFsmState, event: Extract<VolumeEvent, { type: 'failed' }>, nowMs: number, policy: RetryPolicy): Resolved {
  if (event.retryable === false || current.attempt >= policy.maxAttempts) {
    return { next: { state: 'error', attempt: current.attempt, lastError: event.error }, actions: [] };
  }
  const retryAtMs = nowMs + retryDelayMs(policy, current.attempt);
  const next: VolumeFsmState = { ...current, state: `${current.state as InProgressState}_failed` satisfies FailedState, retryAtMs, lastError: event.error };
  return { next, actions: [{ type: 'schedule_retry', atMs: retryAtMs }] };
}

/**
 * absent → pending, exists → available, attached → attached; a deletion under way finishes (absent →
 * deleted) or starts over (else → deleting); unreachable changes nothing.
 */
function reconcile(current: VolumeFsmState, observed: VolumeObservation): Resolved {
  if (observed === 'unreachable') throw new VolumeTransitionError('BACKEND_UNREACHABLE', current.state, 'reconcile');
  if (current.state === 'deleting' || current.state === 'deleting_failed') {
    return observed === 'absent' ? settled('deleted') : attempt({ state: current.state, attempt: 0 }, 'deleting', 1);
  }
  return settled(observed === 'absent' ? 'pending' : observed === 'exists' ? 'available' : 'attached');
}

/** The states a table cell can lead to (for tests and documentation). */
export function possibleTargets(state: VolumeState, eventType: VolumeEventType): VolumeState[] {
  const rule = VOLUME_TRANSITIONS[state][eventType];
  if (rule === undefined) return [];
  switch (rule.kind) {
    case 'goto':
    case 'start':
      return [rule.to];
    case 'finish': {
      const done = DONE_STATE[state as InProgressState];
      return done === 'return' ? ['available', 'attached'] : [done];
    }
    case 'fail':
      return [`${state as InProgressState}_failed`, 'error'];
    case 'retry':
      return [state.replace(/_failed$/, '') as VolumeState];
    case 'reconcile':
      return state === 'deleting' || state === 'deleting_failed' ? ['deleted', 'deleting'] : ['pending', 'available', 'attached'];
  }
}
