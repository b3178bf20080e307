// A seeded generator of HTTP requests built from the API's structure (DESIGN §2), for the fuzzer that
// sends them over raw sockets to a live node (packages/cli/test/http-fuzz.test.ts). Each case says
// exactly which bytes to send and what the contract lets the node answer: the status (and JSON `code`)
// where the case's class is known, or the few statuses a malformed request may get. Valid writes are
// mixed in, so the runner can check afterwards that bad input lost and changed nothing.
//
// Case `index` of seed `seed` is drawn from its own stream (`Random(seed).fork(index)`), so any case
// replays alone. Cases run in `lanes` (case i on lane i % lanes, one after another within a lane);
// the block ids a case writes or reads with a known answer belong to its lane, so a lane's model of
// its ids is exact while lanes run concurrently.
// Pure: no I/O; the runner owns sockets, the model and the clock.
import { Random } from '../chaos/random.js';

export const BLOCK_BYTES = 4096;
/** Block ids a lane owns (`fz-<lane>-<k>`): small, so reads meet earlier writes and bad input meets stored blocks. */
export const KEYS_PER_LANE = 6;
/** Bound on the filler bytes a case streams after its request (the node must refuse long before). */
export const STREAM_BYTES_MAX = 8 * 1024 * 1024;
/** How long a case waits for an answer when the node should answer at once. */
export const ANSWER_TIMEOUT_MS = 15_000;

export type CaseKind =
  | 'put-valid' | 'delete-valid' | 'get-own' | 'id-limit' | 'body-size' | 'content-length' | 'transfer-encoding'
  | 'chunk-framing' | 'truncated' | 'oversized-stream' | 'bad-id' | 'path' | 'consistency' | 'method' | 'header'
  | 'auth' | 'internal' | 'admin' | 'status-route' | 'upgrade' | 'pipelined' | 'stalled-headers';

export interface Expectation {
  /** Statuses the node may answer with (the first final answer; 100 Continue is skipped). */
  statuses: readonly number[];
  /** When the answer has a JSON body: the `code`s it may carry (undefined: any, but it must have one). */
  codes?: readonly string[];
  /** Node's own HTTP layer answers these, without our JSON body (missing Host, an unknown Expect). */
  plain?: boolean;
  /** The connection may close without any answer (the client gave up first, or Node drops a CONNECT). */
  silenceAllowed?: boolean;
  /** A 405's exact `Allow` header. */
  allow?: string;
  /** Node's HTTP parser refuses the request before any route sees it (the unit test checks this claim against node:http). */
  parser?: boolean;
}

/** What an acknowledged answer (201 or 204) did to a block: the runner's model applies it. */
export type Effect = { kind: 'put'; id: string; data: Buffer } | { kind: 'delete'; id: string };

/** A read of a lane id whose answer the runner judges from its model (status, bytes, ETag, 304). */
export interface ModelRead {
  id: string;
  method: 'GET' | 'HEAD';
  /** If-None-Match sent: the current ETag (plain, weak or in a list), `*`, or one that matches nothing. */
  conditional?: 'current' | 'weak' | 'list' | 'star' | 'garbage';
}

export interface RenderContext {
  /** The ETag the runner last saw acknowledged for `id`, if it knows one. */
  etag(id: string): string | undefined;
}

export interface HttpCase {
  index: number;
  lane: number;
  kind: CaseKind;
  /** A short line saying what is sent, for the summary and failure messages. */
  description: string;
  /** The bytes to send, in order, each as one write. */
  render(context: RenderContext): Buffer[];
  /** After the request: half-close the connection (the request is left incomplete on purpose). */
  endAfter?: boolean;
  /** After the request: keep streaming this many filler bytes while the node still reads. */
  streamBytes?: number;
  answerTimeoutMs: number;
  expect: Expectation;
  /** Applied when the node acknowledges (201/204); any other answer must leave the block as it was. */
  effect?: Effect;
  read?: ModelRead;
}

export interface CaseOptions {
  /** The cluster token (internal and admin routes). */
  token: string;
  lanes: number;
  /** The committed ring epoch of the node under test (internal routes compare the sender's). */
  ringEpoch: number;
  /** The node's RINGBLOCK_REQUEST_TIMEOUT and RINGBLOCK_HEADERS_TIMEOUT: stalled cases wait for their 408. */
  requestTimeoutMs: number;
  headersTimeoutMs: number;
}

type Header = readonly [string, string];

interface Draft {
  method: string;
  target: string;
  headers: Header[];
  /** Raw chunks after the header block (the body, framed or not). */
  body?: Buffer[];
  version?: string;
  /** The header block's line ends (a bare LF is a malformed request). */
  lineEnd?: string;
}

type Builder = (random: Random, frame: Frame) => Omit<HttpCase, 'index' | 'lane' | 'kind'>;

interface Frame {
  options: CaseOptions;
  lane: number;
  index: number;
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~:-';
const CONSISTENCY = ['one', 'quorum', 'all'] as const;
/** Methods Node's parser knows, so a route answers 405 for them rather than the parser 400. */
const KNOWN_METHODS = ['GET', 'HEAD', 'PUT', 'DELETE', 'POST', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'COPY', 'LOCK', 'MKCOL', 'PURGE', 'REPORT', 'SEARCH'];
const GARBAGE_METHODS = ['FOO', 'get', 'Put', 'GETT', 'G3T', 'PUT/', 'DEL\tETE', 'A'.repeat(40), 'P\u00dcT', '-', '1'];

export function ownId(lane: number, key: number): string {
  return `fz-${lane}-${key}`;
}

/** The case `index` of `seed`: the same inputs give the same case. */
export function fuzzCase(seed: number, index: number, options: CaseOptions): HttpCase {
  const random = new Random(seed).fork(index);
  const lane = index % options.lanes;
  const kind = random.weighted(KIND_WEIGHTS);
  return { index, lane, kind, ...BUILDERS[kind](random, { options, lane, index }) };
}

const KIND_WEIGHTS: readonly (readonly [CaseKind, number])[] = [
  ['put-valid', 10], ['delete-valid', 3], ['get-own', 9], ['id-limit', 3], ['body-size', 8], ['content-length', 6],
  ['transfer-encoding', 4], ['chunk-framing', 5], ['truncated', 4], ['oversized-stream', 2], ['bad-id', 8], ['path', 5],
  ['consistency', 6], ['method', 5], ['header', 6], ['auth', 6], ['internal', 6], ['admin', 4], ['status-route', 3],
  ['upgrade', 2], ['pipelined', 2], ['stalled-headers', 1],
];

// ---- requests ----

function serialize(draft: Draft): Buffer[] {
  const end = draft.lineEnd ?? '\r\n';
  const head = `${draft.method} ${draft.target} ${draft.version ?? 'HTTP/1.1'}${end}${draft.headers.map(([name, value]) => `${name}: ${value}${end}`).join('')}${end}`;
  return [Buffer.from(head, 'latin1'), ...(draft.body ?? [])];
}

function basicHeaders(extra: Header[] = []): Header[] {
  return [['Host', 'fuzz'], ...extra, ['Connection', 'close']];
}

function fixed(draft: Draft): () => Buffer[] {
  const bytes = serialize(draft);
  return () => bytes;
}

function withLength(body: Buffer, headers: Header[] = []): { headers: Header[]; body: Buffer[] } {
  return { headers: basicHeaders([...headers, ['Content-Length', String(body.length)]]), body: [body] };
}

function chunked(body: Buffer, random: Random, headers: Header[] = []): { headers: Header[]; body: Buffer[] } {
  return { headers: basicHeaders([...headers, ['Transfer-Encoding', 'chunked']]), body: [chunkedBytes(body, random)] };
}

/** `body` in random chunks (hex sizes in either case, some with leading zeros or an extension), then the last chunk. */
export function chunkedBytes(body: Buffer, random: Random): Buffer {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < body.length;) {
    const length = Math.min(body.length - offset, random.between(1, 2 * BLOCK_BYTES));
    const hex = length.toString(16);
    const size = random.pick([hex, hex.toUpperCase(), `00${hex}`, `${hex};ext=${random.below(100)}`]);
    parts.push(Buffer.from(`${size}\r\n`), body.subarray(offset, offset + length), Buffer.from('\r\n'));
    offset += length;
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

export function blockBytes(random: Random): Buffer {
  const data = Buffer.allocUnsafe(BLOCK_BYTES);
  for (let offset = 0; offset < BLOCK_BYTES; offset += 4) data.writeUInt32LE(Math.floor(random.next() * 2 ** 32), offset);
  return data;
}

function filler(length: number, random: Random): Buffer {
  return Buffer.alloc(length, random.below(256));
}

function randomId(random: Random, length: number, prefix = ''): string {
  let id = prefix;
  while (id.length < length) id += ID_CHARS[random.below(ID_CHARS.length)]!;
  return id.slice(0, Math.max(length, prefix.length));
}

function laneId(random: Random, frame: Frame): string {
  return ownId(frame.lane, random.below(KEYS_PER_LANE));
}

/** An id no case writes: reads of it are 404 at any consistency. */
function absentId(random: Random): string {
  return randomId(random, random.between(1, 40), 'fz-none-');
}

/** A valid consistency query (or none), so a case's other defect is what the node answers for. */
function goodQuery(random: Random): string {
  return random.next() < 0.4 ? '' : `?consistency=${random.pick(CONSISTENCY)}`;
}

const status = (statuses: number | readonly number[], codes?: string | readonly string[], extra: Partial<Expectation> = {}): Expectation => ({
  statuses: typeof statuses === 'number' ? [statuses] : statuses,
  ...(codes === undefined ? {} : { codes: typeof codes === 'string' ? [codes] : codes }),
  ...extra,
});

/** A request Node's parser refuses (answered 400 BAD_REQUEST by the server's clientError handler). */
const PARSER_REFUSAL = status(400, 'BAD_REQUEST', { parser: true });
const BLOCK_SIZE_SHORT = status(400, 'BLOCK_SIZE');
const BLOCK_SIZE_LONG = status(413, 'BLOCK_SIZE');

function quick(render: () => Buffer[], description: string, expect: Expectation, extra: Partial<HttpCase> = {}): Omit<HttpCase, 'index' | 'lane' | 'kind'> {
  return { description, render, answerTimeoutMs: ANSWER_TIMEOUT_MS, expect, ...extra };
}

// ---- valid traffic ----

const putValid: Builder = (random, frame) => {
  const id = laneId(random, frame);
  const data = blockBytes(random);
  const consistency = random.pick(['none', 'query', 'header', 'query-over-bad-header'] as const);
  const level = random.pick(CONSISTENCY);
  const target = `/block/${id}${consistency === 'query' || consistency === 'query-over-bad-header' ? `?consistency=${level}` : ''}`;
  const consistencyHeader: Header[] = consistency === 'header' ? [['X-Consistency', level]] : consistency === 'query-over-bad-header' ? [['X-Consistency', 'bogus']] : [];
  const framing = random.pick(['length', 'length', 'chunked', 'expect-continue', 'leading-zero-length'] as const);
  let framed: { headers: Header[]; body: Buffer[] };
  if (framing === 'chunked') framed = chunked(data, random, consistencyHeader);
  else if (framing === 'expect-continue') framed = withLength(data, [...consistencyHeader, ['Expect', '100-continue']]);
  else if (framing === 'leading-zero-length') framed = { headers: basicHeaders([...consistencyHeader, ['Content-Length', '0004096']]), body: [data] };
  else framed = withLength(data, consistencyHeader);
  return quick(fixed({ method: 'PUT', target, ...framed }), `PUT ${id} (${framing}, consistency ${consistency} ${level})`, status(201), { effect: { kind: 'put', id, data } });
};

const deleteValid: Builder = (random, frame) => {
  const id = laneId(random, frame);
  const withBody = random.next() < 0.2;
  const framed = withBody ? withLength(filler(random.between(1, 64), random)) : { headers: basicHeaders(), body: [] };
  return quick(fixed({ method: 'DELETE', target: `/block/${id}${goodQuery(random)}`, ...framed }), `DELETE ${id}${withBody ? ' (with a body)' : ''}`, status(204), { effect: { kind: 'delete', id } });
};

const getOwn: Builder = (random, frame) => {
  const id = laneId(random, frame);
  const method = random.next() < 0.75 ? 'GET' : 'HEAD';
  const conditional = random.next() < 0.3 ? random.pick(['current', 'weak', 'list', 'star', 'garbage'] as const) : undefined;
  const render = (context: RenderContext): Buffer[] => {
    const etag = context.etag(id) ?? '"none"';
    const ifNoneMatch = { current: etag, weak: `W/${etag}`, list: `"other", ${etag}`, star: '*', garbage: '"0000000000000000-nobody"' };
    const headers = basicHeaders(conditional ? [['If-None-Match', ifNoneMatch[conditional]]] : []);
    // At `all`: the newest write is seen whatever consistency acknowledged it.
    return serialize({ method, target: `/block/${id}?consistency=all`, headers });
  };
  return { description: `${method} ${id}${conditional ? ` If-None-Match ${conditional}` : ''}`, render, answerTimeoutMs: ANSWER_TIMEOUT_MS, expect: status([200, 304, 404]), read: { id, method, ...(conditional ? { conditional } : {}) } };
};

/** Valid ids at the limits: 1 or 255 bytes, some characters percent-encoded (the decoded id counts). */
const idLimit: Builder = (random, frame) => {
  const length = random.pick([1, 255, 255, random.between(200, 255)]);
  // A one-byte id may not be '.' (that is a dot segment, refused).
  const id = length === 1 ? random.pick([...ID_CHARS.replace('.', '')]) : randomId(random, length, `L${frame.lane}i${frame.index}-`);
  const target = [...id].map((char) => (random.next() < 0.2 ? `%${char.charCodeAt(0).toString(16).padStart(2, '0')}` : char)).join('');
  const data = blockBytes(random);
  if (length === 1) {
    // One-byte ids are shared between lanes: a read only (404 or a block), never a write.
    return quick(fixed({ method: 'GET', target: `/block/${target}`, headers: basicHeaders() }), `GET 1-byte id ${id}`, status([200, 404], ['NOT_FOUND']));
  }
  return quick(fixed({ method: 'PUT', target: `/block/${target}`, ...withLength(data) }), `PUT ${id.length}-byte id (raw ${target.length} chars)`, status(201), { effect: { kind: 'put', id, data } });
};

// ---- bodies ----

const bodySize: Builder = (random, frame) => {
  const id = laneId(random, frame);
  const length = random.pick([0, 1, 100, 4095, 4097, 4100, 8192, 65536, random.below(3 * BLOCK_BYTES)].filter((n) => n !== BLOCK_BYTES));
  const body = filler(length, random);
  const framing = random.pick(['length', 'length', 'chunked', 'unframed'] as const);
  const expect = framing === 'unframed' || length < BLOCK_BYTES ? BLOCK_SIZE_SHORT : BLOCK_SIZE_LONG;
  let framed: { headers: Header[]; body: Buffer[] };
  if (framing === 'chunked') framed = length === 0 ? { headers: basicHeaders([['Transfer-Encoding', 'chunked']]), body: [Buffer.from('0\r\n\r\n')] } : chunked(body, random);
  // No Content-Length and no Transfer-Encoding: the request has no body; what follows is another request.
  else if (framing === 'unframed') framed = { headers: basicHeaders(), body: [body] };
  else framed = withLength(body);
  return quick(fixed({ method: 'PUT', target: `/block/${id}${goodQuery(random)}`, ...framed }), `PUT ${id} with ${length} bytes (${framing})`, expect);
};

const contentLength: Builder = (random, frame) => {
  const id = laneId(random, frame);
  const data = blockBytes(random);
  const target = `/block/${id}${goodQuery(random)}`;
  const variant = random.pick(['negative', 'not-a-number', 'hex', 'plus', 'duplicate-same', 'duplicate-different', 'huge', 'beyond-uint64', 'smaller-than-body', 'larger-then-more'] as const);
  const headersFor = (values: string[]): Header[] => basicHeaders(values.map((value) => ['Content-Length', value] as const));
  const send = (values: string[], body: Buffer[] = [data]) => fixed({ method: 'PUT', target, headers: headersFor(values), body });
  switch (variant) {
    case 'negative':
      return quick(send([random.pick(['-1', '-4096'])]), 'negative Content-Length', PARSER_REFUSAL);
    case 'not-a-number':
      return quick(send([random.pick(['abc', '4096abc', '4 096', '4096.0', '1e4'])]), 'Content-Length not a number', PARSER_REFUSAL);
    case 'hex':
      return quick(send(['0x1000']), 'Content-Length in hex', PARSER_REFUSAL);
    case 'plus':
      return quick(send(['+4096']), 'Content-Length with a sign', PARSER_REFUSAL);
    case 'duplicate-same':
      return quick(send(['4096', '4096']), 'Content-Length twice (same value)', PARSER_REFUSAL);
    case 'duplicate-different':
      return quick(send(['4096', String(random.between(0, 9000))]), 'Content-Length twice (different values)', PARSER_REFUSAL);
    case 'huge': {
      // Longer than a block, however long: 413 BLOCK_SIZE from the header alone (DESIGN §2).
      const length = random.pick(['4097', '1073741824', '9007199254740993', '1152921504606846976', String(random.between(4097, 2 ** 31))]);
      return quick(send([length], []), `Content-Length ${length}, no body`, BLOCK_SIZE_LONG);
    }
    case 'beyond-uint64':
      // The parser refuses what does not fit its 64-bit counter before the route sees it.
      return quick(send(['99999999999999999999'], []), 'Content-Length beyond 64 bits', status([400, 413], ['BAD_REQUEST', 'BLOCK_SIZE'], { parser: true }));
    case 'smaller-than-body':
      return quick(send([String(random.between(0, 4095))]), 'Content-Length smaller than the body sent', BLOCK_SIZE_SHORT);
    case 'larger-then-more':
      // Exactly 4096 declared, then one more byte: the block is the first 4096; the extra byte starts a next request.
      return quick(send(['4096'], [data, Buffer.from('X')]), 'Content-Length 4096 then an extra byte', status(201), { effect: { kind: 'put', id, data } });
  }
};

const transferEncoding: Builder = (random, frame) => {
  const id = laneId(random, frame);
  // A body one byte short: accepted framing meets 400 BLOCK_SIZE, refused framing the parser's 400.
  const body = chunkedBytes(filler(BLOCK_BYTES - 1, random), random);
  const variant = random.pick([['gzip'], ['chunked, gzip'], ['gzip, chunked'], ['identity'], ['xchunked'], ['chunk'], ['CHUNKED'], ['chunked', 'chunked'], ['chunked', 'with-length']] as const);
  const headers: Header[] = variant[1] === 'with-length' ? [['Transfer-Encoding', 'chunked'], ['Content-Length', String(body.length)]] : variant.map((value) => ['Transfer-Encoding', value] as const);
  return quick(fixed({ method: 'PUT', target: `/block/${id}`, headers: basicHeaders(headers), body: [body] }), `Transfer-Encoding ${variant.join(' + ')}`, status(400, ['BAD_REQUEST', 'BLOCK_SIZE']));
};

const chunkFraming: Builder = (random, frame) => {
  const id = laneId(random, frame);
  const data = blockBytes(random);
  const variant = random.pick(['bad-size', 'overflow', 'negative', 'data-longer-than-size', 'missing-crlf', 'many-small-over'] as const);
  const send = (...chunks: (string | Buffer)[]) => fixed({ method: 'PUT', target: `/block/${id}`, headers: basicHeaders([['Transfer-Encoding', 'chunked']]), body: chunks.map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk)) });
  switch (variant) {
    case 'bad-size':
      return quick(send(`${random.pick(['zz', 'g', '1000 x', '0x1000', ' '])}\r\n`, data, '\r\n0\r\n\r\n'), 'a chunk size that is not hex', PARSER_REFUSAL);
    case 'overflow':
      return quick(send('10\r\n', data.subarray(0, 16), `\r\n${'f'.repeat(random.between(17, 40))}\r\n`, data), 'a chunk size beyond 64 bits', PARSER_REFUSAL);
    case 'negative':
      return quick(send('-1000\r\n', data, '\r\n0\r\n\r\n'), 'a negative chunk size', PARSER_REFUSAL);
    case 'data-longer-than-size':
      return quick(send('10\r\n', data.subarray(0, random.between(17, 200)), '\r\n0\r\n\r\n'), 'a chunk longer than its size', PARSER_REFUSAL);
    case 'missing-crlf':
      return quick(send('1000\r\n', data, 'garbage0\r\n\r\n'), 'no CRLF after a chunk', PARSER_REFUSAL);
    case 'many-small-over': {
      const count = random.between(42, 200);
      return quick(send(`${Array.from({ length: count }, () => `64\r\n${'a'.repeat(100)}\r\n`).join('')}0\r\n\r\n`), `${count} chunks of 100 bytes`, BLOCK_SIZE_LONG);
    }
  }
};

const truncated: Builder = (random, frame) => {
  const id = laneId(random, frame);
  const sent = random.below(BLOCK_BYTES);
  const framing = random.pick(['length', 'chunked'] as const);
  const headers = basicHeaders([framing === 'length' ? ['Content-Length', '4096'] : ['Transfer-Encoding', 'chunked']]);
  const body = framing === 'length' ? [filler(sent, random)] : [Buffer.from('1000\r\n'), filler(sent, random)];
  const render = fixed({ method: 'PUT', target: `/block/${id}`, headers, body });
  if (random.next() < 0.75) {
    // The client half-closes: the parser sees the body end early (400), or the connection just closes.
    return quick(render, `PUT ${id}: ${sent} of 4096 bytes (${framing}), then half-close`, status(400, 'BAD_REQUEST', { silenceAllowed: true }), { endAfter: true });
  }
  // The client stalls: the request timeout answers 408 (the server's or the body reader's).
  const { requestTimeoutMs } = frame.options;
  return quick(render, `PUT ${id}: ${sent} of 4096 bytes (${framing}), then stall`, status(408, ['BAD_REQUEST', 'REQUEST_TIMEOUT'], { silenceAllowed: true }), { answerTimeoutMs: requestTimeoutMs + ANSWER_TIMEOUT_MS });
};

const oversizedStream: Builder = (random, frame) => {
  const id = laneId(random, frame);
  const streamBytes = random.between(64 * 1024, STREAM_BYTES_MAX);
  const variant = random.pick(['one-huge-chunk', 'declared-length'] as const);
  const headers = variant === 'one-huge-chunk' ? basicHeaders([['Transfer-Encoding', 'chunked']]) : basicHeaders([['Content-Length', String(streamBytes)]]);
  const body = variant === 'one-huge-chunk' ? [Buffer.from(`${(64 * 1024 * 1024).toString(16)}\r\n`)] : [];
  return quick(fixed({ method: 'PUT', target: `/block/${id}`, headers, body }), `PUT ${id} streaming ${streamBytes} bytes (${variant})`, BLOCK_SIZE_LONG, { streamBytes });
};

// ---- ids, paths, query strings ----

/** Ids the contract refuses (400 BAD_ID), as written in the path. */
function badIdTarget(random: Random): { raw: string; parserMayRefuse: boolean } {
  const variant = random.below(9);
  if (variant === 0) return { raw: '', parserMayRefuse: false };
  if (variant === 1) return { raw: randomId(random, random.between(256, 4000)), parserMayRefuse: false };
  if (variant === 2) return { raw: random.pick(['.', '..', '%2E%2E', '%2e.', '.%2E', '%2e']), parserMayRefuse: false };
  if (variant === 3) return { raw: `${randomId(random, 3)}${random.pick(['!', '$', "'", '(', ')', '*', '+', ',', ';', '=', '@', '['])}${randomId(random, 2)}`, parserMayRefuse: false };
  if (variant === 4) return { raw: `a${random.pick(['%00', '%20', '%2F', '%C3%A9', '%FF', '%', '%4', '%G1', '%ZZ', '%0A', '%7F'])}-`, parserMayRefuse: false };
  if (variant === 5) return { raw: `${'%41'.repeat(random.between(216, 400))}${randomId(random, 40)}`, parserMayRefuse: false }; // over 255 once decoded
  if (variant === 6) return { raw: `a${random.pick(['"', '<', '>', '\\', '^', '`', '{', '|', '}'])}b`, parserMayRefuse: true };
  if (variant === 7) return { raw: `caf${random.pick(['\u00e9', '\u00ff', '\u0080'])}`, parserMayRefuse: true }; // raw bytes ≥ 0x80
  return { raw: `a${random.pick(['\t', '\u0001', '\u007f'])}b`, parserMayRefuse: true };
}

const badId: Builder = (random) => {
  const { raw, parserMayRefuse } = badIdTarget(random);
  const method = random.pick(['GET', 'HEAD', 'PUT', 'DELETE'] as const);
  const framed = method === 'PUT' ? withLength(blockBytes(random)) : { headers: basicHeaders(), body: [] };
  const expect = parserMayRefuse ? status(400, ['BAD_ID', 'BAD_REQUEST']) : status(400, 'BAD_ID');
  const shown = raw.length > 40 ? `${raw.slice(0, 40)}… (${raw.length} chars)` : raw;
  return quick(fixed({ method, target: `/block/${raw}${goodQuery(random)}`, ...framed }), `${method} bad id ${JSON.stringify(shown)}`, expect);
};

const path: Builder = (random) => {
  const cases: [string, Expectation][] = [
    ['/block', status(404, 'NOT_FOUND')],
    [`/block/${randomId(random, 4)}/${randomId(random, 4)}`, status(404, 'NOT_FOUND')],
    [`/block/${randomId(random, 4)}/`, status(404, 'NOT_FOUND')],
    [`//block/${randomId(random, 4)}`, status(404, 'NOT_FOUND')],
    [`/BLOCK/${randomId(random, 4)}`, status(404, 'NOT_FOUND')],
    ['/block/../live', status(404, 'NOT_FOUND')],
    ['/./live', status(404, 'NOT_FOUND')],
    ['/live/', status(404, 'NOT_FOUND')],
    ['/%6Cive', status(404, 'NOT_FOUND')],
    ['/live#fragment', status(404, 'NOT_FOUND')],
    ['http://fuzz/live', status(404, 'NOT_FOUND')],
    ['*', status(404, 'NOT_FOUND')],
    ['/cluster/nodes//decommission', status(404, 'NOT_FOUND')],
    [`/${randomId(random, random.between(1, 30))}`, status(404, 'NOT_FOUND')],
    [`/${'x/'.repeat(random.between(100, 4000))}`, status(404, 'NOT_FOUND')],
    [`/${randomId(random, random.between(17_000, 40_000))}`, status(431, 'BAD_REQUEST', { parser: true })],
    [`/live?${randomId(random, 10)}&&=${randomId(random, 3)}`, status(200)],
    ['/ready?', status(200)],
  ];
  const [target, expect] = random.pick(cases);
  const shown = target.length > 40 ? `${target.slice(0, 40)}… (${target.length} chars)` : target;
  return quick(fixed({ method: 'GET', target, headers: basicHeaders() }), `GET ${shown}`, expect);
};

/** Consistency from the query (first value wins) or else X-Consistency (duplicates joined), as the contract reads it. */
export function effectiveConsistency(query: string, headerValues: readonly string[]): string {
  const fromQuery = new URLSearchParams(query.split('#')[0]).get('consistency');
  if (fromQuery !== null) return fromQuery;
  return headerValues.length > 0 ? headerValues.map((value) => value.trim()).join(', ') : 'quorum';
}

function consistencyValue(random: Random): string {
  return random.next() < 0.5 ? random.pick(CONSISTENCY) : random.pick(['ONE', 'Quorum', 'two', '', ' one', 'one%00', 'al%6C', 'on%65', '%FF', '+one', 'all#x', 'quorum,one', 'q'.repeat(300)]);
}

const consistency: Builder = (random, frame) => {
  const values = Array.from({ length: random.between(0, 2) }, () => consistencyValue(random));
  const query = values.length === 0 ? '' : `?${random.next() < 0.3 ? 'x=1&' : ''}${values.map((value) => `consistency=${value.replace(/ /g, '%20')}`).join('&')}${random.next() < 0.1 ? '&CONSISTENCY=bogus' : ''}`;
  const headerValues = random.next() < 0.4 ? Array.from({ length: random.between(1, 2) }, () => consistencyValue(random).replace(/[#%]/g, '')) : [];
  const valid = (CONSISTENCY as readonly string[]).includes(effectiveConsistency(query.slice(1), headerValues));
  const headers: Header[] = headerValues.map((value) => ['X-Consistency', value]);
  const method = random.pick(['GET', 'PUT', 'PUT', 'DELETE'] as const);
  const description = `${method} consistency query ${JSON.stringify(query.slice(0, 40))} header ${JSON.stringify(headerValues)}`;
  const invalid = status(400, 'BAD_REQUEST');
  if (method === 'GET') {
    return quick(fixed({ method, target: `/block/${absentId(random)}${query}`, headers: basicHeaders(headers) }), description, valid ? status(404, 'NOT_FOUND') : invalid);
  }
  const id = laneId(random, frame);
  if (method === 'DELETE') {
    return quick(fixed({ method, target: `/block/${id}${query}`, headers: basicHeaders(headers) }), description, valid ? status(204) : invalid, valid ? { effect: { kind: 'delete', id } } : {});
  }
  const data = blockBytes(random);
  return quick(fixed({ method, target: `/block/${id}${query}`, ...withLength(data, headers) }), description, valid ? status(201) : invalid, valid ? { effect: { kind: 'put', id, data } } : {});
};

// ---- methods, headers, tokens ----

interface RouteShape {
  target: (random: Random) => string;
  methods: readonly string[];
  token?: boolean;
}

/** A route that answers GET answers HEAD too (the router's Allow lists it last when not declared). */
function withHead(route: RouteShape): RouteShape {
  return route.methods.includes('GET') && !route.methods.includes('HEAD') ? { ...route, methods: [...route.methods, 'HEAD'] } : route;
}

/** The routes of DESIGN §2 and the internal ones, with the methods each answers (the `Allow` of a 405). */
const ROUTES: readonly RouteShape[] = (<RouteShape[]>[
  { target: (random) => `/block/${absentId(random)}`, methods: ['GET', 'HEAD', 'PUT', 'DELETE'] },
  ...['/live', '/ready', '/health', '/healthz', '/metrics', '/cluster', '/cluster/ring', '/openapi.json', '/', '/volumes'].map((route) => ({ target: () => route, methods: ['GET'] })),
  { target: (random) => `/tasks/${randomId(random, 12)}`, methods: ['GET'] },
  { target: (random) => `/repairs/${randomId(random, 12)}`, methods: ['GET'] },
  { target: (random) => `/volumes/fzvol${random.below(100)}`, methods: ['GET', 'DELETE'] },
  { target: (random) => `/volumes/fzvol${random.below(100)}/events`, methods: ['GET'] },
  ...['resize', 'snapshots', 'reconcile'].map((action) => ({ target: (random: Random) => `/volumes/fzvol${random.below(100)}/${action}`, methods: ['POST'], token: true })),
  { target: (random) => `/cluster/nodes/${randomId(random, 8)}/decommission`, methods: ['POST'], token: true },
  { target: () => '/cluster/repair', methods: ['POST'], token: true },
  { target: (random) => `/internal/block/${absentId(random)}`, methods: ['PUT', 'DELETE', 'GET'], token: true },
  ...['/internal/merkle', '/internal/repair/push', '/internal/repair/purge', '/internal/repair/tasks', '/internal/transfer'].map((route) => ({ target: () => route, methods: ['POST'], token: true })),
  { target: (random) => `/internal/repair/tasks/${randomId(random, 36)}`, methods: ['GET'], token: true },
  { target: (random) => `/internal/transfer/${hex(random, 32)}`, methods: ['GET'], token: true },
]).map(withHead);

function hex(random: Random, length: number): string {
  return Array.from({ length }, () => '0123456789abcdef'[random.below(16)]).join('');
}

const method: Builder = (random) => {
  const route = random.pick(ROUTES);
  const target = route.target(random);
  const body = random.next() < 0.3 ? withLength(filler(random.between(1, 5000), random)) : { headers: basicHeaders(), body: [] };
  if (random.next() < 0.3) {
    const garbage = random.pick(GARBAGE_METHODS);
    return quick(fixed({ method: garbage, target, ...body }), `method ${JSON.stringify(garbage)} on ${target.slice(0, 40)}`, PARSER_REFUSAL);
  }
  if (random.next() < 0.05) {
    // Node hands CONNECT to a 'connect' listener; with none it closes the connection.
    return quick(fixed({ method: 'CONNECT', target: 'fuzz:80', headers: basicHeaders() }), 'CONNECT', status([400, 404, 405], undefined, { silenceAllowed: true }));
  }
  const wrong = random.pick(KNOWN_METHODS.filter((known) => !route.methods.includes(known)));
  return quick(fixed({ method: wrong, target, ...body }), `${wrong} on ${target.slice(0, 40)}`, status(405, 'METHOD_NOT_ALLOWED', { allow: route.methods.join(', ') }));
};

/** A request line and headers that are malformed, oversized or merely unusual, on GET /live. */
const header: Builder = (random) => {
  const live = (headers: Header[], extra: Partial<Draft> = {}) => fixed({ method: 'GET', target: '/live', headers, ...extra });
  const version = random.pick(['HTTP/1.2', 'HTTP/3.0', 'HTTP/9.9', 'http/1.1', 'HTTP/1.1x', 'HTTP/11']);
  const variants: [string, () => Buffer[], Expectation][] = [
    ['a 17 KiB header', live(basicHeaders([['X-Big', 'b'.repeat(17 * 1024)]])), status(431, 'BAD_REQUEST', { parser: true })],
    ['200 headers of 100 bytes', live(basicHeaders(Array.from({ length: 200 }, (_, i) => [`X-H${i}`, 'v'.repeat(100)] as const))), status(431, 'BAD_REQUEST', { parser: true })],
    ['300 small headers', live(basicHeaders(Array.from({ length: 300 }, (_, i) => [`X-H${i}`, 'v'] as const))), status(200)],
    ['an 8 KiB header', live(basicHeaders([['X-Long', 'l'.repeat(8 * 1024)]])), status(200)],
    ['obs-text in a value', live(basicHeaders([['X-Text', 'caf\u00e9 \u00ff']])), status(200)],
    ['two Host headers', live([['Host', 'a'], ['Host', 'b'], ['Connection', 'close']]), status(200)],
    ['HTTP/1.0', live([], { version: 'HTTP/1.0' }), status(200)],
    ['a NUL in a value', live(basicHeaders([['X-Nul', 'a\u0000b']])), PARSER_REFUSAL],
    ['a CR in a value', live(basicHeaders([['X-Cr', 'a\rb']])), PARSER_REFUSAL],
    ['a space in a name', live(basicHeaders([['X Bad', 'v']])), PARSER_REFUSAL],
    ['a name with "("', live(basicHeaders([['X(Bad)', 'v']])), PARSER_REFUSAL],
    ['a line without a colon', live(basicHeaders([['X-No-Colon\r\nAnother', 'v']])), PARSER_REFUSAL],
    ['an obs-fold continuation', live(basicHeaders([['X-Fold', 'a\r\n folded']])), PARSER_REFUSAL],
    ['bare LF line ends', live(basicHeaders(), { lineEnd: '\n' }), PARSER_REFUSAL],
    [`version ${version}`, live(basicHeaders(), { version }), PARSER_REFUSAL],
    ['no Host header', live([['Connection', 'close']]), status(400, undefined, { plain: true })],
    ['Expect: bogus', fixed({ method: 'PUT', target: `/block/${absentId(random)}`, ...withLength(blockBytes(random), [['Expect', 'bogus']]) }), status(417, undefined, { plain: true })],
  ];
  const [description, render, expect] = random.pick(variants);
  return quick(render, description, expect);
};

/** An Authorization header and whether the router accepts it: the first of duplicates counts, and Node trims the value. */
function authorization(random: Random, token: string): { headers: Header[]; accepted: boolean } {
  const other = hex(random, token.length);
  const values = [
    `Bearer ${token}`, `Bearer ${token}  `, `Bearer ${other}`, `Bearer ${hex(random, random.between(1, 100))}`, 'Bearer', 'Bearer ', `bearer ${token}`,
    `Basic ${Buffer.from(`x:${token}`).toString('base64')}`, `Bearer  ${token}`, `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, token, '',
  ];
  const count = random.weighted([[0, 2], [1, 6], [2, 1]] as const);
  const chosen = Array.from({ length: count }, () => random.pick(values));
  // Node keeps the first Authorization and trims it; the scheme is case-insensitive and may be
  // followed by more than one space (RFC 9110 §11.4: 1*SP).
  const accepted = chosen.length > 0 && /^bearer +(\S+)$/i.exec(chosen[0]!.trim())?.[1] === token;
  return { headers: chosen.map((value) => ['Authorization', value] as const), accepted };
}

/** An Authorization the router refuses (drawn again a bounded number of times, then none at all). */
function refusedAuthorization(random: Random, token: string): { headers: Header[] } {
  for (let draw = 0; draw < AUTH_DRAWS_MAX; draw++) {
    const drawn = authorization(random, token);
    if (!drawn.accepted) return drawn;
  }
  return { headers: [] };
}

const AUTH_DRAWS_MAX = 16;

/** Token routes with a missing or wrong token: 401 with WWW-Authenticate, whatever else is wrong with the request. */
const auth: Builder = (random, frame) => {
  const route = random.pick(ROUTES.filter((shape) => shape.token));
  const target = route.target(random);
  const verb = random.pick(route.methods);
  const { headers } = refusedAuthorization(random, frame.options.token);
  const body = verb === 'GET' ? [] : [blockBytes(random)];
  const draft: Draft = { method: verb, target, headers: basicHeaders([...headers, ['X-Ringblock-Epoch', String(frame.options.ringEpoch)], ...(body.length ? [['Content-Length', '4096'] as const] : [])]), body };
  return quick(fixed(draft), `${verb} ${target.slice(0, 40)} with Authorization ${JSON.stringify(headers.map(([, value]) => value.replace(frame.options.token, '<token>')))}`, status(401, 'UNAUTHORIZED'));
};

/**
 * An epoch header and what the node answers for it (no refusal: accepted, the request goes on). The
 * node reads it as a JavaScript Number: '' is 0 (an old epoch), '0x1' is 1; NaN and unsafe integers are 400.
 */
function epochHeader(random: Random, ours: number, sameOnly: boolean): { headers: Header[]; refusal?: Expectation } {
  const value = random.pick([undefined, String(ours), String(ours), String(ours + random.between(1, 1000)), String(Math.max(0, ours - random.between(1, 3))), '-1', 'abc', '1.5', '', '9007199254740993', '0x1', 'NaN']);
  if (value === undefined) return { headers: [], refusal: status(400, 'BAD_REQUEST') };
  const sent = Number(value);
  const headers: Header[] = [['X-Ringblock-Epoch', value]];
  if (!Number.isSafeInteger(sent)) return { headers, refusal: status(400, 'BAD_REQUEST') };
  if (sent < ours || (sameOnly && sent !== ours)) return { headers, refusal: status(409, 'STALE_EPOCH') };
  return { headers };
}

/** JSON bodies for the repair routes: garbage, wrong shapes, near-valid merkle requests, deep nesting, oversize. */
function repairBody(random: Random): { body: Buffer; valid: 'no' | 'maybe'; tooLarge: boolean } {
  const variant = random.below(7);
  if (variant === 0) return { body: Buffer.from(random.pick(['', '{', '{"a":', 'nul', '[1,2', '\u0000'])), valid: 'no', tooLarge: false };
  if (variant === 1) return { body: Buffer.from(random.pick(['null', '[]', '1', '"x"', 'true', '{}', '{"queries":"x"}', '{"from":1}'])), valid: 'no', tooLarge: false };
  if (variant === 2) {
    const depth = random.pick([0, 1, 4, 12, 64, -1, 1.5]);
    const query = () => ({ start: random.pick(['0', '1', '18446744073709551615', '18446744073709551616', '-1', 'x', 5]), end: random.pick(['0', '99', '9223372036854775808']), level: random.pick([0, 1, 3, 100, -2]), ...(random.next() < 0.3 ? { indexes: [0, 1, random.below(4)] } : {}), ...(random.next() < 0.2 ? { tree: random.pick(['0123456789abcdef', 'zz']) } : {}) });
    return { body: Buffer.from(JSON.stringify({ depth, queries: Array.from({ length: random.pick([0, 1, 3, 65]) }, query) })), valid: 'maybe', tooLarge: false };
  }
  if (variant === 3) {
    const levels = random.between(1000, 100_000);
    return { body: Buffer.from(`${'['.repeat(levels)}${']'.repeat(levels)}`), valid: 'no', tooLarge: levels * 2 > 256 * 1024 };
  }
  if (variant === 4) return { body: Buffer.from(JSON.stringify({ pad: 'p'.repeat(random.between(256 * 1024, 600 * 1024)) })), valid: 'no', tooLarge: true };
  if (variant === 5) return { body: Buffer.from(JSON.stringify({ from: 'node-x', start: '0', end: '1', transferId: 'nothex', tombstones: 'x' })), valid: 'no', tooLarge: false };
  return { body: filler(random.between(1, 2000), random), valid: 'no', tooLarge: false };
}

/** Internal routes with the right token and wrong everything else: epochs, versions, bodies, ids. */
const internal: Builder = (random, frame) => {
  const { token, ringEpoch } = frame.options;
  const authorized: Header[] = [['Authorization', `Bearer ${token}`]];
  const route = random.pick(['block', 'block', 'repair', 'repair', 'transfer', 'transfer-progress', 'repair-task', 'replication'] as const);
  if (route === 'block') return internalBlock(random, frame, authorized);
  if (route === 'replication') {
    // A real upgrade, then bytes that are not frames: the session fails, the node carries on.
    const garbage = filler(random.between(1, 300), random);
    const draft: Draft = { method: 'GET', target: '/internal/replication', headers: [['Host', 'fuzz'], ...authorized, ['Connection', 'Upgrade'], ['Upgrade', 'ringblock-replication/1']], body: [garbage] };
    return quick(fixed(draft), `replication upgrade, then ${garbage.length} garbage bytes`, status(101));
  }
  const path = { repair: random.pick(['/internal/merkle', '/internal/repair/push', '/internal/repair/purge', '/internal/repair/tasks']), transfer: '/internal/transfer', 'transfer-progress': `/internal/transfer/${hex(random, 32)}`, 'repair-task': `/internal/repair/tasks/${randomId(random, 36)}` }[route];
  const epoch = epochHeader(random, ringEpoch, path === '/internal/repair/purge');
  if (route === 'transfer-progress' || route === 'repair-task') {
    return quick(fixed({ method: 'GET', target: path, headers: basicHeaders([...authorized, ...epoch.headers]) }), `GET ${path.slice(0, 40)}`, epoch.refusal ?? status(404, 'NOT_FOUND'));
  }
  if (route === 'transfer') {
    const body = random.next() < 0.5 ? Buffer.concat([Buffer.from('RBXF'), filler(random.between(0, 3000), random)]) : filler(random.between(0, 3000), random);
    const streamed = random.next() < 0.3;
    const framed = streamed ? chunked(body, random, [...authorized, ...epoch.headers]) : withLength(body, [...authorized, ...epoch.headers]);
    return quick(fixed({ method: 'POST', target: path, ...framed }), `POST ${path} with ${body.length} bytes${streamed ? ' (chunked)' : ''}`, epoch.refusal ?? status([400, 408, 413, 422]));
  }
  const { body, valid, tooLarge } = repairBody(random);
  const halfClose = random.next() < 0.1 && body.length > 1;
  const draft: Draft = { method: 'POST', target: path, ...withLength(body, [...authorized, ...epoch.headers]) };
  if (halfClose) draft.body = [body.subarray(0, body.length - 1)];
  let expect = epoch.refusal ?? (tooLarge ? status(413, 'BAD_REQUEST') : valid === 'maybe' && path === '/internal/merkle' ? status([200, 400]) : status(400, 'BAD_REQUEST'));
  // Cut short: the parser's 400 at the early end, or (an epoch refusal) the answer sent before the body was read.
  if (halfClose) expect = status([...new Set([400, ...expect.statuses])], undefined, { silenceAllowed: true });
  return quick(fixed(draft), `POST ${path} with a ${body.length}-byte body${halfClose ? ', cut short' : ''}`, expect, halfClose ? { endAfter: true } : {});
};

function internalBlock(random: Random, frame: Frame, authorized: Header[]): Omit<HttpCase, 'index' | 'lane' | 'kind'> {
  const verb = random.pick(['GET', 'PUT', 'DELETE'] as const);
  const badIdCase = random.next() < 0.15;
  const id = badIdCase ? random.pick(['', '%ZZ', '..', '%2E%2E', 'x'.repeat(256), 'a%2Fb', 'a!b', '%C3%A9']) : absentId(random);
  const epoch = epochHeader(random, frame.options.ringEpoch, false);
  // Never a version the node would take: a valid one (only with a wrong-sized body) is far in the past.
  const versionValue = random.pick([undefined, 'zz', '0123-x', '0000000000000001', '0000000000000001-bad name', '00000000000000ZZ-x', 'FFFFFFFFFFFFFFFF-x', '0000000000000001-fuzz']);
  const versionHeaders: Header[] = versionValue === undefined ? [] : [['X-Ringblock-Version', versionValue]];
  const versionOk = versionValue === '0000000000000001-fuzz';
  const length = verb === 'PUT' ? random.pick([0, 100, 4095, 4097, 8192]) : 0;
  const headers = [...authorized, ...epoch.headers, ...versionHeaders];
  const framed = verb === 'PUT' ? withLength(filler(length, random), headers) : { headers: basicHeaders(headers), body: [] };
  let expect: Expectation;
  if (badIdCase) expect = status(400, 'BAD_ID');
  else if (epoch.refusal) expect = epoch.refusal;
  else if (verb === 'GET') expect = status(404, 'NOT_FOUND');
  else if (verb === 'DELETE' || !versionOk) expect = status(400, 'BAD_REQUEST');
  else expect = length < BLOCK_BYTES ? BLOCK_SIZE_SHORT : BLOCK_SIZE_LONG;
  // A DELETE with the one valid version would write a tombstone: send it with a broken version instead.
  if (verb === 'DELETE' && versionOk) framed.headers = basicHeaders([...authorized, ...epoch.headers, ['X-Ringblock-Version', '0000000000000001-']]);
  return quick(fixed({ method: verb, target: `/internal/block/${id}`, ...framed }), `internal ${verb} ${id.slice(0, 30)} epoch ${JSON.stringify(epoch.headers[0]?.[1] ?? null)} version ${JSON.stringify(versionValue ?? null)}${verb === 'PUT' ? ` body ${length}` : ''}`, expect);
}

/** Admin and volume routes with the right token but arguments no node or volume has. */
const admin: Builder = (random, frame) => {
  const authorized: Header[] = [['Authorization', `Bearer ${frame.options.token}`]];
  const variant = random.below(6);
  if (variant === 0) {
    const name = random.pick(['%ZZ', '%', 'bad%20name', '%C3%A9', '%2F', 'x'.repeat(256), '%00', 'a%2Fb']);
    return quick(fixed({ method: 'POST', target: `/cluster/nodes/${name}/decommission`, ...withLength(Buffer.alloc(0), authorized) }), `decommission ${JSON.stringify(name.slice(0, 30))}`, status(400, 'BAD_REQUEST'));
  }
  const badName = random.next() < 0.4;
  const name = badName ? random.pick(['%ZZ', 'BAD NAME'.replace(' ', '%20'), '%C3%A9', '_x', 'x'.repeat(300)]) : `fzvol${random.below(1000)}`;
  const missing = badName ? status(400, 'BAD_REQUEST') : status(404, 'NOT_FOUND');
  if (variant === 1) return quick(fixed({ method: 'GET', target: `/volumes/${name}`, headers: basicHeaders() }), `GET volume ${name.slice(0, 30)}`, missing);
  if (variant === 2) {
    const resume = random.pick([undefined, '5', '-1', 'abc', '99999999999']);
    const headers: Header[] = resume === undefined ? [] : [['Last-Event-ID', resume]];
    const expect = badName || (resume !== undefined && !/^-?\d{1,10}$/.test(resume)) ? status(400, 'BAD_REQUEST') : status(404, 'NOT_FOUND');
    return quick(fixed({ method: 'GET', target: `/volumes/${name}/events`, headers: basicHeaders(headers) }), `events of volume ${name.slice(0, 30)} after ${resume ?? '-'}`, expect);
  }
  if (variant === 3) return quick(fixed({ method: 'DELETE', target: `/volumes/${name}`, headers: basicHeaders(authorized) }), `DELETE volume ${name.slice(0, 30)}`, missing);
  const action = variant === 4 ? 'resize' : 'snapshots';
  const body = Buffer.from(random.pick(['', '{', '[]', '{"sizeMib":"x"}', '{"sizeMib":10}', '{"sizeMib":1024}', '{"name":"s1"}', '{"name":"bad name"}', '{"name":5}']));
  return quick(fixed({ method: 'POST', target: `/volumes/${name}/${action}`, ...withLength(body, authorized) }), `${action} volume ${name.slice(0, 30)} with ${JSON.stringify(body.toString())}`, status([400, 404], ['BAD_REQUEST', 'NOT_FOUND']));
};

const statusRoute: Builder = (random) => {
  const route = random.pick(['/live', '/ready', '/health', '/healthz', '/metrics', '/cluster', '/cluster/ring', '/openapi.json', '/', '/volumes']);
  const query = random.next() < 0.3 ? `?${randomId(random, 8)}=${random.pick(['%ZZ', '%', '', 'x'])}` : '';
  const expect = status(200);
  return quick(fixed({ method: 'GET', target: `${route}${query}`, headers: basicHeaders() }), `GET ${route}${query}`, expect);
};

/** Plain answers of the paths an upgrade is asked on elsewhere: the upgrade is ignored, the request served. */
const PLAIN_UPGRADE_TARGETS: Record<string, Expectation> = {
  '/block/fuzz-never-written': status(404, 'NOT_FOUND'),
  '/live': status(200),
  '/internal/replication/x': status(404, 'NOT_FOUND'),
  '/': status(200),
};

/**
 * Upgrade requests: elsewhere than the replication endpoint, served as the plain request they also
 * are (a server may ignore Upgrade); there, another protocol (400) or no token (401) is refused.
 */
const upgrade: Builder = (random, frame) => {
  const variant = random.below(3);
  const target = variant === 0 ? random.pick(Object.keys(PLAIN_UPGRADE_TARGETS)) : '/internal/replication';
  const protocol = variant === 1 ? random.pick(['websocket', 'h2c', 'ringblock-replication/2', 'ringblock-replication']) : random.pick(['ringblock-replication/1', 'RINGBLOCK-REPLICATION/1']);
  const authHeaders: Header[] = variant === 2 ? refusedAuthorization(random, frame.options.token).headers : [['Authorization', `Bearer ${frame.options.token}`]];
  const headers: Header[] = [['Host', 'fuzz'], ...authHeaders, ['Connection', 'Upgrade'], ['Upgrade', protocol]];
  const expect = [PLAIN_UPGRADE_TARGETS[target]!, status(400, 'BAD_REQUEST'), status(401, 'UNAUTHORIZED')][variant]!;
  return quick(fixed({ method: 'GET', target, headers }), `Upgrade ${JSON.stringify(protocol)} on ${target}${variant === 2 ? ' without the token' : ''}`, expect);
};

/** A valid write followed, on the same connection, by a malformed request: the write stands. */
const pipelined: Builder = (random, frame) => {
  const id = laneId(random, frame);
  const data = blockBytes(random);
  const first = serialize({ method: 'PUT', target: `/block/${id}`, headers: [['Host', 'fuzz'], ['Content-Length', '4096']], body: [data] });
  const second = Buffer.from(random.pick(['GARBAGE\r\n\r\n', 'PUT /block/x HTTP/1.1\r\nContent-Length: -5\r\n\r\n', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\n\r\n`, '\u0000\u0001\u0002']), 'latin1');
  return quick(() => [...first, second], `PUT ${id} pipelined with a malformed request`, status(201), { effect: { kind: 'put', id, data } });
};

/** Headers that never end: the headers timeout answers 408 (or closes). */
const stalledHeaders: Builder = (random, frame) => {
  const partial = random.pick(['GET /live HTTP/1.1\r\nHost: fuzz\r\n', 'PUT /block/x HTTP/1.1\r\nContent-Len', 'GET /li']);
  const { headersTimeoutMs } = frame.options;
  return quick(() => [Buffer.from(partial)], `headers stalled after ${JSON.stringify(partial)}`, status(408, 'BAD_REQUEST', { silenceAllowed: true }), { answerTimeoutMs: headersTimeoutMs + ANSWER_TIMEOUT_MS });
};

const BUILDERS: Record<CaseKind, Builder> = {
  'put-valid': putValid, 'delete-valid': deleteValid, 'get-own': getOwn, 'id-limit': idLimit, 'body-size': bodySize,
  'content-length': contentLength, 'transfer-encoding': transferEncoding, 'chunk-framing': chunkFraming, truncated,
  'oversized-stream': oversizedStream, 'bad-id': badId, path, consistency, method, header, auth, internal, admin,
  'status-route': statusRoute, upgrade, pipelined, 'stalled-headers': stalledHeaders,
};
