// Bulk transfer end to end: real engines on temporary files, a real node:http server with the
// node's router and the transfer routes on 127.0.0.1, the real sender over undici. Ranges (plain and
// wrapped) arrive exactly, nothing outside them does, last-writer-wins holds on the receiver,
// requests are bounded and resumed, a cut connection resumes without resending what is durable,
// and the routes check the token and the ring epoch.
import { createServer, type AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { Client } from 'undici';
import { EngineError, type Engine } from '@ringblock/engine';
import {
  arcDistance, ByteRateLimiter, onArc, sendRange, TRANSFER_PATH, TransferEncoder, TransferTask, type OutgoingRecord,
} from '../src/transfer/index.js';
import { HEADER_EPOCH } from '../src/peers.js';
import {
  fill, loadHasher, openEngine, randomBlock, rng, snapshot, startCuttingProxy, startReceiver, TOKEN, transferId, version,
} from './transfer-harness.js';

const hasher = await loadHasher();
const FAST = () => new ByteRateLimiter({ bytesPerSecond: 1e12, burstBytes: 1e9 });
const HALF = { start: 1n << 62n, end: 3n << 62n };
const WRAPPED = { start: 3n << 62n, end: 1n << 62n };

interface Pair {
  source: Engine;
  target: Engine;
  addr: string;
  port: number;
  epoch: { value: number };
}

async function pair(t: Test, records: number, seed: number): Promise<Pair> {
  const source = await openEngine(t);
  const target = await openEngine(t);
  await fill(source, rng(seed), records);
  const epoch = { value: 7 };
  const receiver = await startReceiver(t, { engine: target, epoch: () => epoch.value });
  return { source, target, ...receiver, epoch };
}

function inRange(lines: string[], range: { start: bigint; end: bigint }): string[] {
  return lines.filter((line) => onArc(range, hasher.h64(Buffer.from(line.split(' ')[0]!, 'latin1'))));
}

t.test('a range of a few thousand blocks and tombstones arrives exactly; nothing outside it does', async (t) => {
  const { source, target, addr } = await pair(t, 3000, 1);
  const expected = await snapshot(source, hasher, HALF);
  t.ok(expected.length > 1000 && expected.some((line) => line.includes(' T ')), `${expected.length} records in the range, tombstones among them`);
  const result = await sendRange({ engine: source, hasher, range: HALF, to: addr, token: TOKEN, epoch: 7, limiter: FAST(), batchRecords: 100 });
  t.equal(result.records, expected.length);
  t.equal(result.applied, expected.length);
  t.ok(result.rangeDone);
  t.equal(result.lastPosition, hasher.h64(Buffer.from(expected[expected.length - 1]!.split(' ')[0]!, 'latin1')));
  t.same(await snapshot(target, hasher, HALF), expected, 'same ids, versions, tombstones and data bytes');
  t.equal((await snapshot(target, hasher)).length, expected.length, 'no record outside the range');
});

t.test('a wrapped range (start > end) arrives exactly', async (t) => {
  const { source, target, addr } = await pair(t, 1500, 2);
  const expected = await snapshot(source, hasher, WRAPPED);
  const all = await snapshot(source, hasher);
  t.same(inRange(all, WRAPPED).sort(), [...expected].sort(), 'the engine yields exactly the wrapped range');
  const result = await sendRange({ engine: source, hasher, range: WRAPPED, to: addr, token: TOKEN, epoch: 7, limiter: FAST() });
  t.equal(result.records, expected.length);
  t.same(await snapshot(target, hasher, WRAPPED), expected);
  t.equal((await snapshot(target, hasher)).length, expected.length);
});

t.test('the receiver keeps a newer version it holds and takes a newer incoming one', async (t) => {
  const source = await openEngine(t);
  const target = await openEngine(t);
  const random = rng(3);
  const ids = Array.from({ length: 40 }, (_, i) => `lww-${i}`);
  for (const id of ids) await source.put(id, version(2_000), randomBlock(random));
  await source.delete('lww-tomb', version(2_000));
  // The target already holds: a newer put for 0..9, an older put for 10..19, an equal version for 20..24,
  // a newer tombstone for 25, and an older put for the incoming tombstone.
  const newer = randomBlock(random);
  for (const id of ids.slice(0, 10)) await target.put(id, version(3_000), newer);
  for (const id of ids.slice(10, 20)) await target.put(id, version(1_000), randomBlock(random));
  for (const id of ids.slice(20, 25)) await target.put(id, version(2_000), (await source.get(id))!.data!);
  await target.delete(ids[25]!, version(3_000));
  await target.put('lww-tomb', version(1_000), randomBlock(random));
  const receiver = await startReceiver(t, { engine: target, epoch: () => 1 });
  const result = await sendRange({ engine: source, hasher, range: { start: 0n, end: 0n }, to: receiver.addr, token: TOKEN, epoch: 1, limiter: FAST() });
  t.equal(result.records, 41);
  t.equal(result.applied, 41 - 10 - 5 - 1, 'older or equal incoming versions are not applied');
  for (const id of ids.slice(0, 10)) {
    const block = await target.get(id);
    if (!block?.version.equals(version(3_000)) || !block.data?.equals(newer)) t.fail(`${id} lost its newer version`);
  }
  for (const id of ids.slice(10, 25)) {
    const [got, want] = [await target.get(id), await source.get(id)];
    if (!got?.version.equals(want!.version) || !got.data?.equals(want!.data!)) t.fail(`${id} does not hold the incoming version`);
  }
  t.ok((await target.get(ids[25]!))?.tombstone, 'a newer local tombstone stays');
  const tomb = await target.get('lww-tomb');
  t.ok(tomb?.tombstone && tomb.version.equals(version(2_000)), 'an incoming tombstone deletes an older put');
});

t.test('resumeAfter sends only the rest, also on a wrapped range; resumeAfter = end sends nothing', async (t) => {
  const { source, target, addr } = await pair(t, 1200, 4);
  const expected = await snapshot(source, hasher, WRAPPED);
  const positions = expected.map((line) => hasher.h64(Buffer.from(line.split(' ')[0]!, 'latin1')));
  // Positions in ring order along the wrapped range: both sides of the wrap are present.
  t.ok(positions.some((p) => p > WRAPPED.start) && positions.some((p) => p <= WRAPPED.end), 'records on both sides of 2^64');
  const resumeAfter = positions[Math.floor(positions.length * 0.6)]!;
  const rest = positions.filter((p) => arcDistance(WRAPPED, p) > arcDistance(WRAPPED, resumeAfter));
  const result = await sendRange({ engine: source, hasher, range: WRAPPED, resumeAfter, to: addr, token: TOKEN, epoch: 7, limiter: FAST() });
  t.equal(result.records, rest.length, 'only records after resumeAfter');
  t.equal((await snapshot(target, hasher)).length, rest.length);
  const none = await sendRange({ engine: source, hasher, range: WRAPPED, resumeAfter: WRAPPED.end, to: addr, token: TOKEN, epoch: 7, limiter: FAST() });
  t.same({ records: none.records, rangeDone: none.rangeDone, lastPosition: none.lastPosition }, { records: 0, rangeDone: true, lastPosition: WRAPPED.end });
  await t.rejects(sendRange({ engine: source, hasher, range: HALF, resumeAfter: 0n, to: addr, token: TOKEN, epoch: 7, limiter: FAST() }), { code: 'BAD_OPTION' }, 'resumeAfter off the range');
});

t.test('bounded requests: a task sends a range in several requests, each resuming after the last', async (t) => {
  const { source, target, addr } = await pair(t, 1500, 5);
  const expected = await snapshot(source, hasher, WRAPPED);
  const task = new TransferTask({ engine: source, hasher, range: WRAPPED, to: addr, token: TOKEN, epoch: 7, limiter: FAST(), batchRecords: 16, requestBytesMax: 256 * 1024 });
  const result = await task.run();
  t.ok(result.requests >= 4, `${result.requests} requests`);
  t.equal(result.failures, 0);
  t.equal(result.records, expected.length, 'every record sent once');
  t.same(await snapshot(target, hasher, WRAPPED), expected);
});

t.test('a cut connection resumes from what the receiver holds durably, and ends identical', async (t) => {
  const source = await openEngine(t);
  await fill(source, rng(6), 2500);
  const range = { start: 0n, end: 0n };
  const expected = await snapshot(source, hasher, range);
  // The reference: an uninterrupted transfer.
  const reference = await openEngine(t);
  const direct = await startReceiver(t, { engine: reference, epoch: () => 1 });
  const full = await new TransferTask({ engine: source, hasher, range, to: direct.addr, token: TOKEN, epoch: 1, limiter: FAST(), batchRecords: 32 }).run();
  t.equal(full.requests, 1);
  // The same through a proxy that cuts the first connection about 40% of the way.
  const target = await openEngine(t);
  const receiver = await startReceiver(t, { engine: target, epoch: () => 1 });
  const proxy = await startCuttingProxy(t, receiver.port, Math.floor(full.bytes * 0.4));
  const task = new TransferTask({ engine: source, hasher, range, to: proxy.addr, token: TOKEN, epoch: 1, limiter: FAST(), batchRecords: 32, backoffMsInitial: 10 });
  const result = await task.run();
  t.equal(proxy.cuts(), 1, 'the connection was cut once');
  t.equal(result.failures, 1);
  t.same(await snapshot(target, hasher), await snapshot(reference, hasher), 'the same content as the uninterrupted transfer');
  t.same(await snapshot(target, hasher), expected);
  const resentBytes = proxy.forwardedBytes() - Math.floor(full.bytes * 0.4);
  t.ok(resentBytes < full.bytes * 0.7, `after the cut ${resentBytes} of ${full.bytes} bytes went again`);
  t.ok(result.records < expected.length * 0.7, `the retry confirmed ${result.records} of ${expected.length} records`);
});

t.test('a damaged or truncated stream is answered with its code and the position applied before it', async (t) => {
  const { source, target, addr } = await pair(t, 400, 7);
  const range = { start: 0n, end: 0n };
  const records: OutgoingRecord[] = [];
  for await (const record of source.rangeEntries(0n, 0n, { withData: true })) records.push(record);
  const id = transferId();
  const encoder = new TransferEncoder(hasher, { namespace: 0, ...range, transferId: id });
  const frames = [0, 1, 2, 3].map((i) => encoder.frame(records.slice(i * 50, i * 50 + 50)));
  const damaged = Buffer.from(frames[2]!);
  damaged[damaged.length - 100]! ^= 0x10;
  const client = new Client(`http://${addr}`);
  t.teardown(() => client.close());
  const headers = { authorization: `Bearer ${TOKEN}`, [HEADER_EPOCH]: '7' };
  const post = async (body: Buffer) => {
    const response = await client.request({ method: 'POST', path: TRANSFER_PATH, headers, body });
    return { status: response.statusCode, answer: (await response.body.json()) as Record<string, unknown> };
  };
  const bad = await post(Buffer.concat([encoder.headerBytes, frames[0]!, frames[1]!, damaged, frames[3]!, encoder.trailer(true)]));
  t.equal(bad.status, 422);
  t.match(bad.answer, { code: 'CHECKSUM_MISMATCH', records: 100, complete: false, lastPosition: records[99]!.position.toString() });
  t.equal((await snapshot(target, hasher)).length, 100, 'the two frames before the damage are applied');

  const progress = await client.request({ method: 'GET', path: `${TRANSFER_PATH}/${id.toString('hex')}`, headers });
  t.match(await progress.body.json(), { lastPosition: records[99]!.position.toString(), active: false }, 'the progress route says the same');

  const cut = await post(Buffer.concat([encoder.headerBytes, frames[0]!, frames[1]!, frames[2]!.subarray(0, 1000)]));
  t.equal(cut.status, 400);
  t.match(cut.answer, { code: 'TRUNCATED', records: 100, lastPosition: records[99]!.position.toString() });
});

t.test('frames apply several at once, but only what applied in order is confirmed when one fails', async (t) => {
  const source = await openEngine(t);
  const target = await openEngine(t);
  await fill(source, rng(8), 300, 0);
  const records: OutgoingRecord[] = [];
  for await (const record of source.rangeEntries(0n, 0n, { withData: true })) records.push(record);
  // The third frame's first record cannot be stored; frames one, two and four can.
  const refused = records[100]!.id;
  let applyingAtOnce = 0;
  let applyingAtOnceMax = 0;
  const sink = {
    put: async (id: string, version: Uint8Array, data: Uint8Array, options: { namespace: number }) => {
      applyingAtOnceMax = Math.max(applyingAtOnceMax, ++applyingAtOnce);
      try {
        if (id === refused) throw new EngineError('DEVICE_FULL', 'The device is full (test).');
        return await target.put(id, version, data, options);
      } finally {
        applyingAtOnce--;
      }
    },
    delete: (id: string, version: Uint8Array, options: { namespace: number }) => target.delete(id, version, options),
  };
  const { addr } = await startReceiver(t, { engine: sink, epoch: () => 7 });
  const id = transferId();
  const encoder = new TransferEncoder(hasher, { namespace: 0, start: 0n, end: 0n, transferId: id });
  const frames = [0, 1, 2, 3].map((i) => encoder.frame(records.slice(i * 50, i * 50 + 50)));
  const client = new Client(`http://${addr}`);
  t.teardown(() => client.close());
  const response = await client.request({ method: 'POST', path: TRANSFER_PATH, headers: { authorization: `Bearer ${TOKEN}`, [HEADER_EPOCH]: '7' }, body: Buffer.concat([encoder.headerBytes, ...frames, encoder.trailer(true)]) });
  const answer = (await response.body.json()) as Record<string, unknown>;
  t.ok(applyingAtOnceMax > 50, `records of several frames were applying at once (${applyingAtOnceMax})`);
  t.equal(response.statusCode, 507);
  t.match(answer, { records: 100, complete: false, lastPosition: records[99]!.position.toString() }, 'confirmed: the two frames before the one that failed');
  t.equal((await snapshot(target, hasher)).length, 199, 'every other record is stored (the unconfirmed ones are resent harmlessly)');
  t.equal(applyingAtOnce, 0, 'nothing was still being written when the answer came');
});

t.test('the routes need the token and a current epoch', async (t) => {
  const { source, addr, epoch } = await pair(t, 50, 8);
  const range = { start: 0n, end: 0n };
  const options = { engine: source, hasher, range, to: addr, token: TOKEN, epoch: 7, limiter: FAST() };
  await t.rejects(sendRange({ ...options, token: 'wrong' }), { code: 'UNAUTHORIZED', status: 401 });
  epoch.value = 9;
  await t.rejects(sendRange(options), { code: 'STALE_EPOCH', status: 409, epoch: 9 });
  await t.rejects(new TransferTask({ ...options, backoffMsInitial: 1 }).run(), { code: 'STALE_EPOCH' }, 'a task does not retry a stale epoch');
  const client = new Client(`http://${addr}`);
  t.teardown(() => client.close());
  const response = await client.request({ method: 'GET', path: `${TRANSFER_PATH}/${'0'.repeat(32)}` });
  t.equal(response.statusCode, 401);
  await response.body.dump();
});

t.test('the limiter paces a transfer', async (t) => {
  const { source, addr } = await pair(t, 300, 9);
  const bytesPerSecond = 2_000_000;
  const startedMs = performance.now();
  const result = await sendRange({ engine: source, hasher, range: { start: 0n, end: 0n }, to: addr, token: TOKEN, epoch: 7, limiter: new ByteRateLimiter({ bytesPerSecond, burstBytes: 256 * 1024 }) });
  const elapsedMs = performance.now() - startedMs;
  const floorMs = ((result.bytes - 256 * 1024) / bytesPerSecond) * 1000;
  t.ok(elapsedMs >= floorMs * 0.95, `${result.bytes} bytes took ${elapsedMs.toFixed(0)} ms (at least ${floorMs.toFixed(0)} ms)`);
});

t.test('receiver bounds: a body over requestBytesMax is refused mid-stream with what was applied', async (t) => {
  const source = await openEngine(t);
  const target = await openEngine(t);
  await fill(source, rng(10), 400, 0);
  const receiver = await startReceiver(t, { engine: target, epoch: () => 1, limits: { requestBytesMax: 512 * 1024 } });
  const failure = await sendRange({ engine: source, hasher, range: { start: 0n, end: 0n }, to: receiver.addr, token: TOKEN, epoch: 1, limiter: FAST(), batchRecords: 16 }).catch((error: unknown) => error);
  t.match(failure, { code: 'TOO_LARGE', status: 413 }, 'the early answer reaches the sender');
  const applied = (await snapshot(target, hasher)).length;
  t.ok(applied > 0 && applied % 16 === 0, `${applied} records (whole frames) applied before the bound`);
  t.equal((failure as { lastPosition?: bigint }).lastPosition, hasher.h64(Buffer.from((await snapshot(target, hasher))[applied - 1]!.split(' ')[0]!, 'latin1')));
});

t.test('receiver bounds: a transfer beyond the bound waits for a slot (bounded), is answered 503 past the wait; a sender abort stops a transfer', async (t) => {
  const source = await openEngine(t);
  const target = await openEngine(t);
  await fill(source, rng(11), 200, 0);
  const receiver = await startReceiver(t, { engine: target, epoch: () => 1, limits: { transfersInFlightMax: 1, transfersWaitingMax: 1, queueWaitMs: 300 } });
  const range = { start: 0n, end: 0n };
  // A slow transfer holds the only slot; a second one waits its 300 ms and is refused.
  const controller = new AbortController();
  const slow = sendRange({ engine: source, hasher, range, to: receiver.addr, token: TOKEN, epoch: 1, limiter: new ByteRateLimiter({ bytesPerSecond: 100_000, burstBytes: 8192 }), batchRecords: 1, signal: controller.signal });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = performance.now();
  const refused = await sendRange({ engine: source, hasher, range, to: receiver.addr, token: TOKEN, epoch: 1, limiter: FAST() }).catch((error: unknown) => error);
  t.match(refused, { code: 'REFUSED', status: 503, retryable: true });
  t.ok(performance.now() - started >= 290, 'refused only after waiting for a slot');
  // A waiting transfer takes the slot when it frees: nothing refused, nothing resent.
  const waiting = sendRange({ engine: source, hasher, range, to: receiver.addr, token: TOKEN, epoch: 1, limiter: FAST() });
  await new Promise((resolve) => setTimeout(resolve, 50));
  controller.abort(new Error('operator stop'));
  await t.rejects(slow, { code: 'ABORTED' });
  const result = await waiting;
  t.equal(result.records, 200, 'the waiting transfer ran once the slot was free');
  t.equal((await snapshot(target, hasher)).length, 200);
});

t.test('a newer sender epoch makes the receiver refresh', async (t) => {
  const source = await openEngine(t);
  const target = await openEngine(t);
  await fill(source, rng(12), 10);
  const seen: number[] = [];
  const receiver = await startReceiver(t, { engine: target, epoch: () => 3, onNewerEpoch: (epoch) => seen.push(epoch) });
  const result = await sendRange({ engine: source, hasher, range: { start: 0n, end: 0n }, to: receiver.addr, token: TOKEN, epoch: () => 4, limiter: FAST() });
  t.equal(result.records, 10);
  t.same(seen, [4]);
});

t.test('sendRange reports the confirmed position after a cut; a retry with it completes the range', async (t) => {
  const source = await openEngine(t);
  const target = await openEngine(t);
  await fill(source, rng(13), 600);
  const range = WRAPPED;
  const expected = await snapshot(source, hasher, range);
  const receiver = await startReceiver(t, { engine: target, epoch: () => 1 });
  const proxy = await startCuttingProxy(t, receiver.port, 600 * 1024);
  const id = transferId();
  const options = { engine: source, hasher, range, to: proxy.addr, token: TOKEN, epoch: 1, limiter: FAST(), transferId: id, batchRecords: 8 };
  const failure = await sendRange(options).catch((error: unknown) => error as { code: string; lastPosition?: bigint; retryable: boolean });
  t.match(failure, { code: 'UNREACHABLE', retryable: true });
  const confirmed = failure.lastPosition;
  t.ok(confirmed !== undefined && onArc(range, confirmed), 'the position the receiver holds durably');
  const held = await snapshot(target, hasher);
  t.equal(held.length % 8, 0, 'whole frames only');
  t.same(held.sort(), expected.slice(0, held.length).sort(), 'exactly the records up to it');
  const rest = await sendRange({ ...options, resumeAfter: confirmed });
  t.equal(rest.records + held.length, expected.length, 'the retry sends only the rest');
  t.same(await snapshot(target, hasher, range), expected);
});

t.test('a task gives up after attemptsMax failed requests in a row', async (t) => {
  const source = await openEngine(t);
  await fill(source, rng(14), 5);
  // A port nobody listens on any more: every connection is refused.
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as AddressInfo).port;
  await new Promise((resolve) => listener.close(resolve));
  const sleeps: number[] = [];
  const clock = { nowMs: () => performance.now(), sleep: async (ms: number) => void sleeps.push(ms) };
  const task = new TransferTask({ engine: source, hasher, range: { start: 0n, end: 0n }, to: `127.0.0.1:${port}`, token: TOKEN, epoch: 1, limiter: FAST(), attemptsMax: 4, backoffMsInitial: 100, backoffMsMax: 250, clock });
  await t.rejects(task.run(), { code: 'UNREACHABLE' });
  t.same(sleeps, [100, 200, 250], 'backoff doubles up to its bound between the four attempts');
});
