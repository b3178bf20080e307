// The transfer stream format: round trips of random records (tombstones too) in any chunking,
// every single-bit flip detected before a record of the damaged frame is handed out, truncation at
// every frame boundary and inside frames reported as TRUNCATED with the right lastPosition, and
// the decoder's bounds.
import t from 'tap';
import type { Test } from 'tap';
import {
  arcDistance, FRAME_HEADER_BYTES, STREAM_HEADER_BYTES, TransferDecoder, TransferEncoder, TransferError, type DecodedItem,
  type OutgoingRecord, type StreamHeader, type TransferRecord,
} from '../src/transfer/index.js';
import { loadHasher, randomBlock, rng, transferId, version, type Hasher } from './transfer-harness.js';

const hasher: Hasher = await loadHasher();

interface Encoded {
  bytes: Buffer;
  /** Offset where each frame (then the trailer) starts. */
  frameStarts: number[];
  /** Records in each frame. */
  frames: OutgoingRecord[][];
}

/** Random records on the range, in the order a stream carries them. */
function records(random: () => number, range: { start: bigint; end: bigint }, count: number): OutgoingRecord[] {
  const out: OutgoingRecord[] = [];
  while (out.length < count) {
    const id = `k${Math.floor(random() * 1e12).toString(36)}`;
    const position = hasher.h64(Buffer.from(id, 'latin1'));
    if (arcDistance(range, position) >= arcDistance(range, range.end)) continue;
    const tombstone = random() < 0.3;
    const record: OutgoingRecord = { id, position, version: version(1_000 + out.length, `node-${Math.floor(random() * 9)}`), tombstone };
    if (!tombstone) record.data = randomBlock(random);
    out.push(record);
  }
  return out.sort((a, b) => (arcDistance(range, a.position) < arcDistance(range, b.position) ? -1 : 1));
}

function encode(header: StreamHeader, all: OutgoingRecord[], batch: number, rangeDone = true): Encoded {
  const encoder = new TransferEncoder(hasher, header);
  const pieces = [encoder.headerBytes];
  const frameStarts: number[] = [];
  const frames: OutgoingRecord[][] = [];
  let offset = encoder.headerBytes.length;
  for (let i = 0; i < all.length; i += batch) {
    const frame = all.slice(i, i + batch);
    const bytes = encoder.frame(frame);
    frameStarts.push(offset);
    frames.push(frame);
    pieces.push(bytes);
    offset += bytes.length;
  }
  frameStarts.push(offset);
  pieces.push(encoder.trailer(rangeDone));
  return { bytes: Buffer.concat(pieces), frameStarts, frames };
}

/** Feeds `bytes` in chunks of the given sizes; returns every item handed out and the error, if any. */
function decode(bytes: Buffer, chunkSizes: () => number, options: { end?: boolean; framePayloadBytesMax?: number } = {}) {
  const decoder = new TransferDecoder(hasher, options.framePayloadBytesMax === undefined ? {} : { framePayloadBytesMax: options.framePayloadBytesMax });
  const items: DecodedItem[] = [];
  try {
    for (let at = 0; at < bytes.length;) {
      const size = Math.max(1, chunkSizes());
      decoder.push(bytes.subarray(at, at + size));
      at += size;
      for (let item = decoder.next(); item !== undefined; item = decoder.next()) items.push(item);
    }
    if (options.end !== false) decoder.end();
    return { items, decoder, error: undefined };
  } catch (error) {
    if (!(error instanceof TransferError)) throw error;
    return { items, decoder, error };
  }
}

function decodedRecords(items: DecodedItem[]): TransferRecord[] {
  return items.flatMap((item) => (item.kind === 'frame' ? item.records : []));
}

function sameRecords(t: Test, got: TransferRecord[], want: OutgoingRecord[]): void {
  t.equal(got.length, want.length, 'record count');
  for (let i = 0; i < want.length; i++) {
    const a = got[i]!;
    const b = want[i]!;
    if (a.id !== b.id || a.position !== b.position || a.tombstone !== b.tombstone || !a.version.equals(b.version) || (b.data ? !a.data?.equals(b.data) : a.data !== undefined)) {
      t.fail(`record ${i} (${b.id}) differs`);
      return;
    }
  }
  t.pass('every id, position, version, tombstone flag and data byte matches');
}

const WHOLE = { start: 0n, end: 0n };
const WRAPPED = { start: 0xc000_0000_0000_0000n, end: 0x4000_0000_0000_0000n };

t.test('round trip of random records, tombstones included, in any chunking', async (t) => {
  const random = rng(7);
  for (const [name, range, batch] of [['whole ring', WHOLE, 16], ['wrapped range', WRAPPED, 1], ['plain range', { start: 1n << 60n, end: 3n << 62n }, 256]] as const) {
    const all = records(random, range, 300);
    const header: StreamHeader = { namespace: 3, ...range, transferId: transferId() };
    const encoded = encode(header, all, batch);
    for (const [chunking, sizes] of [['one chunk', () => encoded.bytes.length], ['1-byte chunks', () => 1], ['random chunks', () => Math.floor(random() * 20_000)]] as const) {
      if (chunking === '1-byte chunks' && batch !== 1) continue;
      const { items, error, decoder } = decode(encoded.bytes, sizes);
      t.equal(error, undefined, `${name}, ${chunking}: no error`);
      const head = items[0];
      t.ok(head?.kind === 'header' && head.header.namespace === 3 && head.header.start === range.start && head.header.end === range.end && head.header.transferId.equals(header.transferId), `${name}: header`);
      sameRecords(t, decodedRecords(items), all);
      const trailer = items[items.length - 1];
      t.ok(trailer?.kind === 'trailer' && trailer.trailer.rangeDone && trailer.trailer.records === all.length && trailer.trailer.lastPosition === all[all.length - 1]!.position, `${name}: trailer`);
      t.equal(decoder.lastPosition, all[all.length - 1]!.position);
    }
  }
});

t.test('an empty stream and a resumed one carry resumeAfter as their lastPosition', async (t) => {
  const random = rng(8);
  const all = records(random, WRAPPED, 40);
  const resumeAfter = all[9]!.position;
  const header: StreamHeader = { namespace: 0, ...WRAPPED, resumeAfter, transferId: transferId() };
  const encoded = encode(header, all.slice(10), 8, false);
  const { items, error, decoder } = decode(encoded.bytes, () => 4096);
  t.equal(error, undefined);
  t.equal(decoder.streamHeader?.resumeAfter, resumeAfter);
  sameRecords(t, decodedRecords(items), all.slice(10));
  const trailer = items[items.length - 1];
  t.ok(trailer?.kind === 'trailer' && !trailer.trailer.rangeDone, 'the trailer says the range is not done');

  const empty = encode(header, [], 8);
  const decoded = decode(empty.bytes, () => 100);
  t.equal(decoded.error, undefined);
  t.equal(decoded.decoder.lastPosition, resumeAfter, 'no records: lastPosition is resumeAfter');

  t.throws(() => new TransferEncoder(hasher, header).frame([all[3]!]), 'the encoder refuses a record at or before resumeAfter');
});

t.test('every single-bit flip is detected, and no record of the damaged frame is handed out', async (t) => {
  const random = rng(9);
  const all = records(random, WRAPPED, 12);
  const encoded = encode({ namespace: 1, ...WRAPPED, transferId: transferId() }, all, 4);
  const { bytes, frameStarts, frames } = encoded;
  // Every bit of the header, of each frame header and checksum and of the trailer; every 13th bit elsewhere.
  const structural = new Set<number>();
  for (let i = 0; i < STREAM_HEADER_BYTES * 8; i++) structural.add(i);
  for (const start of frameStarts) for (let i = 0; i < FRAME_HEADER_BYTES * 8; i++) structural.add(start * 8 + i);
  for (let i = frameStarts[frameStarts.length - 1]! * 8; i < bytes.length * 8; i++) structural.add(i);
  for (const end of [...frameStarts.slice(1)]) for (let i = 1; i <= 64; i++) structural.add(end * 8 - i);
  let flips = 0;
  let undetected = 0;
  let leaked = 0;
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    if (!structural.has(bit) && bit % 13 !== 0) continue;
    flips++;
    const damaged = Buffer.from(bytes);
    damaged[bit >> 3]! ^= 1 << (bit & 7);
    const { items, error } = decode(damaged, () => 1000 + Math.floor(random() * 9000));
    if (error === undefined) undetected++;
    // Records handed out must all come from frames that end before the flipped byte.
    const intact = frames.filter((_, i) => frameStarts[i + 1]! <= bit >> 3).reduce((sum, frame) => sum + frame.length, 0);
    if (decodedRecords(items).length > intact) leaked++;
  }
  t.ok(flips > 2000, `${flips} flips tried`);
  t.equal(undetected, 0, 'every flip is detected');
  t.equal(leaked, 0, 'no record of a damaged frame (or a later one) is handed out');
});

t.test('truncation at every frame boundary and inside frames: TRUNCATED with the right lastPosition', async (t) => {
  const random = rng(10);
  const all = records(random, WHOLE, 20);
  const resumeAfter = 5n;
  const kept = all.filter((record) => arcDistance(WHOLE, record.position) > arcDistance(WHOLE, resumeAfter));
  const encoded = encode({ namespace: 0, ...WHOLE, resumeAfter, transferId: transferId() }, kept, 3);
  const { bytes, frameStarts, frames } = encoded;
  const cuts = new Set<number>([0, 1, STREAM_HEADER_BYTES - 1, STREAM_HEADER_BYTES]);
  for (let i = 0; i < frameStarts.length; i++) {
    const start = frameStarts[i]!;
    const next = frameStarts[i + 1] ?? bytes.length;
    for (const cut of [start, start + 1, start + FRAME_HEADER_BYTES, Math.floor((start + next) / 2), next - 1]) cuts.add(cut);
  }
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut >= bytes.length) continue;
    const { error, decoder } = decode(bytes.subarray(0, cut), () => 777);
    const whole = frames.filter((_, i) => frameStarts[i + 1]! <= cut).flat();
    const expected = cut < STREAM_HEADER_BYTES ? undefined : (whole[whole.length - 1]?.position ?? resumeAfter);
    if (error?.code !== 'TRUNCATED' || decoder.lastPosition !== expected || error.lastPosition !== expected) {
      t.fail(`cut at ${cut}: got ${error?.code} at ${String(decoder.lastPosition)}, wanted TRUNCATED at ${String(expected)}`);
    }
  }
  t.pass(`${cuts.size} cuts checked`);
});

t.test('typed errors for foreign, future, oversized and malformed streams', async (t) => {
  const random = rng(11);
  const all = records(random, WHOLE, 30);
  const encoded = encode({ namespace: 0, ...WHOLE, transferId: transferId() }, all, 30);
  const once = () => encoded.bytes.length;

  const foreign = Buffer.from(encoded.bytes);
  foreign.write('HTTP', 0, 'latin1');
  t.equal(decode(foreign, once).error?.code, 'BAD_MAGIC');

  const future = Buffer.from(encoded.bytes);
  future.writeUInt16BE(2, 4);
  t.equal(decode(future, once).error?.code, 'UNSUPPORTED_VERSION');

  const small = decode(encoded.bytes, once, { framePayloadBytesMax: 64 * 1024 });
  t.equal(small.error?.code, 'FRAME_TOO_LARGE', 'a frame above the bound is refused from its header');
  t.equal(small.decoder.bufferedBytes < 200 * 1024, true, 'without waiting for its payload');

  const extra = Buffer.concat([encoded.bytes, Buffer.from([0])]);
  t.equal(decode(extra, once).error?.code, 'BAD_FRAME', 'bytes after the trailer');

  // A frame from a whole-ring stream spliced into a stream for a narrower range: valid checksums,
  // records outside the range.
  const narrow = { start: 0n, end: 1n << 40n };
  const spliced = Buffer.concat([new TransferEncoder(hasher, { namespace: 0, ...narrow, transferId: transferId() }).headerBytes, encoded.bytes.subarray(STREAM_HEADER_BYTES)]);
  const splicedResult = decode(spliced, once);
  t.equal(splicedResult.error?.code, 'BAD_RECORD', 'records outside the range');
  t.equal(decodedRecords(splicedResult.items).length, 0);

  const decoder = new TransferDecoder(hasher);
  decoder.push(encoded.bytes.subarray(0, 100));
  t.throws(() => decoder.push(encoded.bytes.subarray(100, 200)), 'push before draining is refused (the buffer stays bounded)');
});
