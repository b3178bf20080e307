// Pure encoding of the superblock. Two copies live in the 4 KiB superblock area (offsets 0 and
// 2048, separate sectors); each is 128 bytes, far inside one 512-byte sector. A rewrite (grow, or
// moving the allocated-groups watermark) writes one copy with a higher generation, syncs, then the
// other, so a torn superblock write always leaves an intact copy: the reader takes the valid copy
// with the highest generation. (The issue suggested one sector-atomic copy; two copies also survive
// devices that tear within a sector, and a bit flip in one copy.)
//
// Copy layout (little-endian):
//   0   magic "RINGBLK1" (8 bytes)     24  u32 groupCount
//   8   u32 formatVersion              28  u32 allocatedGroups (recovery reads groups below this)
//   12  u32 blockSize (4096)           32  u64 generation
//   16  u32 headerSize (512)           40  16 bytes device uuid
//   20  u32 slotsPerGroup (64)         56  u64 createdAtMs
//   64  u64 checkpointSeq: every record with seq ≤ this has its data durably on disk (see
//       write-pipeline.ts); recovery verifies the data of newer records before trusting them
//   72…119 reserved (zero)             120 u64 xxh64 of bytes 0…119
// A later format version keeps the magic, the version field and this checksum, so that an older
// engine can tell a newer superblock (checksum matches: refuse the device) from a copy damaged in its
// version field (checksum fails: the other copy opens it).
import type { Hasher } from './hash.js';
import {
  BLOCK_SIZE_BYTES, FORMAT_VERSION, HEADER_SIZE_BYTES, SLOTS_PER_GROUP, SUPERBLOCK_AREA_BYTES,
} from './layout.js';

export const SUPERBLOCK_MAGIC = 'RINGBLK1';
export const SUPERBLOCK_COPY_BYTES = 128;
export const SUPERBLOCK_COPY_OFFSETS = [0, 2048] as const;
export const UUID_BYTES = 16;
const CHECKSUM_OFFSET = 120;
const MAGIC_BYTES = Buffer.from(SUPERBLOCK_MAGIC, 'latin1');

export interface Superblock {
  formatVersion: number;
  blockSizeBytes: number;
  headerSizeBytes: number;
  slotsPerGroup: number;
  groupCount: number;
  allocatedGroups: number;
  generation: number;
  uuid: Buffer;
  createdAtMs: number;
  checkpointSeq: number;
}

export type SuperblockCopy =
  | { state: 'valid'; superblock: Superblock }
  | { state: 'blank' }
  | { state: 'foreign' }
  | { state: 'unsupported'; formatVersion: number }
  | { state: 'corrupt' };

export function encodeSuperblock(hasher: Hasher, superblock: Superblock): Buffer {
  const bytes = Buffer.alloc(SUPERBLOCK_COPY_BYTES);
  MAGIC_BYTES.copy(bytes, 0);
  bytes.writeUInt32LE(superblock.formatVersion, 8);
  bytes.writeUInt32LE(superblock.blockSizeBytes, 12);
  bytes.writeUInt32LE(superblock.headerSizeBytes, 16);
  bytes.writeUInt32LE(superblock.slotsPerGroup, 20);
  bytes.writeUInt32LE(superblock.groupCount, 24);
  bytes.writeUInt32LE(superblock.allocatedGroups, 28);
  bytes.writeBigUInt64LE(BigInt(superblock.generation), 32);
  superblock.uuid.copy(bytes, 40, 0, UUID_BYTES);
  bytes.writeBigUInt64LE(BigInt(superblock.createdAtMs), 56);
  bytes.writeBigUInt64LE(BigInt(superblock.checkpointSeq), 64);
  bytes.writeBigUInt64LE(hasher.h64(bytes.subarray(0, CHECKSUM_OFFSET)), CHECKSUM_OFFSET);
  return bytes;
}

/** Reads one copy. The format version is judged before the checksum: a newer engine may checksum differently. */
export function decodeSuperblockCopy(hasher: Hasher, area: Buffer, offset: number): SuperblockCopy {
  const bytes = area.subarray(offset, offset + SUPERBLOCK_COPY_BYTES);
  if (bytes.length < SUPERBLOCK_COPY_BYTES) return { state: 'corrupt' };
  if (!bytes.subarray(0, 8).equals(MAGIC_BYTES)) return isZero(bytes) ? { state: 'blank' } : { state: 'foreign' };
  const formatVersion = bytes.readUInt32LE(8);
  if (formatVersion !== FORMAT_VERSION) return { state: 'unsupported', formatVersion };
  const checksum = bytes.readBigUInt64LE(CHECKSUM_OFFSET);
  if (checksum !== hasher.h64(bytes.subarray(0, CHECKSUM_OFFSET))) return { state: 'corrupt' };
  return {
    state: 'valid',
    superblock: {
      formatVersion,
      blockSizeBytes: bytes.readUInt32LE(12),
      headerSizeBytes: bytes.readUInt32LE(16),
      slotsPerGroup: bytes.readUInt32LE(20),
      groupCount: bytes.readUInt32LE(24),
      allocatedGroups: bytes.readUInt32LE(28),
      generation: Number(bytes.readBigUInt64LE(32)),
      uuid: Buffer.from(bytes.subarray(40, 40 + UUID_BYTES)),
      createdAtMs: Number(bytes.readBigUInt64LE(56)),
      checkpointSeq: Number(bytes.readBigUInt64LE(64)),
    },
  };
}

/** Whether the copy at `offset` carries the xxh64 of its first 120 bytes (whatever format version it names). */
export function superblockChecksumMatches(hasher: Hasher, area: Buffer, offset: number): boolean {
  const bytes = area.subarray(offset, offset + SUPERBLOCK_COPY_BYTES);
  return bytes.length === SUPERBLOCK_COPY_BYTES && bytes.readBigUInt64LE(CHECKSUM_OFFSET) === hasher.h64(bytes.subarray(0, CHECKSUM_OFFSET));
}

/** Why a checksummed superblock of our format version is still not one this engine can use, or undefined. */
export function unsupportedGeometry(superblock: Superblock): string | undefined {
  if (superblock.blockSizeBytes !== BLOCK_SIZE_BYTES) return `block size ${superblock.blockSizeBytes}`;
  if (superblock.headerSizeBytes !== HEADER_SIZE_BYTES) return `header size ${superblock.headerSizeBytes}`;
  if (superblock.slotsPerGroup !== SLOTS_PER_GROUP) return `${superblock.slotsPerGroup} slots per group`;
  if (superblock.groupCount < 1 || superblock.allocatedGroups > superblock.groupCount) {
    return `group count ${superblock.groupCount} with ${superblock.allocatedGroups} allocated`;
  }
  return undefined;
}

export function newSuperblock(uuid: Buffer, groupCount: number, allocatedGroups: number, createdAtMs: number): Superblock {
  return {
    formatVersion: FORMAT_VERSION,
    blockSizeBytes: BLOCK_SIZE_BYTES,
    headerSizeBytes: HEADER_SIZE_BYTES,
    slotsPerGroup: SLOTS_PER_GROUP,
    groupCount,
    allocatedGroups,
    generation: 1,
    uuid,
    createdAtMs,
    checkpointSeq: 0,
  };
}

/** The 4 KiB superblock area holding `superblock` in both copies (what formatting writes). */
export function encodeSuperblockArea(hasher: Hasher, superblock: Superblock): Buffer {
  const area = Buffer.alloc(SUPERBLOCK_AREA_BYTES);
  const copy = encodeSuperblock(hasher, superblock);
  for (const offset of SUPERBLOCK_COPY_OFFSETS) copy.copy(area, offset);
  return area;
}

export function isZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Device uuid rendered as the usual 8-4-4-4-12 hex string. */
export function uuidText(uuid: Buffer): string {
  const hex = uuid.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
