// xxh64 (seed 0) as DESIGN §4 fixes it, through xxhash-wasm. Its initialisation is asynchronous,
// so a process loads it once at start-up (`loadHasher`) and passes the hasher to what needs it.
import xxhash from 'xxhash-wasm';

export interface Hasher {
  /** xxh64 of the UTF-8 bytes of `text`, as an unsigned 64-bit integer. */
  h64String(text: string): bigint;
  /** xxh64 of raw bytes, as an unsigned 64-bit integer. */
  h64Bytes(bytes: Uint8Array): bigint;
}

let loading: Promise<Hasher> | undefined;

export function loadHasher(): Promise<Hasher> {
  loading ??= xxhash().then((api) => ({
    h64String: (text: string) => api.h64(text),
    h64Bytes: (bytes: Uint8Array) => api.h64Raw(bytes),
  }));
  return loading;
}
