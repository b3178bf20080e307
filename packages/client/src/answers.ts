// Reading answers: bodies read with a bound (never buffered without limit), error answers turned into
// ServerError with the node's stable code, ETags into versions.
import { ServerError, TransportError, UnavailableError } from './errors.js';
import { ERROR_BODY_BYTES_MAX } from './limits.js';
import type { Answer } from './transport.js';

/** The node's epoch header (packages/node peers.ts); read from any answer that carries it. */
export const EPOCH_HEADER = 'x-ringblock-epoch';

/** Codes for answers without a JSON error body (HEAD, proxies), by status. */
const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  408: 'REQUEST_TIMEOUT',
  409: 'CONFLICT',
  413: 'BLOCK_SIZE',
  422: 'CHECKSUM_MISMATCH',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  507: 'INSUFFICIENT_STORAGE',
};

/**
 * Reads a whole body of at most `bytesMax` bytes. A longer body is destroyed and reported as
 * BAD_RESPONSE; `exact` also refuses a shorter one.
 */
export function readBody(answer: Answer, origin: string, bytesMax: number, exact = false): Promise<Buffer> {
  // Listeners, not `for await`: an async iterator over the stream costs a promise per chunk and its
  // own setup, a measurable share of a GET's CPU in the client.
  const body = answer.body;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > bytesMax) {
        cleanUp();
        body.destroy();
        reject(badResponse(origin, `the answer body is longer than ${bytesMax} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanUp();
      if (exact && length !== bytesMax) reject(badResponse(origin, `the answer body is ${length} bytes, expected ${bytesMax}`));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length));
    };
    const onError = (error: unknown): void => {
      cleanUp();
      reject(error);
    };
    // A body destroyed without an error (its request aborted) ends with neither 'end' nor 'error'.
    const onClose = (): void => {
      cleanUp();
      reject(body.errored ?? badResponse(origin, 'the answer body closed before its end'));
    };
    const cleanUp = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
  });
}

/** Consumes and drops a body, so its connection goes back to the pool. */
export async function discardBody(answer: Answer): Promise<void> {
  await answer.body.dump({ limit: ERROR_BODY_BYTES_MAX });
}

/** The ServerError for an error answer; reads (at most ERROR_BODY_BYTES_MAX of) its JSON body. */
export async function serverError(answer: Answer, origin: string): Promise<ServerError> {
  const fields = parseErrorBody(await readBody(answer, origin, ERROR_BODY_BYTES_MAX).catch(() => Buffer.alloc(0)));
  const { error: message, code: bodyCode, ...details } = fields;
  let code = typeof bodyCode === 'string' && bodyCode !== '' ? bodyCode : (CODE_BY_STATUS[answer.status] ?? `HTTP_${answer.status}`);
  // A bodiless 409 with the epoch header is the node's stale-epoch answer.
  if (answer.status === 409 && bodyCode === undefined && header(answer, EPOCH_HEADER) !== undefined) code = 'STALE_EPOCH';
  if (code === 'STALE_EPOCH' && details['epoch'] === undefined) details['epoch'] = epochOf(answer);
  const text = typeof message === 'string' && message !== '' ? message : `${origin} answered ${answer.status}`;
  if (code === 'UNAVAILABLE') return new UnavailableError(answer.status, text, origin, details);
  return new ServerError(code, answer.status, text, origin, details);
}

/** The version in an `ETag: "<version>"` header, or undefined. */
export function versionOf(answer: Answer): string | undefined {
  const etag = header(answer, 'etag');
  if (etag === undefined) return undefined;
  // String tests, not two regular expressions: this runs on every answer.
  const strong = etag.startsWith('W/') ? etag.slice(2) : etag;
  const unquoted = strong.length >= 2 && strong.startsWith('"') && strong.endsWith('"') ? strong.slice(1, -1) : strong;
  return unquoted === '' ? undefined : unquoted;
}

/** The ring epoch an answer reports in its header, or undefined. */
export function epochOf(answer: Answer): number | undefined {
  const text = header(answer, EPOCH_HEADER);
  const epoch = text === undefined ? NaN : Number(text);
  return Number.isSafeInteger(epoch) && epoch >= 0 ? epoch : undefined;
}

export function badResponse(origin: string, why: string): TransportError {
  return new TransportError('BAD_RESPONSE', `${origin}: ${why}`, origin, 'maybe');
}

function header(answer: Answer, name: string): string | undefined {
  const value = answer.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseErrorBody(bytes: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...(value as Record<string, unknown>) } : {};
  } catch {
    return {};
  }
}
