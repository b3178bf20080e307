// Configuration parsing (DESIGN §9): defaults, and one clear error naming the variable for bad values.
import t from 'tap';
import { parseConfig } from '../src/config.js';

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
