import t from 'tap';
import { startZooKeeper, ZkClient, type MembershipState } from '../src/index.js';
import { capturingLogger, membersBecome, SESSION_TIMEOUT_MS, startMember, startTcpProxy, startTestZooKeeper, tempDir, TICK_TIME_MS, waitForEvent } from './helpers.js';

const EVENT_WAIT_MS = 15_000;

function stateBecomes(membership: Parameters<typeof waitForEvent>[0], state: MembershipState): Promise<unknown> {
  return waitForEvent<[{ state: MembershipState }]>(membership, 'state', EVENT_WAIT_MS, (event) => event.state === state);
}

t.test('session expiry: the membership re-registers with a new session', async (t) => {
  const zk = await startTestZooKeeper(t);
  const proxy = await startTcpProxy(t, zk.port);
  const cluster = 'expiry';
  const a = await startMember(t, { connect: proxy.connect, cluster, name: 'node-a' });
  const b = await startMember(t, { connect: zk.connect, cluster, name: 'node-b' });
  await membersBecome(a, ['node-a', 'node-b']);
  t.ok(await b.createRingIfAbsent([{ name: 'node-a', addr: '127.0.0.1:3000' }]));
  const oldSession = a.sessionId!;

  const disconnected = stateBecomes(a, 'disconnected');
  proxy.block();
  await disconnected;
  t.ok(a.ringConfirmed(), 'a short disconnection keeps the ring confirmed (lease still runs)');
  // End A's session on the server, as its expiry would: attach to it and close it.
  const thief = await ZkClient.connect(zk.connect, { sessionTimeoutMs: SESSION_TIMEOUT_MS, connectTimeoutMs: 5_000, session: a.client!.sessionCredentials() });
  await thief.close();
  await membersBecome(b, ['node-b']);

  const expired = stateBecomes(a, 'expired');
  const reregistered = stateBecomes(a, 'reregistered');
  proxy.unblock();
  await expired;
  t.notOk(a.ringConfirmed(), 'not confirmed while re-registering');
  await reregistered;
  t.not(a.sessionId, oldSession, 'a new session');
  t.ok(a.ringConfirmed(), 'confirmed again after re-registering and re-reading');
  t.equal(a.committedRing()?.epoch, 1);
  await membersBecome(b, ['node-a', 'node-b']);
  t.same([...a.liveMembers().keys()], ['node-a', 'node-b']);
  const stat = await b.client!.exists('/ringblock/expiry/members/node-a');
  t.equal(stat?.ephemeralOwner, a.sessionId, 'registered by the new session');
});

t.test('ringConfirmed goes false while ZooKeeper is down longer than the session timeout, true once back', async (t) => {
  const dataDir = tempDir(t, 'zk-fence');
  const first = await startZooKeeper({ dataDir, tickTimeMs: TICK_TIME_MS });
  t.teardown(() => first.stop());
  const a = await startMember(t, { connect: first.connect, cluster: 'fence', name: 'node-a' });
  t.ok(await a.createRingIfAbsent([{ name: 'node-a', addr: '127.0.0.1:3000' }]));
  t.ok(a.ringConfirmed());

  const unconfirmed = waitForEvent<[{ confirmed: boolean }]>(a, 'fence', EVENT_WAIT_MS, (event) => !event.confirmed);
  await first.stop();
  const stoppedAt = Date.now();
  t.ok(a.ringConfirmed(), 'still confirmed right after the server went away');
  await unconfirmed;
  const unconfirmedAfterMs = Date.now() - stoppedAt;
  t.ok(unconfirmedAfterMs <= SESSION_TIMEOUT_MS + 1_000, `fenced within the session timeout (${unconfirmedAfterMs} ms)`);
  t.notOk(a.ringConfirmed());

  const confirmed = waitForEvent<[{ confirmed: boolean }]>(a, 'fence', EVENT_WAIT_MS, (event) => event.confirmed);
  const second = await startZooKeeper({ dataDir, port: first.port, tickTimeMs: TICK_TIME_MS });
  t.teardown(() => second.stop());
  await confirmed;
  t.ok(a.ringConfirmed());
  t.equal(a.committedRing()?.epoch, 1, 'the ring (kept by the restarted server) was read again');
});

t.test('a frozen ZooKeeper (no TCP close) also fences, and the client drops the silent connection', async (t) => {
  const zk = await startTestZooKeeper(t);
  const { logger, records } = capturingLogger();
  const a = await startMember(t, { connect: zk.connect, cluster: 'frozen', name: 'node-a', logger });
  t.ok(await a.createRingIfAbsent([{ name: 'node-a', addr: '127.0.0.1:3000' }]));

  const unconfirmed = waitForEvent<[{ confirmed: boolean }]>(a, 'fence', EVENT_WAIT_MS, (event) => !event.confirmed);
  zk.kill('SIGSTOP');
  t.teardown(() => zk.kill('SIGCONT'));
  await unconfirmed;
  t.ok(
    records.some((record) => String(record['msg']).startsWith('ZooKeeper does not answer')),
    'the heartbeat noticed the silence',
  );
  const confirmed = waitForEvent<[{ confirmed: boolean }]>(a, 'fence', EVENT_WAIT_MS, (event) => event.confirmed);
  zk.kill('SIGCONT');
  await confirmed;
  t.ok(a.ringConfirmed());
});
