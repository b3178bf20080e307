// The host side of a volume: nvme-cli command lines, finding /dev/nvmeXnY by NQN in a fixture sysfs
// tree (the layouts libnvme walks), the kernel initiator's decisions around the commands, and loop
// devices over lvol files (for real, where losetup works here).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  findNvmeNamespace, isAlreadyConnected, KernelNvmeInitiator, LoopAttacher, nvmeConnectArgv, nvmeDisconnectArgv,
  nvmeRescanArgv, parseAssociated, parseLoopList, subsystemControllers, volumeNqn, type CommandRunner, type VolumeExport,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const NQN = volumeNqn('node-1');
const OTHER_NQN = volumeNqn('node-2');
const RDMA: VolumeExport = { nqn: NQN, trtype: 'RDMA', traddr: '10.0.0.7', trsvcid: '4420', nsid: 1 };

t.test('nvme connect / disconnect / ns-rescan command lines', async (t) => {
  t.same(nvmeConnectArgv(RDMA), ['connect', '--transport=rdma', '--traddr=10.0.0.7', '--trsvcid=4420', `--nqn=${NQN}`]);
  t.same(
    nvmeConnectArgv({ ...RDMA, trtype: 'TCP', traddr: 'fe80::1%eth0' }, { hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:0f8fad5b-d9cb-469f-a165-70867728950e', ctrlLossTmoS: -1, reconnectDelayS: 2, nrIoQueues: 4 }),
    ['connect', '--transport=tcp', '--traddr=fe80::1%eth0', '--trsvcid=4420', `--nqn=${NQN}`, '--hostnqn=nqn.2014-08.org.nvmexpress:uuid:0f8fad5b-d9cb-469f-a165-70867728950e', '--ctrl-loss-tmo=-1', '--reconnect-delay=2', '--nr-io-queues=4'],
  );
  t.same(nvmeDisconnectArgv(NQN), ['disconnect', `--nqn=${NQN}`]);
  t.same(nvmeRescanArgv('nvme12'), ['ns-rescan', '/dev/nvme12']);
  const bad = { code: 'INITIATOR_BAD_INPUT' };
  t.throws(() => nvmeConnectArgv({ ...RDMA, nqn: 'not-an-nqn' }), { ...bad, message: /subsystem NQN "not-an-nqn"/ });
  t.throws(() => nvmeConnectArgv({ ...RDMA, traddr: '10.0.0.7 --duplicate-connect' }), { ...bad, message: /traddr/ }, 'no option smuggled in through an address');
  t.throws(() => nvmeConnectArgv({ ...RDMA, trsvcid: '70000' }), { ...bad, message: /trsvcid/ });
  t.throws(() => nvmeConnectArgv(RDMA, { hostnqn: 'host' }), { ...bad, message: /host NQN/ });
  t.throws(() => nvmeConnectArgv(RDMA, { ctrlLossTmoS: -2 }), { ...bad, message: /ctrl-loss-tmo/ });
  t.throws(() => nvmeConnectArgv(RDMA, { reconnectDelayS: 0 }), { ...bad, message: /reconnect-delay/ });
  t.throws(() => nvmeRescanArgv('/dev/nvme0; reboot'), bad);
  t.ok(isAlreadyConnected('Failed to write to /dev/nvme-fabrics: Operation already in progress\n'));
  t.notOk(isAlreadyConnected('Failed to write to /dev/nvme-fabrics: Connection refused\n'));
});

/** Writes sysfs attribute files: { 'class/nvme/nvme0/state': 'live', … } under root. */
function writeTree(root: string, files: Record<string, string>): void {
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), `${content}\n`);
  }
}

/**
 * A host with native multipath: subsystem nvme-subsys2 (ours) reached over two controllers, with two
 * namespaces and the per-path nodes (nvme2c2n1…) the kernel lists beside the heads; nvme-subsys10 is
 * another volume's.
 */
function multipathHost(root: string, ourState = 'live'): void {
  writeTree(root, {
    'class/nvme-subsystem/nvme-subsys10/subsysnqn': OTHER_NQN,
    'class/nvme-subsystem/nvme-subsys10/nvme10/state': 'live',
    'class/nvme-subsystem/nvme-subsys10/nvme10n1/nsid': '1',
    'class/nvme-subsystem/nvme-subsys2/subsysnqn': NQN,
    'class/nvme-subsystem/nvme-subsys2/nvme2/state': ourState,
    'class/nvme-subsystem/nvme-subsys2/nvme2/transport': 'rdma',
    'class/nvme-subsystem/nvme-subsys2/nvme2/address': 'traddr=10.0.0.7,trsvcid=4420',
    'class/nvme-subsystem/nvme-subsys2/nvme3/state': 'connecting',
    'class/nvme-subsystem/nvme-subsys2/nvme2c2n2/nsid': '1',
    'class/nvme-subsystem/nvme-subsys2/nvme2n2/nsid': '1',
    'class/nvme-subsystem/nvme-subsys2/nvme2n1/nsid': '7',
    'class/nvme/nvme2/subsysnqn': NQN,
    'class/nvme/nvme2/state': ourState,
    'class/nvme/nvme3/subsysnqn': NQN,
    'class/nvme/nvme3/state': 'connecting',
    'class/nvme/nvme10/subsysnqn': OTHER_NQN,
  });
}

t.test('sysfs: the namespace head by NQN and NSID, with its controllers (multipath layout)', async (t) => {
  const root = tempDir(t, 'sysfs');
  const roots = { sysfsRoot: root, devRoot: '/dev' };
  t.equal(await findNvmeNamespace(roots, NQN, 1), undefined, 'no NVMe on this host at all');
  multipathHost(root);
  t.same(await findNvmeNamespace(roots, NQN, 1), {
    name: 'nvme2n2',
    device: '/dev/nvme2n2',
    nsid: 1,
    controllers: [
      { name: 'nvme2', state: 'live', transport: 'rdma', address: 'traddr=10.0.0.7,trsvcid=4420' },
      { name: 'nvme3', state: 'connecting', transport: 'unknown', address: '' },
    ],
  }, 'matched by the nsid attribute, not the name; the per-path node nvme2c2n2 is not a device to open');
  t.match(await findNvmeNamespace(roots, NQN, 7), { name: 'nvme2n1', device: '/dev/nvme2n1' });
  t.match(await findNvmeNamespace(roots, OTHER_NQN, 1), { name: 'nvme10n1' });
  t.equal(await findNvmeNamespace(roots, NQN, 3), undefined, 'a namespace the subsystem does not have');
  t.equal(await findNvmeNamespace(roots, volumeNqn('node-3'), 1), undefined, 'a subsystem not connected');
  t.same((await subsystemControllers(root, NQN)).map((c) => c.name), ['nvme2', 'nvme3'], 'numeric order: nvme2 before nvme10');
});

t.test('sysfs: kernels without the subsystem class list namespaces under each controller', async (t) => {
  const root = tempDir(t, 'sysfs');
  writeTree(root, {
    'class/nvme/nvme0/subsysnqn': OTHER_NQN,
    'class/nvme/nvme0/nvme0n1/nsid': '1',
    'class/nvme/nvme1/subsysnqn': NQN,
    'class/nvme/nvme1/state': 'live',
    'class/nvme/nvme1/transport': 'tcp',
    'class/nvme/nvme1/nvme1n1/nsid': '1',
  });
  t.same(await findNvmeNamespace({ sysfsRoot: root, devRoot: '/devices' }, NQN, 1), {
    name: 'nvme1n1',
    device: '/devices/nvme1n1',
    nsid: 1,
    controllers: [{ name: 'nvme1', state: 'live', transport: 'tcp', address: '' }],
  });
});

/** A runner standing in for nvme-cli: records each call and lets the test play the kernel's part. */
function recordingRunner(onCall: (argv: readonly string[]) => void | Promise<void>): { run: CommandRunner; calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    run: async (file, argv) => {
      calls.push([file, ...argv]);
      await onCall(argv);
      return { stdout: '', stderr: '' };
    },
  };
}

/** A path the initiator accepts as a block device: a loop device when losetup works, else undefined. */
function someBlockDevice(t: { teardown(fn: () => void): void }, dir: string): string | undefined {
  const file = path.join(dir, 'blockdev.img');
  writeFileSync(file, '');
  truncateSync(file, 1024 * 1024);
  try {
    const device = execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    t.teardown(() => execFileSync('losetup', ['--detach', device], { stdio: 'ignore' }));
    return device;
  } catch {
    return undefined;
  }
}

t.test('kernel initiator: connect, wait for the namespace the kernel adds, reuse a live connection', async (t) => {
  const root = tempDir(t, 'sysfs');
  const devRoot = path.join(root, 'dev');
  mkdirSync(devRoot);
  const blockDevice = someBlockDevice(t, root);
  symlinkSync(blockDevice ?? '/dev/null', path.join(devRoot, 'nvme2n2'));
  // The kernel adds the namespace a moment after `nvme connect` returns.
  const { run, calls } = recordingRunner((argv) => {
    if (argv[0] === 'connect') setTimeout(() => multipathHost(root), 150);
  });
  const initiator = new KernelNvmeInitiator({ sysfsRoot: root, devRoot, run, nvmeCli: '/usr/sbin/nvme', deviceWaitMs: 5_000, pollMs: 20, ctrlLossTmoS: 30 });
  if (blockDevice === undefined) {
    await t.rejects(initiator.connect(RDMA), { code: 'INITIATOR_DEVICE_NOT_FOUND', message: /not a block device/ }, 'losetup unusable here: /dev/null is refused as a device');
    return;
  }
  const found = await initiator.connect(RDMA);
  t.equal(found.device, path.join(devRoot, 'nvme2n2'));
  t.same(calls, [['/usr/sbin/nvme', 'connect', '--transport=rdma', '--traddr=10.0.0.7', '--trsvcid=4420', `--nqn=${NQN}`, '--ctrl-loss-tmo=30']]);
  t.equal((await initiator.connect(RDMA)).device, found.device);
  t.equal(calls.length, 1, 'a namespace with a live controller is not connected again (a restarted peer)');

  await initiator.rescan(NQN);
  t.same(calls.slice(1), [['/usr/sbin/nvme', 'ns-rescan', '/dev/nvme2'], ['/usr/sbin/nvme', 'ns-rescan', '/dev/nvme3']]);
  await initiator.disconnect(NQN);
  t.same(calls.at(-1), ['/usr/sbin/nvme', 'disconnect', `--nqn=${NQN}`]);
  const before = calls.length;
  await initiator.disconnect(volumeNqn('node-3'));
  t.equal(calls.length, before, 'nothing connected: nothing to run');
});

t.test('kernel initiator: failures are typed; "already connected" is not one', async (t) => {
  const root = tempDir(t, 'sysfs');
  const failing: CommandRunner = async () => {
    throw Object.assign(new Error('nvme connect: Connection refused'), { code: 'INITIATOR_COMMAND_FAILED', stderr: 'Failed to write to /dev/nvme-fabrics: Connection refused\n' });
  };
  await t.rejects(new KernelNvmeInitiator({ sysfsRoot: root, run: failing, deviceWaitMs: 100 }).connect(RDMA), { code: 'INITIATOR_COMMAND_FAILED', message: /Connection refused/ });

  const already: CommandRunner = async () => {
    throw Object.assign(new Error('exit 114'), { stderr: 'Failed to write to /dev/nvme-fabrics: Operation already in progress\n' });
  };
  await t.rejects(new KernelNvmeInitiator({ sysfsRoot: root, run: already, deviceWaitMs: 200, pollMs: 20 }).connect(RDMA), { code: 'INITIATOR_DEVICE_NOT_FOUND', message: /no live block device/ }, 'tolerated, then the device is looked for (bounded)');

  multipathHost(root, 'connecting');
  const { run, calls } = recordingRunner(() => {});
  await t.rejects(new KernelNvmeInitiator({ sysfsRoot: root, run, deviceWaitMs: 200, pollMs: 20 }).connect(RDMA), { code: 'INITIATOR_DEVICE_NOT_FOUND' }, 'a namespace whose controllers are all reconnecting is not live');
  t.equal(calls.length, 1, 'so connect was run');
  await t.rejects(new KernelNvmeInitiator({ sysfsRoot: root, run }).connect({ ...RDMA, trsvcid: 'x' }), { code: 'INITIATOR_BAD_INPUT' });
  t.equal(calls.length, 1, 'bad input runs nothing');
});

t.test('losetup output parsing', async (t) => {
  t.same(parseAssociated('/dev/loop3: [2049]:1234 (/data/a.img)\n/dev/loop12: [2049]:1234 (/data/a.img)\n'), ['/dev/loop3', '/dev/loop12']);
  t.same(parseAssociated(''), []);
  t.same(parseLoopList('{"loopdevices": [{"name": "/dev/loop0", "back-file": "/x/a (deleted)"}, {"name": "/dev/loop1", "back-file": null}]}'), [{ name: '/dev/loop0', backFile: '/x/a' }]);
  t.same(parseLoopList(''), []);
  t.throws(() => parseLoopList('loop0 /x'), { code: 'INITIATOR_COMMAND_FAILED' });
});

t.test('loop devices over lvol files, for real: attach once, grow, detach, clean up a directory', async (t) => {
  const loop = new LoopAttacher();
  if (!(await loop.usable())) {
    t.pass('skipped: losetup is not usable here', { skip: true });
    return;
  }
  const dir = tempDir(t, 'loop');
  const files = ['a.img', 'b.img'].map((name) => path.join(dir, name));
  for (const file of files) {
    writeFileSync(file, '');
    truncateSync(file, 4 * 1024 * 1024);
  }
  t.teardown(() => loop.detachUnder(dir));
  const device = await loop.attach(files[0]!);
  t.match(device, /^\/dev\/loop\d+$/);
  t.equal(await loop.attach(files[0]!), device, 'the loop device already over the file is used again');
  const sectors = () => Number(readFileSync(`/sys/block/${path.basename(device)}/size`, 'utf8'));
  t.equal(sectors(), 8192);
  truncateSync(files[0]!, 8 * 1024 * 1024);
  t.equal(sectors(), 8192, 'a loop device does not follow its file by itself');
  await loop.refresh(device);
  t.equal(sectors(), 16384, 'it does after --set-capacity');
  await loop.detach(files[0]!);
  t.same(parseAssociated(execFileSync('losetup', ['--associated', files[0]!], { encoding: 'utf8' })), []);

  const b = await loop.attach(files[1]!);
  t.same(await loop.detachUnder(dir), [b]);
  t.same(await loop.detachUnder(dir), [], 'nothing left');
  await t.rejects(loop.attach('relative.img'), { code: 'INITIATOR_BAD_INPUT' });
});
