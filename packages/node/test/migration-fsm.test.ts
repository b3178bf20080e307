// Scripted scenarios for the coordinator FSM (etcd rafttest style): each step is an event and the
// actions expected right after it, in order, so a script reads as the protocol's timeline.
//
// The tiny ring (see migration-fixtures.ts): A,B,C → A,B,C,D makes B send (100,200] (transfer 0)
// and C send (200,250] (transfer 1) to D; C releases (100,200] and A releases (200,250].
import t, { type Test } from 'tap';
import { MigrationCoordinatorFsm, type MigrationEvent, type MigrationLimits, type MigrationStatus } from '../src/migration/index.js';
import { ev, record, show, tinyRing } from './migration-fixtures.js';

const START_MS = 1_000;
const STALE_GRACE_MS = 60_000;
const LIMITS: MigrationLimits = {
  prepareTimeoutMs: 5_000,
  proposeTimeoutMs: 3_000,
  retryIntervalMs: 1_000,
  abortBackoffMs: 500,
  transferStallTimeoutMs: 4_000,
  transferRetryDelayMs: 200,
  transferAttemptsMax: 2,
  transfersInFlightMax: 4,
};

type Step = readonly [event: MigrationEvent, expected: readonly string[], state?: Record<string, unknown>];

function fsmOf(self: string): MigrationCoordinatorFsm {
  return new MigrationCoordinatorFsm({ self, buildRing: tinyRing, nowMs: START_MS, staleGraceMs: STALE_GRACE_MS, limits: LIMITS });
}

/** Runs `steps` on a fresh FSM of `self`; each step's actions must be exactly the expected ones. */
function play(t: Test, self: string, steps: readonly Step[]): MigrationCoordinatorFsm {
  const fsm = fsmOf(self);
  steps.forEach(([event, expected, state], index) => {
    const label = `${self} step ${index + 1}: ${event.type}`;
    t.same(fsm.step(event).map(show), expected, label);
    if (state !== undefined) t.match(fsm.state as unknown as Record<string, unknown>, state, `${label}: state`);
  });
  return fsm;
}

const ABC = ['A', 'B', 'C'];
const ABCD = ['A', 'B', 'C', 'D'];
/** The migration adding D, as A proposes it at START_MS. */
const M2 = record(2, ABC, ABCD, 'A', START_MS, ABCD);
const KEY = '2:A:1000';
const T_B = `${KEY}/0#1`;
const T_C = `${KEY}/1#1`;

/** A node that knows ring 1, the live set and that no migration runs. */
const joined = (...live: string[]): Step[] => [
  [ev.ring(1, 0, ...ABC), ['switchRing e1'], { phase: 'idle', ringEpoch: 1 }],
  [ev.members(...live), []],
  [ev.seen(null), []],
];
/** Seeing M2 (no child yet): dual writes on, then prepared/<self>. */
const adopted: Step[] = [
  [ev.seen(M2), [`enableDualWrites ${KEY}`], { phase: 'preparing' }],
  [ev.dualOn(KEY), ['markPrepared']],
];
/** From seeing M2 to the prepare barrier passing. */
const prepared = (startedTransfers: string[]): Step[] => [
  ...adopted,
  [ev.seen(M2, ['A']), []],
  [ev.seen(M2, ABCD), startedTransfers],
];

t.test('happy path, the proposer (A sends nothing, releases (200,250])', async (t) => {
  play(t, 'A', [
    ...joined(...ABCD),
    [ev.target(...ABCD), ['create 2:A:1000 [A,B,C]->[A,B,C,D] p=A,B,C,D'], { phase: 'proposing' }],
    [ev.seen(M2), [`enableDualWrites ${KEY}`], { phase: 'preparing', migration: { key: KEY, proposer: 'A', participants: ABCD } }],
    [ev.dualOn(KEY), ['markPrepared']],
    [ev.tick(1_500), []],
    [ev.tick(2_000), ['markPrepared'], { phase: 'preparing' }], // not seen yet: re-emitted
    [ev.seen(M2, ['A']), [], { phase: 'awaitingPrepared' }],
    [ev.seen(M2, ABCD), ['markDone'], { phase: 'awaitingDone' }],
    [ev.seen(M2, ABCD, ['A', 'D']), []],
    [ev.seen(M2, ABCD, ABCD), ['commit e2 v0'], { phase: 'committing' }],
    [ev.tick(2_500), []],
    [ev.tick(3_000), ['commit e2 v0']], // neither commit nor abort seen: again (duplicates are version-checked)
    [ev.ring(2, 1, ...ABCD), ['switchRing e2', 'disableDualWrites', 'release (200,250] at 63000'], { phase: 'idle', ringEpoch: 2, migration: null }],
    [ev.seen(null), []],
    [ev.tick(10_000), []],
  ]);
});

t.test('happy path, a follower that sends (B)', async (t) => {
  play(t, 'B', [
    ...joined(...ABCD),
    ...prepared([`start ${T_B} B->D (100,200]`]),
    [ev.progress(T_B, 4096, 1), [], { phase: 'transferring', migration: { progress: { transfersTotal: 1, transfersRunning: 1, bytesMoved: 4096, remainingRatio: 1 } } }],
    [ev.progress('2:A:999/0#1', 1, 1), []], // another migration's stream: ignored
    [ev.done(T_B, 8192, 2), ['markDone'], { phase: 'awaitingDone', migration: { progress: { transfersDone: 1, bytesMoved: 8192, blocksMoved: 2, remainingRatio: 0 } } }],
    [ev.seen(M2, ABCD, ['A', 'B']), []],
    [ev.seen(M2, ABCD, ABCD), ['commit e2 v0']],
    [ev.ring(2, 1, ...ABCD), ['switchRing e2', 'disableDualWrites']], // B keeps all it had
    [ev.seen(null), [], { phase: 'idle' }],
  ]);
});

t.test('NODE_EXISTS on propose: C follows A\'s migration and releases (100,200] at commit + staleGraceMs', async (t) => {
  play(t, 'C', [
    ...joined(...ABCD),
    [ev.target(...ABCD), ['create 2:C:1000 [A,B,C]->[A,B,C,D] p=A,B,C,D']],
    [ev.exists(), [], { phase: 'proposing' }],
    ...prepared([`start ${T_C} C->D (200,250]`]),
    [ev.tick(4_777), []], // under transferStallTimeoutMs since the start
    [ev.done(T_C), ['markDone']],
    [ev.seen(M2, ABCD, ABCD), ['commit e2 v0']],
    [ev.ring(2, 1, ...ABCD), ['switchRing e2', 'disableDualWrites', 'release (100,200] at 64777']],
  ]);
});

t.test('a target adding a node that is not live is not proposed (it could receive nothing)', async (t) => {
  play(t, 'A', [
    ...joined(...ABC),
    [ev.target(...ABCD), [], { phase: 'idle', queuedTarget: ABCD }],
    [ev.tick(10_000), []],
    [ev.members(...ABCD), ['create 2:A:10000 [A,B,C]->[A,B,C,D] p=A,B,C,D'], { phase: 'proposing' }],
  ]);
});

t.test('a proposal that failed is made again after retryIntervalMs; one never seen, after proposeTimeoutMs', async (t) => {
  play(t, 'A', [
    ...joined(...ABCD),
    [ev.target(...ABCD), ['create 2:A:1000 [A,B,C]->[A,B,C,D] p=A,B,C,D']],
    [ev.proposeError(), [], { phase: 'idle' }],
    [ev.tick(1_999), []],
    [ev.tick(2_000), ['create 2:A:2000 [A,B,C]->[A,B,C,D] p=A,B,C,D'], { phase: 'proposing' }],
    [ev.exists(), []],
    [ev.tick(4_999), []],
    [ev.tick(5_000), ['create 2:A:5000 [A,B,C]->[A,B,C,D] p=A,B,C,D']],
  ]);
});

t.test('a participant lost in prepare aborts; dual writes stop once the record is gone', async (t) => {
  play(t, 'A', [
    ...joined(...ABCD),
    ...adopted,
    [ev.seen(M2, ['A', 'B']), []],
    [ev.members(...ABC), [`abort ${KEY} participantLost D`], { phase: 'aborting', migration: { abortReason: 'participantLost' } }],
    [ev.seen(M2, ['A', 'B', 'C']), []],
    [ev.tick(2_000), [`abort ${KEY} participantLost D`]],
    [ev.seen(null), ['disableDualWrites'], { phase: 'idle', ringEpoch: 1, migration: null }],
    [ev.target(), []], // D is neither live nor in the ring: nothing to do
    [ev.tick(9_000), []],
  ]);
});

t.test('not every participant prepared within prepareTimeoutMs: abort', async (t) => {
  play(t, 'A', [
    ...joined(...ABCD),
    ...adopted,
    [ev.seen(M2, ['A', 'C']), []],
    [ev.tick(5_999), []],
    [ev.tick(6_000), [`abort ${KEY} prepareTimeout B,D`]],
  ]);
});

t.test('a participant lost in transfer aborts, then a new migration is planned from the live set', async (t) => {
  const M2b = record(2, ABC, ABCD, 'B', 1_550, ABCD);
  play(t, 'B', [
    ...joined(...ABCD),
    ...prepared([`start ${T_B} B->D (100,200]`]),
    [ev.target(...ABCD), []], // the running migration already goes there
    [ev.members('A', 'B', 'D'), [`abort ${KEY} participantLost C`, 'stopTransfers']],
    [ev.done(T_B), []], // too late: the attempt was stopped
    [ev.seen(null), ['disableDualWrites'], { phase: 'idle' }],
    [ev.tick(1_499), []], // abortBackoffMs
    // RF 2: with C down, the arc C keeps and D gains would have one live owner of two: below a
    // quorum, so no migration is proposed (plan.ts undersupplied) until C is back or removed.
    [ev.tick(1_500), [], { phase: 'idle', queuedTarget: ABCD, undersuppliedRanges: 1 }],
    [ev.tick(1_550), [], { phase: 'idle' }],
    [ev.members(...ABCD), ['create 2:B:1550 [A,B,C]->[A,B,C,D] p=A,B,C,D']],
    [ev.seen(M2b), ['enableDualWrites 2:B:1550'], { migration: { unsourcedRanges: 0 } }],
    [ev.dualOn('2:B:1550'), ['markPrepared']],
    [ev.seen(M2b, ABCD), ['start 2:B:1550/0#1 B->D (100,200]']],
    [ev.done('2:B:1550/0#1'), ['markDone']],
    [ev.seen(M2b, ABCD, ABCD), ['commit e2 v0']],
    [ev.ring(2, 1, ...ABCD), ['switchRing e2', 'disableDualWrites']],
  ]);
});

t.test('a ring change that would leave an arc below a quorum of live owners waits, and says so', async (t) => {
  const fsm = play(t, 'B', [
    [ev.ring(1, 0, ...ABC), ['switchRing e1']],
    [ev.members('A', 'B', 'D'), []], // C is down (inside its grace: still in the ring)
    [ev.seen(null), []],
    [ev.target(...ABCD), []],
    [ev.tick(START_MS + 10_000), []],
  ]);
  t.ok(fsm.state.undersuppliedRanges > 0, `${fsm.state.undersuppliedRanges} arcs would have fewer live owners than a quorum`);
  t.same(fsm.state.queuedTarget, ABCD, 'the target stays queued');
  t.same(fsm.step(ev.members(...ABCD)).map((action) => action.type), ['createMigration'], 'proposed once C is back');
});

t.test('the proposer dying after it marked done changes nothing: the others commit', async (t) => {
  play(t, 'B', [
    ...joined(...ABCD),
    ...prepared([`start ${T_B} B->D (100,200]`]),
    [ev.seen(M2, ABCD, ['A']), []],
    [ev.members('B', 'C', 'D'), [], { phase: 'transferring' }],
    [ev.done(T_B), ['markDone']],
    [ev.seen(M2, ABCD, ABCD), ['commit e2 v0']],
    [ev.ring(2, 1, ...ABCD), ['switchRing e2', 'disableDualWrites']],
  ]);
});

t.test('the proposer dying before it marked done aborts', async (t) => {
  play(t, 'B', [
    ...joined(...ABCD),
    ...prepared([`start ${T_B} B->D (100,200]`]),
    [ev.members('B', 'C', 'D'), [`abort ${KEY} participantLost A`, 'stopTransfers']],
  ]);
});

t.test('a receiver going down after it marked done aborts the transfers to it', async (t) => {
  play(t, 'B', [
    ...joined(...ABCD),
    ...prepared([`start ${T_B} B->D (100,200]`]),
    [ev.seen(M2, ABCD, ['D']), []], // D sends nothing: done at once
    [ev.members(...ABC), [`abort ${KEY} receiverLost D`, 'stopTransfers']],
  ]);
});

t.test('a live-set change mid-migration is batched into the next migration', async (t) => {
  play(t, 'A', [
    ...joined(...ABCD),
    [ev.target(...ABCD), ['create 2:A:1000 [A,B,C]->[A,B,C,D] p=A,B,C,D']],
    ...prepared(['markDone']),
    [ev.members('A', 'B', 'C', 'D', 'E'), []],
    [ev.target('A', 'B', 'C', 'D', 'E'), [], { queuedTarget: ['A', 'B', 'C', 'D', 'E'] }],
    [ev.seen(M2, ABCD, ABCD), ['commit e2 v0']],
    [ev.tick(1_200), []],
    [ev.ring(2, 1, ...ABCD), ['switchRing e2', 'disableDualWrites', 'release (200,250] at 61200']],
    [ev.seen(null), ['create 3:A:1200 [A,B,C,D]->[A,B,C,D,E] p=A,B,C,D,E']],
  ]);
});

t.test('a node that is not a participant prepares, observes, and commits once the participants are done', async (t) => {
  play(t, 'E', [
    ...joined('A', 'B', 'C', 'D', 'E'),
    [ev.seen(M2, ['A']), [`enableDualWrites ${KEY}`], { phase: 'preparing' }],
    [ev.dualOn(KEY), ['markPrepared']],
    [ev.seen(M2, ['A', 'E']), [], { phase: 'observing' }],
    [ev.seen(M2, [...ABCD, 'E'], ['A', 'B', 'D']), [], { phase: 'observing' }],
    [ev.seen(M2, [...ABCD, 'E'], ABCD), ['commit e2 v0'], { phase: 'committing' }],
    [ev.ring(2, 1, ...ABCD), ['switchRing e2', 'disableDualWrites'], { phase: 'idle' }],
  ]);
});

t.test('the prepare barrier also waits for members live in this node\'s view', async (t) => {
  play(t, 'B', [
    ...joined('A', 'B', 'C', 'D', 'E'), // E is live but the proposer did not see it
    ...adopted,
    [ev.seen(M2, ABCD), [], { phase: 'awaitingPrepared' }],
    [ev.seen(M2, [...ABCD, 'E']), [`start ${T_B} B->D (100,200]`]],
  ]);
  play(t, 'B', [
    ...joined('A', 'B', 'C', 'D', 'E'),
    ...adopted,
    [ev.seen(M2, ABCD), []],
    [ev.tick(6_000), [`abort ${KEY} prepareTimeout E`]],
  ]);
});

t.test('a failed transfer is retried after transferRetryDelayMs, then the migration aborts', async (t) => {
  play(t, 'B', [
    ...joined(...ABCD),
    ...prepared([`start ${T_B} B->D (100,200]`]),
    [ev.failed(T_B), [], { migration: { transfers: [{ state: 'retryWait', attempts: 1 }] } }],
    [ev.tick(1_199), []],
    [ev.tick(1_200), [`start ${KEY}/0#2 B->D (100,200]`]],
    [ev.failed(T_B), []], // the first attempt again: stale
    [ev.failed(`${KEY}/0#2`), [`abort ${KEY} transferFailed D`]],
    [ev.seen(null), ['disableDualWrites']],
  ]);
});

t.test('a stalled transfer is cancelled and counts as a failed attempt', async (t) => {
  play(t, 'B', [
    ...joined(...ABCD),
    ...prepared([`start ${T_B} B->D (100,200]`]),
    [ev.tick(3_000), []],
    [ev.progress(T_B, 100, 1), []],
    [ev.tick(6_999), []], // 4 s since the last progress only at 7 000
    [ev.tick(7_000), [`cancel ${T_B}`]],
    [ev.tick(7_200), [`start ${KEY}/0#2 B->D (100,200]`]],
    [ev.tick(11_200), [`cancel ${KEY}/0#2`, `abort ${KEY} transferFailed D`]],
  ]);
});

t.test('a restarted participant whose done/ exists does not send again', async (t) => {
  play(t, 'B', [
    ...joined(...ABCD),
    [ev.seen(M2, ABCD, ['B']), [`enableDualWrites ${KEY}`]],
    [ev.dualOn(KEY), [], { phase: 'awaitingDone' }], // prepared/B exists already: no markPrepared
    [ev.seen(M2, ABCD, ABCD), ['commit e2 v0']],
  ]);
});

t.test('records that do not continue the committed ring', async (t) => {
  const M3 = record(3, ABCD, ['A', 'B', 'C', 'D', 'E'], 'D', 5_000, ['A', 'B', 'C', 'D', 'E']);
  const fsm = play(t, 'A', [
    ...joined('A', 'B', 'C', 'D', 'E'),
    // A record one epoch ahead: this node's ring lags; it waits for the ring watch.
    [ev.seen(M3), []],
    [ev.ring(2, 1, ...ABCD), ['switchRing e2', 'release (200,250] at 61000', 'enableDualWrites 3:D:5000'], { phase: 'preparing' }],
  ]);
  t.equal(fsm.state.migration?.epoch, 3);

  play(t, 'A', [
    [ev.ring(2, 1, ...ABCD), ['switchRing e2']],
    [ev.members(...ABCD), []],
    // Right after a commit the committed record is still seen until its deletion arrives: not touched.
    [ev.seen(M2, ABCD, ABCD), []],
    [ev.tick(1_999), []],
    // Still there after retryIntervalMs: a leftover, removed.
    [ev.tick(2_000), [`abort ${KEY} stale`]],
    [ev.tick(2_500), []],
    [ev.tick(3_000), [`abort ${KEY} stale`]],
    [ev.seen(null), [], { phase: 'idle' }],
  ]);
});

t.test('state before any ring', async (t) => {
  const fsm = fsmOf('A');
  t.same(fsm.step(ev.members('A')), []);
  t.same(fsm.step(ev.target('A', 'B')), [], 'no proposal without a committed ring');
  const state: MigrationStatus = fsm.state;
  t.same(state, { phase: 'idle', ringEpoch: 0, migration: null, queuedTarget: null, undersuppliedRanges: 0 });
  t.throws(() => fsm.step(ev.tick(START_MS - 1)), /time went back/);
});
