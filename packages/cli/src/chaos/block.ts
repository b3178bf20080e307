// Self-describing chaos blocks: each 4096-byte body names the key and the write that produced it, and
// the rest of the bytes follow deterministically from those two, so any read maps back to exactly one
// write — or is caught as bytes that were never written (a torn, mixed, foreign or corrupt block).
//   [0..8)    magic "RBCHAOS1"
//   [8..12)   write id, big-endian (unique in a run)
//   [12]      key length n (1..KEY_BYTES_MAX)
//   [13..13+n) key, ASCII
//   [13+n..)  filler from a generator seeded by (key, write id)
import { Random } from './random.js';

export const BLOCK_BYTES = 4096;
const MAGIC = Buffer.from('RBCHAOS1', 'ascii');
const KEY_BYTES_MAX = 64;
const HEADER_BYTES = MAGIC.length + 4 + 1;

export type Decoded = { ok: true; key: string; writeId: number } | { ok: false; reason: string };

export function encodeBlock(key: string, writeId: number): Buffer {
  const keyBytes = Buffer.from(key, 'ascii');
  if (keyBytes.length < 1 || keyBytes.length > KEY_BYTES_MAX) throw new RangeError(`a chaos key has 1..${KEY_BYTES_MAX} bytes, got ${keyBytes.length}`);
  if (!Number.isInteger(writeId) || writeId < 0 || writeId > 0xffffffff) throw new RangeError(`a write id is a 32-bit unsigned integer, got ${writeId}`);
  const block = Buffer.alloc(BLOCK_BYTES);
  MAGIC.copy(block, 0);
  block.writeUInt32BE(writeId, MAGIC.length);
  block[MAGIC.length + 4] = keyBytes.length;
  keyBytes.copy(block, HEADER_BYTES);
  fill(block, HEADER_BYTES + keyBytes.length, key, writeId);
  return block;
}

/** What a block says about itself; every byte is checked, so a single flipped bit is caught. */
export function decodeBlock(block: Buffer): Decoded {
  if (block.length !== BLOCK_BYTES) return { ok: false, reason: `${block.length} bytes, not ${BLOCK_BYTES}` };
  if (!block.subarray(0, MAGIC.length).equals(MAGIC)) return { ok: false, reason: `no chaos magic (starts ${block.subarray(0, 16).toString('hex')})` };
  const writeId = block.readUInt32BE(MAGIC.length);
  const keyLength = block[MAGIC.length + 4]!;
  if (keyLength < 1 || keyLength > KEY_BYTES_MAX) return { ok: false, reason: `key length ${keyLength}` };
  const key = block.toString('ascii', HEADER_BYTES, HEADER_BYTES + keyLength);
  const expected = Buffer.alloc(BLOCK_BYTES);
  const start = HEADER_BYTES + keyLength;
  fill(expected, start, key, writeId);
  for (let offset = start; offset < BLOCK_BYTES; offset++) {
    if (block[offset] !== expected[offset]) return { ok: false, reason: `bytes of key ${key} write ${writeId} differ from byte ${offset} on` };
  }
  return { ok: true, key, writeId };
}

function fill(block: Buffer, from: number, key: string, writeId: number): void {
  const random = new Random(hashKey(key) ^ Math.imul(writeId, 0x27d4eb2d));
  for (let offset = from; offset < BLOCK_BYTES; offset++) block[offset] = random.below(256);
}

/** FNV-1a, 32 bits. */
function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < key.length; index++) hash = Math.imul(hash ^ key.charCodeAt(index), 0x01000193);
  return hash >>> 0;
}
