// Arcs of the hash circle. An arc runs from `start` (exclusive) clockwise to `end` (inclusive); when
// `start >= end` it wraps past 2^64-1 to 0, and `start === end` is the whole circle (a ring whose
// tokens all share one value has a single range, and it covers everything).
import { HASH_SPACE_SIZE } from './limits.js';

export interface Arc {
  /** Exclusive: the previous token clockwise. */
  readonly start: bigint;
  /** Inclusive: this range's token. */
  readonly end: bigint;
}

/** An arc between two consecutive distinct tokens, with the owners of every position in it. */
export interface TokenRange extends Arc {
  /** Names in preference order; the first is the primary (the node of the token `end`). */
  readonly owners: readonly string[];
}

/** Whether `position` lies on `arc`, wrap-around included. */
export function rangeContains(arc: Arc, position: bigint): boolean {
  if (arc.start < arc.end) return position > arc.start && position <= arc.end;
  return position > arc.start || position <= arc.end;
}

/** Number of positions on `arc`: 1..2^64 (the whole circle when `start === end`). */
export function rangeWidth(arc: Arc): bigint {
  return ((arc.end - arc.start - 1n) & (HASH_SPACE_SIZE - 1n)) + 1n;
}
