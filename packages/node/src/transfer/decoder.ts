// Incremental decoder of a transfer stream (format in codec.ts; pure, no I/O). Bytes go in with
// push(); next() hands out the header, then one verified frame at a time, then the trailer, and
// undefined while it needs more bytes. Pulling frame by frame lets the caller apply one before
// reading on (backpressure), and an error is thrown exactly where the stream goes bad, after every
// good frame before it was handed out. A frame's records are only handed out once its checksum
// and every record in it checked out. Memory is bounded: a frame header is checked (its own
// checksum, then the payload bound) before its payload is waited for, and push() is refused until
// the caller has drained what was pushed before.
import assert from 'node:assert/strict';
import { arcDistance, onArc } from './arc.js';
import { ByteQueue } from './byte-queue.js';
import {
  BLOCK_BYTES, FRAME_CHECKSUM_BYTES, FRAME_HEADER_BYTES, FRAME_PAYLOAD_BYTES_MAX, FRAME_RECORDS, FRAME_RECORDS_MAX,
  FRAME_TRAILER, HEADER_FLAG_RESUME, ID_BYTES_MAX, ID_PATTERN, RECORD_FIXED_BYTES, RECORD_FLAG_TOMBSTONE, STREAM_HEADER_BYTES,
  TRAILER_FLAG_LAST, TRAILER_FLAG_RANGE_DONE, TRAILER_PAYLOAD_BYTES, TRANSFER_FORMAT_VERSION, TRANSFER_ID_BYTES,
  TRANSFER_MAGIC, VERSION_BYTES_MAX, chainChecksum, frameHeaderCheck, streamHeaderChecksum,
} from './codec.js';
import type { ChecksumHasher, StreamHeader, StreamTrailer, TransferRecord } from './codec.js';
import { TransferError, type TransferErrorCode } from './errors.js';

export type DecodedItem =
  | { kind: 'header'; header: StreamHeader }
  | { kind: 'frame'; records: TransferRecord[]; frameBytes: number }
  | { kind: 'trailer'; trailer: StreamTrailer };

export interface DecoderOptions {
  /** Largest frame payload accepted (default and upper bound: FRAME_PAYLOAD_BYTES_MAX). */
  framePayloadBytesMax?: number;
}

type Stage = 'header' | 'frames' | 'done';

export class TransferDecoder {
  private readonly queue = new ByteQueue();
  private readonly framePayloadBytesMax: number;
  private stage: Stage = 'header';
  private failure: TransferError | undefined;
  private header: StreamHeader | undefined;
  private chain = 0n;
  private records = 0;
  /** Last record of this stream (the trailer names it). */
  private lastRecordPosition: bigint | undefined;
  private lastDistance = -1n;

  constructor(private readonly hasher: ChecksumHasher, options: DecoderOptions = {}) {
    const bound = options.framePayloadBytesMax ?? FRAME_PAYLOAD_BYTES_MAX;
    assert.ok(Number.isSafeInteger(bound) && bound >= TRAILER_PAYLOAD_BYTES && bound <= FRAME_PAYLOAD_BYTES_MAX, 'framePayloadBytesMax in range');
    this.framePayloadBytesMax = bound;
  }

  /** Records handed out so far (all verified). */
  get recordCount(): number {
    return this.records;
  }

  /** Where a resumed send would continue: the last record handed out, else the header's resumeAfter. */
  get lastPosition(): bigint | undefined {
    return this.lastRecordPosition ?? this.header?.resumeAfter;
  }

  get streamHeader(): StreamHeader | undefined {
    return this.header;
  }

  get done(): boolean {
    return this.stage === 'done';
  }

  get bufferedBytes(): number {
    return this.queue.length;
  }

  /** Adds received bytes. Call next() until it returns undefined before pushing again. */
  push(chunk: Buffer): void {
    this.throwIfFailed();
    assert.ok(this.queue.length < this.bytesNeeded(), 'push() only after next() drained the buffered bytes');
    this.queue.push(chunk);
  }

  /** The next complete item, or undefined when more bytes are needed. Throws TransferError on a bad stream. */
  next(): DecodedItem | undefined {
    this.throwIfFailed();
    try {
      if (this.stage === 'header') return this.nextHeader();
      if (this.stage === 'frames') return this.nextFrame();
      if (this.queue.length > 0) throw new TransferError('BAD_FRAME', `${this.queue.length} bytes follow the trailer`);
      return undefined;
    } catch (error) {
      if (error instanceof TransferError) this.fail(error);
      throw error;
    }
  }

  /** The stream ended: throws TRUNCATED unless the trailer arrived. */
  end(): void {
    this.throwIfFailed();
    if (this.stage !== 'done') this.fail(this.error('TRUNCATED', `the stream ended before its trailer (${this.queue.length} bytes of an incomplete ${this.stage === 'header' ? 'header' : 'frame'} left)`));
  }

  private bytesNeeded(): number {
    if (this.stage === 'header') return STREAM_HEADER_BYTES;
    if (this.stage === 'done' || this.queue.length < FRAME_HEADER_BYTES) return FRAME_HEADER_BYTES;
    return FRAME_HEADER_BYTES + this.queue.peek(FRAME_HEADER_BYTES).readUInt32BE(4) + FRAME_CHECKSUM_BYTES;
  }

  private nextHeader(): DecodedItem | undefined {
    if (this.queue.length < STREAM_HEADER_BYTES) return undefined;
    const bytes = this.queue.take(STREAM_HEADER_BYTES);
    if (!bytes.subarray(0, 4).equals(TRANSFER_MAGIC)) throw this.error('BAD_MAGIC', 'the stream does not start with the transfer magic "RBXF"');
    const version = bytes.readUInt16BE(4);
    if (version !== TRANSFER_FORMAT_VERSION) throw this.error('UNSUPPORTED_VERSION', `transfer format version ${version} is not supported (this node speaks ${TRANSFER_FORMAT_VERSION})`);
    if (this.hasher.h64(bytes.subarray(0, 48)) !== streamHeaderChecksum(bytes)) throw this.error('CHECKSUM_MISMATCH', 'the stream header does not match its checksum');
    const flags = bytes.readUInt8(6);
    if ((flags & ~HEADER_FLAG_RESUME) !== 0) throw this.error('BAD_FRAME', `unknown stream header flags ${flags}`);
    const header: StreamHeader = {
      namespace: bytes.readUInt8(7),
      start: bytes.readBigUInt64BE(8),
      end: bytes.readBigUInt64BE(16),
      transferId: Buffer.from(bytes.subarray(32, 32 + TRANSFER_ID_BYTES)),
    };
    if ((flags & HEADER_FLAG_RESUME) !== 0) {
      header.resumeAfter = bytes.readBigUInt64BE(24);
      if (!onArc(header, header.resumeAfter)) throw this.error('BAD_FRAME', 'resumeAfter does not lie on the range');
      this.lastDistance = arcDistance(header, header.resumeAfter);
    }
    this.header = header;
    this.chain = streamHeaderChecksum(bytes);
    this.stage = 'frames';
    return { kind: 'header', header };
  }

  private nextFrame(): DecodedItem | undefined {
    if (this.queue.length < FRAME_HEADER_BYTES) return undefined;
    const head = this.queue.peek(FRAME_HEADER_BYTES);
    if (frameHeaderCheck(this.hasher, head) !== head.readUInt32BE(12)) throw this.error('CHECKSUM_MISMATCH', 'a frame header does not match its checksum');
    const type = head.readUInt8(0);
    const payloadBytes = head.readUInt32BE(4);
    const recordCount = head.readUInt32BE(8);
    if (head.readUIntBE(1, 3) !== 0) throw this.error('BAD_FRAME', 'reserved frame header bytes are not zero');
    if (type === FRAME_RECORDS) {
      if (payloadBytes > this.framePayloadBytesMax) throw this.error('FRAME_TOO_LARGE', `a frame of ${payloadBytes} payload bytes exceeds the bound of ${this.framePayloadBytesMax}`);
      if (recordCount < 1 || recordCount > FRAME_RECORDS_MAX) throw this.error('BAD_FRAME', `a records frame holds 1..${FRAME_RECORDS_MAX} records, not ${recordCount}`);
    } else if (type === FRAME_TRAILER) {
      if (payloadBytes !== TRAILER_PAYLOAD_BYTES || recordCount !== 0) throw this.error('BAD_FRAME', 'the trailer frame has the wrong size');
    } else {
      throw this.error('BAD_FRAME', `unknown frame type ${type}`);
    }
    const frameBytes = FRAME_HEADER_BYTES + payloadBytes + FRAME_CHECKSUM_BYTES;
    if (this.queue.length < frameBytes) return undefined;
    const frame = this.queue.take(frameBytes);
    const checksum = frame.readBigUInt64BE(FRAME_HEADER_BYTES + payloadBytes);
    if (this.hasher.h64(frame.subarray(0, FRAME_HEADER_BYTES + payloadBytes)) !== checksum) throw this.error('CHECKSUM_MISMATCH', 'a frame does not match its checksum');
    const payload = frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + payloadBytes);
    if (type === FRAME_TRAILER) return { kind: 'trailer', trailer: this.readTrailer(payload) };
    const records = this.readRecords(payload, recordCount);
    this.chain = chainChecksum(this.hasher, this.chain, checksum);
    this.records += records.length;
    this.lastRecordPosition = records[records.length - 1]!.position;
    return { kind: 'frame', records, frameBytes };
  }

  /** Parses and checks every record of a verified payload; commits nothing (the caller does, once all passed). */
  private readRecords(payload: Buffer, recordCount: number): TransferRecord[] {
    const header = this.header!;
    const records: TransferRecord[] = [];
    let lastDistance = this.lastDistance;
    let at = 0;
    for (let i = 0; i < recordCount; i++) {
      if (payload.length - at < RECORD_FIXED_BYTES) throw this.error('BAD_RECORD', `record ${i} of the frame is cut off`);
      const flags = payload[at]!;
      const idBytes = payload[at + 1]!;
      const versionBytes = payload[at + 2]!;
      if ((flags & ~RECORD_FLAG_TOMBSTONE) !== 0) throw this.error('BAD_RECORD', `unknown record flags ${flags}`);
      if (idBytes < 1 || idBytes > ID_BYTES_MAX || versionBytes < 1 || versionBytes > VERSION_BYTES_MAX) throw this.error('BAD_RECORD', 'a record has an empty or too long id or version');
      const tombstone = (flags & RECORD_FLAG_TOMBSTONE) !== 0;
      const idAt = at + RECORD_FIXED_BYTES;
      const versionAt = idAt + idBytes;
      const dataAt = versionAt + versionBytes;
      const endAt = dataAt + (tombstone ? 0 : BLOCK_BYTES);
      if (endAt > payload.length) throw this.error('BAD_RECORD', `record ${i} of the frame is cut off`);
      const idView = payload.subarray(idAt, versionAt);
      const id = idView.toString('latin1');
      if (!ID_PATTERN.test(id)) throw this.error('BAD_RECORD', 'a record has an id the engine does not accept');
      const position = this.hasher.h64(idView);
      if (!onArc(header, position)) throw this.error('BAD_RECORD', `record "${id}" lies outside the range`);
      const distance = arcDistance(header, position);
      if (distance <= lastDistance) throw this.error('BAD_RECORD', `record "${id}" is out of ring order`);
      lastDistance = distance;
      const record: TransferRecord = { id, position, version: payload.subarray(versionAt, dataAt), tombstone };
      if (!tombstone) record.data = payload.subarray(dataAt, endAt);
      records.push(record);
      at = endAt;
    }
    if (at !== payload.length) throw this.error('BAD_RECORD', `${payload.length - at} bytes follow the last record of a frame`);
    this.lastDistance = lastDistance;
    return records;
  }

  private readTrailer(payload: Buffer): StreamTrailer {
    const flags = payload.readUInt8(0);
    if ((flags & ~(TRAILER_FLAG_LAST | TRAILER_FLAG_RANGE_DONE)) !== 0 || payload.readUIntBE(1, 6) !== 0 || payload.readUInt8(7) !== 0) {
      throw this.error('BAD_FRAME', 'the trailer has unknown flags');
    }
    const records = payload.readBigUInt64BE(8);
    const trailer: StreamTrailer = {
      records: Number(records),
      lastPosition: (flags & TRAILER_FLAG_LAST) !== 0 ? payload.readBigUInt64BE(16) : undefined,
      rangeDone: (flags & TRAILER_FLAG_RANGE_DONE) !== 0,
      chainChecksum: payload.readBigUInt64BE(24),
    };
    if (records !== BigInt(this.records) || trailer.lastPosition !== this.lastRecordPosition) {
      throw this.error('BAD_FRAME', `the trailer names ${records} records up to ${String(trailer.lastPosition)}; ${this.records} up to ${String(this.lastRecordPosition)} arrived`);
    }
    if (trailer.chainChecksum !== this.chain) throw this.error('CHECKSUM_MISMATCH', 'the chain of frame checksums does not match the trailer (a frame was lost, repeated or spliced)');
    this.stage = 'done';
    return trailer;
  }

  private error(code: TransferErrorCode, message: string): TransferError {
    const lastPosition = this.lastPosition;
    return new TransferError(code, message, lastPosition === undefined ? {} : { lastPosition });
  }

  private fail(error: TransferError): never {
    this.failure = error;
    throw error;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
