// Measurements for the engine benchmark: durable 4 KiB puts per second against a write+fdatasync
// baseline on the same file system, and where the bench directory lives.
import { fdatasync, promises as fs, readFileSync, write } from 'node:fs';
import { join, resolve } from 'node:path';
import { Engine } from '../src/index.js';

export interface PutsResult {
  concurrency: number;
  ops: number;
  seconds: number;
  opsPerSecond: number;
  latencyMsP50: number;
  latencyMsP99: number;
  syncs: number;
  opsPerBatchMean: number;
}

const THROUGHPUT_DEVICE_BYTES = 2 * 1024 ** 3;

export interface BaselineOptions {
  /** Write over a file filled (and synced) beforehand, so no block allocation has to be synced. */
  preallocated: boolean;
  /** 'filehandle': fs.promises FileHandle (the goal's baseline); 'callback': fs.write / fs.fdatasync. */
  api: 'filehandle' | 'callback';
}

/** The baseline: one 4 KiB write + fdatasync per block, sequential. */
export async function baselineWriteSync(path: string, durationMs: number, options: BaselineOptions): Promise<{ opsPerSecond: number; ops: number }> {
  await fs.rm(path, { force: true });
  const handle = await fs.open(path, 'w+');
  const block = Buffer.alloc(4096, 0x5a);
  const blocks = 256 * 1024;
  if (options.preallocated) {
    const chunk = Buffer.alloc(1024 * 1024, 1);
    for (let offset = 0; offset < blocks * 4096; offset += chunk.length) await handle.write(chunk, 0, chunk.length, offset);
    await handle.sync();
  } else {
    await handle.truncate(blocks * 4096);
  }
  const fd = handle.fd;
  const writeAndSync = options.api === 'filehandle'
    ? async (position: number) => {
      await handle.write(block, 0, 4096, position);
      await handle.datasync();
    }
    : async (position: number) => {
      await new Promise<void>((resolve, reject) => write(fd, block, 0, 4096, position, (error) => (error ? reject(error) : resolve())));
      await new Promise<void>((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
    };
  const started = performance.now();
  let ops = 0;
  while (performance.now() - started < durationMs) {
    block.writeUInt32LE(ops, 0);
    await writeAndSync((ops % blocks) * 4096);
    ops++;
  }
  const seconds = (performance.now() - started) / 1000;
  await handle.close();
  await fs.rm(path, { force: true });
  return { opsPerSecond: ops / seconds, ops };
}

/** `concurrency` callers each putting new 4 KiB blocks back to back for `durationMs`, on a fresh sparse device. */
export async function enginePuts(path: string, concurrency: number, durationMs: number, overwriteKeys?: number): Promise<PutsResult> {
  await fs.rm(path, { force: true });
  const engine = await Engine.open(path, { create: true, sizeBytes: THROUGHPUT_DEVICE_BYTES });
  const data = Buffer.alloc(4096, 0xa5);
  const version = Buffer.alloc(8);
  if (overwriteKeys !== undefined) {
    let next = 0;
    await Promise.all(Array.from({ length: 256 }, async () => {
      while (next < overwriteKeys) await engine.put(`k-${next++}`, version, data);
    }));
  }
  const statsBefore = engine.stats();
  const latencies: number[] = [];
  let ops = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() - started < durationMs) {
      const n = ops++;
      const id = overwriteKeys === undefined ? `c${concurrency}-${n}` : `k-${(n * 7919) % overwriteKeys}`;
      const opVersion = Buffer.alloc(8);
      opVersion.writeBigUInt64BE(BigInt(n + 1));
      const t0 = performance.now();
      await engine.put(id, opVersion, data);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const stats = engine.stats();
  await engine.close();
  await fs.rm(path, { force: true });
  latencies.sort((a, b) => a - b);
  const batches = stats.batches - statsBefore.batches;
  return {
    concurrency,
    ops: latencies.length,
    seconds,
    opsPerSecond: latencies.length / seconds,
    latencyMsP50: latencies[Math.floor(latencies.length * 0.5)]!,
    latencyMsP99: latencies[Math.floor(latencies.length * 0.99)]!,
    syncs: stats.syncs - statsBefore.syncs,
    opsPerBatchMean: (stats.batchedOps - statsBefore.batchedOps) / Math.max(1, batches),
  };
}

/** The file system holding `dir`: type, source device and mount point, from /proc/self/mountinfo. */
export function fileSystemOf(dir: string): { type: string; source: string; mountPoint: string } {
  const target = resolve(dir);
  let best = { type: 'unknown', source: 'unknown', mountPoint: '' };
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 0) continue;
    const mountPoint = fields[4]!;
    const inside = target === mountPoint || target.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`);
    if (inside && mountPoint.length >= best.mountPoint.length) best = { type: fields[separator + 1]!, source: fields[separator + 2]!, mountPoint };
  }
  return best;
}

export function benchPath(dir: string, name: string): string {
  return join(dir, name);
}
