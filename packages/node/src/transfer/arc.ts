// Progress along a ring range (start exclusive, end inclusive, wrapping when start >= end, the
// whole ring when start === end). Positions of a wrapped range are not ordered by value, so
// progress is measured as the clockwise distance from the range's first position (start + 1):
// the engine yields a range in ascending distance, a stream must carry records in ascending
// distance, and "resume after p" means "only distances greater than distance(p)".
import { HASH_SPACE_SIZE, rangeContains, type Arc } from '@ringblock/ring';

export type { Arc };

const POSITION_MASK = HASH_SPACE_SIZE - 1n;

/** Clockwise distance of `position` from the first position of `arc`: 0..width-1 on the arc. */
export function arcDistance(arc: Arc, position: bigint): bigint {
  return (position - arc.start - 1n) & POSITION_MASK;
}

export function onArc(arc: Arc, position: bigint): boolean {
  return rangeContains(arc, position);
}

export function isPosition(value: unknown): value is bigint {
  return typeof value === 'bigint' && value >= 0n && value <= POSITION_MASK;
}

/** The later of two resume points along `arc` (undefined: nothing done yet). */
export function furthest(arc: Arc, a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return arcDistance(arc, a) >= arcDistance(arc, b) ? a : b;
}

/**
 * The part of `arc` still to send after `resumeAfter`, as an engine range, or undefined when
 * nothing is left. `resumeAfter === end` means done (the range (end, end] would be the whole ring).
 */
export function remainingArc(arc: Arc, resumeAfter: bigint | undefined): Arc | undefined {
  if (resumeAfter === undefined) return arc;
  if (resumeAfter === arc.end) return undefined;
  return { start: resumeAfter, end: arc.end };
}
