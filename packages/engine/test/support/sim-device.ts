// A simulated disk for power-loss tests. Writes land in a volatile cache; sync() makes everything
// written before it durable. At a chosen I/O call the "power fails": that call and every later one
// throws, and crashImage() gives what a disk could hold afterwards: the durable bytes plus an
// arbitrary subset of the unsynced writes, each 512-byte sector independently (writes reorder and
// tear at sector granularity). A write interrupted by the power loss may have reached the cache.
// Power fails either at the n-th write/sync call or at the n-th sync (where missing-sync bugs show).
import type { BlockDevice } from '../../src/index.js';
import { EngineError } from '../../src/index.js';

const SECTOR_BYTES = 512;

export class SimDevice implements BlockDevice {
  readonly path = 'sim-device';
  readonly kind = 'memory' as const;
  private durable: Buffer;
  private current: Buffer;
  private pending: { position: number; bytes: Buffer }[] = [];
  private calls = 0;
  private syncs = 0;
  private crashed = false;

  /** `readDelayMs`: how long each read waits before it copies (to widen races with writes). */
  constructor(image: Buffer, private readonly failAt: PowerFailure = {}, private readonly readDelayMs?: () => number) {
    this.durable = Buffer.from(image);
    this.current = Buffer.from(image);
  }

  get failed(): boolean {
    return this.crashed;
  }

  get writeCalls(): number {
    return this.calls;
  }

  async sizeBytes(): Promise<number> {
    return this.current.length;
  }

  async read(target: Buffer, position: number): Promise<void> {
    await yieldTurn();
    const delayMs = this.readDelayMs?.() ?? 0;
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (this.crashed) throw powerLoss();
    if (position + target.length > this.current.length) throw new EngineError('IO_ERROR', 'read past the end of the simulated device');
    this.current.copy(target, 0, position, position + target.length);
  }

  async writev(buffers: Buffer[], position: number): Promise<void> {
    await yieldTurn();
    if (this.crashed) throw powerLoss();
    for (const buffer of buffers) {
      buffer.copy(this.current, position);
      this.pending.push({ position, bytes: Buffer.from(buffer) });
      position += buffer.length;
    }
    this.step('write');
  }

  async sync(): Promise<void> {
    await yieldTurn();
    this.step('sync');
    for (const write of this.pending) write.bytes.copy(this.durable, write.position);
    this.pending = [];
  }

  async extend(sizeBytes: number): Promise<void> {
    if (sizeBytes <= this.current.length) return;
    this.current = Buffer.concat([this.current, Buffer.alloc(sizeBytes - this.current.length)]);
    this.durable = Buffer.concat([this.durable, Buffer.alloc(sizeBytes - this.durable.length)]);
  }

  async close(): Promise<void> {}

  /** The disk after the power loss: durable bytes plus each unsynced sector with probability 1/2. */
  crashImage(random: () => number): Buffer {
    const image = Buffer.from(this.durable);
    for (const { position, bytes } of this.pending) {
      let offset = 0;
      while (offset < bytes.length) {
        const sectorEnd = (Math.floor((position + offset) / SECTOR_BYTES) + 1) * SECTOR_BYTES;
        const end = Math.min(bytes.length, sectorEnd - position);
        if (random() < 0.5) bytes.copy(image, position + offset, offset, end);
        offset = end;
      }
    }
    return image;
  }

  private step(kind: 'write' | 'sync'): void {
    this.calls++;
    if (kind === 'sync') this.syncs++;
    if (this.crashed || this.calls === this.failAt.call || (kind === 'sync' && this.syncs === this.failAt.sync)) {
      this.crashed = true;
      throw powerLoss();
    }
  }
}

export interface PowerFailure {
  /** Fail at this write/sync call (1-based). */
  call?: number;
  /** Fail at this sync call (1-based). */
  sync?: number;
}

function powerLoss(): EngineError {
  return new EngineError('IO_ERROR', 'simulated power loss');
}

function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
