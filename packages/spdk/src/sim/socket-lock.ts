// SPDK holds an flock on `<socket>.lock` and unlinks a stale socket file at start (RPC.md §1.1). Node
// has no flock, so the lock file holds the owner's pid: a lock whose pid is alive is refused.
import { readFile, rm, writeFile } from 'node:fs/promises';

/** Locks held by this process (a pid check cannot tell two sims of one process apart). */
const heldHere = new Set<string>();

export class SocketLockError extends Error {
  override readonly name = 'SocketLockError';
}

export async function lockSocket(socketPath: string): Promise<() => Promise<void>> {
  const lockPath = `${socketPath}.lock`;
  const owner = await lockOwner(lockPath);
  if (heldHere.has(lockPath) || (owner !== undefined && owner !== process.pid && isAlive(owner))) {
    throw new SocketLockError(`${lockPath} is held by a running target (pid ${owner ?? process.pid})`);
  }
  await writeFile(lockPath, `${process.pid}\n`);
  heldHere.add(lockPath);
  await rm(socketPath, { force: true });
  return async () => {
    heldHere.delete(lockPath);
    await rm(lockPath, { force: true });
    await rm(socketPath, { force: true });
  };
}

async function lockOwner(lockPath: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(lockPath, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
