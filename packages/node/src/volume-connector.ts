// How this host reaches its attached backing volume (DESIGN §8): the kernel NVMe-oF initiator by the
// export's NQN in production; on spdk-sim a loop device over the lvol's data file where losetup
// works here (a real block device, as in production), the file itself otherwise.
import { KernelNvmeInitiator, LoopAttacher, type VolumeRecord } from '@ringblock/spdk';
import type { NodeConfig } from './config.js';

export type AttachVia = 'nvme-rdma' | 'nvme-tcp' | 'loop' | 'file';

export interface VolumeConnector {
  readonly via: AttachVia;
  /** Makes the attached volume a device on this host; returns the path the engine opens. */
  connect(record: VolumeRecord): Promise<string>;
  /** After the volume grew: the device takes the new size. */
  refresh(record: VolumeRecord, device: string): Promise<void>;
  /** The host lets go of the device (the volume itself stays attached in its record). */
  disconnect(record: VolumeRecord): Promise<void>;
}

export class VolumeConnectError extends Error {
  override readonly name = 'VolumeConnectError';
}

/** The connector for `record` under `config.volumeAttach`. */
export async function chooseConnector(config: Pick<NodeConfig, 'name' | 'volumeAttach' | 'nvmeHostNqn' | 'nvmeCtrlLossTmoS' | 'nvmfTransport'>, record: VolumeRecord, loop = new LoopAttacher()): Promise<VolumeConnector> {
  const mode = config.volumeAttach;
  // A peer set up for RDMA does not silently run over TCP (or the other way round).
  const exported = record.export?.trtype.toLowerCase();
  if (config.nvmfTransport !== undefined && exported !== undefined && exported !== config.nvmfTransport) {
    throw new VolumeConnectError(`volume ${record.name} is exported over ${exported}, but RINGBLOCK_NVMF_TRANSPORT=${config.nvmfTransport}: set the storage agent's RINGBLOCK_NVMF_TRANSPORT to match (or unset the peer's)`);
  }
  if (mode === 'nvme' || (mode === 'auto' && record.simFile === undefined)) {
    return nvmeConnector(new KernelNvmeInitiator({ hostnqn: config.nvmeHostNqn ?? peerHostNqn(config.name), ctrlLossTmoS: config.nvmeCtrlLossTmoS }), record);
  }
  if (record.simFile === undefined) throw new VolumeConnectError(`RINGBLOCK_VOLUME_ATTACH=${mode} needs a volume on spdk-sim, but ${record.name} has no data file: use nvme or auto`);
  if (mode === 'loop' || (mode === 'auto' && (await loop.usable()))) return loopConnector(loop);
  return FILE_CONNECTOR;
}

/**
 * The host NQN a peer connects with unless RINGBLOCK_NVME_HOSTNQN says otherwise: one per peer name,
 * stable across restarts and pods (a container has no /etc/nvme/hostnqn of its own, and its root
 * file system is read-only, so nvme-cli could neither read nor save one).
 */
export function peerHostNqn(name: string): string {
  return `nqn.2026-12.io.ringblock:host:${name}`;
}

function nvmeConnector(initiator: KernelNvmeInitiator, record: VolumeRecord): VolumeConnector {
  const target = (r: VolumeRecord) => {
    if (!r.export) throw new VolumeConnectError(`volume ${r.name} is attached but has no export in its record`);
    return r.export;
  };
  return {
    via: target(record).trtype === 'RDMA' ? 'nvme-rdma' : 'nvme-tcp',
    connect: async (r) => (await initiator.connect(target(r))).device,
    refresh: (r) => initiator.rescan(target(r).nqn),
    disconnect: (r) => initiator.disconnect(target(r).nqn),
  };
}

function loopConnector(loop: LoopAttacher): VolumeConnector {
  return {
    via: 'loop',
    connect: (r) => loop.attach(simFile(r)),
    refresh: (_r, device) => loop.refresh(device),
    disconnect: (r) => loop.detach(simFile(r)),
  };
}

/** The lvol's file as the device: the engine grows it by size (a file does not grow by itself). */
export const FILE_CONNECTOR: VolumeConnector = {
  via: 'file',
  connect: async (r) => simFile(r),
  refresh: async () => {},
  disconnect: async () => {},
};

function simFile(record: VolumeRecord): string {
  if (!record.simFile) throw new VolumeConnectError(`volume ${record.name} is attached but its record has no data file: is its agent on spdk-sim?`);
  return record.simFile;
}
