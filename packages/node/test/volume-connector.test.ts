// Which way a peer reaches its volume, from its settings and the volume's record (no command runs:
// the loop attacher's usability is decided by a runner standing in for losetup).
import t from 'tap';
import { LoopAttacher, newVolumeRecord, volumeNqn, type CommandRunner, type VolumeRecord } from '@ringblock/spdk';
import { chooseConnector, peerHostNqn } from '../src/volume-connector.js';

const base = newVolumeRecord({ name: 'node-1', host: 'storage-0', sizeMib: 64 }, 0);
const exported = (trtype: 'RDMA' | 'TCP', simFile?: string): VolumeRecord => ({
  ...base,
  export: { nqn: volumeNqn('node-1'), trtype, traddr: '10.0.0.7', trsvcid: '4420', nsid: 1 },
  ...(simFile ? { simFile } : {}),
});
const settings = { name: 'node-1', volumeAttach: 'auto' as const, nvmeHostNqn: undefined, nvmeCtrlLossTmoS: undefined, nvmfTransport: undefined };
const losetup = (usable: boolean): LoopAttacher => {
  const run: CommandRunner = async () => {
    if (!usable) throw new Error('losetup: cannot find an unused loop device');
    return { stdout: '/dev/loop7\n', stderr: '' };
  };
  return new LoopAttacher(run);
};

t.test('auto: the kernel initiator for real SPDK, a loop device or the file on spdk-sim', async (t) => {
  t.equal((await chooseConnector(settings, exported('RDMA'), losetup(true))).via, 'nvme-rdma');
  t.equal((await chooseConnector(settings, exported('TCP'), losetup(true))).via, 'nvme-tcp');
  t.equal((await chooseConnector(settings, exported('TCP', '/sim/lvols/a.img'), losetup(true))).via, 'loop');
  const file = await chooseConnector(settings, exported('TCP', '/sim/lvols/a.img'), losetup(false));
  t.equal(file.via, 'file', 'losetup unusable: the file');
  t.equal(await file.connect(exported('TCP', '/sim/lvols/a.img')), '/sim/lvols/a.img');
});

t.test('explicit modes, and what they cannot do', async (t) => {
  t.equal((await chooseConnector({ ...settings, volumeAttach: 'nvme' }, exported('TCP', '/sim/lvols/a.img'), losetup(true))).via, 'nvme-tcp', 'nvme when asked, whatever the record');
  t.equal((await chooseConnector({ ...settings, volumeAttach: 'loop' }, exported('TCP', '/sim/lvols/a.img'), losetup(false))).via, 'loop', 'loop is not second-guessed');
  await t.rejects(chooseConnector({ ...settings, volumeAttach: 'file' }, exported('RDMA'), losetup(true)), { name: 'VolumeConnectError', message: /RINGBLOCK_VOLUME_ATTACH=file needs a volume on spdk-sim/ });
});

t.test('a peer set to one transport refuses a volume exported over the other', async (t) => {
  await t.rejects(chooseConnector({ ...settings, nvmfTransport: 'rdma' }, exported('TCP'), losetup(true)), { name: 'VolumeConnectError', message: /exported over tcp, but RINGBLOCK_NVMF_TRANSPORT=rdma/ });
  t.equal((await chooseConnector({ ...settings, nvmfTransport: 'rdma' }, exported('RDMA'), losetup(true))).via, 'nvme-rdma');
  t.equal(peerHostNqn('blockstore-2'), 'nqn.2026-12.io.ringblock:host:blockstore-2');
});
