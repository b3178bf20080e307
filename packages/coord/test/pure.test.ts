// Pure pieces: the fence rule, record validation, the coalesced task.
import t from 'tap';
import { CoalescedTask, CoordError, canonicalRingNodes, configDifferences, parseClusterConfig, parseMemberInfo, parseRingRecord, retryTransient, ringConfirmedAt } from '../src/index.js';
import { memberInfo, TEST_CONFIG } from './helpers.js';

t.test('ringConfirmedAt', async (t) => {
  const never = Number.NEGATIVE_INFINITY;
  const rows: [string, number, { leaseUntil: number; leaseLapsedAt: number }, number, boolean][] = [
    ['inside the lease, ring read', 100, { leaseUntil: 200, leaseLapsedAt: never }, 50, true],
    ['never read the ring', 100, { leaseUntil: 200, leaseLapsedAt: never }, never, false],
    ['no answer yet', 100, { leaseUntil: never, leaseLapsedAt: never }, 50, false],
    ['lease ran out', 200, { leaseUntil: 200, leaseLapsedAt: never }, 50, false],
    ['lapsed, ring read before the lapse', 300, { leaseUntil: 400, leaseLapsedAt: 200 }, 150, false],
    ['lapsed, ring read again after it', 300, { leaseUntil: 400, leaseLapsedAt: 200 }, 250, true],
  ];
  for (const [name, now, lease, ringReadSentAt, expected] of rows) t.equal(ringConfirmedAt(now, lease, ringReadSentAt), expected, name);
});

t.test('records are validated when read', async (t) => {
  t.same(parseMemberInfo(JSON.parse(JSON.stringify(memberInfo('node-1')))).name, 'node-1');
  t.throws(() => parseMemberInfo({ ...memberInfo('node-1'), usedBytes: -1 }), { code: 'BAD_DATA' });
  t.throws(() => parseMemberInfo({ ...memberInfo('node/1') }), { code: 'BAD_DATA' });
  t.same(parseClusterConfig({ ...TEST_CONFIG, extra: true }), TEST_CONFIG);
  t.throws(() => parseClusterConfig({ ...TEST_CONFIG, vnodes: 0 }), { code: 'BAD_DATA' });
  t.throws(() => parseClusterConfig([]), { code: 'BAD_DATA' });
  t.same(configDifferences(TEST_CONFIG, { ...TEST_CONFIG, replicationFactor: 2 }), ['replicationFactor']);
  t.same(parseRingRecord({ epoch: 3, nodes: [{ name: 'b', addr: 'b:1', zone: '' }, { name: 'a', addr: 'a:1', zone: 'z' }] }), {
    epoch: 3,
    nodes: [
      { name: 'a', addr: 'a:1', zone: 'z' },
      { name: 'b', addr: 'b:1' },
    ],
  });
  t.throws(() => parseRingRecord({ epoch: 0, nodes: [] }), { code: 'BAD_DATA' });
  t.throws(() => parseRingRecord({ epoch: 1, nodes: [{ name: 'a', addr: 'x' }, { name: 'a', addr: 'y' }] }), { code: 'BAD_DATA' });
  t.throws(() => canonicalRingNodes([{ name: 'a', addr: 'x' }, { name: 'a', addr: 'y' }]), { code: 'BAD_DATA' });
});

t.test('CoalescedTask runs serially and coalesces triggers', async (t) => {
  let runs = 0;
  let concurrent = 0;
  let release!: () => void;
  let gate = new Promise<void>((resolve) => (release = resolve));
  const task = new CoalescedTask(async () => {
    runs++;
    concurrent++;
    t.equal(concurrent, 1, 'never overlaps');
    await gate;
    concurrent--;
  });
  task.trigger();
  task.trigger();
  task.trigger();
  const firstGate = release;
  gate = Promise.resolve();
  firstGate();
  await task.idle();
  t.equal(runs, 2, 'three triggers during one run: one more run');
  task.close();
  task.trigger();
  await task.idle();
  t.equal(runs, 2, 'no runs after close');
});

t.test('retryTransient retries only transient ZooKeeper errors, within its bounds', async (t) => {
  let calls = 0;
  const flaky = async () => {
    if (++calls < 3) throw new CoordError('CONNECTION_LOSS', 'connection lost');
    return 'read';
  };
  const retried: number[] = [];
  t.equal(await retryTransient(flaky, { withinMs: 5_000, pauseMs: 1, onRetry: (_error, attempt) => retried.push(attempt) }), 'read');
  t.same(retried, [1, 2], 'two transient failures, then the answer');

  let other = 0;
  await t.rejects(retryTransient(async () => { other++; throw new CoordError('NO_AUTH', 'denied'); }, { withinMs: 5_000, pauseMs: 1 }), { code: 'NO_AUTH' });
  t.equal(other, 1, 'a permanent error is not retried');

  let bounded = 0;
  await t.rejects(retryTransient(async () => { bounded++; throw new CoordError('OPERATION_TIMEOUT', 'no answer'); }, { withinMs: 5_000, attemptsMax: 4, pauseMs: 1 }), { code: 'OPERATION_TIMEOUT' });
  t.equal(bounded, 4, 'at most attemptsMax attempts');
});
