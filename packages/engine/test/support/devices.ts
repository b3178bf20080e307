// Test backings: temporary files (removed in teardown) and, where `losetup` works (root on Linux),
// loop devices over such files (always detached in teardown).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export function tempDir(t: Teardown, prefix = 'ringblock-engine-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Attaches a loop device over a new sparse file of `sizeBytes`; undefined when losetup is not usable here. */
export function loopDevice(t: Teardown, dir: string, name: string, sizeBytes: number): { device: string; file: string } | undefined {
  const file = join(dir, name);
  rmSync(file, { force: true });
  execFileSync('truncate', ['-s', String(sizeBytes), file]);
  let device: string;
  try {
    device = execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return undefined;
  }
  t.teardown(() => {
    try {
      execFileSync('losetup', ['-d', device], { stdio: 'ignore' });
    } catch {
      // already detached
    }
  });
  return { device, file };
}

/** Makes a loop device see its backing file's new size (after the file was extended). */
export function refreshLoopCapacity(device: string, file: string, sizeBytes: number): void {
  truncateSync(file, sizeBytes);
  execFileSync('losetup', ['-c', device]);
}
