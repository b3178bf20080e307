// Each bdev, NVMe and lvol wrapper against spdk-sim, with its error cases (RPC.md §2.1–2.4, §3).
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { SimNvmeDevice, SpdkApi } from '../src/index.js';
import { sleep, startSim, withLvstore } from './helpers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const DEVICES: SimNvmeDevice[] = [
  { traddr: '0000:00:04.0', sizeBytes: 16 * GiB },
  { traddr: '0000:00:05.0', sizeBytes: GiB, blockSize: 512 },
  { traddr: '0000:00:06.0', sizeBytes: 2 * MiB },
];

async function attachAll(api: SpdkApi): Promise<void> {
  for (const [index, device] of DEVICES.entries()) await api.bdevNvmeAttachController({ name: `Nvme${index}`, trtype: 'PCIe', traddr: device.traddr });
}

t.test('NVMe controllers: attach, list, errors, detach (RPC.md §2.3)', async (t) => {
  const { api } = await startSim(t, { devices: DEVICES });
  t.same(await api.bdevNvmeAttachController({ name: 'Nvme0', trtype: 'pcie', traddr: '0000:00:04.0' }), ['Nvme0n1']);
  const [controller] = await api.bdevNvmeGetControllers({ name: 'Nvme0' });
  t.match(controller, { name: 'Nvme0', ctrlrs: [{ state: 'enabled', trid: { trtype: 'PCIe', traddr: '0000:00:04.0' }, cntlid: 0, host: { nqn: /^nqn\.2014-08\.org\.nvmexpress:uuid:/ } }] });
  t.notOk('adrfam' in controller!.ctrlrs[0]!.trid, 'empty trid fields omitted');
  const attach = (name: string, trtype: string, traddr: string): Promise<string[]> => api.bdevNvmeAttachController({ name, trtype, traddr });
  await t.rejects(attach('Nvme0', 'PCIe', '0000:00:04.0'), { code: -114, message: 'A controller named Nvme0 already exists with the specified network path' });
  await t.rejects(attach('Nvme0', 'PCIe', '0000:00:05.0'), { code: -114 });
  await t.rejects(attach('Other', 'PCIe', '0000:00:04.0'), { code: -17, message: 'File exists' });
  await t.rejects(attach('Nvme9', 'PCIe', '0000:00:09.0'), { code: -19, message: 'No such device' });
  await t.rejects(attach('Nvme9', 'FOO', '0000:00:09.0'), { code: -22, message: 'Failed to parse trtype: FOO' });
  await t.rejects(attach('Nvme9', 'RDMA', '192.168.1.1'), { code: -5, message: 'Input/output error' });
  await t.rejects(api.bdevNvmeAttachController({ name: 'Nvme9', trtype: 'TCP', traddr: '10.0.0.1', adrfam: 'ipx' }), { code: -22, message: 'Failed to parse adrfam: ipx' });
  await t.rejects(api.bdevNvmeGetControllers({ name: 'Nope' }), { code: -22, message: 'Controller Nope does not exist' });
  await t.rejects(api.bdevNvmeDetachController({ name: 'Nope' }), { code: -19, message: 'No such device' });
  await t.rejects(api.bdevNvmeDetachController({ name: 'Nvme0', traddr: '0000:00:05.0' }), { code: -6, message: 'No such device or address' });
  t.equal(await api.bdevNvmeDetachController({ name: 'Nvme0', trtype: 'PCIe' }), true);
  t.same(await api.bdevNvmeGetControllers(), []);
  await t.rejects(api.bdevGetBdevs({ name: 'Nvme0n1' }), { code: -19 });
});

t.test('controller health info: fields, repeated sensor keys, sim changes (RPC.md §2.3)', async (t) => {
  const { api, control } = await startSim(t);
  await api.bdevNvmeAttachController({ name: 'Nvme0', trtype: 'PCIe', traddr: '0000:00:04.0' });
  const health = await api.bdevNvmeGetControllerHealthInfo({ name: 'Nvme0' });
  t.match(health, { traddr: '0000:00:04.0', critical_warning: 0, available_spare_percentage: 100, percentage_used: 0, media_errors: 0 });
  t.same(health.temperature_sensor_celsius, [35, 38], 'two sensors: the key repeats');
  await control.simSetControllerHealth({ name: 'Nvme0', critical_warning: 4, media_errors: 2n ** 70n, temperature_sensors_celsius: [50] });
  t.match(await api.bdevNvmeGetControllerHealthInfo({ name: 'Nvme0' }), { critical_warning: 4, media_errors: 2n ** 70n, temperature_sensor_celsius: [50] });
  await t.rejects(api.bdevNvmeGetControllerHealthInfo({ name: 'Nvme7' }), { code: -32603, message: 'Device not found' });
});

t.test('bdev_get_bdevs: order, lookups by alias/UUID, timeout; examine (RPC.md §2.1, §3.1)', async (t) => {
  const { api } = await startSim(t, { devices: DEVICES });
  const later = api.bdevGetBdevs({ name: 'Nvme1n1', timeout: 2_000 });
  await sleep(20);
  await attachAll(api);
  t.match(await later, [{ name: 'Nvme1n1', block_size: 512, num_blocks: GiB / 512, product_name: 'NVMe disk' }], 'waited for the bdev to appear');
  const all = await api.bdevGetBdevs();
  t.same(
    all.map((bdev) => bdev.name),
    ['Nvme0n1', 'Nvme1n1', 'Nvme2n1'],
    'registration order',
  );
  const uuid = all[0]!.uuid!;
  t.same(all[0]!.aliases, [uuid], 'the UUID is an alias');
  t.equal((await api.bdevGetBdevs({ name: uuid }))[0]!.name, 'Nvme0n1');
  await t.rejects(api.bdevGetBdevs({ name: 'none' }), { code: -19, message: 'No such device' });
  await t.rejects(api.bdevGetBdevs({ name: 'none', timeout: 50 }), { code: -110, message: 'Connection timed out' });
  await t.rejects(api.bdevExamine({ name: 'Nvme0n1' }), { code: -22, message: 'Invalid argument' }, 'auto-examine is on');
  t.equal(await api.bdevWaitForExamine(), true);
});

t.test('bdev_get_iostat: names, per_channel, u64 counters, reset (RPC.md §2.1)', async (t) => {
  const { api, control } = await startSim(t);
  await api.bdevNvmeAttachController({ name: 'Nvme0', trtype: 'PCIe', traddr: '0000:00:04.0' });
  const huge = 2n ** 60n;
  await control.simAddIostat({ name: 'Nvme0n1', bytes_read: huge, num_read_ops: 2, read_latency_ticks: 300, bytes_written: 4096, num_write_ops: 1, write_latency_ticks: 10 });
  const stat = await api.bdevGetIostat({ names: ['Nvme0n1'] });
  t.ok(typeof stat.tick_rate === 'bigint' || typeof stat.tick_rate === 'number');
  t.match(stat.bdevs, [
    { name: 'Nvme0n1', bytes_read: huge, num_read_ops: 2, bytes_written: 4096, read_latency_ticks: 300, max_read_latency_ticks: 150, min_read_latency_ticks: 150, min_unmap_latency_ticks: 0, io_error: {} },
  ]);
  t.same(Object.keys(stat.bdevs[0]!).slice(0, 9), ['name', 'bytes_read', 'num_read_ops', 'bytes_written', 'num_write_ops', 'bytes_unmapped', 'num_unmap_ops', 'bytes_copied', 'num_copy_ops']);
  t.match(await api.bdevGetIostat({ names: ['Nvme0n1'], per_channel: true }), { name: 'Nvme0n1', channels: [{ bytes_read: huge }] });
  await t.rejects(api.bdevGetIostat({ per_channel: true }), { code: -22 });
  await t.rejects(api.bdevGetIostat({ names: ['nope'] }), { code: -19 });
  await api.bdevGetIostat({ reset_mode: 'all' });
  t.match((await api.bdevGetIostat()).bdevs, [{ bytes_read: 0, num_read_ops: 0 }], 'reset after reporting');
});

t.test('lvstores: exact capacity, claims, selectors and errors (RPC.md §2.4, §3.2, §3.5)', async (t) => {
  const { api } = await startSim(t, { devices: DEVICES });
  await attachAll(api);
  const uuid = await api.bdevLvolCreateLvstore({ bdev_name: 'Nvme0n1', lvs_name: 'lvs0' });
  t.same(await api.bdevLvolGetLvstores({ lvs_name: 'lvs0' }), [
    { uuid, name: 'lvs0', base_bdev: 'Nvme0n1', total_data_clusters: 4091, free_clusters: 4091, block_size: 4096, cluster_size: 4 * MiB, max_growable_size: 137271181312 },
  ]);
  t.equal((await api.bdevLvolGetLvstores({ uuid }))[0]!.name, 'lvs0');
  t.match(await api.bdevGetBdevs({ name: 'Nvme0n1' }), [{ claimed: true, claim_type: 'read_many_write_one' }]);
  const small = await api.bdevLvolCreateLvstore({ bdev_name: 'Nvme1n1', lvs_name: 'lvs1', cluster_sz: 1 * MiB });
  t.match(await api.bdevLvolGetLvstores({ uuid: small }), [{ block_size: 512, cluster_size: MiB, total_data_clusters: 1019 }], 'block size of the base');
  const create = (bdev: string, name: string, extra: object = {}): Promise<string> => api.bdevLvolCreateLvstore({ bdev_name: bdev, lvs_name: name, ...extra });
  await t.rejects(create('Nvme0n1', 'again'), { code: -1, message: 'Operation not permitted' }, 'base already claimed');
  await t.rejects(create('Nvme2n1', 'lvs0'), { code: -17, message: 'File exists' }, 'names are global');
  await t.rejects(create('Nope', 'x'), { code: -19, message: 'No such device' });
  await t.rejects(create('Nvme2n1', 'x'.repeat(64)), { code: -22 });
  await t.rejects(create('Nvme2n1', 'x', { cluster_sz: 6000 }), { code: -22 }, 'not a multiple of the block size');
  await t.rejects(create('Nvme2n1', 'x', { clear_method: 'shred' }), { code: -22 });
  await t.rejects(create('Nvme2n1', 'x'), { code: -32602, message: 'No space left on device' }, 'base smaller than a cluster (async)');
  await t.rejects(create('Nvme2n1', 'x', { md_page_size: '4096' as unknown as number }), { code: -32603, message: 'spdk_json_decode_object failed' }, 'RPC.md §6');
  await t.rejects(api.bdevLvolGetLvstores({ uuid, lvs_name: 'lvs0' } as never), { code: -22, message: 'Invalid argument' });
  await t.rejects(api.bdevLvolGetLvstores({ lvs_name: 'nope' }), { code: -19 });
  const tiny = await startSim(t, { devices: [{ traddr: '0000:00:07.0', sizeBytes: 64 * MiB, blockSize: 512 }] });
  await tiny.api.bdevNvmeAttachController({ name: 'N', trtype: 'PCIe', traddr: '0000:00:07.0' });
  await t.rejects(tiny.api.bdevLvolCreateLvstore({ bdev_name: 'Nn1', lvs_name: 's', cluster_sz: 2048 }), { code: -32602, message: 'Invalid argument' }, 'cluster < 4096 (async)');
  t.equal(await api.bdevLvolDeleteLvstore({ uuid: small }), true);
  t.match(await api.bdevGetBdevs({ name: 'Nvme1n1' }), [{ claimed: false }], 'base released');
  t.notOk('claim_type' in (await api.bdevGetBdevs({ name: 'Nvme1n1' }))[0]!);
});

t.test('lvols: cluster rounding, thin vs thick, exact shapes, data file (RPC.md §2.4, §3.3, §3.4)', async (t) => {
  const { api, control } = await startSim(t);
  const lvsUuid = await withLvstore(api);
  const thin = await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'vol1', size_in_mib: 10240, thin_provision: true });
  const [bdev] = await api.bdevGetBdevs({ name: 'lvs0/vol1' });
  t.same(bdev, {
    name: thin,
    aliases: ['lvs0/vol1'],
    product_name: 'Logical Volume',
    block_size: 4096,
    num_blocks: 2621440,
    preferred_write_alignment: 0,
    preferred_write_granularity: 0,
    optimal_write_size: 0,
    preferred_unmap_alignment: 0,
    preferred_unmap_granularity: 0,
    uuid: thin,
    assigned_rate_limits: { rw_ios_per_sec: 0, rw_mbytes_per_sec: 0, r_mbytes_per_sec: 0, w_mbytes_per_sec: 0 },
    claimed: false,
    zoned: false,
    supported_io_types: {
      read: true, write: true, unmap: true, flush: false, reset: true, nvme_admin: false, nvme_io: false, nvme_io_md: false, write_zeroes: true, zcopy: false,
      get_zone_info: false, zone_management: false, zone_append: false, compare: false, compare_and_write: false, abort: false, seek_hole: true, seek_data: true,
      copy: false, nvme_iov_md: false, nvme_nssr: false, write_uncorrectable: false,
    },
    driver_specific: { lvol: { lvol_store_uuid: lvsUuid, base_bdev: 'Nvme0n1', thin_provision: true, num_allocated_clusters: 0, snapshot: false, clone: false, esnap_clone: false } },
  }, 'RPC.md §3.4 exactly');
  t.same(Object.keys(bdev!), ['name', 'aliases', 'product_name', 'block_size', 'num_blocks', 'preferred_write_alignment', 'preferred_write_granularity', 'optimal_write_size', 'preferred_unmap_alignment', 'preferred_unmap_granularity', 'uuid', 'assigned_rate_limits', 'claimed', 'zoned', 'supported_io_types', 'driver_specific'], 'key order');
  t.same(await api.bdevLvolGetLvols({ lvs_name: 'lvs0' }), [
    { alias: 'lvs0/vol1', uuid: thin, name: 'vol1', is_thin_provisioned: true, is_snapshot: false, is_clone: false, is_esnap_clone: false, is_degraded: false, num_allocated_clusters: 0, lvs: { name: 'lvs0', uuid: lvsUuid } },
  ]);
  t.match(await api.bdevLvolGetLvstores(), [{ free_clusters: 4091 }], 'thin takes no clusters');
  const thick = await api.bdevLvolCreate({ uuid: lvsUuid, lvol_name: 'small', size_in_mib: 1 });
  t.match(await api.bdevGetBdevs({ name: thick }), [{ num_blocks: 1024, driver_specific: { lvol: { thin_provision: false, num_allocated_clusters: 1 } } }], '1 MiB on 4 MiB clusters is a 4 MiB volume');
  t.match(await api.bdevLvolGetLvstores(), [{ free_clusters: 4090 }], 'thick takes its clusters now');
  await t.rejects(api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'big', size_in_mib: 4091 * 4 }), { code: -32602, message: 'No space left on device' }, 'thick beyond free clusters (async)');
  t.ok(await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'over', size_in_mib: 100 * 1024, thin_provision: true }), 'thin may over-commit');
  await t.rejects(api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'vol1', size_in_mib: 4 }), { code: -17, message: 'File exists' });
  await t.rejects(api.bdevLvolCreate({ lvs_name: 'nope', lvol_name: 'x', size_in_mib: 4 }), { code: -19 });
  await t.rejects(api.bdevLvolCreate({ lvol_name: 'x', size_in_mib: 4 } as never), { code: -22 });
  await t.rejects(api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'x', size_in_mib: 4, clear_method: 'bogus' as never }), { code: -22 });
  await t.rejects(api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'y'.repeat(64), size_in_mib: 4 }), { code: -22 });
  await t.rejects(api.bdevGetBdevs({ name: 'lvs0/none' }), { code: -19 });
  const file = await control.simGetLvolFile({ name: 'lvs0/vol1' });
  t.same(file, { uuid: thin, path: file.path, size_bytes: 10 * GiB, block_size: 4096 });
  t.equal(path.basename(file.path), `${thin}.img`, 'documented naming scheme');
  const stat = statSync(file.path);
  t.equal(stat.size, 10 * GiB);
  t.ok(stat.blocks * 512 < MiB, 'sparse');
  await t.rejects(control.simGetLvolFile({ name: 'Nvme0n1' }), { code: -19 }, 'not an lvol');
});

t.test('resize: rounding, thick space, read-only, exported shrink (RPC.md §2.4)', async (t) => {
  const { api, control } = await startSim(t);
  await withLvstore(api);
  const uuid = await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'vol', size_in_mib: 8 });
  t.equal(await api.bdevLvolResize({ name: 'lvs0/vol', size_in_mib: 9 }), true);
  t.match(await api.bdevGetBdevs({ name: uuid }), [{ num_blocks: 3 * 1024, driver_specific: { lvol: { num_allocated_clusters: 3 } } }], 'grown to 3 clusters');
  t.equal((await control.simGetLvolFile({ name: uuid })).size_bytes, 12 * MiB);
  t.equal(statSync((await control.simGetLvolFile({ name: uuid })).path).size, 12 * MiB, 'file truncated in place');
  await t.rejects(api.bdevLvolResize({ name: uuid, size_in_mib: 4092 * 4 }), { code: -32602, message: 'No space left on device' });
  await api.bdevLvolResize({ name: uuid, size_in_mib: 4 });
  t.match(await api.bdevLvolGetLvstores(), [{ free_clusters: 4090 }], 'shrink frees clusters');
  await api.bdevLvolSnapshot({ lvol_name: uuid, snapshot_name: 'snap' });
  await t.rejects(api.bdevLvolResize({ name: 'lvs0/snap', size_in_mib: 8 }), { code: -32602, message: 'Operation not permitted' });
  await t.rejects(api.bdevLvolResize({ name: 'lvs0/none', size_in_mib: 8 }), { code: -19 });
  await api.nvmfCreateSubsystem({ nqn: 'nqn.2016-06.io.spdk:vol', allow_any_host: true });
  await api.nvmfSubsystemAddNs({ nqn: 'nqn.2016-06.io.spdk:vol', namespace: { bdev_name: 'lvs0/vol' } });
  t.equal(await api.bdevLvolResize({ name: uuid, size_in_mib: 40 }), true, 'growing an exported lvol is fine');
  await t.rejects(api.bdevLvolResize({ name: uuid, size_in_mib: 20 }), { code: -32602, message: 'Device or resource busy' });
  t.match(await api.bdevGetBdevs({ name: uuid }), [{ num_blocks: 5 * 1024 }], '…but it was shrunk anyway, as real SPDK does');
});

t.test('snapshots and clones: the dependency graph and delete rules (RPC.md §3.3)', async (t) => {
  const { api, control } = await startSim(t);
  await withLvstore(api);
  const vol = await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'vol', size_in_mib: 8 });
  const volFile = (await control.simGetLvolFile({ name: vol })).path;
  const handle = await open(volFile, 'r+');
  await handle.write(Buffer.from('snapshot me'), 0, 11, 5 * MiB);
  await handle.close();
  const snap = await api.bdevLvolSnapshot({ lvol_name: 'lvs0/vol', snapshot_name: 'snap' });
  const lvols = async (): Promise<Record<string, unknown>> => Object.fromEntries((await api.bdevLvolGetLvols()).map((lvol) => [lvol.name, lvol]));
  t.match(await lvols(), {
    vol: { is_thin_provisioned: true, is_clone: true, is_snapshot: false, num_allocated_clusters: 0 },
    snap: { uuid: snap, is_thin_provisioned: false, is_snapshot: true, is_clone: false, num_allocated_clusters: 2 },
  }, 'the snapshot takes over the clusters; the source becomes a thin clone');
  t.match(await api.bdevGetBdevs({ name: vol }), [{ driver_specific: { lvol: { clone: true, base_snapshot: 'snap' } } }]);
  t.match(await api.bdevGetBdevs({ name: snap }), [{ supported_io_types: { write: false, read: true }, driver_specific: { lvol: { snapshot: true, clones: ['vol'] } } }]);
  t.match(await api.bdevLvolGetLvstores(), [{ free_clusters: 4089 }], 'metadata only: no clusters taken');
  const snapFile = (await control.simGetLvolFile({ name: snap })).path;
  t.equal(readFileSync(snapFile).subarray(5 * MiB, 5 * MiB + 11).toString(), 'snapshot me', 'the snapshot holds the data');
  await t.rejects(api.bdevLvolSnapshot({ lvol_name: vol, snapshot_name: 'snap' }), { code: -32602, message: 'File exists' }, 'name taken (async)');
  await t.rejects(api.bdevLvolSnapshot({ lvol_name: snap, snapshot_name: 'snap2' }), { code: -32602, message: 'Invalid argument' }, 'a snapshot is read-only');
  await t.rejects(api.bdevLvolClone({ snapshot_name: vol, clone_name: 'c' }), { code: -32602, message: 'Invalid argument' }, 'writable source');
  const clone = await api.bdevLvolClone({ snapshot_name: 'lvs0/snap', clone_name: 'clone1' });
  t.match(await api.bdevGetBdevs({ name: clone }), [{ num_blocks: 2048, driver_specific: { lvol: { thin_provision: true, clone: true, num_allocated_clusters: 0, base_snapshot: 'snap' } } }]);
  await t.rejects(api.bdevLvolClone({ snapshot_name: snap, clone_name: 'clone1' }), { code: -32602, message: 'File exists' });
  await t.rejects(api.bdevLvolDelete({ name: snap }), { code: -32603, message: 'Operation not permitted' }, 'two clones: refused');
  t.equal(await api.bdevLvolDelete({ name: 'lvs0/clone1' }), true);
  t.notOk(existsSync((await control.simGetLvolFile({ name: vol })).path.replace(vol, clone)), 'its file is gone');
  t.equal(await api.bdevLvolDelete({ name: snap }), true, 'one clone: deletable');
  t.match(await lvols(), { vol: { is_clone: false, num_allocated_clusters: 2 } }, 'the clone inherits the clusters');
  t.match(await api.bdevLvolGetLvstores(), [{ free_clusters: 4089 }]);
  await t.rejects(api.bdevLvolDelete({ name: snap }), { code: -19 });
});

t.test('set_read_only: irreversible, clonable, write io type fixed until reload (RPC.md §3.3)', async (t) => {
  const { api } = await startSim(t);
  await withLvstore(api);
  const base = await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'base', size_in_mib: 4, thin_provision: true });
  t.equal(await api.bdevLvolSetReadOnly({ name: 'lvs0/base' }), true);
  t.match(await api.bdevGetBdevs({ name: base }), [{ supported_io_types: { write: true } }]);
  await api.bdevLvolClone({ snapshot_name: base, clone_name: 'child' });
  t.match(await api.bdevLvolGetLvols(), [{ name: 'base', is_snapshot: true }, { name: 'child', is_clone: true }], 'a cloned read-only lvol reports is_snapshot');
  await t.rejects(api.bdevLvolSetReadOnly({ name: 'lvs0/none' }), { code: -19 });
});

t.test('deleting an lvstore destroys its lvols and their files', async (t) => {
  const { api, control } = await startSim(t);
  await withLvstore(api);
  const vol = await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'vol', size_in_mib: 4 });
  await api.bdevLvolSnapshot({ lvol_name: vol, snapshot_name: 's' });
  const file = (await control.simGetLvolFile({ name: vol })).path;
  t.equal(await api.bdevLvolDeleteLvstore({ lvs_name: 'lvs0' }), true);
  t.same(await api.bdevLvolGetLvstores(), []);
  t.same((await api.bdevGetBdevs()).map((bdev) => bdev.name), ['Nvme0n1']);
  t.notOk(existsSync(file));
  await t.rejects(api.bdevLvolDeleteLvstore({ lvs_name: 'lvs0' }), { code: -19 });
});

t.test('AIO and malloc bdevs; unloading by base removal and reloading by examine (RPC.md §2.2, §3.6)', async (t) => {
  const { api, dir } = await startSim(t);
  const image = path.join(dir, 'aio.img');
  writeFileSync(image, Buffer.alloc(0));
  const handle = await open(image, 'r+');
  await handle.truncate(64 * MiB);
  await handle.close();
  await t.rejects(api.bdevAioCreate({ name: 'aio0', filename: image }), { code: -22 }, 'block_size is mandatory for regular files');
  await t.rejects(api.bdevAioCreate({ name: 'aio0', filename: path.join(dir, 'none.img'), block_size: 4096 }), { code: -2, message: 'No such file or directory' });
  t.equal(await api.bdevAioCreate({ name: 'aio0', filename: image, block_size: 4096 }), 'aio0');
  await t.rejects(api.bdevAioCreate({ name: 'aio0', filename: image, block_size: 4096 }), { code: -17 });
  t.match(await api.bdevGetBdevs({ name: 'aio0' }), [{ product_name: 'AIO disk', num_blocks: 16384, driver_specific: { aio: { filename: image, readonly: false } } }]);
  await api.bdevLvolCreateLvstore({ bdev_name: 'aio0', lvs_name: 'lvs0' });
  const vol = await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'v', size_in_mib: 4 });
  await api.nvmfCreateSubsystem({ nqn: 'nqn.2016-06.io.spdk:v', allow_any_host: true });
  await api.nvmfSubsystemAddNs({ nqn: 'nqn.2016-06.io.spdk:v', namespace: { bdev_name: vol } });
  t.equal(await api.bdevAioDelete({ name: 'aio0' }), true);
  t.same(await api.bdevLvolGetLvstores(), [], 'unloaded with its base');
  t.same((await api.nvmfGetSubsystems({ nqn: 'nqn.2016-06.io.spdk:v' }))[0]!.namespaces, [], 'its namespace was hot-removed');
  await api.bdevAioCreate({ name: 'aio1', filename: image, block_size: 4096 });
  t.match(await api.bdevLvolGetLvols(), [{ uuid: vol, name: 'v', lvs: { name: 'lvs0' } }], 'examine loaded it again');
  t.match(await api.bdevLvolGetLvstores(), [{ base_bdev: 'aio1' }]);
  t.equal(await api.bdevMallocCreate({ block_size: 512, num_blocks: 8192 }), 'Malloc0');
  t.match(await api.bdevGetBdevs({ name: 'Malloc0' }), [{ product_name: 'Malloc disk', block_size: 512, driver_specific: {} }]);
  await t.rejects(api.bdevMallocCreate({ block_size: 100, num_blocks: 8 }), { code: -22 });
  await t.rejects(api.bdevMallocDelete({ name: 'aio1' }), { code: -19 }, 'not a malloc bdev');
  t.equal(await api.bdevMallocDelete({ name: 'Malloc0' }), true);
});
