// The emulated SPDK target: the bdev namespace with its modules (NVMe, AIO, malloc, lvol), the NVMe-oF
// target, the framework state, and the fault injector. Built from the state directory: lvstore
// metadata saved there is loaded again when its base bdev reappears (examine, RPC.md §3.6).
import type { Logger } from 'pino';
import { BdevTable, type SimBdev } from './bdev-table.js';
import { DataFiles } from './data-files.js';
import { FaultInjector } from './faults.js';
import { Framework } from './framework.js';
import { CLUSTER_BYTES_DEFAULT } from './lvstore-geometry.js';
import { LvolManager } from './lvols.js';
import { newHostNqn, NvmeControllers, type SimNvmeDevice } from './nvme.js';
import { NvmfTarget, type NvmfTargetOptions } from './nvmf.js';
import { StateFile } from './state-file.js';

export interface SimTargetOptions extends NvmfTargetOptions {
  readonly stateDir: string;
  /** The NVMe SSDs on the sim's "PCIe bus". */
  readonly devices: readonly SimNvmeDevice[];
  /** cluster_sz when bdev_lvol_create_lvstore omits it. Default 4 MiB, as SPDK. */
  readonly clusterSizeBytes?: number;
  /** Start in STARTUP, as `spdk_tgt --wait-for-rpc`. */
  readonly waitForRpc?: boolean;
  readonly logger?: Logger;
}

export interface SimTarget {
  readonly bdevs: BdevTable;
  readonly lvols: LvolManager;
  readonly nvme: NvmeControllers;
  readonly nvmf: NvmfTarget;
  readonly faults: FaultInjector;
  readonly framework: Framework;
  readonly defaultClusterBytes: number;
  /** Counter for default malloc names "Malloc<N>". */
  mallocCount: number;
  /** Runs examine on a new bdev (loads lvstores found on it). */
  examine(bdev: SimBdev): void;
  readonly logger: Logger | undefined;
}

export async function createSimTarget(options: SimTargetOptions): Promise<SimTarget> {
  const bdevs = new BdevTable();
  const stateFile = new StateFile(options.stateDir);
  const lvols = new LvolManager(bdevs, stateFile, new DataFiles(options.stateDir), await stateFile.load());
  const examine = (bdev: SimBdev): void => lvols.examine(bdev);
  return {
    bdevs,
    lvols,
    nvme: new NvmeControllers(bdevs, options.devices, newHostNqn(), examine),
    nvmf: new NvmfTarget(bdevs, options),
    faults: new FaultInjector(),
    framework: new Framework(options.waitForRpc ?? false),
    defaultClusterBytes: options.clusterSizeBytes ?? CLUSTER_BYTES_DEFAULT,
    mallocCount: 0,
    examine,
    logger: options.logger,
  };
}
