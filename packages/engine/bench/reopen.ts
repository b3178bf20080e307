// Child process of the benchmark (run with --expose-gc): opens a device, reports how long the open
// (recovery) took and the heap bytes per block it holds afterwards, as one JSON line.
import { Engine, loadHasher } from '../src/index.js';

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
const before = heapBytes();
const started = performance.now();
const engine = await Engine.open(path);
const openMs = performance.now() - started;
const stats = engine.stats();
const heapBytesPerBlock = (heapBytes() - before) / (stats.blocks + stats.tombstones);
console.log(JSON.stringify({ openMs, heapBytesPerBlock, blocks: stats.blocks, indexBytes: stats.indexBytes, recovery: stats.recovery }));
await engine.close();
