// The workload's parts: self-describing blocks (every byte checked), the history file read back, and
// one operation against a scripted server — answers, error codes, garbage and timeouts as recorded.
import t, { type Test } from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK_BYTES, decodeBlock, encodeBlock } from '../src/chaos/block.js';
import { History, readHistory } from '../src/chaos/history.js';
import { Random } from '../src/chaos/random.js';
import { runOperation, Workload, type Target } from '../src/chaos/workload.js';

t.test('blocks name their key and write, and any changed byte is caught', async (t) => {
  const block = encodeBlock('chaos-7', 123456);
  t.equal(block.length, BLOCK_BYTES);
  t.same(decodeBlock(block), { ok: true, key: 'chaos-7', writeId: 123456 });
  t.not(encodeBlock('chaos-7', 1).subarray(64).toString('hex'), encodeBlock('chaos-7', 2).subarray(64).toString('hex'), 'the filler depends on the write');
  for (const offset of [0, 9, 12, 20, 100, 4095]) {
    const flipped = Buffer.from(block);
    flipped[offset]! ^= 0x01;
    const decoded = decodeBlock(flipped);
    t.ok(!decoded.ok || decoded.writeId !== 123456 || decoded.key !== 'chaos-7', `a flipped bit at ${offset} is caught`);
  }
  const torn = Buffer.concat([encodeBlock('chaos-7', 1).subarray(0, 2048), encodeBlock('chaos-7', 2).subarray(2048)]);
  t.notOk(decodeBlock(torn).ok, 'half of one write and half of another');
  t.notOk(decodeBlock(Buffer.alloc(BLOCK_BYTES)).ok, 'zeros');
  t.notOk(decodeBlock(block.subarray(0, 100)).ok, 'short');
  t.throws(() => encodeBlock('', 1));
  t.throws(() => encodeBlock('k', -1));
});

t.test('the seeded generator replays and stays in range', async (t) => {
  const draws = (seed: number) => Array.from({ length: 20 }, (_, index) => new Random(seed).fork(index).below(1000));
  t.same(draws(7), draws(7));
  t.not(draws(7).join(), draws(8).join());
  const random = new Random(1);
  const values = new Set(Array.from({ length: 1000 }, () => random.between(3, 5)));
  t.same([...values].sort(), [3, 4, 5]);
  t.same(random.shuffle([1, 2, 3, 4]).sort(), [1, 2, 3, 4]);
});

t.test('the history is written as JSON lines and read back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ringblock-chaos-history-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'history.jsonl');
  const history = new History(2, file);
  history.header({ seed: 1, nodes: 3, clients: 1, keys: 4, replicationFactor: 3, durationMs: 5000, startedAt: new Date(0).toISOString() });
  const base = { phase: 'workload', client: 0, kind: 'put', key: 'chaos-1', level: 'quorum', node: 'node-1', status: 201 } as const;
  history.add({ ...base, startMs: history.now(), endMs: history.now(), writeId: 1, version: '0000018f00000000-node-1' });
  t.notOk(history.full);
  history.add({ ...base, startMs: 1, endMs: 2, writeId: 2 });
  t.ok(history.full, 'the bound is reached');
  history.fault({ kind: 'kill', target: 'node-2', startMs: 3, endMs: 4, detail: 'SIGKILL' });
  await history.close();
  const back = await readHistory(file);
  t.equal(back.header?.seed, 1);
  t.same(back.operations, history.operations);
  t.same(back.faults, history.faults);
});

/** A server whose answer per request is scripted by the test. */
async function scripted(t: Test, answer: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void): Promise<Target> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    answer(req, res, Buffer.concat(chunks));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const address = server.address() as { port: number };
  return { name: 'node-x', url: `http://127.0.0.1:${address.port}` };
}

t.test('an operation records what the server answered', async (t) => {
  const stored = new Map<string, Buffer>();
  const target = await scripted(t, (req, res, body) => {
    const key = /\/block\/([^?]+)/.exec(req.url!)![1]!;
    if (key === 'chaos-busy') return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"no","code":"UNAVAILABLE","required":2,"acked":1}');
    if (key === 'chaos-slow') return; // never answers
    if (key === 'chaos-foreign' && req.method === 'GET') return void res.writeHead(200, { etag: '"0000018f00000000-node-1"' }).end(encodeBlock('chaos-other', 5));
    if (req.method === 'PUT') {
      stored.set(key, body);
      return void res.writeHead(201, { etag: '"0000018f00000001-node-1"' }).end('{}');
    }
    const data = stored.get(key);
    if (!data) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"absent","code":"NOT_FOUND"}');
    res.writeHead(200, { etag: '"0000018f00000001-node-1"' }).end(data);
  });
  const history = new History(100);
  const request = { phase: 'workload', client: 0, level: 'quorum', target, timeoutMs: 2_000 } as const;
  const absent = await runOperation(history, { ...request, kind: 'get', key: 'chaos-1' });
  t.match(absent, { status: 404, code: 'NOT_FOUND', node: 'node-x' });
  const written = await runOperation(history, { ...request, kind: 'put', key: 'chaos-1', writeId: 42 });
  t.match(written, { status: 201, writeId: 42, version: '0000018f00000001-node-1' });
  t.same(decodeBlock(stored.get('chaos-1')!), { ok: true, key: 'chaos-1', writeId: 42 }, 'the body is the chaos block of the write');
  const read = await runOperation(history, { ...request, kind: 'get', key: 'chaos-1' });
  t.match(read, { status: 200, writeId: 42, version: '0000018f00000001-node-1' });
  t.notOk('garbage' in read);
  t.match(await runOperation(history, { ...request, kind: 'get', key: 'chaos-foreign' }), { status: 200, garbage: /chaos-other/ });
  t.match(await runOperation(history, { ...request, kind: 'delete', key: 'chaos-busy' }), { status: 503, code: 'UNAVAILABLE' });
  const slow = await runOperation(history, { ...request, kind: 'put', key: 'chaos-slow', writeId: 43, timeoutMs: 200 });
  t.match(slow, { status: null, code: 'TIMEOUT', writeId: 43 });
  t.ok(slow.endMs - slow.startMs >= 150, 'bounded by the timeout');
  t.equal(history.operations.length, 6, 'every operation is recorded');
  t.ok(history.operations.every((op, index) => index === 0 || op.startMs >= history.operations[index - 1]!.endMs), 'times are monotonic');
});

t.test('the workload stops at the history bound and records every write it sent', async (t) => {
  const target = await scripted(t, (req, res) => void res.writeHead(req.method === 'PUT' ? 201 : 404, { etag: '"0000018f00000001-node-1"' }).end('{}'));
  const full = new History(20);
  const bounded = new Workload({ history: full, random: new Random(3), clients: 4, keys: 8, targets: () => [target] });
  bounded.start();
  for (let waited = 0; !full.truncated && waited < 200; waited++) await new Promise((resolve) => setTimeout(resolve, 25));
  await bounded.stop();
  t.ok(full.truncated, 'the bound stopped it');
  t.ok(full.operations.length >= 20 && full.operations.length <= 24, `at most one more per client (${full.operations.length})`);
  t.ok(full.operations.filter((op) => op.kind === 'put').every((op) => op.writeId !== undefined));
  t.throws(() => new Workload({ history: full, random: new Random(1), clients: 0, keys: 8, targets: () => [] }));
});
