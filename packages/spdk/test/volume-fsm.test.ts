// The volume lifecycle FSM (DESIGN §8): every (state, event) pair, retry timing on a fake clock,
// reconcile outcomes, transition records.
import t from 'tap';
import {
  DEFAULT_RETRY_POLICY,
  INITIAL_VOLUME_STATE,
  isTerminalVolumeState,
  operationOf,
  possibleTargets,
  retryDelayMs,
  stepVolume,
  validateRetryPolicy,
  VOLUME_EVENT_TYPES,
  VOLUME_STATES,
  VolumeTransitionError,
  type RetryPolicy,
  type VolumeEvent,
  type VolumeEventType,
  type VolumeFsmState,
  type VolumeState,
  type VolumeStep,
  type VolumeTransitionRecord,
} from '../src/index.js';

/** The sample event used for each event type in the table walk. */
const SAMPLE_EVENTS: Readonly<Record<VolumeEventType, VolumeEvent>> = {
  create: { type: 'create' },
  attach: { type: 'attach' },
  detach: { type: 'detach' },
  delete: { type: 'delete' },
  resize: { type: 'resize', sizeMib: 2048 },
  snapshot: { type: 'snapshot', snapshotName: 'snap1' },
  succeeded: { type: 'succeeded' },
  failed: { type: 'failed', error: 'boom' },
  retry: { type: 'retry' },
  reconcile: { type: 'reconcile', observed: 'exists' },
};

/**
 * Where each allowed pair leads with the sample event, from a state at attempt 1 (retry due,
 * resize/snapshot begun from `attached`). Written out independently of the implementation: any pair
 * not listed here must be rejected.
 */
const EXPECTED: Readonly<Record<VolumeState, Partial<Record<VolumeEventType, VolumeState>>>> = {
  pending: { create: 'creating', delete: 'deleted', reconcile: 'available' },
  creating: { succeeded: 'available', failed: 'creating_failed', reconcile: 'available' },
  creating_failed: { retry: 'creating', delete: 'deleting', reconcile: 'available' },
  available: { attach: 'attaching', delete: 'deleting', resize: 'resizing', snapshot: 'snapshotting', reconcile: 'available' },
  attaching: { succeeded: 'attached', failed: 'attaching_failed', reconcile: 'available' },
  attaching_failed: { retry: 'attaching', detach: 'detaching', reconcile: 'available' },
  attached: { detach: 'detaching', resize: 'resizing', snapshot: 'snapshotting', reconcile: 'available' },
  detaching: { succeeded: 'available', failed: 'detaching_failed', reconcile: 'available' },
  detaching_failed: { retry: 'detaching', reconcile: 'available' },
  deleting: { succeeded: 'deleted', failed: 'deleting_failed', reconcile: 'deleting' },
  deleting_failed: { retry: 'deleting', reconcile: 'deleting' },
  deleted: {},
  resizing: { succeeded: 'attached', failed: 'resizing_failed', reconcile: 'available' },
  resizing_failed: { retry: 'resizing', reconcile: 'available' },
  snapshotting: { succeeded: 'attached', failed: 'snapshotting_failed', reconcile: 'available' },
  snapshotting_failed: { retry: 'snapshotting', reconcile: 'available' },
  error: { delete: 'deleting', reconcile: 'available' },
};

function stateAt(state: VolumeState): VolumeFsmState {
  const inOperation = operationOf(state) !== undefined;
  return Object.freeze({
    state,
    attempt: inOperation ? 1 : 0,
    ...(state.endsWith('_failed') ? { retryAtMs: 0, lastError: 'earlier' } : {}),
    ...(state.startsWith('resiz') || state.startsWith('snapshot') ? { returnTo: 'attached' as const } : {}),
  });
}

t.test('every (state, event) pair: allowed pairs go where the table says, all others are rejected', async (t) => {
  let allowed = 0;
  let rejected = 0;
  for (const state of VOLUME_STATES) {
    for (const eventType of VOLUME_EVENT_TYPES) {
      const current = stateAt(state);
      const expected = EXPECTED[state][eventType];
      const label = `${state} × ${eventType}`;
      if (expected === undefined) {
        t.throws(() => stepVolume(current, SAMPLE_EVENTS[eventType], 1_000), { name: 'VolumeTransitionError', code: 'INVALID_TRANSITION', state, event: eventType }, label);
        t.same(possibleTargets(state, eventType), [], `${label}: no targets`);
        rejected++;
        continue;
      }
      const step = stepVolume(current, SAMPLE_EVENTS[eventType], 1_000);
      t.equal(step?.next.state, expected, label);
      t.ok(possibleTargets(state, eventType).includes(expected), `${label}: among the table's targets`);
      t.match(step?.record, { from: state, to: expected, event: eventType, atMs: 1_000 }, `${label}: recorded`);
      allowed++;
    }
  }
  t.equal(allowed + rejected, VOLUME_STATES.length * VOLUME_EVENT_TYPES.length);
  t.equal(allowed, Object.values(EXPECTED).reduce((sum, row) => sum + Object.keys(row).length, 0), 'exactly the pairs listed are allowed');
});

t.test('a rejected request changes nothing (delete while attached is 409)', async (t) => {
  const attached: VolumeFsmState = Object.freeze({ state: 'attached', attempt: 0 });
  const error = (() => {
    try {
      stepVolume(attached, { type: 'delete' }, 5);
    } catch (thrown) {
      return thrown;
    }
    return undefined;
  })();
  t.ok(error instanceof VolumeTransitionError);
  t.match(error, { code: 'INVALID_TRANSITION', message: 'cannot delete a volume that is attached' });
  t.same(attached, { state: 'attached', attempt: 0 });
  t.throws(() => stepVolume({ state: 'creating', attempt: 1 }, { type: 'create' }, 0), { code: 'INVALID_TRANSITION' }, 'no second create while creating');
  t.throws(() => stepVolume({ state: 'deleted', attempt: 0 }, { type: 'reconcile', observed: 'absent' }, 0), { code: 'INVALID_TRANSITION' }, 'deleted is final');
});

/** Drives the FSM and collects records and actions. */
class Volume {
  state: VolumeFsmState = INITIAL_VOLUME_STATE;
  readonly records: VolumeTransitionRecord[] = [];
  readonly actions: VolumeStep['actions'][number][] = [];
  constructor(private readonly policy: RetryPolicy) {}

  send(event: VolumeEvent, nowMs: number): VolumeStep | undefined {
    const step = stepVolume(this.state, event, nowMs, this.policy);
    if (step === undefined) return undefined;
    this.state = step.next;
    this.records.push(step.record);
    this.actions.push(...step.actions);
    return step;
  }
}

t.test('retry timing with a fake clock: backoff sequence, then error after max attempts', async (t) => {
  const policy = validateRetryPolicy({ maxAttempts: 4, initialWaitMs: 100, multiplier: 3, maxWaitMs: 500 });
  const volume = new Volume(policy);
  volume.send({ type: 'create' }, 0);
  t.same(volume.actions, [{ type: 'run', operation: 'create', attempt: 1 }]);
  volume.send({ type: 'failed', error: 'EIO 1' }, 10);
  t.same(volume.state, { state: 'creating_failed', attempt: 1, args: {}, retryAtMs: 110, lastError: 'EIO 1' });
  t.equal(volume.send({ type: 'retry' }, 109), undefined, 'a retry before it is due is a no-op');
  t.equal(volume.state.state, 'creating_failed');
  volume.send({ type: 'retry' }, 110);
  t.match(volume.state, { state: 'creating', attempt: 2 });
  volume.send({ type: 'failed', error: 'EIO 2' }, 120);
  volume.send({ type: 'retry' }, 420);
  volume.send({ type: 'failed', error: 'EIO 3' }, 430);
  volume.send({ type: 'retry' }, 930);
  t.match(volume.state, { state: 'creating', attempt: 4 });
  volume.send({ type: 'failed', error: 'EIO 4' }, 940);
  t.same(volume.state, { state: 'error', attempt: 4, lastError: 'EIO 4' }, 'after the fourth attempt');
  t.same(
    volume.actions.filter((action) => action.type === 'schedule_retry').map((action) => (action as { atMs: number }).atMs),
    [110, 120 + 300, 430 + 500],
    'waits 100, 300, then capped at 500',
  );
  t.same(
    volume.actions.filter((action) => action.type === 'run').map((action) => (action as { attempt: number }).attempt),
    [1, 2, 3, 4],
  );
  t.same(
    volume.records.map((record) => [record.from, record.to, record.event, record.attempt, record.error]),
    [
      ['pending', 'creating', 'create', 1, undefined],
      ['creating', 'creating_failed', 'failed', 1, 'EIO 1'],
      ['creating_failed', 'creating', 'retry', 2, undefined],
      ['creating', 'creating_failed', 'failed', 2, 'EIO 2'],
      ['creating_failed', 'creating', 'retry', 3, undefined],
      ['creating', 'creating_failed', 'failed', 3, 'EIO 3'],
      ['creating_failed', 'creating', 'retry', 4, undefined],
      ['creating', 'error', 'failed', 4, 'EIO 4'],
    ],
  );
  t.ok(isTerminalVolumeState(volume.state.state));
});

t.test('retry delays and policy validation', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7].map((attempt) => retryDelayMs(DEFAULT_RETRY_POLICY, attempt)), [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000]);
  t.throws(() => validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, maxAttempts: 0 }), /maxAttempts/);
  t.throws(() => validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, multiplier: 0.5 }), /multiplier/);
  t.throws(() => validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, maxWaitMs: 10 }), /maxWaitMs/);
});

t.test('a non-retryable failure goes to error at once', async (t) => {
  const step = stepVolume({ state: 'attaching', attempt: 1 }, { type: 'failed', error: 'no such NQN', retryable: false }, 0);
  t.match(step, { next: { state: 'error', lastError: 'no such NQN' }, actions: [] });
});

t.test('resize and snapshot carry their arguments through retries and return where they began', async (t) => {
  const volume = new Volume({ maxAttempts: 3, initialWaitMs: 10, multiplier: 2, maxWaitMs: 100 });
  volume.state = { state: 'attached', attempt: 0 };
  volume.send({ type: 'resize', sizeMib: 4096 }, 0);
  volume.send({ type: 'failed', error: 'ENOSPC' }, 1);
  volume.send({ type: 'retry' }, 11);
  t.same(
    volume.actions.filter((action) => action.type === 'run'),
    [
      { type: 'run', operation: 'resize', attempt: 1, sizeMib: 4096 },
      { type: 'run', operation: 'resize', attempt: 2, sizeMib: 4096 },
    ],
  );
  volume.send({ type: 'succeeded' }, 12);
  t.same(volume.state, { state: 'attached', attempt: 0 }, 'back to attached');
  volume.state = { state: 'available', attempt: 0 };
  volume.send({ type: 'snapshot', snapshotName: 'daily' }, 20);
  t.match(volume.actions.at(-1), { type: 'run', operation: 'snapshot', snapshotName: 'daily' });
  volume.send({ type: 'succeeded' }, 21);
  t.equal(volume.state.state, 'available');
});

t.test('reconcile outcomes', async (t) => {
  const error: VolumeFsmState = Object.freeze({ state: 'error', attempt: 5, lastError: 'x' });
  const outcomes: [VolumeFsmState, 'absent' | 'exists' | 'attached', VolumeState, string[]][] = [
    [error, 'absent', 'pending', []],
    [error, 'exists', 'available', []],
    [error, 'attached', 'attached', []],
    [{ state: 'creating', attempt: 2 }, 'exists', 'available', []],
    [{ state: 'attaching_failed', attempt: 1, retryAtMs: 99 }, 'attached', 'attached', []],
    [{ state: 'deleting', attempt: 1 }, 'absent', 'deleted', []],
    [{ state: 'deleting_failed', attempt: 3, retryAtMs: 99 }, 'exists', 'deleting', ['delete']],
  ];
  for (const [from, observed, to, runs] of outcomes) {
    const step = stepVolume(from, { type: 'reconcile', observed }, 50)!;
    t.equal(step.next.state, to, `${from.state} + ${observed}`);
    t.same(
      step.actions.map((action) => (action.type === 'run' ? action.operation : action.type)),
      runs,
    );
    t.match(step.record, { from: from.state, to, event: 'reconcile', atMs: 50 });
  }
  t.same(stepVolume(error, { type: 'reconcile', observed: 'exists' }, 0)!.next, { state: 'available', attempt: 0 }, 'error details cleared');
  t.throws(() => stepVolume(error, { type: 'reconcile', observed: 'unreachable' }, 0), { code: 'BACKEND_UNREACHABLE', state: 'error' }, 'SPDK unreachable: stays error (503)');
  t.same(error, { state: 'error', attempt: 5, lastError: 'x' });
});

t.test('the full happy lifecycle', async (t) => {
  const volume = new Volume(DEFAULT_RETRY_POLICY);
  const events: VolumeEvent[] = [{ type: 'create' }, { type: 'succeeded' }, { type: 'attach' }, { type: 'succeeded' }, { type: 'detach' }, { type: 'succeeded' }, { type: 'delete' }, { type: 'succeeded' }];
  events.forEach((event, index) => volume.send(event, index));
  t.same(
    volume.records.map((record) => record.to),
    ['creating', 'available', 'attaching', 'attached', 'detaching', 'available', 'deleting', 'deleted'],
  );
  t.ok(isTerminalVolumeState('deleted'));
  t.notOk(isTerminalVolumeState('available'));
});
