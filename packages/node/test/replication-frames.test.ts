// The binary replication frames: every request and answer kind round-trips through the reader in
// any chunking (one byte at a time included), a block's data is never copied on encoding, and the
// reader refuses what it must not buffer or trust: oversized or undersized lengths, unknown kinds,
// fields running past the frame, trailing bytes.
import t from 'tap';
import type { Test } from 'tap';
import {
  decodeAnswer, decodeRequest, encodeAnswer, encodeRequest, FRAME_BYTES_MAX, FrameReader, type ReplicaAnswer, type ReplicaRequest,
} from '../src/replication/frames.js';
import { randomBlock, rng, version } from './transfer-harness.js';

interface Frame {
  kind: number;
  requestId: number;
  body: Buffer;
}

function readAll(t: Test, bytes: Buffer, cuts: number[]): Frame[] {
  const frames: Frame[] = [];
  const reader = new FrameReader((kind, requestId, body) => frames.push({ kind, requestId, body: Buffer.from(body) }));
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    reader.push(bytes.subarray(at, cut));
    at = cut;
  }
  if (reader.buffered() !== 0) t.fail(`${reader.buffered()} bytes left over after the last frame`);
  return frames;
}

function randomRequest(random: () => number, requestId: number): ReplicaRequest {
  const blockId = `b-${Math.floor(random() * 1e9).toString(36)}`.repeat(1 + Math.floor(random() * 3));
  const epoch = Math.floor(random() * 2 ** 40);
  const traceparent = random() < 0.5 ? `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` : undefined;
  if (random() < 0.3) return { kind: 'read', requestId, epoch, blockId, traceparent };
  return { kind: 'write', requestId, epoch, blockId, version: version(1_700_000_000_000 + requestId, `node-${requestId % 7}`), data: random() < 0.8 ? randomBlock(random) : undefined, traceparent };
}

function randomAnswer(random: () => number, requestId: number): ReplicaAnswer {
  const pick = random();
  if (pick < 0.25) return { kind: 'written', requestId, result: (['applied', 'equal', 'newer'] as const)[requestId % 3]!, current: requestId % 3 === 2 ? version(5, 'n2') : undefined };
  if (pick < 0.5) {
    const tombstone = random() < 0.3;
    return { kind: 'found', requestId, version: version(9, 'n3'), tombstone, data: tombstone ? undefined : randomBlock(random) };
  }
  if (pick < 0.75) return { kind: 'missing', requestId };
  return { kind: 'failed', requestId, code: (['STALE_EPOCH', 'DEVICE_FULL', 'CHECKSUM_MISMATCH', 'BAD_REQUEST', 'INTERNAL', 'SHUTTING_DOWN'] as const)[requestId % 6]!, epoch: requestId * 3, message: `why ${requestId} ✓` };
}

const PROTOCOL = { name: 'ProtocolError', code: 'PROTOCOL' };

function randomCuts(random: () => number, length: number, count: number): number[] {
  return Array.from({ length: count }, () => Math.floor(random() * length)).sort((a, b) => a - b);
}

t.test('requests round-trip in any chunking', async (t) => {
  const random = rng(11);
  for (let round = 0; round < 30; round++) {
    const requests = Array.from({ length: 40 }, (_, index) => randomRequest(random, round * 100 + index));
    const bytes = Buffer.concat(requests.flatMap(encodeRequest));
    const cuts = round === 0 ? Array.from({ length: bytes.length - 1 }, (_, index) => index + 1) : randomCuts(random, bytes.length, 1 + Math.floor(random() * 60));
    const decoded = readAll(t, bytes, cuts).map((frame) => decodeRequest(frame.kind, frame.requestId, frame.body));
    t.same(decoded, requests.map((request) => ({ ...request, traceparent: request.traceparent })), `round ${round}: ${requests.length} requests over ${cuts.length + 1} chunks`);
  }
});

t.test('answers round-trip in any chunking', async (t) => {
  const random = rng(12);
  for (let round = 0; round < 30; round++) {
    const answers = Array.from({ length: 40 }, (_, index) => randomAnswer(random, round * 100 + index));
    const bytes = Buffer.concat(answers.flatMap(encodeAnswer));
    const decoded = readAll(t, bytes, randomCuts(random, bytes.length, 1 + Math.floor(random() * 60))).map((frame) => decodeAnswer(frame.kind, frame.requestId, frame.body));
    t.same(decoded, answers, `round ${round}`);
  }
});

t.test('a block is written from its own buffer, not copied into the frame', async (t) => {
  const data = randomBlock(rng(3));
  const frame = encodeRequest({ kind: 'write', requestId: 1, epoch: 2, blockId: 'a', version: version(1), data, traceparent: undefined });
  t.equal(frame.length, 2);
  t.equal(frame[1], data, 'the caller\'s buffer is the second part of the frame');
  const found = encodeAnswer({ kind: 'found', requestId: 1, version: version(1), tombstone: false, data });
  t.equal(found[1], data);
});

t.test('a decoded block does not keep the whole read buffer alive', async (t) => {
  const data = randomBlock(rng(4));
  const bytes = Buffer.concat(encodeRequest({ kind: 'write', requestId: 1, epoch: 2, blockId: 'a', version: version(1), data, traceparent: undefined }));
  let decoded: ReplicaRequest | undefined;
  new FrameReader((kind, requestId, body) => (decoded = decodeRequest(kind, requestId, body))).push(bytes);
  t.ok(decoded?.kind === 'write' && decoded.data?.equals(data));
  t.not(decoded?.kind === 'write' && decoded.data?.buffer, bytes.buffer, 'the data is a copy of its own');
});

t.test('the reader refuses lengths it must not buffer, and broken frames', async (t) => {
  const frameWithLength = (length: number) => {
    const bytes = Buffer.alloc(9);
    bytes.writeUInt32BE(length, 0);
    return bytes;
  };
  const reader = () => new FrameReader(() => undefined);
  t.throws(() => reader().push(frameWithLength(FRAME_BYTES_MAX + 1)), PROTOCOL, 'a length over the maximum is refused before its bytes arrive');
  t.throws(() => reader().push(frameWithLength(0xffffffff)), PROTOCOL);
  t.throws(() => reader().push(frameWithLength(4)), PROTOCOL, 'too short for kind and id');
  const split = reader();
  split.push(frameWithLength(FRAME_BYTES_MAX + 1).subarray(0, 2));
  t.throws(() => split.push(frameWithLength(FRAME_BYTES_MAX + 1).subarray(2)), PROTOCOL, 'also when the length arrives in pieces');

  const write = Buffer.concat(encodeRequest({ kind: 'write', requestId: 7, epoch: 1, blockId: 'abc', version: version(1), data: randomBlock(rng(5)), traceparent: undefined }));
  const body = write.subarray(9);
  t.throws(() => decodeRequest(0x81, 7, body), PROTOCOL, 'an answer kind is not a request');
  t.throws(() => decodeRequest(9, 7, body), PROTOCOL, 'unknown kind');
  t.throws(() => decodeRequest(1, 7, body.subarray(0, body.length - 1)), PROTOCOL, 'a block one byte short');
  t.throws(() => decodeRequest(1, 7, Buffer.concat([body, Buffer.alloc(1)])), PROTOCOL, 'a trailing byte');
  t.throws(() => decodeRequest(1, 7, body.subarray(0, 8)), PROTOCOL, 'a field running past the frame');
  const flagged = Buffer.from(body);
  flagged[6] = 3;
  t.throws(() => decodeRequest(1, 7, flagged), PROTOCOL, 'unknown flags');
  t.throws(() => decodeAnswer(1, 7, body), PROTOCOL, 'a request kind is not an answer');
  const failed = Buffer.concat(encodeAnswer({ kind: 'failed', requestId: 1, code: 'INTERNAL', epoch: 1, message: 'x' })).subarray(9);
  failed[0] = 200;
  t.throws(() => decodeAnswer(0x84, 1, failed), PROTOCOL, 'unknown failure code');
});

t.test('fuzz: damaged and random streams give frames or a ProtocolError, nothing else, and never buffer past a frame', async (t) => {
  const random = rng(Number(process.env.RINGBLOCK_FRAME_FUZZ_SEED ?? 31));
  const rounds = Number(process.env.RINGBLOCK_FRAME_FUZZ_ROUNDS ?? 2000);
  const outcomes = { decoded: 0, protocolErrors: 0 };
  for (let round = 0; round < rounds; round++) {
    const valid = Buffer.concat(Array.from({ length: 1 + Math.floor(random() * 4) }, (_, index) => randomRequest(random, index)).flatMap(encodeRequest));
    const bytes = random() < 0.2 ? Buffer.from(Array.from({ length: Math.floor(random() * 6000) }, () => Math.floor(random() * 256))) : Buffer.from(valid);
    for (let flips = Math.floor(random() * 4); flips > 0 && bytes.length > 0; flips--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    const reader = new FrameReader((kind, requestId, body) => {
      decodeRequest(kind, requestId, body);
      outcomes.decoded++;
    });
    try {
      for (const cut of [...randomCuts(random, bytes.length, 3), bytes.length].map((cut, index, all) => bytes.subarray(index === 0 ? 0 : all[index - 1], cut))) reader.push(cut);
      if (reader.buffered() > FRAME_BYTES_MAX + 4) t.fail(`round ${round}: ${reader.buffered()} bytes buffered`);
    } catch (error) {
      if ((error as Error).name !== 'ProtocolError') throw new Error(`round ${round}: ${(error as Error).stack}`);
      outcomes.protocolErrors++;
    }
  }
  t.ok(outcomes.decoded > 0 && outcomes.protocolErrors > 0, `${rounds} rounds: ${outcomes.decoded} frames decoded, ${outcomes.protocolErrors} streams refused`);
});
