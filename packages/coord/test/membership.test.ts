import t from 'tap';
import { ZkClient, clusterPaths, type MemberInfo } from '../src/index.js';
import { capturingLogger, memberInfo, membersBecome, newMember, rejection, startMember, startTestZooKeeper, TEST_CONFIG, waitForEvent } from './helpers.js';

t.test('cluster membership', async (t) => {
  const zk = await startTestZooKeeper(t);
  const base = { connect: zk.connect };

  t.test('two members register and see each other', async (t) => {
    const cluster = 'pair';
    const a = await startMember(t, { ...base, cluster, name: 'node-a' });
    t.same([...a.liveMembers().keys()], ['node-a']);
    const b = await startMember(t, { ...base, cluster, name: 'node-b', self: memberInfo('node-b', 3001) });
    await membersBecome(a, ['node-a', 'node-b']);
    t.same([...b.liveMembers().keys()], ['node-a', 'node-b']);
    t.equal(a.liveMembers().get('node-b')?.addr, '127.0.0.1:3001');
    t.same(b.config, TEST_CONFIG);
    t.ok(a.ringConfirmed(), 'ring confirmed (there is no ring yet, and that is known)');
    t.equal(a.committedRing(), undefined);

    const client = await ZkClient.connect(zk.connect, { sessionTimeoutMs: 4_000, connectTimeoutMs: 5_000 });
    t.teardown(() => client.close());
    const paths = clusterPaths(cluster);
    const stat = await client.exists(paths.member('node-a'));
    t.equal(stat?.ephemeralOwner, a.sessionId, 'ephemeral, owned by its session');
    // DESIGN §3 field by field: a node without a zone stores `zone: null`, not no key.
    const stored = JSON.parse((await client.getIfExists(paths.member('node-a')))!.data.toString('utf8')) as Record<string, unknown>;
    t.same(Object.keys(stored).sort(), ['addr', 'backing', 'capacityBytes', 'name', 'startedAt', 'usedBytes', 'version', 'zone']);
    t.equal(stored['zone'], null);
    t.ok(await a.createRingIfAbsent([{ name: 'node-a', addr: '127.0.0.1:3000' }, { name: 'node-b', addr: '127.0.0.1:3001', zone: 'z1' }]));
    const ring = JSON.parse((await client.getIfExists(paths.ring))!.data.toString('utf8')) as Record<string, unknown>;
    t.same(ring, { epoch: 1, nodes: [{ name: 'node-a', addr: '127.0.0.1:3000', zone: null }, { name: 'node-b', addr: '127.0.0.1:3001', zone: 'z1' }] });
    t.same(a.committedRing()?.nodes ?? (await waitForEvent(a, 'ring', 5_000), a.committedRing()?.nodes), [{ name: 'node-a', addr: '127.0.0.1:3000' }, { name: 'node-b', addr: '127.0.0.1:3001', zone: 'z1' }], 'read back: null is no zone');

    await b.stop();
    await membersBecome(a, ['node-a']);
    t.equal(await client.exists(paths.member('node-b')), undefined, 'stop removes the member znode');
    t.notOk(b.ringConfirmed());
  });

  t.test('member updates reach the others', async (t) => {
    const cluster = 'updates';
    const a = await startMember(t, { ...base, cluster, name: 'node-a', memberUpdateIntervalMs: 200 });
    const b = await startMember(t, { ...base, cluster, name: 'node-b' });
    await membersBecome(a, ['node-a', 'node-b']);
    const seen = waitForEvent<[ReadonlyMap<string, MemberInfo>]>(a, 'members', 5_000, (members) => members.get('node-b')?.usedBytes === 4096 * 3);
    // Three updates in a row are merged into at most two writes; all resolve true.
    const written = await Promise.all([b.updateMember({ usedBytes: 4096 }), b.updateMember({ usedBytes: 4096 * 2 }), b.updateMember({ usedBytes: 4096 * 3 })]);
    t.same(written, [true, true, true]);
    await seen;
    t.equal(b.self.usedBytes, 4096 * 3);
    t.throws(() => void b.updateMember({ addr: '' }), { code: 'BAD_ARGUMENT' });
  });

  t.test('config is created once; a node with other settings follows it and says so', async (t) => {
    const cluster = 'config';
    await startMember(t, { ...base, cluster, name: 'node-a' });
    const { logger, records } = capturingLogger();
    const local = { ...TEST_CONFIG, vnodes: 64, downGraceMs: 9_000 };
    const b = await startMember(t, { ...base, cluster, name: 'node-b', localConfig: local, logger });
    t.same(b.config, TEST_CONFIG, 'follows the stored config');
    const warning = records.find((record) => record['level'] === 40 && Array.isArray(record['differing']));
    t.ok(warning, 'logged a warning');
    t.same(warning?.['differing'], ['vnodes', 'downGraceMs']);
    t.match(String(warning?.['msg']), /vnodes, downGraceMs; following ZooKeeper/);
    t.same(warning?.['stored'], { vnodes: 16, downGraceMs: 1_500 });
    t.same(warning?.['local'], { vnodes: 64, downGraceMs: 9_000 });
  });

  t.test('a node with another cluster token is refused before it registers; the same token joins', async (t) => {
    const cluster = 'tokens';
    const first = await startMember(t, { ...base, cluster, name: 'node-a', clusterSecret: 'the-right-token-0123' });
    const wrong = newMember(t, { ...base, cluster, name: 'node-b', clusterSecret: 'another-token-45678' });
    const error = await rejection(wrong.start());
    t.equal(error.code, 'SECRET_MISMATCH');
    t.match(error.message, /cluster token \(RINGBLOCK_TOKEN\) is not the one cluster tokens was created with/);
    t.same([...first.liveMembers().keys()], ['node-a'], 'the refused node never registered');
    const client = await ZkClient.connect(zk.connect, { sessionTimeoutMs: 4_000, connectTimeoutMs: 5_000 });
    t.teardown(() => client.close());
    const stored = JSON.parse((await client.getIfExists(clusterPaths(cluster).tokenCheck))!.data.toString('utf8')) as Record<string, string>;
    t.notOk(JSON.stringify(stored).includes('the-right-token'), 'only a salted digest is stored');
    const right = await startMember(t, { ...base, cluster, name: 'node-c', clusterSecret: 'the-right-token-0123' });
    await membersBecome(right, ['node-a', 'node-c']);
  });

  t.test('a second live process with the same name is refused, and may start once the first is gone', async (t) => {
    const cluster = 'names';
    const first = await startMember(t, { ...base, cluster, name: 'node-x' });
    const impostor = newMember(t, { ...base, cluster, name: 'node-x', nameTakenWaitMs: 300 });
    const started = Date.now();
    const error = await rejection(impostor.start());
    t.equal(error.code, 'NAME_TAKEN');
    t.match(error.message, new RegExp(`a node named node-x is already registered in cluster names \\(session ${first.sessionId}\\); refusing to serve`));
    t.ok(Date.now() - started >= 250, 'waited for it to go first');
    t.same([...first.liveMembers().keys()], ['node-x'], 'the first keeps its registration');

    // A successor that waits long enough gets the name once the first stops.
    const successor = newMember(t, { ...base, cluster, name: 'node-x', nameTakenWaitMs: 10_000 });
    const successorStarted = successor.start();
    await first.stop();
    await successorStarted;
    t.same([...successor.liveMembers().keys()], ['node-x']);
  });

  t.test('invalid options are rejected up front', async (t) => {
    t.throws(() => newMember(t, { ...base, cluster: 'bad/cluster', name: 'node-a' }), { code: 'BAD_ARGUMENT' });
    t.throws(() => newMember(t, { ...base, cluster: 'ok', name: 'node-a', self: { ...memberInfo('node a') } }), { code: 'BAD_ARGUMENT' });
  });
});
