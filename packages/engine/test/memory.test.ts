// Heap bytes per stored block: the index must stay within 64 bytes per block (a Map of objects
// would not). Measured as heapUsed + arrayBuffers growth after a full garbage collection.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { deviceBytesForGroups, Engine, KeyIndex, SlotAllocator, SLOTS_PER_GROUP } from '../src/index.js';
import { tempDir } from './support/devices.js';
import { block, v } from './support/engines.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const BYTES_PER_BLOCK_MAX = 64;

function heapBytes(): number {
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

t.test('an opened engine holding 20,000 blocks (measured in a fresh process)', async (t) => {
  const blocks = 20_000;
  const path = join(tempDir(t), 'device');
  const writer = await Engine.open(path, { create: true, sizeBytes: deviceBytesForGroups(Math.ceil(blocks / SLOTS_PER_GROUP) + 1) });
  const data = block('memory');
  let next = 0;
  await Promise.all(Array.from({ length: 256 }, async () => {
    while (next < blocks) await writer.put(`m-${next++}`, v(1), data);
  }));
  await writer.close();
  // The benchmark's measuring child: opens the device in a clean `node --expose-gc` process.
  const child = fileURLToPath(new URL('../bench/reopen.js', import.meta.url));
  const output = execFileSync(process.execPath, ['--expose-gc', child, path, '--warm'], { encoding: 'utf8' });
  const measured = JSON.parse(output.trim().split('\n').pop()!) as { heapBytesPerBlock: number; blocks: number; indexBytes: number };
  t.comment(`engine after recovery: ${measured.heapBytesPerBlock.toFixed(1)} heap bytes per block at ${blocks} blocks (index ${measured.indexBytes} bytes)`);
  t.ok(measured.heapBytesPerBlock <= BYTES_PER_BLOCK_MAX, `${measured.heapBytesPerBlock.toFixed(1)} ≤ ${BYTES_PER_BLOCK_MAX} bytes per block`);
  t.equal(measured.blocks, blocks);
});

// After the engine test: a test's locals may outlive it, and 1,000,000 entries would skew the next measurement.
t.test('index and free-slot bitmap at 1,000,000 blocks', async (t) => {
  const blocks = 1_000_000;
  const before = heapBytes();
  const index = new KeyIndex();
  const allocator = new SlotAllocator(0);
  allocator.grow(blocks);
  for (let i = 0; i < blocks; i++) {
    index.set(0, Math.imul(i, 0x9e3779b1) >>> 0, Math.imul(i ^ 0x5bd1e995, 0x85ebca6b) >>> 0, allocator.allocate(), false);
  }
  const perBlock = (heapBytes() - before) / blocks;
  t.comment(`index + bitmap: ${perBlock.toFixed(1)} heap bytes per block at ${blocks} blocks`);
  t.ok(perBlock <= BYTES_PER_BLOCK_MAX, `${perBlock.toFixed(1)} ≤ ${BYTES_PER_BLOCK_MAX} bytes per block`);
  t.equal(index.size, blocks);
});
