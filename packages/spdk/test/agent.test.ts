// The storage agent against spdk-sim and a real ZooKeeper: volumes are provisioned, exported,
// resized, snapshotted and deleted through their records; partial failures heal (a namespace that
// failed to attach, an SPDK restart that dropped every export, an agent killed mid-provisioning);
// invalid requests are refused at once; start-up policies and reconcile behave as documented.
import t from 'tap';
import path from 'node:path';
import { pino } from 'pino';
import { clusterPaths, startZooKeeper, ZkClient, type ZooKeeperProcess } from '@ringblock/coord';
import {
  newVolumeRecord, SpdkApi, SpdkRpcClient, SpdkSimControl, SpdkVolumeBackend, startSpdkSim, StorageAgent, VolumeStore, VolumeTransitionError,
  volumeNqn, volumeTaskId, volumeTaskStatus, snapshotLvolName, type StorageAgentOptions, type VolumeRecord, type VolumeState,
} from '../src/index.js';
import { tempDir, untilRecord, type Teardown } from './helpers.js';

const FAST_RETRY = { maxAttempts: 4, initialWaitMs: 50, multiplier: 2, maxWaitMs: 400 };
const WAIT_MS = 15_000;
const log = pino({ level: process.env['RINGBLOCK_TEST_LOG_LEVEL'] ?? 'silent' });

let zk: ZooKeeperProcess;
t.before(async () => {
  zk = await startZooKeeper({ dataDir: tempDir(t, 'zk'), tickTimeMs: 250, startTimeoutMs: 30_000 });
});
t.teardown(() => zk.stop());

interface Rig {
  client: ZkClient;
  store: VolumeStore;
  paths: ReturnType<typeof clusterPaths>;
  sock: string;
  stateDir: string;
  api: SpdkApi;
  control: SpdkSimControl;
  rpc: SpdkRpcClient;
  sim: Awaited<ReturnType<typeof startSpdkSim>>;
  startAgent(options?: Partial<StorageAgentOptions>): Promise<StorageAgent>;
  restartSim(): Promise<void>;
}

let clusters = 0;
async function rig(t: Teardown & { name?: string }): Promise<Rig> {
  const dir = tempDir(t, 'agent');
  const sock = path.join(dir, 'spdk.sock');
  const stateDir = path.join(dir, 'state');
  const paths = clusterPaths(`agent-${process.pid}-${++clusters}`);
  const client = await ZkClient.connect(zk.connect, { sessionTimeoutMs: 4_000, connectTimeoutMs: 10_000 });
  t.teardown(() => client.close());
  const rpc = new SpdkRpcClient({ socketPath: sock, callTimeoutMs: 5_000 });
  t.teardown(() => rpc.close());
  const api = new SpdkApi(rpc);
  const control = new SpdkSimControl(rpc);
  const store = new VolumeStore(() => client, paths, FAST_RETRY);
  const out: Rig = {
    client, store, paths, sock, stateDir, api, control, rpc,
    sim: await startSpdkSim({ sock, stateDir }),
    async startAgent(options = {}) {
      const backend = new SpdkVolumeBackend(api, { lvstore: 'lvs0', devices: [{ name: 'Nvme0', traddr: '0000:00:04.0' }], listener: { trtype: 'RDMA', traddr: '127.0.0.1', trsvcid: '4420' }, thin: true }, control);
      const agent = new StorageAgent({ host: 'host-a', client, paths, backend, log, policy: FAST_RETRY, passIntervalMs: 200, ...options });
      await agent.start();
      t.teardown(() => agent.stop());
      return agent;
    },
    async restartSim() {
      await out.sim.close();
      out.sim = await startSpdkSim({ sock, stateDir });
    },
  };
  t.teardown(() => out.sim.close());
  await store.init();
  return out;
}

const until = (store: VolumeStore, name: string, accept: (record: VolumeRecord) => boolean, what: string) => untilRecord(store, name, accept, what, WAIT_MS);
const inState = (store: VolumeStore, name: string, state: VolumeState) => until(store, name, (record) => record.fsm.state === state, state);

async function transitions(store: VolumeStore, name: string): Promise<string[]> {
  return (await store.events(name)).map(({ record }) => `${record.from}→${record.to}`);
}

t.test('a volume goes pending → available → attached → available → deleted, every step in the trail', async (t) => {
  const r = await rig(t);
  await r.startAgent();
  await r.store.ensure(newVolumeRecord({ name: 'node-1', host: 'host-a', sizeMib: 64 }, Date.now()));
  const available = await inState(r.store, 'node-1', 'available');
  t.ok(available.lvol?.uuid, 'the lvol is recorded');
  t.equal(available.lvol?.alias, 'lvs0/node-1');
  t.ok(available.lvol!.sizeMib >= 64, `size ${available.lvol?.sizeMib} MiB (cluster-rounded)`);
  t.equal(available.simFile, r.sim.lvolFilePath(available.lvol!.uuid), 'the sim file of the lvol is recorded for the peer');

  const attach = await r.store.apply('node-1', { type: 'attach' }, Date.now());
  const attached = await inState(r.store, 'node-1', 'attached');
  t.same(attached.export, { nqn: volumeNqn('node-1'), trtype: 'RDMA', traddr: '127.0.0.1', trsvcid: '4420', nsid: 1 });
  const [subsystem] = await r.api.nvmfGetSubsystems({ nqn: volumeNqn('node-1') });
  t.match(subsystem, { namespaces: [{ nsid: 1, uuid: available.lvol!.uuid }], listen_addresses: [{ trtype: 'RDMA', traddr: '127.0.0.1', trsvcid: '4420' }] }, 'exported in SPDK');
  t.match(volumeTaskStatus(volumeTaskId('node-1', attach!.seq!), await r.store.events('node-1'), 'attached'), { state: 'done', operation: 'attach', attempts: 1 }, 'the attach task is done');

  await t.rejects(r.store.apply('node-1', { type: 'delete' }, Date.now()), VolumeTransitionError, 'deleting an attached volume is refused at once');
  t.equal((await r.store.get('node-1'))!.record.fsm.state, 'attached', 'and changes nothing');

  await r.store.apply('node-1', { type: 'detach' }, Date.now());
  await inState(r.store, 'node-1', 'available');
  t.same((await r.api.nvmfGetSubsystems()).map((entry) => entry.nqn), ['nqn.2014-08.org.nvmexpress.discovery'], 'the export is gone');
  await r.store.apply('node-1', { type: 'delete' }, Date.now());
  await inState(r.store, 'node-1', 'deleted');
  t.same((await r.api.bdevLvolGetLvols()).map((lvol) => lvol.name), [], 'the lvol is gone');
  t.same(await transitions(r.store, 'node-1'), [
    'pending→creating', 'creating→available', 'available→attaching', 'attaching→attached',
    'attached→detaching', 'detaching→available', 'available→deleting', 'deleting→deleted',
  ]);
});

t.test('the namespace add fails after the lvol was created: retried with backoff until exported', async (t) => {
  const r = await rig(t);
  await r.startAgent();
  await r.store.ensure(newVolumeRecord({ name: 'vol-f', host: 'host-a', sizeMib: 32 }, Date.now()));
  await inState(r.store, 'vol-f', 'available');
  await r.control.simInjectFault({ method: 'nvmf_subsystem_add_ns', count: 2, code: -5 });
  await r.store.apply('vol-f', { type: 'attach' }, Date.now());
  const attached = await inState(r.store, 'vol-f', 'attached');
  t.equal(attached.export?.nsid, 1);
  const trail = await r.store.events('vol-f');
  t.same(trail.filter(({ record }) => record.to === 'attaching_failed').map(({ record }) => record.attempt), [1, 2], 'two failed attempts recorded');
  const failedAt = trail.filter(({ record }) => record.to === 'attaching_failed').map(({ record }) => record.atMs);
  const retriedAt = trail.filter(({ record }) => record.from === 'attaching_failed').map(({ record }) => record.atMs);
  t.ok(retriedAt[0]! - failedAt[0]! >= 50 && retriedAt[1]! - failedAt[1]! >= 100, `waits grow: ${retriedAt[0]! - failedAt[0]!} ms, ${retriedAt[1]! - failedAt[1]!} ms`);
  t.match(trail.find(({ record }) => record.to === 'attaching_failed')?.record.error, /Input\/output error/);
});

t.test('an operation failing every attempt ends in error; reconcile brings it back', async (t) => {
  const r = await rig(t);
  await r.startAgent();
  await r.control.simInjectFault({ method: 'bdev_lvol_create', count: 10, code: -28 });
  await r.store.ensure(newVolumeRecord({ name: 'vol-e', host: 'host-a', sizeMib: 32 }, Date.now()));
  const failed = await inState(r.store, 'vol-e', 'error');
  t.match(failed.fsm.lastError, /No space left/);
  t.equal((await r.store.events('vol-e')).filter(({ record }) => record.to === 'creating').length, FAST_RETRY.maxAttempts, 'maxAttempts attempts');
  await r.control.simClearFaults();
  // Reconcile while the lvol is absent: back to pending, then created again.
  await r.store.update('vol-e', () => ({ reconcile: { id: 'r1', requestedAt: Date.now() } }), Date.now());
  const reconciled = await until(r.store, 'vol-e', (record) => record.reconcile?.outcome !== undefined, 'reconciled');
  t.match(reconciled.reconcile, { id: 'r1', outcome: 'reconciled', observed: 'absent' });
  await inState(r.store, 'vol-e', 'available');
});

t.test('SPDK restarted: the lvstore is loaded again and the attached volume re-exported', async (t) => {
  const r = await rig(t);
  const agent = await r.startAgent();
  await r.store.ensure(newVolumeRecord({ name: 'vol-r', host: 'host-a', sizeMib: 32 }, Date.now()));
  await inState(r.store, 'vol-r', 'available');
  await r.store.apply('vol-r', { type: 'attach' }, Date.now());
  const before = await inState(r.store, 'vol-r', 'attached');
  await r.restartSim();
  t.same((await r.api.nvmfGetSubsystems()).length, 1, 'after the restart only the discovery subsystem exists');
  // The pass heals without a record change: run passes (each awaited to its end) until SPDK shows
  // the export again; a few suffice (one to load the lvstore, one to export), 20 bound it.
  let subsystems: Awaited<ReturnType<typeof r.api.nvmfGetSubsystems>> = [];
  for (let passes = 0; passes < 20; passes++) {
    await agent.pass();
    await agent.idle();
    subsystems = await r.api.nvmfGetSubsystems({ nqn: volumeNqn('vol-r') }).catch(() => []);
    if (subsystems[0]?.namespaces?.length && subsystems[0].listen_addresses.length) break;
  }
  t.match(subsystems, [{ namespaces: [{ uuid: before.lvol!.uuid }], listen_addresses: [{ trtype: 'RDMA', trsvcid: '4420' }] }], 're-exported with the same lvol on the same listener');
  t.equal((await r.store.get('vol-r'))!.record.fsm.state, 'attached', 'the record never left attached');
});

t.test('an agent killed mid-provisioning: the next one resumes, one lvol', async (t) => {
  const r = await rig(t);
  await r.control.simInjectDelay({ method: 'bdev_lvol_create', ms: 1_500, count: 1 });
  const first = await r.startAgent();
  await r.store.ensure(newVolumeRecord({ name: 'vol-k', host: 'host-a', sizeMib: 32 }, Date.now()));
  await inState(r.store, 'vol-k', 'creating');
  await first.stop();
  // The registration is ephemeral in the shared session here: remove it as the dead session would.
  await r.client.remove(`${r.paths.agents}/host-a`);
  await r.startAgent();
  const available = await inState(r.store, 'vol-k', 'available');
  t.same((await r.api.bdevLvolGetLvols()).map((lvol) => lvol.name), ['vol-k'], 'exactly one lvol');
  t.equal(available.lvol?.uuid, (await r.api.bdevLvolGetLvols())[0]!.uuid);
});

t.test('resize and snapshot; a snapshot SPDK refuses to delete (clones of its own) is retried', async (t) => {
  const r = await rig(t);
  await r.startAgent();
  await r.store.ensure(newVolumeRecord({ name: 'vol-s', host: 'host-a', sizeMib: 32 }, Date.now()));
  await inState(r.store, 'vol-s', 'available');
  await r.store.apply('vol-s', { type: 'resize', sizeMib: 128 }, Date.now());
  const resized = await until(r.store, 'vol-s', (record) => record.fsm.state === 'available' && record.sizeMib === 128, 'resized');
  t.ok(resized.lvol!.sizeMib >= 128, `lvol is ${resized.lvol?.sizeMib} MiB`);
  await r.store.apply('vol-s', { type: 'snapshot', snapshotName: 'daily' }, Date.now());
  const snapped = await until(r.store, 'vol-s', (record) => record.fsm.state === 'available' && (record.snapshots ?? []).includes('daily'), 'snapshotted');
  t.same(snapped.snapshots, ['daily']);
  const snapshotLvol = snapshotLvolName('vol-s', 'daily');
  await r.api.bdevLvolClone({ snapshot_name: `lvs0/${snapshotLvol}`, clone_name: 'keep-1' });
  await r.api.bdevLvolClone({ snapshot_name: `lvs0/${snapshotLvol}`, clone_name: 'keep-2' });
  await r.store.apply('vol-s', { type: 'delete' }, Date.now());
  const refused = await inState(r.store, 'vol-s', 'deleting_failed');
  t.match(refused.fsm.lastError, /Operation not permitted/, 'SPDK refused the snapshot delete');
  t.notOk((await r.api.bdevLvolGetLvols()).some((lvol) => lvol.name === 'vol-s'), 'the volume lvol itself is gone');
  await r.api.bdevLvolDelete({ name: 'lvs0/keep-2' });
  await inState(r.store, 'vol-s', 'deleted');
  t.same((await r.api.bdevLvolGetLvols()).map((lvol) => lvol.name).sort(), ['keep-1'], 'snapshot deleted once allowed (its last clone inherits it)');
});

t.test('start-up: a record without its lvol becomes error; an lvol without a record is imported when asked', async (t) => {
  const r = await rig(t);
  await r.api.bdevNvmeAttachController({ name: 'Nvme0', trtype: 'PCIe', traddr: '0000:00:04.0' });
  await r.api.bdevLvolCreateLvstore({ bdev_name: 'Nvme0n1', lvs_name: 'lvs0' });
  await r.api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'orphan', size_in_mib: 40, thin_provision: true });
  const nowMs = Date.now();
  await r.store.ensure({ ...newVolumeRecord({ name: 'lost', host: 'host-a', sizeMib: 32 }, nowMs), fsm: { state: 'available', attempt: 0 } });
  await r.store.ensure({ ...newVolumeRecord({ name: 'elsewhere', host: 'host-b', sizeMib: 32 }, nowMs), fsm: { state: 'available', attempt: 0 } });
  await r.startAgent({ recordWithoutLvol: 'error', lvolWithoutRecord: 'import' });
  t.match((await r.store.get('lost'))!.record.fsm, { state: 'error', lastError: /lvol is missing/ });
  t.equal((await r.store.get('elsewhere'))!.record.fsm.state, 'available', "another host's record is left alone");
  t.match((await r.store.get('orphan'))?.record, { host: 'host-a', fsm: { state: 'available' }, lvol: { alias: 'lvs0/orphan' } }, 'imported');
});

t.test('reconcile while SPDK is unreachable: answered unreachable, the state stays', async (t) => {
  const r = await rig(t);
  await r.startAgent();
  await r.store.ensure(newVolumeRecord({ name: 'vol-u', host: 'host-a', sizeMib: 32 }, Date.now()));
  await inState(r.store, 'vol-u', 'available');
  await r.sim.close();
  await r.store.update('vol-u', () => ({ reconcile: { id: 'r2', requestedAt: Date.now() } }), Date.now());
  const answered = await until(r.store, 'vol-u', (record) => record.reconcile?.outcome !== undefined, 'answered');
  t.match(answered.reconcile, { id: 'r2', outcome: 'unreachable' });
  t.equal(answered.fsm.state, 'available');
  r.sim = await startSpdkSim({ sock: r.sock, stateDir: r.stateDir });
});

t.test('a second agent for the same host refuses to start', async (t) => {
  const r = await rig(t);
  await r.startAgent();
  const backend = new SpdkVolumeBackend(r.api, { lvstore: 'lvs0', devices: [], listener: { trtype: 'TCP', traddr: '127.0.0.1', trsvcid: '4420' }, thin: true });
  const second = new StorageAgent({ host: 'host-a', client: r.client, paths: r.paths, backend, log, registerWaitMs: 300 });
  await t.rejects(second.start(), /another storage agent serves host "host-a"/);
});

t.test("a restarted agent waits for its predecessor's registration to go, then serves", async (t) => {
  const r = await rig(t);
  const first = await r.startAgent();
  await first.stop();
  const waiting = r.startAgent({ registerWaitMs: 10_000 });
  // The predecessor's session ends (here: its znode goes, as at session expiry) while the new one waits.
  await r.client.remove(`${r.paths.agents}/host-a`);
  await waiting;
  t.ok(await r.client.exists(`${r.paths.agents}/host-a`), 'registered');
});
