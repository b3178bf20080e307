// Child process of the benchmark (run with --expose-gc): opens a device, reports how long the open
// (recovery) took and the heap bytes per block it holds afterwards, as one JSON line. With --warm,
// a tiny device is formatted, written and reopened first, so code compiled and state initialised
// once per process (hundreds of KiB, varying from run to run) is not counted per block.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceBytesForGroups, Engine, loadHasher } from '../src/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

function heapBytes(): number {
  gc!();
  gc!();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

const path = process.argv[2]!;
await loadHasher(); // xxhash-wasm is loaded once per process: not part of the per-block cost
if (process.argv.includes('--warm')) {
  const dir = mkdtempSync(join(tmpdir(), 'ringblock-warm-'));
  try {
    const warm = join(dir, 'device');
    let engine = await Engine.open(warm, { create: true, sizeBytes: deviceBytesForGroups(1) });
    await engine.put('warm', Buffer.alloc(8, 1), Buffer.alloc(4096, 1));
    await engine.close();
    engine = await Engine.open(warm);
    await engine.get('warm');
    await engine.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const before = heapBytes();
const started = performance.now();
const engine = await Engine.open(path);
const openMs = performance.now() - started;
const stats = engine.stats();
const heapBytesPerBlock = (heapBytes() - before) / (stats.blocks + stats.tombstones);
console.log(JSON.stringify({ openMs, heapBytesPerBlock, blocks: stats.blocks, indexBytes: stats.indexBytes, recovery: stats.recovery }));
await engine.close();
