// spdk-sim's volumes on this host: a loop device over the lvol's sparse data file, so the engine runs
// on a real block device as it does on /dev/nvmeXnY (O_EXCL claim, size from sysfs, grow by rescan).
// Idempotent across peer restarts: a loop device already over the file is used again.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { execCommand, type CommandRunner } from './command.js';
import { InitiatorError } from './errors.js';

const COMMAND_TIMEOUT_MS = 30_000;

export class LoopAttacher {
  constructor(
    private readonly run: CommandRunner = execCommand,
    private readonly losetup = 'losetup',
  ) {}

  /** True when loop devices can be set up here (root with /dev/loop-control); false on any failure. */
  async usable(): Promise<boolean> {
    try {
      const { stdout } = await this.run(this.losetup, ['--find'], COMMAND_TIMEOUT_MS);
      return stdout.trim().startsWith('/dev/');
    } catch {
      return false;
    }
  }

  /** The loop device over `file`, set up when there is none yet. */
  async attach(file: string): Promise<string> {
    if (!path.isAbsolute(file)) throw new InitiatorError('INITIATOR_BAD_INPUT', `loop backing file must be an absolute path, got "${file}"`);
    const existing = await this.devicesOver(file);
    if (existing[0] !== undefined) return existing[0];
    const { stdout } = await this.run(this.losetup, ['--find', '--show', file], COMMAND_TIMEOUT_MS);
    const device = stdout.trim();
    if (!device.startsWith('/dev/')) throw new InitiatorError('INITIATOR_COMMAND_FAILED', `losetup --find --show ${file} printed "${device}"`);
    return device;
  }

  /** The loop device takes the file's current size (after the lvol grew). */
  async refresh(device: string): Promise<void> {
    await this.run(this.losetup, ['--set-capacity', device], COMMAND_TIMEOUT_MS);
  }

  /** Detaches every loop device over `file`. */
  async detach(file: string): Promise<void> {
    for (const device of await this.devicesOver(file)) await this.run(this.losetup, ['--detach', device], COMMAND_TIMEOUT_MS);
  }

  /** Detaches every loop device whose backing file lies under `dir` (cleanup after a local cluster). */
  async detachUnder(dir: string): Promise<string[]> {
    const prefix = (await realpath(dir).catch(() => path.resolve(dir))) + path.sep;
    const { stdout } = await this.run(this.losetup, ['--list', '--json', '--output', 'NAME,BACK-FILE'], COMMAND_TIMEOUT_MS);
    const detached: string[] = [];
    for (const { name, backFile } of parseLoopList(stdout)) {
      if (!backFile.startsWith(prefix)) continue;
      await this.run(this.losetup, ['--detach', name], COMMAND_TIMEOUT_MS);
      detached.push(name);
    }
    return detached;
  }

  private async devicesOver(file: string): Promise<string[]> {
    const { stdout } = await this.run(this.losetup, ['--associated', file], COMMAND_TIMEOUT_MS);
    return parseAssociated(stdout);
  }
}

/** `losetup --associated FILE` lines, "/dev/loop3: [2049]:1234 (/path/file)" → the device names. */
export function parseAssociated(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((line) => /^(\/dev\/loop\d+):/.exec(line.trim())?.[1])
    .filter((device): device is string => device !== undefined);
}

/** `losetup --list --json` → name and backing file (empty output: no loop devices). */
export function parseLoopList(stdout: string): { name: string; backFile: string }[] {
  if (stdout.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (error) {
    throw new InitiatorError('INITIATOR_COMMAND_FAILED', 'losetup --list --json printed something that is not JSON', { cause: error });
  }
  const devices = (parsed as { loopdevices?: unknown }).loopdevices;
  if (!Array.isArray(devices)) return [];
  return devices.flatMap((entry: unknown) => {
    const { name, 'back-file': backFile } = (entry ?? {}) as Record<string, unknown>;
    // losetup marks a deleted backing file with " (deleted)".
    return typeof name === 'string' && typeof backFile === 'string' ? [{ name, backFile: backFile.replace(/ \(deleted\)$/, '') }] : [];
  });
}
