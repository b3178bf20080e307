// A small JSON request body (admin and internal POSTs): bounded in bytes and time, parsed strictly.
import type { IncomingMessage } from 'node:http';
import { BodyReader } from '../transfer/body-reader.js';
import { isTransferError } from '../transfer/errors.js';
import { HttpError } from './errors.js';

export async function readJsonBody(req: IncomingMessage, limits: { bytesMax: number; timeoutMs: number; what: string; emptyIsObject?: boolean }): Promise<unknown> {
  const reader = new BodyReader(req, { bytesMax: limits.bytesMax, idleMs: limits.timeoutMs, totalMs: limits.timeoutMs });
  const chunks: Buffer[] = [];
  try {
    for (let chunk = await reader.next(); chunk !== undefined; chunk = await reader.next()) chunks.push(chunk);
  } catch (error) {
    if (isTransferError(error, 'TOO_LARGE')) throw new HttpError(413, 'BAD_REQUEST', `${limits.what} body has at most ${limits.bytesMax} bytes`, {}, { connection: 'close' });
    if (isTransferError(error, 'TIMEOUT')) throw new HttpError(408, 'REQUEST_TIMEOUT', error.message);
    if (isTransferError(error, 'UNREACHABLE')) throw new HttpError(400, 'BAD_REQUEST', 'the client closed the connection before the body was complete');
    throw error;
  } finally {
    reader.detach();
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (limits.emptyIsObject && text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', 'the body is not JSON');
  }
}
