// The simulator's only source of randomness: one seeded stream per run, so a run is a pure function
// of its seed and any failure replays from it (TigerBeetle's VOPR, FoundationDB's simulator).
import assert from 'node:assert/strict';

/** mulberry32 with helpers. Every random choice of a simulation goes through one instance. */
export class SimRandom {
  private state: number;

  constructor(readonly seed: number) {
    assert.ok(Number.isSafeInteger(seed), 'a seed is an integer');
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  readonly next = (): number => {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let mixed = this.state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    assert.ok(Number.isInteger(min) && Number.isInteger(max) && min <= max);
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    assert.ok(items.length > 0, 'pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A Fisher–Yates shuffled copy. */
  shuffled<T>(items: readonly T[]): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy;
  }
}
