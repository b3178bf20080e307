// Errors at the HTTP boundary: JSON `{error, code, ...details}` with stable codes (DESIGN §2).
import { STATUS_CODES, type ServerResponse } from 'node:http';

export type ErrorCode =
  | 'BLOCK_SIZE'
  | 'BAD_ID'
  | 'BAD_REQUEST'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'CONFLICT'
  | 'UNAUTHORIZED'
  | 'UNAVAILABLE'
  | 'INSUFFICIENT_STORAGE'
  | 'STALE_EPOCH'
  | 'CHECKSUM_MISMATCH'
  | 'NOT_READY'
  | 'SHUTTING_DOWN'
  | 'REQUEST_TIMEOUT'
  /** A volume request its state machine refuses (e.g. delete while attached). */
  | 'INVALID_TRANSITION'
  /** The storage agent cannot reach SPDK. */
  | 'SPDK_UNREACHABLE'
  /** No storage agent answered for the volume's host. */
  | 'AGENT_UNAVAILABLE'
  | 'INTERNAL';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, error.status, { error: error.message, code: error.code, ...error.details }, { ...error.headers });
}

/**
 * The JSON error answer written straight to a socket, with `connection: close`: for the places with
 * no ServerResponse (a request the parser refused, an upgrade refused).
 */
export function rawErrorAnswer(status: number, code: string, message: string, headers: Record<string, string> = {}): string {
  const body = JSON.stringify({ error: message, code });
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  // The reason phrase is the standard one (what node:http sends); the stable code is in the body.
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`;
}
