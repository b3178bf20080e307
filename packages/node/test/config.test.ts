// Configuration parsing (DESIGN §9): defaults, and one clear error naming the variable for bad values.
import t from 'tap';
import { deviceBytesForGroups } from '@ringblock/engine';
import { parseConfig, parseConfigWithFlags } from '../src/config.js';

const TOKEN = { RINGBLOCK_TOKEN: 'a-cluster-token-for-the-test' };

t.test('SPDK backing settings: defaults and the host side of the attach', async (t) => {
  t.match(parseConfig(TOKEN), { backing: 'file', volumeAttach: 'auto', volumeHost: undefined, nvmeHostNqn: undefined, nvmeCtrlLossTmoS: undefined, nvmfTransport: undefined });
  t.match(
    parseConfig({ ...TOKEN, RINGBLOCK_BACKING: 'spdk', RINGBLOCK_VOLUME_ATTACH: 'nvme', RINGBLOCK_VOLUME_HOST: 'storage-0', RINGBLOCK_NVME_HOSTNQN: 'nqn.2026-12.io.example:host-1', RINGBLOCK_NVME_CTRL_LOSS_TMO: '-1' }),
    { backing: 'spdk', volumeAttach: 'nvme', volumeHost: 'storage-0', nvmeHostNqn: 'nqn.2026-12.io.example:host-1', nvmeCtrlLossTmoS: -1 },
  );
  t.equal(parseConfig({ ...TOKEN, RINGBLOCK_NVMF_TRANSPORT: 'RDMA' }).nvmfTransport, 'rdma');
  t.throws(() => parseConfig({ ...TOKEN, RINGBLOCK_NVMF_TRANSPORT: 'fc' }), { code: 'BAD_CONFIG', message: /RINGBLOCK_NVMF_TRANSPORT/ });
  t.throws(() => parseConfig({ ...TOKEN, RINGBLOCK_BACKING: 'nvme' }), { code: 'BAD_CONFIG', message: /RINGBLOCK_BACKING/ });
  t.throws(() => parseConfig({ ...TOKEN, RINGBLOCK_VOLUME_ATTACH: 'iscsi' }), { code: 'BAD_CONFIG', message: /RINGBLOCK_VOLUME_ATTACH.*auto, nvme, loop, file/ });
  t.throws(() => parseConfig({ ...TOKEN, RINGBLOCK_NVME_CTRL_LOSS_TMO: '-5' }), { code: 'BAD_CONFIG', message: /RINGBLOCK_NVME_CTRL_LOSS_TMO/ });
  t.throws(() => parseConfig({}), { code: 'BAD_CONFIG', message: /RINGBLOCK_TOKEN/ });
});

t.test('replica calls: the binary protocol by default, HTTP when asked, anything else refused', async (t) => {
  t.equal(parseConfig({ ...TOKEN }).peerProtocol, 'binary');
  t.equal(parseConfig({ ...TOKEN, RINGBLOCK_PEER_PROTOCOL: 'http' }).peerProtocol, 'http');
  t.throws(() => parseConfig({ ...TOKEN, RINGBLOCK_PEER_PROTOCOL: 'grpc' }), { code: 'BAD_CONFIG', message: /RINGBLOCK_PEER_PROTOCOL.*binary, http.*"grpc"/ });
});

t.test('a device too small for the engine is refused naming RINGBLOCK_DEVICE_SIZE, not later by the engine', async (t) => {
  const smallest = deviceBytesForGroups(1);
  t.equal(parseConfig({ ...TOKEN, RINGBLOCK_DEVICE_SIZE: String(smallest) }).deviceSizeBytes, smallest);
  t.throws(() => parseConfig({ ...TOKEN, RINGBLOCK_DEVICE_SIZE: '1M' }), { code: 'BAD_CONFIG', variable: 'DEVICE_SIZE', message: /^invalid configuration: RINGBLOCK_DEVICE_SIZE / });
  t.throws(() => parseConfig({ ...TOKEN, RINGBLOCK_DEVICE_SIZE: String(smallest - 1) }), { code: 'BAD_CONFIG', variable: 'DEVICE_SIZE' });
});

t.test('flags are the variables by another name; a flag nothing reads (a typo) stops start-up naming it', async (t) => {
  const config = parseConfigWithFlags(TOKEN, ['--port', '3005', '--device-size=64M', '--zone', 'z1', '--replication-factor', '2']);
  t.match(config, { port: 3005, deviceSizeBytes: 64 * 1024 * 1024, zone: 'z1', replicationFactor: 2 });
  t.equal(parseConfigWithFlags({ ...TOKEN, RINGBLOCK_PORT: '3001' }, ['--port', '3002']).port, 3002, 'a flag wins over the variable');
  t.throws(() => parseConfigWithFlags(TOKEN, ['--replication-facter', '5']), { code: 'BAD_CONFIG', variable: 'REPLICATION_FACTER', message: /RINGBLOCK_REPLICATION_FACTER \(flag --replication-facter\) is not a setting/ });
  t.throws(() => parseConfigWithFlags(TOKEN, ['--port', 'abc']), { code: 'BAD_CONFIG', variable: 'PORT' }, 'bad values still name their variable');
  // Unknown variables in the environment are not flags: other software's RINGBLOCK_* stay allowed.
  t.equal(parseConfigWithFlags({ ...TOKEN, RINGBLOCK_SOMETHING_ELSE: 'x' }, []).port, 3000);
});
