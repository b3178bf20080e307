// The HTTP fuzzer's pure parts: the case generator (deterministic per seed and index, every kind
// drawn, writes confined to their lane) and the answer parser. The generator's claims about Node's
// HTTP layer — "the parser refuses this", "this valid write carries exactly these 4096 bytes" — are
// checked against a plain node:http server with the node's limits (no ringblock code), so a failure
// of the live fuzzer points at the node, not at a request the generator got wrong.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { BLOCK_BYTES, effectiveConsistency, fuzzCase, type CaseKind, type CaseOptions, type HttpCase } from '../src/fuzz/http-cases.js';
import { header, parseAnswer } from '../src/fuzz/http-answer.js';
import { exchange } from './support/raw-exchange.js';

const OPTIONS: CaseOptions = { token: 'ab'.repeat(24), lanes: 4, ringEpoch: 3, requestTimeoutMs: 3_000, headersTimeoutMs: 1_500 };
const CASES = 2_000;
const noEtags = { etag: () => undefined };

t.test('cases are deterministic per (seed, index) and differ between indexes', async (t) => {
  const bytes = (seed: number, index: number) => Buffer.concat(fuzzCase(seed, index, OPTIONS).render(noEtags));
  for (let index = 0; index < 50; index++) t.ok(bytes(7, index).equals(bytes(7, index)), `case ${index} replays`);
  const distinct = new Set(Array.from({ length: 200 }, (_, index) => bytes(7, index).toString('base64')));
  t.ok(distinct.size > 190, `${distinct.size} distinct requests among 200 cases`);
  t.notOk(bytes(7, 3).equals(bytes(8, 3)), 'another seed, another case');
});

t.test('every kind is drawn; every case is well-formed; writes stay in their lane', async (t) => {
  const kinds = new Map<CaseKind, number>();
  const problems: string[] = [];
  for (let index = 0; index < CASES; index++) {
    const c = fuzzCase(1, index, OPTIONS);
    kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
    const chunks = c.render(noEtags);
    if (c.lane !== index % OPTIONS.lanes) problems.push(`${index}: lane ${c.lane}`);
    if (chunks.length === 0 || chunks[0]!.length === 0) problems.push(`${index}: nothing to send`);
    if (c.description.length === 0 || c.expect.statuses.length === 0) problems.push(`${index}: no description or expectation`);
    if (c.expect.statuses.some((code) => code >= 500)) problems.push(`${index}: expects a 5xx`);
    if (c.answerTimeoutMs <= 0) problems.push(`${index}: no answer timeout`);
    if (c.effect && !new RegExp(`^(fz-${c.lane}-|L${c.lane}i${index}-)`).test(c.effect.id)) problems.push(`${index}: writes ${c.effect.id} outside lane ${c.lane}`);
    if (c.effect?.kind === 'put' && c.effect.data.length !== BLOCK_BYTES) problems.push(`${index}: a put of ${c.effect.data.length} bytes`);
    if (c.read && !c.read.id.startsWith(`fz-${c.lane}-`)) problems.push(`${index}: reads ${c.read.id} outside its lane`);
    const headBytes = chunks[0]!.toString('latin1').split('\r\n\r\n')[0]!;
    if (headBytes.includes(OPTIONS.token) && !/^(internal|admin|upgrade|auth)$/.test(c.kind)) problems.push(`${index}: ${c.kind} sends the token`);
  }
  t.same(problems.slice(0, 10), []);
  t.equal(kinds.size, 22, `all kinds drawn: ${[...kinds].map(([kind, count]) => `${kind} ${count}`).join(', ')}`);
});

t.test('effectiveConsistency reads the query first (first value), then X-Consistency (joined), then quorum', async (t) => {
  t.equal(effectiveConsistency('', []), 'quorum');
  t.equal(effectiveConsistency('consistency=one&consistency=bogus', ['all']), 'one');
  t.equal(effectiveConsistency('x=1', ['all']), 'all');
  t.equal(effectiveConsistency('', [' one ', 'one']), 'one, one');
  t.equal(effectiveConsistency('consistency=al%6C#frag', []), 'all');
  t.equal(effectiveConsistency('consistency', []), '');
});

t.test('parseAnswer: framing by length, chunks and close; 100 Continue skipped; HEAD has no body', async (t) => {
  const open = { headRequest: false, closed: false };
  const json = 'HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n{"code":"X"}\n';
  t.match(parseAnswer(Buffer.from(json), open), { state: 'complete', answer: { status: 400 } });
  t.match(parseAnswer(Buffer.from(json.slice(0, -3)), open), { state: 'incomplete' });
  t.match(parseAnswer(Buffer.from(json.slice(0, -3)), { ...open, closed: true }), { state: 'malformed' });
  const continued = parseAnswer(Buffer.from(`HTTP/1.1 100 Continue\r\n\r\n${json}`), open);
  t.match(continued, { state: 'complete', answer: { status: 400, informational: [100] } });
  const chunkedText = 'HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
  const chunkedParse = parseAnswer(Buffer.from(chunkedText), open);
  t.equal(chunkedParse.state === 'complete' && chunkedParse.answer.body.toString(), 'abc');
  const head = parseAnswer(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 4096\r\nEtag: "v"\r\n\r\n'), { headRequest: true, closed: false });
  t.equal(head.state === 'complete' && header(head.answer, 'etag'), '"v"');
  t.match(parseAnswer(Buffer.from('HTTP/1.1 200 OK\r\n\r\nuntil the end'), { ...open, closed: true }), { state: 'complete', answer: { body: Buffer.from('until the end') } });
  t.match(parseAnswer(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n\u0001\u0002'), open), { state: 'complete', answer: { status: 101 } });
  t.match(parseAnswer(Buffer.from('garbage\r\n\r\n'), open), { state: 'malformed' });
});

/**
 * A plain node:http server with the node's header limit and the same split: parser errors answer
 * 400/431 from 'clientError'; requests it parses answer 200 with the body's sha256. Nothing of
 * ringblock runs here.
 */
async function echoServer(t: Test): Promise<number> {
  const answering = new Map<Socket, { req: IncomingMessage; res: ServerResponse }>();
  const server: Server = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
    answering.set(req.socket, { req, res });
    res.on('close', () => answering.delete(req.socket));
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      hash.update(chunk);
      if (length > 64 * 1024) req.destroy();
    });
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify({ echo: true, length, sha256: hash.digest('hex') })));
    req.on('error', () => undefined);
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const refuse = () => (socket.writable ? socket.end(`HTTP/1.1 ${status} Parser\r\ncontent-length: 0\r\nconnection: close\r\nx-parser: ${error.code ?? ''}\r\n\r\n`) : socket.destroy());
    // A malformed request pipelined after a complete one still being answered: that answer goes out first.
    const busy = answering.get(socket);
    if (busy?.req.complete) busy.res.once('close', refuse);
    else refuse();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

t.test("the generator's claims about node:http hold: parser refusals are refused, valid writes carry their bytes", async (t) => {
  const port = await echoServer(t);
  const problems: string[] = [];
  let refusals = 0;
  let writes = 0;
  const check = async (c: HttpCase) => {
    // Stalls and streams only wait or waste time against a server that answers at once.
    if (c.kind === 'stalled-headers' || c.kind === 'truncated' || c.kind === 'oversized-stream') return;
    const outcome = await exchange(port, { ...c, answerTimeoutMs: 5_000 }, noEtags);
    const label = `case ${c.index} (${c.kind}: ${c.description})`;
    if (c.expect.parser) {
      refusals++;
      if (outcome.type !== 'answer' || header(outcome.answer, 'x-parser') === undefined) problems.push(`${label}: node:http did not refuse it (${outcome.type === 'answer' ? outcome.answer.status : outcome.type})`);
      else if (!c.expect.statuses.includes(outcome.answer.status)) problems.push(`${label}: node:http refused it with ${outcome.answer.status}`);
    }
    if (c.effect?.kind === 'put') {
      writes++;
      const sha256 = createHash('sha256').update(c.effect.data).digest('hex');
      const echoed = outcome.type === 'answer' && outcome.answer.status === 200 ? (JSON.parse(outcome.answer.body.toString()) as { sha256: string }).sha256 : undefined;
      if (echoed !== sha256) problems.push(`${label}: node:http did not receive the block's 4096 bytes (${outcome.type === 'answer' ? outcome.answer.status : outcome.type})`);
    }
  };
  const cases = Array.from({ length: 600 }, (_, index) => fuzzCase(2, index, OPTIONS));
  for (let start = 0; start < cases.length; start += 8) await Promise.all(cases.slice(start, start + 8).map(check));
  t.same(problems.slice(0, 10), [], `${refusals} parser refusals and ${writes} valid writes checked against node:http`);
  t.ok(refusals > 50 && writes > 50, 'both kinds of claim were exercised');
});
