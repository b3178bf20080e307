// A Hasher with chosen tokens, for tests that need exact token values (ties, boundaries).
import type { Hasher } from '../src/index.js';

/** Hashes each key of `tokens` to its value; any other string hashes to 0. */
export function fixedHasher(tokens: Record<string, bigint>): Hasher {
  return {
    h64String: (text) => tokens[text] ?? 0n,
    h64Bytes: () => 0n,
  };
}
