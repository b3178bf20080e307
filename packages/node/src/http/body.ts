// Reads a block body of exactly `size` bytes without ever buffering more: a declared Content-Length
// above the size is refused before a byte is read, a streamed body is refused as soon as byte
// size+1 arrives, and in both cases the connection is closed rather than drained, so memory does
// not grow with what a client sends.
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

export async function readExactBody(req: IncomingMessage, size: number, timeoutMs: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    const length = Number(declared);
    // Digits beyond 2^53 are still a byte count, and a longer one than a block (DESIGN §2: 413).
    if (/^\d+$/.test(declared) && length > size) throw tooLarge(size, `a Content-Length of ${declared}`);
    if (!Number.isSafeInteger(length) || length < 0) throw new HttpError(400, 'BAD_REQUEST', `Content-Length "${declared}" is not a byte count`);
    if (length < size) throw tooSmall(size, length);
  }
  const body = Buffer.allocUnsafe(size);
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new HttpError(408, 'REQUEST_TIMEOUT', `the body did not arrive within ${timeoutMs} ms`)), timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const fail = (error: Error) => {
      cleanup();
      req.pause();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      if (received + chunk.length > size) return fail(tooLarge(size, 'more bytes'));
      chunk.copy(body, received);
      received += chunk.length;
    };
    const onEnd = () => {
      cleanup();
      if (received < size) reject(tooSmall(size, received));
      else resolve();
    };
    const onError = () => fail(gone());
    const onAborted = () => fail(gone());
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
  return body;
}

/** The client closed the connection (or broke its framing) before the body was complete: nobody hears this answer. */
function gone(): HttpError {
  return new HttpError(400, 'BAD_REQUEST', 'the client closed the connection before the body was complete');
}

export function tooLarge(size: number, what: string): HttpError {
  return new HttpError(413, 'BLOCK_SIZE', `a block is exactly ${size} bytes; the request sent ${what}`, { expected: size }, { connection: 'close' });
}

function tooSmall(size: number, received: number): HttpError {
  return new HttpError(400, 'BLOCK_SIZE', `a block is exactly ${size} bytes; the request sent ${received}`, { expected: size, received });
}
