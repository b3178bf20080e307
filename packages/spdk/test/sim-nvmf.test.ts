// NVMe-oF target wrappers against spdk-sim (RPC.md §2.5, §3.5–3.8): transports, subsystems, listeners,
// namespaces and their claims, hosts, hot removal, and the happy path of §5.
import t from 'tap';
import { DISCOVERY_NQN } from '../src/index.js';
import { startSim, withLvstore } from './helpers.js';

const NQN = 'nqn.2016-06.io.spdk:vol1';
const RDMA_LISTENER = { trtype: 'rdma', adrfam: 'ipv4', traddr: '192.168.100.8', trsvcid: '4420' };
const INVALID_PARAMETERS = { code: -32602, message: 'Invalid parameters' };

t.test('transports: create once, defaults, options, errors (RPC.md §2.5)', async (t) => {
  const { api } = await startSim(t);
  await t.rejects(api.nvmfGetTransports({ trtype: 'RDMA' }), { code: -19, message: 'No such device' });
  t.equal(await api.nvmfCreateTransport({ trtype: 'rdma' }), true);
  const [rdma] = await api.nvmfGetTransports({ trtype: 'RDMA' });
  t.same(rdma, {
    trtype: 'RDMA', max_queue_depth: 128, max_io_qpairs_per_ctrlr: 127, in_capsule_data_size: 4096, max_io_size: 131072, max_aq_depth: 128,
    iobuf_small_cache_size: 128, iobuf_large_cache_size: 16, dif_insert_or_strip: false, zcopy: false, max_srq_depth: 4096, no_srq: false,
    acceptor_backlog: 100, no_wr_batching: false, abort_timeout_sec: 1, ack_timeout: 0, data_wr_pool_size: 4095, disable_command_passthru: false,
    kas: 100, min_kato: 10000,
  }, 'RPC.md §2.5 RDMA defaults, key `trtype` (not `type`, §6)');
  await t.rejects(api.nvmfCreateTransport({ trtype: 'RDMA' }), { code: -32603, message: "Transport type 'RDMA' already exists" }, 'not idempotent');
  await t.rejects(api.nvmfCreateTransport({ trtype: 'FC' }), { code: -32602, message: "Invalid transport type 'FC'" });
  t.notOk('num_cqe' in rdma!, 'num_cqe only with no_srq');
  await api.nvmfCreateTransport({ trtype: 'TCP', max_queue_depth: 64, io_unit_size: 8192 });
  t.match(await api.nvmfGetTransports({ trtype: 'tcp' }), [{ trtype: 'TCP', max_queue_depth: 64, io_unit_size: 8192 }], 'options given override defaults');
  t.equal((await api.nvmfGetTransports()).length, 2);
  const noSrq = await startSim(t);
  await noSrq.api.nvmfCreateTransport({ trtype: 'RDMA', no_srq: true, num_cqe: 2048 });
  t.match(await noSrq.api.nvmfGetTransports(), [{ no_srq: true, num_cqe: 2048 }]);
  const noRdma = await startSim(t, { rdmaDevice: false });
  await t.rejects(noRdma.api.nvmfCreateTransport({ trtype: 'RDMA' }), { code: -32603, message: 'Failed to create transport.' }, 'no RDMA device (§3.8)');
  t.equal(await noRdma.api.nvmfCreateTransport({ trtype: 'TCP' }), true, 'TCP fallback');
});

t.test('subsystems: NQN/SN/MN/cntlid validation, sorting, shape, delete (RPC.md §2.5, §3.7)', async (t) => {
  const { api } = await startSim(t);
  t.same(await api.nvmfGetSubsystems(), [{ nqn: DISCOVERY_NQN, subtype: 'Discovery', listen_addresses: [], allow_any_host: true, hosts: [] }], 'only discovery at start');
  await api.nvmfCreateSubsystem({ nqn: 'nqn.2016-06.io.spdk:b' });
  await api.nvmfCreateSubsystem({ nqn: 'nqn.2016-06.io.spdk:a', serial_number: 'SPDK0001', model_number: 'Model', max_namespaces: 4 });
  const listed = await api.nvmfGetSubsystems();
  t.same(
    listed.map((subsystem) => subsystem.nqn),
    [DISCOVERY_NQN, 'nqn.2016-06.io.spdk:a', 'nqn.2016-06.io.spdk:b'],
    'sorted by NQN',
  );
  t.same(listed[2], {
    nqn: 'nqn.2016-06.io.spdk:b', subtype: 'NVMe', listen_addresses: [], allow_any_host: false, hosts: [], serial_number: '00000000000000000000',
    model_number: 'SPDK bdev Controller', max_namespaces: 32, passthrough: false, min_cntlid: 1, max_cntlid: 65519, dmrsl: 0, wzsl: 0, namespaces: [],
  }, 'defaults');
  t.match(listed[1], { serial_number: 'SPDK0001', model_number: 'Model', max_namespaces: 4 });
  for (const nqn of ['nqn.2016-06.io.spdk:b', 'nqn.2016-06.io.spdk', 'not-an-nqn', DISCOVERY_NQN]) {
    await t.rejects(api.nvmfCreateSubsystem({ nqn }), { code: -32603, message: `Unable to create subsystem ${nqn}` }, `${nqn}: exists or invalid`);
  }
  await t.rejects(api.nvmfCreateSubsystem({ nqn: 'nqn.2016-06.io.spdk:c', serial_number: 'x'.repeat(21) }), INVALID_PARAMETERS);
  await t.rejects(api.nvmfCreateSubsystem({ nqn: 'nqn.2016-06.io.spdk:c', model_number: 'bad\u0001' }), INVALID_PARAMETERS);
  await t.rejects(api.nvmfCreateSubsystem({ nqn: 'nqn.2016-06.io.spdk:c', min_cntlid: 10, max_cntlid: 5 }), { code: -32602, message: 'Invalid cntlid range [10-5]' });
  await t.rejects(api.nvmfGetSubsystems({ nqn: 'nqn.2016-06.io.spdk:A' }), { code: -32602, message: "Subsystem with NQN 'nqn.2016-06.io.spdk:A' not found" }, 'lookup is case-sensitive');
  const [first, second] = await Promise.allSettled([api.nvmfDeleteSubsystem({ nqn: 'nqn.2016-06.io.spdk:a' }), api.nvmfDeleteSubsystem({ nqn: 'nqn.2016-06.io.spdk:a' })]);
  t.same(first, { status: 'fulfilled', value: true });
  t.match(second, { status: 'rejected', reason: { code: -32603, message: 'Subsystem is already being destroyed.' } });
  await t.rejects(api.nvmfDeleteSubsystem({ nqn: 'nqn.2016-06.io.spdk:a' }), { code: -32602, message: "Subsystem with NQN 'nqn.2016-06.io.spdk:a' not found" });
});

t.test('listeners: transport needed, normalized output, duplicates refused (RPC.md §2.5, §3.8)', async (t) => {
  const { api } = await startSim(t);
  await api.nvmfCreateSubsystem({ nqn: NQN });
  await api.nvmfCreateSubsystem({ nqn: 'nqn.2016-06.io.spdk:vol2' });
  await t.rejects(api.nvmfSubsystemAddListener({ nqn: NQN, listen_address: RDMA_LISTENER }), INVALID_PARAMETERS, 'transport not created');
  await api.nvmfCreateTransport({ trtype: 'RDMA' });
  t.equal(await api.nvmfSubsystemAddListener({ nqn: NQN, listen_address: { trtype: 'rdma', traddr: '192.168.100.8', trsvcid: '4420' } }), true);
  await t.rejects(api.nvmfSubsystemAddListener({ nqn: NQN, listen_address: RDMA_LISTENER }), INVALID_PARAMETERS, 'same listener twice');
  t.equal(await api.nvmfSubsystemAddListener({ nqn: 'nqn.2016-06.io.spdk:vol2', listen_address: RDMA_LISTENER }), true, 'one address, many subsystems');
  t.equal(await api.nvmfSubsystemAddListener({ nqn: 'discovery', listen_address: RDMA_LISTENER }), true, '"discovery" names the discovery subsystem');
  t.same((await api.nvmfGetSubsystems({ nqn: NQN }))[0]!.listen_addresses, [{ trtype: 'RDMA', adrfam: 'IPv4', traddr: '192.168.100.8', trsvcid: '4420' }], 'IPv4 default, canonical spelling');
  t.match((await api.nvmfGetSubsystems({ nqn: DISCOVERY_NQN }))[0], { listen_addresses: [{ trtype: 'RDMA' }] });
  for (const address of [
    { trtype: 'rdma', traddr: '192.168.100.9' },
    { trtype: 'rdma', traddr: 'not-an-ip', trsvcid: '4420' },
    { trtype: 'rdma', adrfam: 'ipv6', traddr: '192.168.100.9', trsvcid: '4420' },
    { trtype: 'rdma', adrfam: 'xyz', traddr: '192.168.100.9', trsvcid: '4420' },
    { trtype: 'tcp', traddr: '192.168.100.9', trsvcid: '4420' },
  ]) {
    await t.rejects(api.nvmfSubsystemAddListener({ nqn: NQN, listen_address: address }), INVALID_PARAMETERS, JSON.stringify(address));
  }
  await t.rejects(api.nvmfSubsystemAddListener({ nqn: 'nqn.2016-06.io.spdk:zz', listen_address: RDMA_LISTENER }), { code: -32602, message: "Subsystem with NQN 'nqn.2016-06.io.spdk:zz' not found" });
  t.equal(await api.nvmfSubsystemRemoveListener({ nqn: NQN, listen_address: RDMA_LISTENER }), true);
  await t.rejects(api.nvmfSubsystemRemoveListener({ nqn: NQN, listen_address: RDMA_LISTENER }), INVALID_PARAMETERS, 'absent listener');
  t.same((await api.nvmfGetSubsystems({ nqn: NQN }))[0]!.listen_addresses, []);
});

t.test('namespaces: canonical names, NSIDs, claims, hot removal (RPC.md §2.5, §3.5, §3.6)', async (t) => {
  const { api } = await startSim(t);
  await withLvstore(api);
  const vol = await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'vol1', size_in_mib: 4, thin_provision: true });
  const other = await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'vol2', size_in_mib: 4, thin_provision: true });
  await api.nvmfCreateSubsystem({ nqn: NQN, max_namespaces: 2 });
  await api.nvmfCreateSubsystem({ nqn: 'nqn.2016-06.io.spdk:vol2' });
  t.equal(await api.nvmfSubsystemAddNs({ nqn: NQN, namespace: { bdev_name: 'lvs0/vol1' } }), 1);
  t.same((await api.nvmfGetSubsystems({ nqn: NQN }))[0]!.namespaces, [{ nsid: 1, bdev_name: vol, name: vol, nguid: vol.replaceAll('-', '').toUpperCase(), uuid: vol }], 'canonical bdev name; nguid/uuid from the bdev UUID');
  t.match(await api.bdevGetBdevs({ name: vol }), [{ claimed: true, claim_type: 'exclusive_write' }]);
  await t.rejects(api.nvmfSubsystemAddNs({ nqn: 'nqn.2016-06.io.spdk:vol2', namespace: { bdev_name: vol } }), INVALID_PARAMETERS, 'one lvol in two subsystems');
  await t.rejects(api.nvmfSubsystemAddNs({ nqn: NQN, namespace: { bdev_name: 'Nvme0n1' } }), INVALID_PARAMETERS, 'lvstore base is claimed');
  await t.rejects(api.nvmfSubsystemAddNs({ nqn: NQN, namespace: { bdev_name: 'none' } }), INVALID_PARAMETERS, 'missing bdev');
  await t.rejects(api.nvmfSubsystemAddNs({ nqn: NQN, namespace: { bdev_name: other, nsid: 1 } }), INVALID_PARAMETERS, 'NSID in use');
  await t.rejects(api.nvmfSubsystemAddNs({ nqn: NQN, namespace: { bdev_name: other, nsid: 3 } }), INVALID_PARAMETERS, 'NSID above max_namespaces');
  await t.rejects(api.nvmfSubsystemAddNs({ nqn: NQN, namespace: { bdev_name: other, nguid: 'xyz' } }), { code: -32602, message: 'Invalid nguid' });
  await t.rejects(api.nvmfSubsystemAddNs({ nqn: NQN, namespace: { bdev_name: other, eui64: '12' } }), { code: -32602, message: 'Invalid eui64' });
  await t.rejects(api.nvmfSubsystemAddNs({ nqn: NQN, namespace: { bdev_name: other, bogus: true } as never }), INVALID_PARAMETERS, 'the namespace object decodes strictly');
  t.equal(await api.nvmfSubsystemAddNs({ nqn: NQN, namespace: { bdev_name: other, eui64: '0011223344556677' }, bogus: true } as never), 2, 'relaxed: unknown top-level keys ignored');
  t.match((await api.nvmfGetSubsystems({ nqn: NQN }))[0]!.namespaces, [{}, { nsid: 2, eui64: '0011223344556677' }]);
  await t.rejects(api.nvmfSubsystemAddNs({ nqn: NQN, namespace: { bdev_name: await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'v3', size_in_mib: 4 }) } }), INVALID_PARAMETERS, 'no free slot');
  await t.rejects(api.nvmfSubsystemRemoveNs({ nqn: NQN, nsid: 7 }), INVALID_PARAMETERS);
  t.equal(await api.nvmfSubsystemRemoveNs({ nqn: NQN, nsid: 2 }), true);
  t.match(await api.bdevGetBdevs({ name: other }), [{ claimed: false }], 'claim released');
  t.equal(await api.bdevLvolDelete({ name: vol }), true, 'deleting an exported lvol is not refused…');
  t.same((await api.nvmfGetSubsystems({ nqn: NQN }))[0]!.namespaces, [], '…its namespace is silently removed');
  await api.nvmfSubsystemAddNs({ nqn: 'nqn.2016-06.io.spdk:vol2', namespace: { bdev_name: other } });
  await api.nvmfDeleteSubsystem({ nqn: 'nqn.2016-06.io.spdk:vol2' });
  t.match(await api.bdevGetBdevs({ name: other }), [{ claimed: false }], 'subsystem deletion releases claims');
  await api.nvmfSubsystemAddNs({ nqn: NQN, namespace: { bdev_name: other } });
  await api.bdevNvmeDetachController({ name: 'Nvme0' });
  t.same((await api.nvmfGetSubsystems({ nqn: NQN }))[0]!.namespaces, [], 'controller detach cascades to namespaces');
});

t.test('hosts and allow_any_host (RPC.md §2.5)', async (t) => {
  const { api } = await startSim(t);
  const host = 'nqn.2014-08.org.nvmexpress:uuid:5a1c0000-1111-2222-3333-444455556666';
  await api.nvmfCreateSubsystem({ nqn: NQN });
  t.equal(await api.nvmfSubsystemAddHost({ nqn: NQN, host }), true);
  await t.rejects(api.nvmfSubsystemAddHost({ nqn: NQN, host }), { code: -32603, message: 'Internal error' }, 'already listed');
  await t.rejects(api.nvmfSubsystemAddHost({ nqn: NQN, host: 'bogus' }), { code: -32603, message: 'Internal error' }, 'invalid host NQN');
  await t.rejects(api.nvmfSubsystemAddHost({ nqn: NQN, host: 'nqn.2016-06.io.spdk:h', psk: 'key0' }), { code: -32602 }, 'unknown key name');
  t.equal(await api.nvmfSubsystemAllowAnyHost({ nqn: NQN, allow_any_host: true }), true);
  t.match(await api.nvmfGetSubsystems({ nqn: NQN }), [{ allow_any_host: true, hosts: [{ nqn: host }] }]);
});

t.test('the happy path of RPC.md §5 over NVMe', async (t) => {
  const { api } = await startSim(t);
  t.equal(await api.frameworkWaitInit(), true);
  await api.bdevNvmeAttachController({ name: 'Nvme0', trtype: 'PCIe', traddr: '0000:00:04.0' });
  await t.rejects(api.bdevLvolGetLvstores({ lvs_name: 'lvs0' }), { code: -19 }, 'first boot');
  const lvs = await api.bdevLvolCreateLvstore({ bdev_name: 'Nvme0n1', lvs_name: 'lvs0' });
  const vol = await api.bdevLvolCreate({ lvs_name: 'lvs0', lvol_name: 'vol1', size_in_mib: 10240, thin_provision: true });
  await t.rejects(api.nvmfGetTransports({ trtype: 'RDMA' }), { code: -19 });
  await api.nvmfCreateTransport({ trtype: 'RDMA' });
  await api.nvmfCreateSubsystem({ nqn: NQN, serial_number: 'SPDK0001' });
  t.equal(await api.nvmfSubsystemAddNs({ nqn: NQN, namespace: { bdev_name: 'lvs0/vol1' } }), 1);
  await api.nvmfSubsystemAddHost({ nqn: NQN, host: 'nqn.2014-08.org.nvmexpress:uuid:5a1c0000-1111-2222-3333-444455556666' });
  await api.nvmfSubsystemAddListener({ nqn: NQN, listen_address: RDMA_LISTENER });
  t.match(await api.nvmfGetSubsystems({ nqn: NQN }), [{ namespaces: [{ nsid: 1, bdev_name: vol }], listen_addresses: [{ traddr: '192.168.100.8' }], hosts: [{}] }]);
  t.match(await api.bdevLvolGetLvstores(), [{ uuid: lvs }]);
});
