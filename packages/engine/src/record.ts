// Pure encoding of a record header: one 512-byte sector at the slot's header position.
// A record is a put (header + the slot's data page) or a tombstone (header only, no data).
// An all-zero header is an empty slot. Layout (little-endian):
//   0   u64 header checksum: xxh64 of bytes 8 … 64+idLength+versionLength
//   8   u32 magic 'RBH1'            16  u64 seq (engine-wide, increasing; newest record of a key wins)
//   12  u8  kind (1 put, 2 tomb.)   24  u64 position = xxh64(id) (the ring position; no rehash on recovery)
//   13  u8  namespace (0 blocks)    32  u64 xxh64 of the 4096 data bytes (0 for a tombstone)
//   14  u8  id length (1…255)       40  16 bytes device uuid (headers of another device are ignored)
//   15  u8  version length (1…64)   56  u32 flags (reserved, 0)   60 u32 reserved (0)
//   64  id bytes, then version bytes; the rest of the sector is zero.
import type { Hasher } from './hash.js';
import { high32, low32 } from './hash.js';
import { HEADER_SIZE_BYTES } from './layout.js';
import { UUID_BYTES } from './superblock.js';

export const RECORD_MAGIC = 0x31484252; // "RBH1" as little-endian bytes
export const RECORD_PUT = 1;
export const RECORD_TOMBSTONE = 2;
export type RecordKind = typeof RECORD_PUT | typeof RECORD_TOMBSTONE;
export const RECORD_FIXED_BYTES = 64;
export const MAX_ID_BYTES = 255;
export const MAX_VERSION_BYTES = 64;

interface RecordHeaderCommon {
  kind: RecordKind;
  namespace: number;
  seq: number;
  positionHigh: number;
  positionLow: number;
  dataChecksum: bigint;
}

export interface RecordHeaderFields extends RecordHeaderCommon {
  idBytes: Uint8Array;
  version: Uint8Array;
  uuid: Buffer;
}

export interface DecodedRecordHeader extends RecordHeaderCommon {
  id: string;
  version: Buffer;
}

/** empty: no magic (never written, wiped, or not ours); foreign: another device's; torn: ours but broken. */
export type HeaderState = 'empty' | 'foreign' | 'torn' | 'valid';

/** Writes the header into target[offset, offset+512), zeroing the unused tail. */
export function encodeRecordHeader(hasher: Hasher, fields: RecordHeaderFields, target: Buffer, offset: number): void {
  const end = offset + RECORD_FIXED_BYTES + fields.idBytes.length + fields.version.length;
  target.fill(0, offset, offset + HEADER_SIZE_BYTES);
  target.writeUInt32LE(RECORD_MAGIC, offset + 8);
  target[offset + 12] = fields.kind;
  target[offset + 13] = fields.namespace;
  target[offset + 14] = fields.idBytes.length;
  target[offset + 15] = fields.version.length;
  writeU64(target, offset + 16, Math.floor(fields.seq / 2 ** 32), fields.seq >>> 0);
  writeU64(target, offset + 24, fields.positionHigh, fields.positionLow);
  writeU64(target, offset + 32, high32(fields.dataChecksum), low32(fields.dataChecksum));
  fields.uuid.copy(target, offset + 40, 0, UUID_BYTES);
  target.set(fields.idBytes, offset + RECORD_FIXED_BYTES);
  target.set(fields.version, offset + RECORD_FIXED_BYTES + fields.idBytes.length);
  target.writeBigUInt64LE(hasher.h64(target.subarray(offset + 8, end)), offset);
}

export function checkRecordHeader(hasher: Hasher, area: Buffer, offset: number, uuid: Buffer): HeaderState {
  if (area.readUInt32LE(offset + 8) !== RECORD_MAGIC) return 'empty';
  if (area.compare(uuid, 0, UUID_BYTES, offset + 40, offset + 40 + UUID_BYTES) !== 0) return 'foreign';
  const kind = area[offset + 12];
  const idLength = area[offset + 14]!;
  const versionLength = area[offset + 15]!;
  if ((kind !== RECORD_PUT && kind !== RECORD_TOMBSTONE) || idLength === 0 || versionLength === 0) return 'torn';
  if (versionLength > MAX_VERSION_BYTES) return 'torn';
  const end = offset + RECORD_FIXED_BYTES + idLength + versionLength;
  const checksum = area.readBigUInt64LE(offset);
  return checksum === hasher.h64(area.subarray(offset + 8, end)) ? 'valid' : 'torn';
}

// Field readers for a header that checkRecordHeader found valid (recovery reads only these).
export function headerKind(area: Buffer, offset: number): RecordKind {
  return area[offset + 12] as RecordKind;
}
export function headerNamespace(area: Buffer, offset: number): number {
  return area[offset + 13]!;
}
export function headerSeq(area: Buffer, offset: number): number {
  return area.readUInt32LE(offset + 20) * 2 ** 32 + area.readUInt32LE(offset + 16);
}
export function headerPositionHigh(area: Buffer, offset: number): number {
  return area.readUInt32LE(offset + 28);
}
export function headerPositionLow(area: Buffer, offset: number): number {
  return area.readUInt32LE(offset + 24);
}

export function decodeRecordHeader(area: Buffer, offset: number): DecodedRecordHeader {
  const idLength = area[offset + 14]!;
  const versionLength = area[offset + 15]!;
  const idStart = offset + RECORD_FIXED_BYTES;
  return {
    kind: headerKind(area, offset),
    namespace: headerNamespace(area, offset),
    id: area.toString('latin1', idStart, idStart + idLength),
    version: Buffer.from(area.subarray(idStart + idLength, idStart + idLength + versionLength)),
    seq: headerSeq(area, offset),
    positionHigh: headerPositionHigh(area, offset),
    positionLow: headerPositionLow(area, offset),
    dataChecksum: area.readBigUInt64LE(offset + 32),
  };
}

/**
 * The id of a header whose checksum failed, when its id field still reads as a valid id that hashes
 * to the stored position (a flipped bit elsewhere in the header); undefined otherwise.
 */
export function salvageId(hasher: Hasher, area: Buffer, offset: number, isValidId: (id: string) => boolean): string | undefined {
  const idLength = area[offset + 14]!;
  if (idLength === 0) return undefined;
  const idBytes = area.subarray(offset + RECORD_FIXED_BYTES, offset + RECORD_FIXED_BYTES + idLength);
  const id = idBytes.toString('latin1');
  if (!isValidId(id)) return undefined;
  const position = hasher.h64(idBytes);
  const matches = high32(position) === headerPositionHigh(area, offset) && low32(position) === headerPositionLow(area, offset);
  return matches ? id : undefined;
}

function writeU64(target: Buffer, offset: number, high: number, low: number): void {
  target.writeUInt32LE(low >>> 0, offset);
  target.writeUInt32LE(high >>> 0, offset + 4);
}
