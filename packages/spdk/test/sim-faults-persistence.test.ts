// Fault injection over the socket, dropped connections with calls in flight, timeouts, and what
// survives a sim restart (RPC.md §3.6): lvstores and lvols do, NVMe-oF configuration does not.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { SpdkApi, SpdkRpcClient, STATE_FILE_NAME, startSpdkSim, FAULT_RULES_MAX } from '../src/index.js';
import { sleep, startSim, tempDir, withLvstore } from './helpers.js';

t.test('sim_inject_fault: fail the next N calls, before or after the effect', async (t) => {
  const { api, control } = await startSim(t);
  await withLvstore(api);
  await control.simInjectFault({ method: 'bdev_lvol_create', count: 2, code: -32602, message: 'No space left on device' });
  const create = (name: string): Promise<string> => api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: name, size_in_mib: 4 });
  await t.rejects(create('a'), { code: -32602, message: 'No space left on device' });
  await t.rejects(create('a'), { code: -32602 });
  t.same(await api.bdevLvolGetLvols(), [], '"before": no effect');
  t.ok(await create('a'), 'the third call goes through');
  await control.simInjectFault({ method: 'nvmf_subsystem_add_ns', when: 'after' });
  await api.nvmfCreateSubsystem({ nqn: 'nqn.2016-06.io.spdk:a' });
  await t.rejects(api.nvmfSubsystemAddNs({ nqn: 'nqn.2016-06.io.spdk:a', namespace: { bdev_name: 'lvs0/a' } }), { code: -5, message: 'Input/output error' }, 'default code');
  t.match(await api.nvmfGetSubsystems({ nqn: 'nqn.2016-06.io.spdk:a' }), [{ namespaces: [{ nsid: 1 }] }], '"after": it took effect (partial success)');
  await control.simInjectFault({ method: '*', count: 1, code: -1 });
  await t.rejects(api.bdevGetBdevs(), { code: -1, message: 'Operation not permitted' }, '"*" matches any method');
  t.ok(await api.bdevGetBdevs());
  await control.simInjectFault({ method: 'bdev_get_bdevs', count: 5 });
  await control.simClearFaults();
  t.ok(await api.bdevGetBdevs(), 'cleared');
});

t.test('drop faults and sim_drop_connection: calls in flight fail with SPDK_CONNECTION_LOST', async (t) => {
  const { api, control, sim } = await startSim(t);
  await withLvstore(api);
  await control.simInjectFault({ method: 'bdev_lvol_create', action: 'drop', when: 'after' });
  await control.simInjectDelay({ method: 'bdev_get_bdevs', ms: 200, count: 1 });
  const inFlight = api.bdevGetBdevs();
  const lost = api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'v', size_in_mib: 4 });
  await t.rejects(lost, { code: 'SPDK_CONNECTION_LOST' });
  await t.rejects(inFlight, { code: 'SPDK_CONNECTION_LOST' }, 'the other call on the connection is lost too');
  t.match(await api.bdevLvolGetLvols(), [{ name: 'v' }], 'the lvol was created before the drop; the client reconnected');
  await t.rejects(control.simDropConnection(), { code: 'SPDK_CONNECTION_LOST' });
  const other = new SpdkRpcClient({ socketPath: sim.sock });
  t.teardown(() => other.close());
  const otherApi = new SpdkApi(other);
  await otherApi.bdevGetBdevs();
  await control.simInjectDelay({ method: 'bdev_get_bdevs', ms: 300, count: 1 });
  const otherInFlight = otherApi.bdevGetBdevs();
  await sleep(20);
  await t.rejects(control.simDropConnection({ all: true }), { code: 'SPDK_CONNECTION_LOST' });
  await t.rejects(otherInFlight, { code: 'SPDK_CONNECTION_LOST' }, 'all: every connection');
  t.ok(await otherApi.bdevGetBdevs(), 'both reconnect');
});

t.test('a timed-out call may still be carried out (SPDK_TIMEOUT)', async (t) => {
  const { api, control } = await startSim(t);
  await withLvstore(api);
  await control.simInjectDelay({ method: 'bdev_lvol_create', ms: 300 });
  await t.rejects(api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'slow', size_in_mib: 4 }, { timeoutMs: 50 }), { code: 'SPDK_TIMEOUT' });
  t.same(await api.bdevLvolGetLvols(), [], 'not yet');
  await sleep(350);
  t.match(await api.bdevLvolGetLvols(), [{ name: 'slow' }], 'but later it is there');
  await control.simInjectDelay({ method: 'bdev_lvol_create', ms: 0 });
  t.ok(await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'fast', size_in_mib: 4 }, { timeoutMs: 200 }), 'delay removed');
});

t.test('injection is bounded and validated', async (t) => {
  const { control } = await startSim(t);
  await t.rejects(control.simInjectFault({ method: 'x', count: 0 }), { code: -32602, message: 'Invalid parameters' });
  await t.rejects(control.simInjectDelay({ method: 'x', ms: 60_001 }), { code: -32602 });
  await t.rejects(control.simInjectFault({ method: 'x', action: 'explode' as never }), { code: -32602 });
  for (let index = 0; index < FAULT_RULES_MAX; index++) await control.simInjectFault({ method: `m${index}` });
  await t.rejects(control.simInjectFault({ method: 'one-more' }), { code: -12, message: 'Cannot allocate memory' });
});

t.test('restart: lvstores and lvols persist (loaded by examine), NVMe-oF configuration does not', async (t) => {
  const dir = tempDir(t, 'restart');
  const options = { sock: path.join(dir, 'spdk.sock'), stateDir: path.join(dir, 'state') };
  const first = await startSpdkSim(options);
  const client = new SpdkRpcClient({ socketPath: options.sock, callTimeoutMs: 5_000 });
  t.teardown(() => client.close());
  const api = new SpdkApi(client);
  const lvs = await withLvstore(api);
  const thin = await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'thin', size_in_mib: 100, thin_provision: true });
  const thick = await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'thick', size_in_mib: 9 });
  const snap = await api.bdevLvolSnapshot({ lvol_name: thick, snapshot_name: 'snap' });
  const clone = await api.bdevLvolClone({ snapshot_name: snap, clone_name: 'clone' });
  await api.bdevLvolSetReadOnly({ name: 'lvs0/thin' });
  await api.nvmfCreateTransport({ trtype: 'TCP' });
  await api.nvmfCreateSubsystem({ nqn: 'nqn.2016-06.io.spdk:thick', allow_any_host: true });
  await api.nvmfSubsystemAddNs({ nqn: 'nqn.2016-06.io.spdk:thick', namespace: { bdev_name: thick } });
  const handle = await open(first.lvolFilePath(clone), 'r+');
  await handle.write(Buffer.from('kept'), 0, 4, 4096);
  await handle.close();
  const lvolsBefore = await api.bdevLvolGetLvols();
  const lvstoresBefore = await api.bdevLvolGetLvstores();
  await first.close();
  t.notOk(existsSync(options.sock), 'socket removed');
  t.ok(existsSync(path.join(options.stateDir, STATE_FILE_NAME)));
  t.same(readdirSync(options.stateDir).filter((name) => name.endsWith('.tmp')), [], 'atomic replace leaves no temporary file');

  const second = await startSpdkSim(options);
  t.teardown(() => second.close());
  t.same(await api.bdevLvolGetLvstores(), [], 'nothing loaded before the base bdev reappears');
  t.same(await api.nvmfGetTransports(), [], 'transports gone');
  t.same((await api.nvmfGetSubsystems()).map((subsystem) => subsystem.nqn), ['nqn.2014-08.org.nvmexpress.discovery'], 'subsystems gone');
  await api.bdevNvmeAttachController({ name: 'Nvme0', trtype: 'PCIe', traddr: '0000:00:04.0' });
  t.same(await api.bdevLvolGetLvstores(), lvstoresBefore, 'lvstore back with the same numbers');
  t.equal(lvstoresBefore[0]!.uuid, lvs);
  t.same(await api.bdevLvolGetLvols(), lvolsBefore, 'lvols back: names, UUIDs, thin flags, snapshot graph');
  t.match(await api.bdevGetBdevs({ name: 'lvs0/thin' }), [{ name: thin, supported_io_types: { write: false } }], 'read-only shows after reload (§3.3)');
  t.match(await api.bdevGetBdevs({ name: thick }), [{ claimed: false, num_blocks: 3 * 1024, driver_specific: { lvol: { base_snapshot: 'snap' } } }], 'no longer exported');
  t.equal(readFileSync(second.lvolFilePath(clone)).subarray(4096, 4100).toString(), 'kept', 'data kept');
  await t.rejects(startSpdkSim(options), /held by a running target/, 'one target per socket');
});

t.test('`ringblock spdk-sim` entry: runs until SIGTERM', async (t) => {
  const dir = tempDir(t, 'cli');
  const sock = path.join(dir, 'spdk.sock');
  const index = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'index.js');
  const script = `import { runSpdkSim } from ${JSON.stringify(index)}; process.exitCode = await runSpdkSim(process.argv.slice(1));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, '--', '--sock', sock, '--state', path.join(dir, 'state'), '--device', '0000:00:05.0=1G:512', '--no-rdma'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RINGBLOCK_LOG_LEVEL: 'warn' },
  });
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const client = new SpdkRpcClient({ socketPath: sock, callTimeoutMs: 2_000 });
  t.teardown(() => client.close());
  const api = new SpdkApi(client);
  for (let tries = 0; !existsSync(sock) && tries < 200; tries++) await sleep(25);
  t.same(await api.bdevNvmeAttachController({ name: 'N', trtype: 'PCIe', traddr: '0000:00:05.0' }), ['Nn1']);
  t.match(await api.bdevGetBdevs({ name: 'Nn1' }), [{ block_size: 512 }]);
  await t.rejects(api.nvmfCreateTransport({ trtype: 'RDMA' }), { code: -32603 }, '--no-rdma');
  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.notOk(existsSync(`${sock}.lock`), 'lock released');
});
