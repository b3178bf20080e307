// Pure ordered iteration over a ring range of the index. A range (startExclusive, endInclusive]
// wraps past 2^64-1 when start >= end (start == end is the whole ring). Positions are compared by
// their clockwise distance from start+1, so a wrapped range is one interval of distances.
// The index is a hash table, so a chunk is collected by one pass over it that keeps the
// `maxEntries` smallest distances at or after a cursor (bounded memory: 2 × maxEntries × 8 bytes);
// the next chunk starts after the last distance returned. Entries added behind the cursor while
// iterating are not seen; removed ones are skipped when read (weakly consistent, like a scan).
import { EngineError } from './errors.js';
import { high32, low32 } from './hash.js';
import type { KeyIndex } from './key-index.js';

const U64_LIMIT = 1n << 64n;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export interface RingWindow {
  /** start + 1 (mod 2^64): distance 0. */
  base: bigint;
  baseHigh: number;
  baseLow: number;
  /** Number of positions in the range, or 0 for the whole ring (2^64). */
  lengthHigh: number;
  lengthLow: number;
  whole: boolean;
}

export function ringWindow(startExclusive: bigint, endInclusive: bigint): RingWindow {
  for (const [name, value] of [['start', startExclusive], ['end', endInclusive]] as const) {
    if (typeof value !== 'bigint' || value < 0n || value >= U64_LIMIT) {
      throw new EngineError('BAD_OPTION', `Range ${name} must be an unsigned 64-bit bigint; got ${String(value)}.`);
    }
  }
  const base = (startExclusive + 1n) % U64_LIMIT;
  const length = (endInclusive - startExclusive + U64_LIMIT) % U64_LIMIT;
  return { base, baseHigh: high32(base), baseLow: low32(base), lengthHigh: high32(length), lengthLow: low32(length), whole: length === 0n };
}

export function positionAt(window: RingWindow, distance: bigint): bigint {
  return (window.base + distance) % U64_LIMIT;
}

export interface RangeChunk {
  /** Ascending distances from window.base. */
  distances: BigUint64Array;
  /** True when no entry of the range lies beyond the last distance. */
  complete: boolean;
}

/**
 * One chunk by a pass over the whole table: the straightforward way, kept as the reference the
 * snapshot (range-snapshot.ts, what the engine scans with) is tested against. Quadratic over a
 * whole scan: not for production paths.
 */
export function collectRangeChunk(index: KeyIndex, namespace: number, window: RingWindow, fromDistance: bigint, maxEntries: number): RangeChunk {
  if (!LITTLE_ENDIAN) throw new Error('range collection assumes a little-endian machine');
  const capacity = maxEntries * 2;
  const buffer = new BigUint64Array(capacity);
  const words = new Uint32Array(buffer.buffer);
  const fromHigh = high32(fromDistance);
  const fromLow = low32(fromDistance);
  let cutHigh = 0xffff_ffff;
  let cutLow = 0xffff_ffff;
  let cut = false;
  let truncated = false;
  let count = 0;
  for (let at = 0; at < index.tableSize; at++) {
    if (!index.isOccupiedAt(at) || index.namespaceAt(at) !== namespace) continue;
    const low = index.lowAt(at);
    const distanceLow = (low - window.baseLow) >>> 0;
    const distanceHigh = (index.highAt(at) - window.baseHigh - (low < window.baseLow ? 1 : 0)) >>> 0;
    if (!window.whole && !below(distanceHigh, distanceLow, window.lengthHigh, window.lengthLow)) continue;
    if (below(distanceHigh, distanceLow, fromHigh, fromLow)) continue;
    if (cut && !below(distanceHigh, distanceLow, cutHigh, cutLow)) continue;
    words[2 * count] = distanceLow;
    words[2 * count + 1] = distanceHigh;
    count++;
    if (count === capacity) {
      // Keep the smallest half; from now on only distances below the largest kept one matter.
      buffer.sort();
      count = maxEntries;
      truncated = true;
      cut = true;
      cutLow = words[2 * (maxEntries - 1)]!;
      cutHigh = words[2 * (maxEntries - 1) + 1]!;
    }
  }
  const sorted = buffer.subarray(0, count).sort();
  if (count > maxEntries) truncated = true;
  return { distances: sorted.slice(0, Math.min(count, maxEntries)), complete: !truncated };
}

function below(aHigh: number, aLow: number, bHigh: number, bLow: number): boolean {
  return aHigh < bHigh || (aHigh === bHigh && aLow < bLow);
}
