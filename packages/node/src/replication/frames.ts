// The frames of the binary replication protocol between peers: replica writes and reads without an
// HTTP request each. Spoken on an HTTP/1.1 connection upgraded at REPLICATION_PATH (so it needs no
// port of its own, passes the same token check and later the same TLS), many requests in flight on
// one connection, answered in any order by request id. All integers big-endian.
//
//   frame    u32 length of what follows | u8 kind | u32 request id | body
//   write    u48 sender epoch | u8 flags (1: data follows) | u8 id bytes | id | u8 version bytes |
//            version | u8 traceparent bytes | traceparent | [4096 data]
//   read     as write, with no version, flags 0 and no data
//   written  u8 result (0 applied, 1 equal, 2 newer) | u8 version bytes | current version (for newer)
//   found    u8 flags (1: tombstone) | u8 version bytes | version | [4096 data unless tombstone]
//   missing  (empty)
//   failed   u8 code | u48 the answering node's epoch | u16 message bytes | message (UTF-8)
//
// This module is pure: encoding to buffers, and a reader that cuts a byte stream into frames.
import assert from 'node:assert/strict';
import type { WriteResult } from '../store.js';

export const REPLICATION_PROTOCOL = 'ringblock-replication/1';
export const REPLICATION_PATH = '/internal/replication';
export const BLOCK_BYTES = 4096;

const LENGTH_BYTES = 4;
const FRAME_HEAD_BYTES = LENGTH_BYTES + 1 + 4;
const EPOCH_BYTES = 6;
const SHORT_FIELD_MAX = 255;
const MESSAGE_BYTES_MAX = 1024;
/** The largest frame body: a write with every short field at its maximum and a block. */
export const FRAME_BYTES_MAX = 1 + 4 + EPOCH_BYTES + 1 + 3 * (1 + SHORT_FIELD_MAX) + BLOCK_BYTES;
const EPOCH_MAX = 2 ** 48 - 1;

export const FRAME_KIND = { write: 1, read: 2, written: 0x81, found: 0x82, missing: 0x83, failed: 0x84 } as const;
const WRITE_RESULTS: readonly WriteResult[] = ['applied', 'equal', 'newer'];
/** Stable failure codes; the HTTP status each stands for is in FAILURE_STATUS. */
export const FAILURE_CODES = ['STALE_EPOCH', 'DEVICE_FULL', 'CHECKSUM_MISMATCH', 'BAD_REQUEST', 'INTERNAL', 'SHUTTING_DOWN'] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];
export const FAILURE_STATUS: Record<FailureCode, number> = { STALE_EPOCH: 409, DEVICE_FULL: 507, CHECKSUM_MISMATCH: 422, BAD_REQUEST: 400, INTERNAL: 500, SHUTTING_DOWN: 503 };

export interface WriteRequest {
  kind: 'write';
  requestId: number;
  epoch: number;
  blockId: string;
  version: Buffer;
  /** undefined: a tombstone. */
  data: Buffer | undefined;
  traceparent: string | undefined;
}

export interface ReadRequest {
  kind: 'read';
  requestId: number;
  epoch: number;
  blockId: string;
  traceparent: string | undefined;
}

export type ReplicaRequest = WriteRequest | ReadRequest;

export type ReplicaAnswer =
  | { kind: 'written'; requestId: number; result: WriteResult; current: Buffer | undefined }
  | { kind: 'found'; requestId: number; version: Buffer; tombstone: boolean; data: Buffer | undefined }
  | { kind: 'missing'; requestId: number }
  | { kind: 'failed'; requestId: number; code: FailureCode; epoch: number; message: string };

/** The peer broke the protocol: the connection is closed (nothing on it can be trusted any more). */
export class ProtocolError extends Error {
  readonly code = 'PROTOCOL';
  override readonly name = 'ProtocolError';
}

/** The frame as buffers to write in order; a block's data is one of them, never copied. */
export function encodeRequest(request: ReplicaRequest): Buffer[] {
  assert.ok(Number.isSafeInteger(request.epoch) && request.epoch >= 0 && request.epoch <= EPOCH_MAX, 'epoch out of range');
  const id = Buffer.from(request.blockId, 'latin1');
  const version = request.kind === 'write' ? request.version : undefined;
  const data = request.kind === 'write' ? request.data : undefined;
  const trace = Buffer.from(request.traceparent ?? '', 'latin1');
  assert.ok(id.length >= 1 && id.length <= SHORT_FIELD_MAX && (version?.length ?? 0) <= SHORT_FIELD_MAX && trace.length <= SHORT_FIELD_MAX, 'field too long');
  assert.ok(data === undefined || data.length === BLOCK_BYTES, 'a block is 4096 bytes');
  const fields = EPOCH_BYTES + 1 + 1 + id.length + 1 + (version?.length ?? 0) + 1 + trace.length;
  const head = frameHead(request.kind === 'write' ? FRAME_KIND.write : FRAME_KIND.read, request.requestId, fields, data ? BLOCK_BYTES : 0);
  let at = FRAME_HEAD_BYTES;
  at = head.writeUIntBE(request.epoch, at, EPOCH_BYTES);
  at = head.writeUInt8(data ? 1 : 0, at);
  at = putShort(head, at, id);
  at = putShort(head, at, version);
  at = putShort(head, at, trace);
  assert.equal(at, head.length);
  return data ? [head, data] : [head];
}

export function encodeAnswer(answer: ReplicaAnswer): Buffer[] {
  switch (answer.kind) {
    case 'written': {
      const current = answer.current ?? Buffer.alloc(0);
      const head = frameHead(FRAME_KIND.written, answer.requestId, 1 + 1 + current.length, 0);
      putShort(head, head.writeUInt8(WRITE_RESULTS.indexOf(answer.result), FRAME_HEAD_BYTES), current);
      return [head];
    }
    case 'found': {
      assert.ok(answer.tombstone === (answer.data === undefined), 'a tombstone has no data, a block has');
      assert.ok(answer.data === undefined || answer.data.length === BLOCK_BYTES, 'a block is 4096 bytes');
      const head = frameHead(FRAME_KIND.found, answer.requestId, 1 + 1 + answer.version.length, answer.data ? BLOCK_BYTES : 0);
      putShort(head, head.writeUInt8(answer.tombstone ? 1 : 0, FRAME_HEAD_BYTES), answer.version);
      return answer.data ? [head, answer.data] : [head];
    }
    case 'missing':
      return [frameHead(FRAME_KIND.missing, answer.requestId, 0, 0)];
    case 'failed': {
      const message = Buffer.from(answer.message, 'utf8').subarray(0, MESSAGE_BYTES_MAX);
      const head = frameHead(FRAME_KIND.failed, answer.requestId, 1 + EPOCH_BYTES + 2 + message.length, 0);
      let at = head.writeUInt8(FAILURE_CODES.indexOf(answer.code), FRAME_HEAD_BYTES);
      at = head.writeUIntBE(Math.min(Math.max(0, answer.epoch), EPOCH_MAX), at, EPOCH_BYTES);
      at = head.writeUInt16BE(message.length, at);
      message.copy(head, at);
      return [head];
    }
  }
}

/**
 * The head buffer of a frame: length, kind, id and room for `fieldBytes` of fixed fields. The
 * `dataBytes` that follow (a block) are counted in the length but written from their own buffer.
 */
function frameHead(kind: number, requestId: number, fieldBytes: number, dataBytes: number): Buffer {
  assert.ok(Number.isInteger(requestId) && requestId >= 0 && requestId <= 0xffffffff, 'request id out of range');
  const head = Buffer.allocUnsafe(FRAME_HEAD_BYTES + fieldBytes);
  head.writeUInt32BE(1 + 4 + fieldBytes + dataBytes, 0);
  head.writeUInt8(kind, LENGTH_BYTES);
  head.writeUInt32BE(requestId, LENGTH_BYTES + 1);
  return head;
}

function putShort(into: Buffer, at: number, field: Buffer | undefined): number {
  const length = field?.length ?? 0;
  at = into.writeUInt8(length, at);
  if (field) field.copy(into, at);
  return at + length;
}

/** Reads the fields of one frame body, every read bounds-checked. */
class FieldReader {
  private at = 0;
  constructor(private readonly body: Buffer) {}

  u8(): number {
    this.need(1);
    return this.body.readUInt8(this.at++);
  }

  u16(): number {
    this.need(2);
    const value = this.body.readUInt16BE(this.at);
    this.at += 2;
    return value;
  }

  epoch(): number {
    this.need(EPOCH_BYTES);
    const value = this.body.readUIntBE(this.at, EPOCH_BYTES);
    this.at += EPOCH_BYTES;
    return value;
  }

  bytes(length: number): Buffer {
    this.need(length);
    const value = this.body.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }

  short(): Buffer {
    return this.bytes(this.u8());
  }

  /** A block of the frame, copied: the frame's buffer may be a slice of a much larger read. */
  block(present: boolean): Buffer | undefined {
    if (!present) return undefined;
    return Buffer.from(this.bytes(BLOCK_BYTES));
  }

  end(what: string): void {
    if (this.at !== this.body.length) throw new ProtocolError(`${what} frame has ${this.body.length - this.at} bytes too many`);
  }

  private need(length: number): void {
    if (this.at + length > this.body.length) throw new ProtocolError('frame ends inside a field');
  }
}

export function decodeRequest(kind: number, requestId: number, body: Buffer): ReplicaRequest {
  if (kind !== FRAME_KIND.write && kind !== FRAME_KIND.read) throw new ProtocolError(`frame kind ${kind} is not a request`);
  const fields = new FieldReader(body);
  const epoch = fields.epoch();
  const flags = fields.u8();
  const blockId = fields.short().toString('latin1');
  const version = fields.short();
  const trace = fields.short();
  const traceparent = trace.length > 0 ? trace.toString('latin1') : undefined;
  if (kind === FRAME_KIND.read) {
    if (flags !== 0 || version.length !== 0) throw new ProtocolError('a read carries no version and no data');
    fields.end('read');
    return { kind: 'read', requestId, epoch, blockId, traceparent };
  }
  if ((flags & ~1) !== 0) throw new ProtocolError(`unknown write flags ${flags}`);
  const data = fields.block((flags & 1) === 1);
  fields.end('write');
  return { kind: 'write', requestId, epoch, blockId, version: Buffer.from(version), data, traceparent };
}

export function decodeAnswer(kind: number, requestId: number, body: Buffer): ReplicaAnswer {
  const fields = new FieldReader(body);
  switch (kind) {
    case FRAME_KIND.written: {
      const result = WRITE_RESULTS[fields.u8()];
      const current = fields.short();
      fields.end('written');
      if (!result) throw new ProtocolError('unknown write result');
      return { kind: 'written', requestId, result, current: current.length > 0 ? Buffer.from(current) : undefined };
    }
    case FRAME_KIND.found: {
      const flags = fields.u8();
      if ((flags & ~1) !== 0) throw new ProtocolError(`unknown found flags ${flags}`);
      const version = Buffer.from(fields.short());
      const tombstone = flags === 1;
      const data = fields.block(!tombstone);
      fields.end('found');
      return { kind: 'found', requestId, version, tombstone, data };
    }
    case FRAME_KIND.missing:
      fields.end('missing');
      return { kind: 'missing', requestId };
    case FRAME_KIND.failed: {
      const code = FAILURE_CODES[fields.u8()];
      const epoch = fields.epoch();
      const message = fields.bytes(fields.u16()).toString('utf8');
      fields.end('failed');
      if (!code) throw new ProtocolError('unknown failure code');
      return { kind: 'failed', requestId, code, epoch, message };
    }
    default:
      throw new ProtocolError(`frame kind ${kind} is not an answer`);
  }
}

export type FrameHandler = (kind: number, requestId: number, body: Buffer) => void;

/**
 * Cuts a byte stream into frames. A frame inside one chunk is handed out as a slice of it; only a
 * frame split across chunks is copied, and only its own bytes. A length over FRAME_BYTES_MAX (or
 * too short to hold kind and id) is a ProtocolError: nothing unbounded is ever buffered.
 */
export class FrameReader {
  /** The start of a frame that the last chunk cut off, at most FRAME_HEAD + FRAME_BYTES_MAX bytes. */
  private partial: Buffer | undefined;

  constructor(private readonly onFrame: FrameHandler) {}

  push(chunk: Buffer): void {
    let offset = 0;
    if (this.partial) {
      offset = this.completePartial(chunk);
      if (this.partial) return;
    }
    while (offset < chunk.length) {
      const available = chunk.length - offset;
      const length = available >= LENGTH_BYTES ? frameLength(chunk, offset) : undefined;
      if (length === undefined || available < LENGTH_BYTES + length) {
        this.partial = Buffer.from(chunk.subarray(offset));
        return;
      }
      this.emit(chunk.subarray(offset, offset + LENGTH_BYTES + length));
      offset += LENGTH_BYTES + length;
    }
  }

  /** Bytes held for a frame not yet complete (0 between frames). */
  buffered(): number {
    return this.partial?.length ?? 0;
  }

  /** Adds from `chunk` what the partial frame misses; returns how much of `chunk` that took. */
  private completePartial(chunk: Buffer): number {
    const partial = this.partial!;
    let taken = 0;
    let whole = partial;
    if (whole.length < LENGTH_BYTES) {
      taken = Math.min(LENGTH_BYTES - whole.length, chunk.length);
      whole = Buffer.concat([whole, chunk.subarray(0, taken)]);
      if (whole.length < LENGTH_BYTES) {
        this.partial = whole;
        return taken;
      }
    }
    const total = LENGTH_BYTES + frameLength(whole, 0);
    const more = Math.min(total - whole.length, chunk.length - taken);
    if (more > 0) whole = Buffer.concat([whole, chunk.subarray(taken, taken + more)]);
    taken += more;
    if (whole.length < total) {
      this.partial = whole;
      return taken;
    }
    this.partial = undefined;
    this.emit(whole);
    return taken;
  }

  private emit(frame: Buffer): void {
    this.onFrame(frame.readUInt8(LENGTH_BYTES), frame.readUInt32BE(LENGTH_BYTES + 1), frame.subarray(FRAME_HEAD_BYTES));
  }
}

function frameLength(bytes: Buffer, offset: number): number {
  const length = bytes.readUInt32BE(offset);
  if (length < 5 || length > FRAME_BYTES_MAX) throw new ProtocolError(`frame length ${length} is outside 5..${FRAME_BYTES_MAX}`);
  return length;
}
