// Regressions for the bugs the HTTP fuzzer (http-fuzz.test.ts) found, one test each, named after
// the bug, against one real node: the exact requests that showed them, over raw sockets.
import { readFileSync } from 'node:fs';
import t from 'tap';
import type { Test } from 'tap';
import { header } from '../src/fuzz/http-answer.js';
import { ANSWER_TIMEOUT_MS, type HttpCase } from '../src/fuzz/http-cases.js';
import { getBlock, randomBlock, request, startCluster } from './support/cluster.js';
import { exchange, type Outcome } from './support/raw-exchange.js';

/** Sends `chunks` as they are (half-closing after them with `endAfter`) and reads the first answer. */
function send(port: number, chunks: (string | Buffer)[], endAfter = false): Promise<Outcome> {
  const bytes = chunks.map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk));
  const raw = { index: 0, lane: 0, kind: 'pipelined', description: 'regression', render: () => bytes, endAfter, answerTimeoutMs: ANSWER_TIMEOUT_MS, expect: { statuses: [] } } satisfies HttpCase;
  return exchange(port, raw, { etag: () => undefined });
}

function answered(t: Test, outcome: Outcome): { status: number; code?: string } {
  if (outcome.type !== 'answer') {
    t.fail(`no answer: ${outcome.type}`);
    return { status: 0 };
  }
  const { answer } = outcome;
  const json = answer.body.length > 0 && header(answer, 'content-type') === 'application/json' ? (JSON.parse(answer.body.toString()) as { code?: string }) : {};
  return { status: answer.status, ...(json.code === undefined ? {} : { code: json.code }) };
}

t.test('bugs the HTTP fuzzer found stay fixed', async (t) => {
  const cluster = await startCluster(t, { nodes: 1 });
  const url = cluster.nodes[0]!.spec.url;
  const port = Number(new URL(url).port);
  const logFile = cluster.nodes[0]!.spec.logFile;
  const startedMs = Date.now();

  await t.test('GET /volumes on a cluster that never had a volume answers 200 [] (was 500: children of a missing znode)', async (t) => {
    const reply = await request(`${url}/volumes`);
    t.equal(reply.status, 200);
    t.same(reply.json(), { volumes: [] });
  });

  await t.test('a valid PUT with a malformed request pipelined behind it is answered 201 first (was: the parser 400 came first, for a write that was stored)', async (t) => {
    const data = randomBlock();
    const put = 'PUT /block/pipelined HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n';
    t.match(answered(t, await send(port, [put, data, 'GARBAGE\r\n\r\n'])), { status: 201 }, 'garbage after the request');
    t.ok((await getBlock(url, 'pipelined')).body.equals(data), 'and the write is there');
    const extraByte = 'PUT /block/extra-byte HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\nConnection: close\r\n\r\n';
    t.match(answered(t, await send(port, [extraByte, data, 'X'])), { status: 201 }, 'one byte more than Content-Length on a Connection: close request');
    const unframed = 'PUT /block/unframed HTTP/1.1\r\nHost: x\r\n\r\n';
    t.match(answered(t, await send(port, [unframed, Buffer.alloc(100, 1)])), { status: 400, code: 'BLOCK_SIZE' }, 'a body without Content-Length: BLOCK_SIZE, not the parser error of the bytes after it');
  });

  await t.test('decommission of a name that is not valid percent-encoding answers 400 (was 500: URIError)', async (t) => {
    const answer = answered(t, await send(port, [`POST /cluster/nodes/%ZZ/decommission HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${cluster.token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`]));
    t.same(answer, { status: 400, code: 'BAD_REQUEST' });
  });

  await t.test('a Content-Length beyond 2^53 answers 413 BLOCK_SIZE (was 400 BAD_REQUEST)', async (t) => {
    for (const length of ['9007199254740993', '1152921504606846976']) {
      t.same(answered(t, await send(port, [`PUT /block/huge HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`])), { status: 413, code: 'BLOCK_SIZE' }, length);
    }
  });

  await t.test('a client that closes mid-body is not logged as an internal error (was "client aborted the request" at error level)', async (t) => {
    const block = await send(port, ['PUT /block/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n', Buffer.alloc(100)], true);
    t.ok(block.type === 'silence' || (block.type === 'answer' && block.answer.status === 400), 'the block body cut short: 400 or a close');
    const json = await send(port, [`POST /internal/repair/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${cluster.token}\r\nX-Ringblock-Epoch: 999999\r\nContent-Length: 100\r\n\r\n{"a":`], true);
    t.ok(json.type === 'silence' || (json.type === 'answer' && json.answer.status === 400), 'an internal JSON body cut short: 400 or a close');
    t.equal((await request(`${url}/ready`)).status, 200);
    const errors = readFileSync(logFile, 'utf8').split('\n').filter((line) => line.startsWith('{') && (JSON.parse(line) as { level: number; time: number }).level >= 50 && (JSON.parse(line) as { time: number }).time >= startedMs);
    t.same(errors.map((line) => line.slice(0, 300)), [], 'no error-level log line');
  });

  await t.test('a request whose client left before the answer is counted as 499 (was counted as a 200 PUT)', async (t) => {
    const metrics = (await request(`${url}/metrics`)).body.toString();
    t.notMatch(metrics, /^ringblock_requests_total\{op="put",status="200"/m, 'no PUT ever answers 200');
    t.match(metrics, /^ringblock_requests_total\{op="put",status="499"[^}]*\} [1-9]/m, 'the cut-short PUT is counted as 499');
  });
});
