// The storage agent's /metrics registry against spdk-sim and a real ZooKeeper: volume FSM states, the
// iostat of each volume's lvol (labelled with the volume) and of the NVMe bdev under it, latency as
// total time from SPDK's ticks, controller health, and the agent's own counters (operations by
// outcome, passes, reconciles, SPDK errors). With SPDK gone a scrape still answers, without iostat.
import t from 'tap';
import path from 'node:path';
import { pino } from 'pino';
import type { Registry } from 'prom-client';
import { clusterPaths, startZooKeeper, ZkClient, type ZooKeeperProcess } from '@ringblock/coord';
import { newVolumeRecord, SpdkApi, SpdkRpcClient, SpdkSimControl, SpdkVolumeBackend, startSpdkSim, StorageAgent, VolumeStore, type VolumeRecord } from '../src/index.js';
import { agentMetrics } from '../src/agent/metrics.js';
import { SIM_TICK_RATE_HZ } from '../src/sim/iostat.js';
import { tempDir, untilRecord } from './helpers.js';

const RETRY = { maxAttempts: 4, initialWaitMs: 50, multiplier: 2, maxWaitMs: 400 };
const WAIT_MS = 15_000;
const LVSTORE = 'lvs0';
const log = pino({ level: process.env['RINGBLOCK_TEST_LOG_LEVEL'] ?? 'silent' });

let zk: ZooKeeperProcess;
t.before(async () => {
  zk = await startZooKeeper({ dataDir: tempDir(t, 'zk'), tickTimeMs: 250, startTimeoutMs: 30_000 });
});
t.teardown(() => zk.stop());

const until = (store: VolumeStore, name: string, accept: (record: VolumeRecord) => boolean) => untilRecord(store, name, accept, 'as expected', WAIT_MS);

type Series = { labels: Record<string, string | number>; value: number }[];

/** Every family of one fresh registry (one scrape), by name. */
async function scrape(registry: Registry): Promise<Map<string, Series>> {
  const families = await registry.getMetricsAsJSON();
  return new Map(families.map((family) => [family.name, family.values.map(({ labels, value }) => ({ labels: labels as Record<string, string | number>, value }))]));
}

function valueOf(families: Map<string, Series>, name: string, labels: Record<string, string>): number | undefined {
  return families.get(name)?.find((series) => Object.entries(labels).every(([key, value]) => series.labels[key] === value))?.value;
}

t.test('volume states, per-volume iostat, controller health and agent counters', async (t) => {
  const dir = tempDir(t, 'metrics');
  const sock = path.join(dir, 'spdk.sock');
  const sim = await startSpdkSim({ sock, stateDir: path.join(dir, 'state') });
  t.teardown(() => sim.close());
  const rpc = new SpdkRpcClient({ socketPath: sock, callTimeoutMs: 2_000 });
  t.teardown(() => rpc.close());
  const api = new SpdkApi(rpc);
  const control = new SpdkSimControl(rpc);
  const client = await ZkClient.connect(zk.connect, { sessionTimeoutMs: 4_000, connectTimeoutMs: 10_000 });
  t.teardown(() => client.close());
  const paths = clusterPaths(`metrics-${process.pid}`);
  const store = new VolumeStore(() => client, paths, RETRY);
  await store.init();
  const backend = new SpdkVolumeBackend(api, { lvstore: LVSTORE, devices: [{ name: 'Nvme0', traddr: '0000:00:04.0' }], listener: { trtype: 'TCP', traddr: '127.0.0.1', trsvcid: '4420' }, thin: true }, control);
  const agent = new StorageAgent({ host: 'host-m', client, paths, backend, log, policy: RETRY, passIntervalMs: 60_000 });
  await agent.start();
  t.teardown(() => agent.stop());
  const metrics = () => scrape(agentMetrics(agent, api, { host: 'host-m', lvstore: LVSTORE }));

  // One volume attached after one failed attempt to add its namespace; one left available.
  await control.simInjectFault({ method: 'nvmf_subsystem_add_ns', count: 1, code: -5 });
  await store.ensure(newVolumeRecord({ name: 'node-1', host: 'host-m', sizeMib: 32 }, Date.now()));
  await store.ensure(newVolumeRecord({ name: 'node-2', host: 'host-m', sizeMib: 32 }, Date.now()));
  const one = await until(store, 'node-1', (record) => record.fsm.state === 'available');
  await until(store, 'node-2', (record) => record.fsm.state === 'available');
  await store.apply('node-1', { type: 'attach' }, Date.now());
  await until(store, 'node-1', (record) => record.fsm.state === 'attached');
  await store.update('node-2', () => ({ reconcile: { id: 'm1', requestedAt: Date.now() } }), Date.now());
  await until(store, 'node-2', (record) => record.reconcile?.outcome !== undefined);
  await agent.pass();
  await agent.idle();

  const lvolBdev = (await api.bdevGetBdevs({ name: one.lvol!.uuid }))[0]!.name;
  const readTicks = 3n * SIM_TICK_RATE_HZ; // 3 s of reads in total
  await control.simAddIostat({ name: lvolBdev, bytes_read: 40_960, num_read_ops: 10, read_latency_ticks: readTicks, bytes_written: 8_192, num_write_ops: 2, write_latency_ticks: SIM_TICK_RATE_HZ / 2n });
  await control.simSetControllerHealth({ name: 'Nvme0', critical_warning: 1, temperature_celsius: 51, available_spare_percentage: 7, available_spare_threshold_percentage: 10, percentage_used: 3, media_errors: 2 });

  const families = await metrics();
  t.equal(valueOf(families, 'ringblock_spdk_up', { host: 'host-m' }), 1, 'SPDK up, with the host label');
  t.equal(valueOf(families, 'ringblock_volume_state', { volume: 'node-1', state: 'attached' }), 1, 'node-1 attached');
  t.equal(valueOf(families, 'ringblock_volume_state', { volume: 'node-2', state: 'available' }), 1, 'node-2 available');
  t.equal(families.get('ringblock_volume_state')!.filter((series) => series.value === 1).length, 2, 'each volume in one state');

  const ofVolume = { bdev: lvolBdev, volume: 'node-1' };
  t.equal(valueOf(families, 'ringblock_spdk_bdev_read_bytes', ofVolume), 40_960, "the lvol's bytes read, labelled with its volume");
  t.equal(valueOf(families, 'ringblock_spdk_bdev_read_ops', ofVolume), 10);
  t.equal(valueOf(families, 'ringblock_spdk_bdev_written_bytes', ofVolume), 8_192);
  t.equal(valueOf(families, 'ringblock_spdk_bdev_write_ops', ofVolume), 2);
  t.equal(valueOf(families, 'ringblock_spdk_bdev_read_time_seconds', ofVolume), 3, 'read time: ticks over the tick rate');
  t.equal(valueOf(families, 'ringblock_spdk_bdev_write_time_seconds', ofVolume), 0.5);
  const base = families.get('ringblock_spdk_bdev_read_ops')!.find((series) => series.labels.bdev === 'Nvme0n1');
  t.ok(base, 'the NVMe bdev under the lvstore has iostat too');
  t.equal(base?.labels.volume, undefined, 'without a volume label');

  const controller = { controller: 'Nvme0' };
  t.equal(valueOf(families, 'ringblock_spdk_controller_critical_warning', controller), 1);
  t.equal(valueOf(families, 'ringblock_spdk_controller_temperature_celsius', controller), 51);
  t.equal(valueOf(families, 'ringblock_spdk_controller_available_spare_percent', controller), 7);
  t.equal(valueOf(families, 'ringblock_spdk_controller_available_spare_threshold_percent', controller), 10);
  t.equal(valueOf(families, 'ringblock_spdk_controller_used_percent', controller), 3);
  t.equal(valueOf(families, 'ringblock_spdk_controller_media_errors', controller), 2);

  const operations = (operation: string, outcome: string) => valueOf(families, 'ringblock_agent_operations_total', { operation, outcome });
  t.equal(operations('create', 'succeeded'), 2, 'two creates');
  t.equal(operations('attach', 'failed'), 1, 'one failed attach');
  t.equal(operations('attach', 'succeeded'), 1, 'then one that succeeded');
  t.equal(operations('delete', 'failed'), 0, 'operations that never ran are 0, not absent');
  t.equal(valueOf(families, 'ringblock_agent_reconciles_total', { outcome: 'reconciled' }), 1);
  t.equal(valueOf(families, 'ringblock_agent_reconciles_total', { outcome: 'unreachable' }), 0);
  t.ok(valueOf(families, 'ringblock_agent_passes_total', {})! >= 1, 'the pass counted');
  t.equal(valueOf(families, 'ringblock_agent_spdk_errors_total', {}), 1, 'the failed attach counted as an SPDK error');
  t.equal(valueOf(families, 'ringblock_agent_reexports_total', {}), 0);

  // SPDK gone: a scrape still answers (bounded by the RPC timeout), with no iostat or health.
  await sim.close();
  const started = Date.now();
  const without = await metrics();
  t.ok(Date.now() - started < 10_000, `a scrape without SPDK answered in ${Date.now() - started} ms`);
  t.same(without.get('ringblock_spdk_bdev_read_ops'), [], 'no iostat');
  t.same(without.get('ringblock_spdk_controller_temperature_celsius'), [], 'no health');
  t.equal(valueOf(without, 'ringblock_volume_state', { volume: 'node-1', state: 'attached' }), 1, 'the states the agent knows');
  await agent.pass();
  t.equal(valueOf(await metrics(), 'ringblock_spdk_up', {}), 0, 'and, after a pass, SPDK down');
});
