// xxh64 (seed 0) through xxhash-wasm, loaded once per process (its initialisation is asynchronous).
// 64-bit values travel as two unsigned 32-bit halves in hot paths (typed arrays, no BigInt).
import xxhash from 'xxhash-wasm';

export interface Hasher {
  /** xxh64 of raw bytes, as an unsigned 64-bit integer. */
  h64(bytes: Uint8Array): bigint;
}

let loading: Promise<Hasher> | undefined;

export function loadHasher(): Promise<Hasher> {
  loading ??= xxhash().then((api) => ({ h64: (bytes: Uint8Array) => api.h64Raw(bytes) }));
  return loading;
}

const LOW_32_BITS = 0xffff_ffffn;

export function high32(value: bigint): number {
  return Number((value >> 32n) & LOW_32_BITS);
}

export function low32(value: bigint): number {
  return Number(value & LOW_32_BITS);
}

export function join64(high: number, low: number): bigint {
  return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
}
