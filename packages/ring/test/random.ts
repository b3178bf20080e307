// Seeded randomness for property tests and the benchmark, so any failure replays from its seed.

export type Random = () => number;

/** mulberry32: a small, fast 32-bit generator; returns floats in [0, 1). */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [low, high]. */
export function randomInt(random: Random, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~:-';

/** A string of the block-id (and node-name) alphabet, `lengthMin..lengthMax` long. */
export function randomId(random: Random, lengthMin = 8, lengthMax = 40): string {
  let id = '';
  for (let length = randomInt(random, lengthMin, lengthMax); length > 0; length--) {
    id += ID_ALPHABET[Math.floor(random() * ID_ALPHABET.length)];
  }
  return id;
}

/** `count` distinct random node names. */
export function randomNames(random: Random, count: number): string[] {
  const names = new Set<string>();
  while (names.size < count) names.add(randomId(random, 4, 16));
  return [...names];
}
