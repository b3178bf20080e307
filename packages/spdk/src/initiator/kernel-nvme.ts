// The kernel NVMe-oF initiator (production): `nvme connect` to the volume's subsystem, then wait for
// its namespace's /dev/nvmeXnY to appear in sysfs (the kernel adds it asynchronously after connect).
// Idempotent: a namespace already connected (a restarted peer) is used as it is.
import { stat } from 'node:fs/promises';
import type { VolumeExport } from '../volumes/record.js';
import { commandStderr, execCommand, type CommandRunner } from './command.js';
import { InitiatorError } from './errors.js';
import { isAlreadyConnected, nvmeConnectArgv, nvmeDisconnectArgv, nvmeRescanArgv, type NvmeConnectTuning } from './nvme-cli.js';
import { findNvmeNamespace, subsystemControllers, type NvmeNamespaceDevice, type SysfsRoots } from './sysfs.js';

export interface KernelNvmeOptions extends Partial<SysfsRoots>, NvmeConnectTuning {
  /** nvme-cli's executable (default `nvme` on PATH). */
  readonly nvmeCli?: string;
  readonly run?: CommandRunner;
  /** How long the namespace may take to show up after connect (default 30 s). */
  readonly deviceWaitMs?: number;
  /** Between sysfs looks while waiting (default 100 ms); the wait is bounded by deviceWaitMs. */
  readonly pollMs?: number;
  readonly commandTimeoutMs?: number;
}

export class KernelNvmeInitiator {
  private readonly roots: SysfsRoots;
  private readonly nvmeCli: string;
  private readonly run: CommandRunner;
  private readonly deviceWaitMs: number;
  private readonly pollMs: number;
  private readonly commandTimeoutMs: number;

  constructor(private readonly options: KernelNvmeOptions = {}) {
    this.roots = { sysfsRoot: options.sysfsRoot ?? '/sys', devRoot: options.devRoot ?? '/dev' };
    this.nvmeCli = options.nvmeCli ?? 'nvme';
    this.run = options.run ?? execCommand;
    this.deviceWaitMs = options.deviceWaitMs ?? 30_000;
    this.pollMs = options.pollMs ?? 100;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 60_000;
  }

  /** Connects (unless connected already) and returns the namespace's block device. */
  async connect(target: VolumeExport): Promise<NvmeNamespaceDevice> {
    const argv = nvmeConnectArgv(target, this.options);
    const present = await findNvmeNamespace(this.roots, target.nqn, target.nsid);
    if (present === undefined || !present.controllers.some((controller) => controller.state === 'live')) {
      await this.run(this.nvmeCli, argv, this.commandTimeoutMs).catch((error: unknown) => {
        if (!isAlreadyConnected(commandStderr(error))) throw error;
      });
    }
    const found = await this.waitForNamespace(target);
    await checkBlockDevice(found.device);
    return found;
  }

  /** Disconnects every controller of the subsystem; nothing connected is fine. */
  async disconnect(nqn: string): Promise<void> {
    if ((await subsystemControllers(this.roots.sysfsRoot, nqn)).length === 0) return;
    await this.run(this.nvmeCli, nvmeDisconnectArgv(nqn), this.commandTimeoutMs);
  }

  /** After the lvol grew: every controller re-reads namespace sizes, so the block device grows too. */
  async rescan(nqn: string): Promise<void> {
    for (const controller of await subsystemControllers(this.roots.sysfsRoot, nqn)) {
      await this.run(this.nvmeCli, nvmeRescanArgv(controller.name), this.commandTimeoutMs);
    }
  }

  private async waitForNamespace(target: VolumeExport): Promise<NvmeNamespaceDevice> {
    const deadline = Date.now() + this.deviceWaitMs;
    const attemptsMax = Math.ceil(this.deviceWaitMs / this.pollMs) + 1;
    for (let attempt = 0; attempt < attemptsMax; attempt++) {
      const found = await findNvmeNamespace(this.roots, target.nqn, target.nsid);
      if (found?.controllers.some((controller) => controller.state === 'live')) return found;
      if (Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
    throw new InitiatorError('INITIATOR_DEVICE_NOT_FOUND', `connected to ${target.nqn} (${target.trtype} ${target.traddr}:${target.trsvcid}) but namespace ${target.nsid} has no live block device in ${this.roots.sysfsRoot} after ${this.deviceWaitMs} ms`);
  }
}

async function checkBlockDevice(device: string): Promise<void> {
  const info = await stat(device).catch(() => undefined);
  if (!info?.isBlockDevice()) throw new InitiatorError('INITIATOR_DEVICE_NOT_FOUND', `${device} is listed in sysfs but is not a block device here (is /dev populated, e.g. in a container without it mounted?)`);
}
