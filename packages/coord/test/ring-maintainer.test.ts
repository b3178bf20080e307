import t from 'tap';
import { pino } from 'pino';
import { RingMaintainer, type ClusterMembership, type CommittedRing } from '../src/index.js';
import { membersBecome, memberInfo, startMember, startTestZooKeeper, TEST_CONFIG, waitForEvent, type Teardown } from './helpers.js';

const EVENT_WAIT_MS = 10_000;

function maintain(t: Teardown, membership: ClusterMembership, clock?: () => number): RingMaintainer {
  const maintainer = new RingMaintainer({ membership, logger: pino({ level: 'silent' }), clock, recheckIntervalMsMax: 500 });
  maintainer.start();
  t.teardown(() => maintainer.stop());
  return maintainer;
}

/** Resolves with the ring once `membership` holds one matching `accept`. */
async function ringWhere(membership: ClusterMembership, accept: (ring: CommittedRing) => boolean): Promise<CommittedRing> {
  const current = membership.committedRing();
  if (current !== undefined && accept(current)) return current;
  const [ring] = await waitForEvent<[CommittedRing | undefined]>(membership, 'ring', EVENT_WAIT_MS, (ring) => ring !== undefined && accept(ring));
  return ring!;
}

const names = (ring: CommittedRing): string => ring.nodes.map((node) => node.name).join();

t.test('ring maintenance', async (t) => {
  const zk = await startTestZooKeeper(t);
  const base = { connect: zk.connect };

  t.test('the first node creates epoch 1; a new live member is added (epoch 2)', async (t) => {
    const cluster = 'grow';
    const a = await startMember(t, { ...base, cluster, name: 'node-a' });
    maintain(t, a);
    const first = await ringWhere(a, () => true);
    t.equal(first.epoch, 1);
    t.same(first.nodes, [{ name: 'node-a', addr: '127.0.0.1:3000' }]);
    t.equal(first.version, 0);

    const b = await startMember(t, { ...base, cluster, name: 'node-b', self: { ...memberInfo('node-b', 3001), zone: 'z2' } });
    maintain(t, b);
    const second = await ringWhere(a, (ring) => ring.epoch === 2);
    t.same(second.nodes, [
      { name: 'node-a', addr: '127.0.0.1:3000' },
      { name: 'node-b', addr: '127.0.0.1:3001', zone: 'z2' },
    ]);
    const seenByB = await ringWhere(b, (ring) => ring.epoch === 2);
    t.equal(seenByB.version, second.version);
  });

  t.test('commitRing is version-checked: of two commits on one version only one wins', async (t) => {
    const cluster = 'race';
    const a = await startMember(t, { ...base, cluster, name: 'node-a' });
    const b = await startMember(t, { ...base, cluster, name: 'node-b' });
    t.ok(await a.createRingIfAbsent([{ name: 'node-a', addr: '127.0.0.1:3000' }]));
    t.notOk(await b.createRingIfAbsent([{ name: 'node-b', addr: '127.0.0.1:3001' }]), 'exists already');
    const ring = await ringWhere(b, (ring) => ring.epoch === 1);
    const outcomes = await Promise.all([
      a.commitRing(ring.version, [{ name: 'node-a', addr: '127.0.0.1:3000' }, { name: 'node-b', addr: '127.0.0.1:3001' }]),
      b.commitRing(ring.version, [{ name: 'node-b', addr: '127.0.0.1:3001' }]),
    ]);
    t.same(outcomes.filter(Boolean).length, 1, 'exactly one commit wins');
    const next = await ringWhere(a, (ring) => ring.epoch === 2);
    t.equal(next.version, ring.version + 1);
    t.notOk(await a.commitRing(ring.version, [{ name: 'node-a', addr: '127.0.0.1:3000' }]), 'a stale version loses');
    await t.rejects(a.commitRing(next.version, []), { code: 'BAD_ARGUMENT' });
  });

  t.test('a vanished member stays in the ring until downGraceMs has passed', async (t) => {
    const cluster = 'shrink';
    const a = await startMember(t, { ...base, cluster, name: 'node-a' });
    const b = await startMember(t, { ...base, cluster, name: 'node-b' });
    maintain(t, a);
    maintain(t, b);
    const both = await ringWhere(a, (ring) => names(ring) === 'node-a,node-b');

    await b.stop();
    await membersBecome(a, ['node-a']);
    const vanishedAt = Date.now();
    t.equal(a.committedRing()?.epoch, both.epoch, 'down, not gone: still in the ring');
    const shrunk = await ringWhere(a, (ring) => names(ring) === 'node-a');
    const waitedMs = Date.now() - vanishedAt;
    t.equal(shrunk.epoch, both.epoch + 1);
    t.ok(waitedMs >= TEST_CONFIG.downGraceMs - 100, `removed after the grace (${waitedMs} ms)`);
  });

  t.test('coming back within the grace does not change the epoch', async (t) => {
    const cluster = 'restart';
    let nowMs = 1_000_000;
    const clock = (): number => nowMs;
    const a = await startMember(t, { ...base, cluster, name: 'node-a' });
    const b = await startMember(t, { ...base, cluster, name: 'node-b' });
    const maintainer = maintain(t, a, clock);
    const both = await ringWhere(a, (ring) => names(ring) === 'node-a,node-b');

    await b.stop();
    await membersBecome(a, ['node-a']);
    await maintainer.recheck();
    t.same([...maintainer.downSince()], [['node-b', nowMs]], 'down since it vanished');
    nowMs += TEST_CONFIG.downGraceMs / 2;
    await maintainer.recheck();
    t.equal(a.committedRing()?.epoch, both.epoch, 'inside the grace: unchanged');

    const again = await startMember(t, { ...base, cluster, name: 'node-b' });
    await membersBecome(a, ['node-a', 'node-b']);
    await maintainer.recheck();
    t.same([...maintainer.downSince()], [], 'back up');
    nowMs += TEST_CONFIG.downGraceMs * 10;
    await maintainer.recheck();
    t.equal(a.committedRing()?.epoch, both.epoch, 'long after the grace: still the same epoch');
    t.ok(again.ringConfirmed());
  });

  t.test('a member that comes back with another address is updated in the ring', async (t) => {
    const cluster = 'moved';
    const a = await startMember(t, { ...base, cluster, name: 'node-a' });
    const b = await startMember(t, { ...base, cluster, name: 'node-b', self: memberInfo('node-b', 3001) });
    maintain(t, a);
    const both = await ringWhere(a, (ring) => names(ring) === 'node-a,node-b');
    await b.stop();
    await startMember(t, { ...base, cluster, name: 'node-b', self: memberInfo('node-b', 4001) });
    const moved = await ringWhere(a, (ring) => ring.nodes.some((node) => node.addr === '127.0.0.1:4001'));
    t.equal(moved.epoch, both.epoch + 1);
    t.equal(names(moved), 'node-a,node-b');
  });

  t.test('a change handed to apply is withdrawn once the live set no longer calls for it', async (t) => {
    // The migration executor's apply only records a target (the ring moves when a migration
    // commits): a joiner that dies before that must not stay the target.
    const cluster = 'withdrawn';
    const a = await startMember(t, { ...base, cluster, name: 'node-a' });
    const calls: string[] = [];
    const maintainer = new RingMaintainer({
      membership: a,
      logger: pino({ level: 'silent' }),
      recheckIntervalMsMax: 500,
      apply: async (_current, nodes) => {
        calls.push(`apply ${nodes.map((node) => node.name).join()}`);
        return true;
      },
      settled: () => {
        if (calls.at(-1) !== 'settled') calls.push('settled');
      },
    });
    maintainer.start();
    t.teardown(() => maintainer.stop());
    await ringWhere(a, () => true);
    await maintainer.recheck();
    t.same(calls, ['settled'], 'the ring holds every live member: nothing to change');
    const b = await startMember(t, { ...base, cluster, name: 'node-b' });
    await membersBecome(a, ['node-a', 'node-b']);
    await maintainer.recheck();
    t.equal(calls.at(-1), 'apply node-a,node-b', 'the joiner is asked for');
    await b.stop();
    await membersBecome(a, ['node-a']);
    await maintainer.recheck();
    t.equal(calls.at(-1), 'settled', 'the joiner died before the change was made: withdrawn');
  });
});
