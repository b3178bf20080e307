// The bulk-transfer wire format and its encoder (pure: no I/O). All integers are big-endian.
//
//   stream header, 56 bytes:
//     0  magic "RBXF"            4  format version u16 (1)   6  flags u8 (bit 0: resumeAfter is set)
//     7  namespace u8            8  range start u64 (exclusive)   16 range end u64 (inclusive)
//     24 resumeAfter u64 (0 unless flagged)   32 transfer id, 16 bytes   48 xxh64 of bytes 0..48
//   frames, each:
//     0  type u8 (1 records, 2 trailer)   1  3 zero bytes   4  payload bytes u32   8  record count u32
//     12 low 32 bits of xxh64 of bytes 0..12 (so a corrupt length is caught before it is trusted)
//     16 payload   then xxh64 of frame header + payload, u64
//   a record (in a records frame's payload):
//     0  flags u8 (bit 0: tombstone)   1 id bytes u8 (1..255)   2 version bytes u8 (1..64)
//     3  id (latin1)   then version   then 4096 data bytes unless a tombstone
//   the trailer's payload, 32 bytes:
//     0  flags u8 (bit 0: lastPosition is set, bit 1: the range is done)   1  7 zero bytes
//     8  record count u64   16 lastPosition u64   24 chain checksum u64
// The chain checksum starts at the header checksum and folds in every frame checksum
// (chain = xxh64(chain ‖ frame checksum)), so a dropped, repeated or spliced frame fails at the end.
// Records travel in ascending clockwise distance from the range start (see arc.ts), never twice.
import assert from 'node:assert/strict';
import { arcDistance, onArc } from './arc.js';

/** xxh64 (seed 0) of raw bytes: the engine's `Hasher` fits. */
export interface ChecksumHasher {
  h64(bytes: Uint8Array): bigint;
}

export const TRANSFER_MAGIC = Buffer.from('RBXF', 'latin1');
export const TRANSFER_FORMAT_VERSION = 1;
export const STREAM_HEADER_BYTES = 56;
export const FRAME_HEADER_BYTES = 16;
export const FRAME_CHECKSUM_BYTES = 8;
export const TRAILER_PAYLOAD_BYTES = 32;
export const TRANSFER_ID_BYTES = 16;
export const BLOCK_BYTES = 4096;
export const ID_BYTES_MAX = 255;
export const VERSION_BYTES_MAX = 64;
export const RECORD_FIXED_BYTES = 3;
export const RECORD_BYTES_MAX = RECORD_FIXED_BYTES + ID_BYTES_MAX + VERSION_BYTES_MAX + BLOCK_BYTES;
/** Records per frame at most: a frame is applied as one batch, so this bounds a batch too. */
export const FRAME_RECORDS_MAX = 256;
/** Largest payload a valid records frame can have. */
export const FRAME_PAYLOAD_BYTES_MAX = FRAME_RECORDS_MAX * RECORD_BYTES_MAX;

/** The ids the engine accepts (its BAD_ID rule); ids travel as latin1, one byte a character. */
export const ID_PATTERN = /^[A-Za-z0-9._~:-]{1,255}$/;

export const FRAME_RECORDS = 1;
export const FRAME_TRAILER = 2;
export const HEADER_FLAG_RESUME = 1;
export const RECORD_FLAG_TOMBSTONE = 1;
export const TRAILER_FLAG_LAST = 1;
export const TRAILER_FLAG_RANGE_DONE = 2;
const LOW_32_BITS = 0xffff_ffffn;

export interface StreamHeader {
  namespace: number;
  /** Exclusive. */
  start: bigint;
  /** Inclusive; start >= end wraps, start === end is the whole ring. */
  end: bigint;
  /** Records at or before this position (along the range) were sent before: this stream holds the rest. */
  resumeAfter?: bigint;
  transferId: Buffer;
}

/** A record to send: the engine's `BlockRecord` fits. */
export interface OutgoingRecord {
  id: string;
  position: bigint;
  version: Uint8Array;
  tombstone: boolean;
  /** 4096 bytes for a put. */
  data?: Uint8Array;
}

/** A received record; `version` and `data` are views into the frame (valid as long as it is referenced). */
export interface TransferRecord {
  id: string;
  position: bigint;
  version: Buffer;
  tombstone: boolean;
  data?: Buffer;
}

export interface StreamTrailer {
  records: number;
  lastPosition: bigint | undefined;
  /** The sender reached the end of the range (otherwise a later stream continues after lastPosition). */
  rangeDone: boolean;
  chainChecksum: bigint;
}

export function recordBytes(record: Pick<OutgoingRecord, 'id' | 'version' | 'tombstone'>): number {
  return RECORD_FIXED_BYTES + record.id.length + record.version.length + (record.tombstone ? 0 : BLOCK_BYTES);
}

export function frameHeaderCheck(hasher: ChecksumHasher, frame: Uint8Array): number {
  return Number(hasher.h64(frame.subarray(0, FRAME_HEADER_BYTES - 4)) & LOW_32_BITS);
}

/** Folds one frame checksum into the running chain checksum. */
export function chainChecksum(hasher: ChecksumHasher, chain: bigint, frameChecksum: bigint): bigint {
  const pair = Buffer.allocUnsafe(16);
  pair.writeBigUInt64BE(chain, 0);
  pair.writeBigUInt64BE(frameChecksum, 8);
  return hasher.h64(pair);
}

export function encodeStreamHeader(hasher: ChecksumHasher, header: StreamHeader): Buffer {
  assert.equal(header.transferId.length, TRANSFER_ID_BYTES, 'a transfer id has 16 bytes');
  assert.ok(Number.isInteger(header.namespace) && header.namespace >= 0 && header.namespace <= 0xff, 'namespace fits a byte');
  assert.ok(header.resumeAfter === undefined || onArc(header, header.resumeAfter), 'resumeAfter lies on the range');
  const bytes = Buffer.alloc(STREAM_HEADER_BYTES);
  TRANSFER_MAGIC.copy(bytes, 0);
  bytes.writeUInt16BE(TRANSFER_FORMAT_VERSION, 4);
  bytes.writeUInt8(header.resumeAfter === undefined ? 0 : HEADER_FLAG_RESUME, 6);
  bytes.writeUInt8(header.namespace, 7);
  bytes.writeBigUInt64BE(header.start, 8);
  bytes.writeBigUInt64BE(header.end, 16);
  bytes.writeBigUInt64BE(header.resumeAfter ?? 0n, 24);
  header.transferId.copy(bytes, 32);
  bytes.writeBigUInt64BE(hasher.h64(bytes.subarray(0, 48)), 48);
  return bytes;
}

/** The header checksum, which seeds the chain checksum. */
export function streamHeaderChecksum(header: Buffer): bigint {
  return header.readBigUInt64BE(48);
}

/**
 * Encodes one stream: the header, then frames of records in ascending distance along the range,
 * then the trailer. Stateful only in what the trailer needs (count, last position, chain).
 */
export class TransferEncoder {
  private chain: bigint;
  private records = 0;
  private lastPosition: bigint | undefined;
  private lastDistance = -1n;
  private finished = false;
  readonly headerBytes: Buffer;

  constructor(private readonly hasher: ChecksumHasher, private readonly header: StreamHeader) {
    this.headerBytes = encodeStreamHeader(hasher, header);
    this.chain = streamHeaderChecksum(this.headerBytes);
    if (header.resumeAfter !== undefined) this.lastDistance = arcDistance(header, header.resumeAfter);
  }

  get recordCount(): number {
    return this.records;
  }

  get lastPositionEncoded(): bigint | undefined {
    return this.lastPosition;
  }

  /** One records frame (1..FRAME_RECORDS_MAX records, in ascending distance after the previous ones). */
  frame(records: readonly OutgoingRecord[]): Buffer {
    assert.ok(!this.finished, 'no frame after the trailer');
    assert.ok(records.length > 0 && records.length <= FRAME_RECORDS_MAX, `a frame holds 1..${FRAME_RECORDS_MAX} records`);
    let payloadBytes = 0;
    for (const record of records) payloadBytes += recordBytes(record);
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes + FRAME_CHECKSUM_BYTES);
    let at = FRAME_HEADER_BYTES;
    for (const record of records) at = this.writeRecord(frame, at, record);
    assert.equal(at, FRAME_HEADER_BYTES + payloadBytes);
    this.records += records.length;
    return this.seal(frame, FRAME_RECORDS, payloadBytes, records.length);
  }

  /** The trailer; `rangeDone` says the range was sent to its end (not cut short by a request bound). */
  trailer(rangeDone: boolean): Buffer {
    assert.ok(!this.finished, 'one trailer per stream');
    const frame = Buffer.alloc(FRAME_HEADER_BYTES + TRAILER_PAYLOAD_BYTES + FRAME_CHECKSUM_BYTES);
    const flags = (this.lastPosition === undefined ? 0 : TRAILER_FLAG_LAST) | (rangeDone ? TRAILER_FLAG_RANGE_DONE : 0);
    frame.writeUInt8(flags, FRAME_HEADER_BYTES);
    frame.writeBigUInt64BE(BigInt(this.records), FRAME_HEADER_BYTES + 8);
    frame.writeBigUInt64BE(this.lastPosition ?? 0n, FRAME_HEADER_BYTES + 16);
    frame.writeBigUInt64BE(this.chain, FRAME_HEADER_BYTES + 24);
    this.finished = true;
    return this.seal(frame, FRAME_TRAILER, TRAILER_PAYLOAD_BYTES, 0);
  }

  private writeRecord(frame: Buffer, at: number, record: OutgoingRecord): number {
    assert.ok(onArc(this.header, record.position), 'a record lies on the range');
    const distance = arcDistance(this.header, record.position);
    assert.ok(distance > this.lastDistance, 'records go in ascending distance along the range');
    assert.ok(ID_PATTERN.test(record.id), 'an id the engine accepts (1..255 latin1 bytes)');
    assert.ok(record.version.length >= 1 && record.version.length <= VERSION_BYTES_MAX, 'version length 1..64');
    this.lastDistance = distance;
    this.lastPosition = record.position;
    frame[at] = record.tombstone ? RECORD_FLAG_TOMBSTONE : 0;
    frame[at + 1] = record.id.length;
    frame[at + 2] = record.version.length;
    at += RECORD_FIXED_BYTES;
    at += frame.write(record.id, at, 'latin1');
    frame.set(record.version, at);
    at += record.version.length;
    if (record.tombstone) return at;
    assert.ok(record.data !== undefined && record.data.length === BLOCK_BYTES, 'a put carries 4096 bytes');
    frame.set(record.data, at);
    return at + BLOCK_BYTES;
  }

  /** Fills in the frame header and checksum and folds the checksum into the chain. */
  private seal(frame: Buffer, type: number, payloadBytes: number, recordCount: number): Buffer {
    frame.writeUInt8(type, 0);
    frame.fill(0, 1, 4);
    frame.writeUInt32BE(payloadBytes, 4);
    frame.writeUInt32BE(recordCount, 8);
    frame.writeUInt32BE(frameHeaderCheck(this.hasher, frame), 12);
    const checksumAt = FRAME_HEADER_BYTES + payloadBytes;
    const checksum = this.hasher.h64(frame.subarray(0, checksumAt));
    frame.writeBigUInt64BE(checksum, checksumAt);
    if (type === FRAME_RECORDS) this.chain = chainChecksum(this.hasher, this.chain, checksum);
    return frame;
  }
}
