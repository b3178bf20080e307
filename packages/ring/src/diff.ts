// What a topology change moves: the ranges whose replica owner set differs between two rings.
import assert from 'node:assert/strict';
import { HASH_SPACE_SIZE } from './limits.js';
import { rangeWidth, type Arc, type TokenRange } from './ranges.js';
import type { Ring } from './ring.js';

/** One arc on which both rings agree on the owners within each ring. */
export interface RangeChange extends Arc {
  /** Owners in the old ring, preference order (empty when the old ring has no nodes). */
  readonly oldOwners: readonly string[];
  /** Owners in the new ring, preference order. */
  readonly newOwners: readonly string[];
  /** newOwners − oldOwners: nodes that must receive this arc's blocks. */
  readonly addedOwners: readonly string[];
  /** oldOwners − newOwners: nodes whose copies of this arc become stale. */
  readonly removedOwners: readonly string[];
}

export interface DiffOptions {
  /** Also list arcs whose owner set is unchanged (only the preference order may differ). */
  readonly includeUnchanged?: boolean;
}

/**
 * Splits the circle at every token of either ring and compares owner sets arc by arc. Arcs come in
 * ascending order of `end`, the first wrapping around 2^64 (as `Ring.ranges`). Only arcs whose owner
 * SET differs are listed unless `includeUnchanged`: a new preference order moves no data. The two
 * rings may differ in vnodes and replication factor too.
 */
export function diffRings(oldRing: Ring, newRing: Ring, options: DiffOptions = {}): RangeChange[] {
  const oldRanges = oldRing.ranges();
  const newRanges = newRing.ranges();
  const ends = mergeEnds(oldRanges, newRanges);
  const oldOwnersAt = ownersCursor(oldRanges);
  const newOwnersAt = ownersCursor(newRanges);

  const changes: RangeChange[] = [];
  let covered = 0n;
  ends.forEach((end, index) => {
    const start = ends[(index + ends.length - 1) % ends.length]!;
    covered += rangeWidth({ start, end });
    const oldOwners = oldOwnersAt(end);
    const newOwners = newOwnersAt(end);
    const addedOwners = without(newOwners, oldOwners);
    const removedOwners = without(oldOwners, newOwners);
    if (options.includeUnchanged || addedOwners.length > 0 || removedOwners.length > 0) {
      changes.push({ start, end, oldOwners, newOwners, addedOwners, removedOwners });
    }
  });
  assert.ok(ends.length === 0 || covered === HASH_SPACE_SIZE, 'arcs cover the hash space exactly once');
  return changes;
}

/** Distinct range ends of both rings, ascending (a merge: each list is ascending already). */
function mergeEnds(a: readonly TokenRange[], b: readonly TokenRange[]): bigint[] {
  const ends: bigint[] = [];
  let indexA = 0;
  let indexB = 0;
  while (indexA < a.length || indexB < b.length) {
    const endA = indexA < a.length ? a[indexA]!.end : undefined;
    const endB = indexB < b.length ? b[indexB]!.end : undefined;
    const end = endB === undefined || (endA !== undefined && endA < endB) ? endA! : endB;
    if (end === endA) indexA++;
    if (end === endB) indexB++;
    assert.ok(ends.length === 0 || end > ends.at(-1)!, 'range ends ascend');
    ends.push(end);
  }
  return ends;
}

/**
 * For `ranges` ascending by end, a lookup of the owners at ascending positions: the range holding a
 * position is the first whose end is ≥ it, or the wrap-around range (the first) past the last end.
 */
function ownersCursor(ranges: readonly TokenRange[]): (position: bigint) => readonly string[] {
  let index = 0;
  let previous = -1n;
  return (position) => {
    assert.ok(position > previous, 'positions are asked in ascending order');
    previous = position;
    if (ranges.length === 0) return [];
    while (index < ranges.length && ranges[index]!.end < position) index++;
    return ranges[index % ranges.length]!.owners;
  };
}

function without(names: readonly string[], removed: readonly string[]): string[] {
  return names.filter((name) => !removed.includes(name));
}
