// Reads the first final HTTP/1.1 answer out of the bytes a raw connection received (the fuzzer reads
// answers itself: it sends requests no HTTP client would). Informational answers (100 Continue) are
// skipped; 101 Switching Protocols is final. The body is framed by Content-Length, chunked encoding,
// or the connection's end; HEAD answers and 204/304 have none. Pure: bytes in, a verdict out.

export interface Answer {
  status: number;
  reason: string;
  /** Header names in lower case; repeated headers keep every value. */
  headers: ReadonlyMap<string, readonly string[]>;
  body: Buffer;
  /** Statuses of the informational answers before this one. */
  informational: number[];
}

export type AnswerParse =
  | { state: 'incomplete' }
  | { state: 'complete'; answer: Answer }
  | { state: 'malformed'; reason: string };

/** Bound on an answer's header block: the node's are a few hundred bytes. */
const HEAD_BYTES_MAX = 64 * 1024;
const SEPARATOR = Buffer.from('\r\n\r\n');

export function header(answer: Answer, name: string): string | undefined {
  return answer.headers.get(name)?.[0];
}

/** Parses `bytes` (everything received so far; `closed`: the connection has ended, nothing more comes). */
export function parseAnswer(bytes: Buffer, options: { headRequest: boolean; closed: boolean }): AnswerParse {
  const informational: number[] = [];
  let offset = 0;
  for (let round = 0; round < 16; round++) {
    const end = bytes.indexOf(SEPARATOR, offset);
    if (end === -1) {
      if (bytes.length - offset > HEAD_BYTES_MAX) return { state: 'malformed', reason: `no end of the header block within ${HEAD_BYTES_MAX} bytes` };
      return options.closed ? { state: 'malformed', reason: 'the connection ended inside the header block' } : { state: 'incomplete' };
    }
    const head = parseHead(bytes.toString('latin1', offset, end));
    if (typeof head === 'string') return { state: 'malformed', reason: head };
    const { status, reason, headers } = head;
    offset = end + SEPARATOR.length;
    if (status >= 100 && status < 200 && status !== 101) {
      informational.push(status);
      continue;
    }
    const body = readBody(bytes.subarray(offset), headers, status, options);
    if (body === 'incomplete') return { state: 'incomplete' };
    if (typeof body === 'string') return { state: 'malformed', reason: body };
    return { state: 'complete', answer: { status, reason, headers, body, informational } };
  }
  return { state: 'malformed', reason: 'more than 16 informational answers' };
}

interface ParsedHead {
  status: number;
  reason: string;
  headers: Map<string, string[]>;
}

/** The status line and headers, or why they are not. */
function parseHead(text: string): ParsedHead | string {
  const lines = text.split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!statusLine) return `not a status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`;
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return `not a header line: ${JSON.stringify(line.slice(0, 80))}`;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return { status: Number(statusLine[1]), reason: statusLine[2] ?? '', headers };
}

function readBody(rest: Buffer, headers: ReadonlyMap<string, readonly string[]>, status: number, options: { headRequest: boolean; closed: boolean }): Buffer | 'incomplete' | string {
  if (options.headRequest || status === 101 || status === 204 || status === 304) return Buffer.alloc(0);
  const length = headers.get('content-length');
  if (length !== undefined) {
    if (length.length !== 1 || !/^\d+$/.test(length[0]!)) return `Content-Length ${JSON.stringify(length)}`;
    const bytes = Number(length[0]);
    if (rest.length >= bytes) return Buffer.from(rest.subarray(0, bytes));
    return options.closed ? `the connection ended after ${rest.length} of ${bytes} body bytes` : 'incomplete';
  }
  if ((headers.get('transfer-encoding') ?? []).some((value) => value.toLowerCase() === 'chunked')) return readChunked(rest, options.closed);
  return options.closed ? Buffer.from(rest) : 'incomplete';
}

function readChunked(rest: Buffer, closed: boolean): Buffer | 'incomplete' | string {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n', offset, 'latin1');
    if (lineEnd === -1) return closed ? 'the connection ended inside a chunk size' : 'incomplete';
    const size = /^([0-9a-fA-F]{1,8})(;.*)?$/.exec(rest.toString('latin1', offset, lineEnd));
    if (!size) return `bad chunk size line ${JSON.stringify(rest.toString('latin1', offset, Math.min(lineEnd, offset + 40)))}`;
    const bytes = parseInt(size[1]!, 16);
    const dataStart = lineEnd + 2;
    if (bytes === 0) {
      // No trailers from the node: the last chunk ends with one more CRLF.
      if (rest.length < dataStart + 2) return closed ? 'the connection ended before the last chunk ended' : 'incomplete';
      return Buffer.concat(parts);
    }
    if (rest.length < dataStart + bytes + 2) return closed ? 'the connection ended inside a chunk' : 'incomplete';
    parts.push(rest.subarray(dataStart, dataStart + bytes));
    offset = dataStart + bytes + 2;
  }
}
