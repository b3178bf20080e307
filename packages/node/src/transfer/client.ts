// The sender's side of the HTTP exchange: one undici Client per transfer (a bulk stream is one
// long request; it should not queue behind or block the replica pools), bounded timeouts, every
// answer read with a byte bound or destroyed, and answers turned into TransferErrors.
import { Client, errors as undiciErrors, type Dispatcher } from 'undici';
import { HEADER_EPOCH } from '../peers.js';
import { peerConnectOptions, peerOrigin, type PeerTransport } from '../peer-transport.js';
import type { Arc } from './arc.js';
import { onArc } from './arc.js';
import { TransferError, type TransferErrorCode } from './errors.js';
import { parsePosition, progressPath } from './protocol.js';

/** An answer larger than this is not a transfer answer. */
const ANSWER_BYTES_MAX = 64 * 1024;

/** Stream codes a receiver answers with; the sender keeps them (other codes become REFUSED). */
const REMOTE_STREAM_CODES: ReadonlySet<string> = new Set<TransferErrorCode>([
  'BAD_MAGIC', 'UNSUPPORTED_VERSION', 'CHECKSUM_MISMATCH', 'TRUNCATED', 'FRAME_TOO_LARGE', 'BAD_FRAME', 'BAD_RECORD', 'TOO_LARGE', 'TIMEOUT', 'BUSY',
]);

export interface PeerCall {
  /** host:port of the receiver. */
  to: string;
  /** Plain or TLS (the cluster's); plain when unset. */
  transport?: PeerTransport | undefined;
  token: string;
  /** The ring epoch this node routes by. */
  epoch: number | (() => number);
  signal?: AbortSignal;
  /** Longest silence from the receiver: a connect, a stalled upload, an answer (default 60 s). */
  stallTimeoutMs?: number;
}

export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

export function transferClient(call: Pick<PeerCall, 'to' | 'stallTimeoutMs' | 'transport'>): Client {
  const timeoutMs = call.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  return new Client(peerOrigin(call.transport, call.to), {
    ...peerConnectOptions(call.transport),
    connectTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    // Shorter than the server's keep-alive, so a socket is never reused as the peer closes it.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 8_000,
    pipelining: 1,
  });
}

export function callHeaders(call: PeerCall): Record<string, string> {
  const epoch = typeof call.epoch === 'function' ? call.epoch() : call.epoch;
  return { authorization: `Bearer ${call.token}`, [HEADER_EPOCH]: String(epoch) };
}

/** The JSON answer (bounded), or a REFUSED error when it is not JSON of sane size. */
export async function readAnswer(response: Dispatcher.ResponseData): Promise<Record<string, unknown>> {
  return (await readSizedAnswer(response)).answer;
}

/** readAnswer, with the answer's size in bytes (for counting what a protocol exchanges). */
export async function readSizedAnswer(response: Dispatcher.ResponseData): Promise<{ answer: Record<string, unknown>; bytes: number }> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > ANSWER_BYTES_MAX) {
      response.body.destroy();
      throw new TransferError('REFUSED', `the receiver's answer exceeds ${ANSWER_BYTES_MAX} bytes`, { status: response.statusCode });
    }
    chunks.push(chunk);
  }
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { answer: value as Record<string, unknown>, bytes };
  } catch {
    // Reported below.
  }
  throw new TransferError('REFUSED', `the receiver answered ${response.statusCode} without a JSON object`, { status: response.statusCode });
}

/** The confirmed position in an answer, checked to lie on the range. */
export function answeredPosition(answer: Record<string, unknown>, range: Arc): bigint | undefined {
  const position = parsePosition(answer['lastPosition']);
  if (position === 'invalid' || (position !== undefined && !onArc(range, position))) {
    throw new TransferError('REFUSED', `the receiver answered a lastPosition that is not on the range: ${String(answer['lastPosition'])}`);
  }
  return position;
}

/** A non-200 answer as a TransferError, with what the receiver confirmed. */
export function answerError(status: number, answer: Record<string, unknown>, range: Arc): TransferError {
  const remoteCode = typeof answer['code'] === 'string' ? answer['code'] : undefined;
  const message = `the receiver answered ${status}${remoteCode ? ` ${remoteCode}` : ''}: ${String(answer['error'] ?? '')}`;
  const details = { status, remoteCode, lastPosition: answeredPosition(answer, range) };
  if (status === 401) return new TransferError('UNAUTHORIZED', message, details);
  if (status === 409) return new TransferError('STALE_EPOCH', message, { ...details, epoch: Number(answer['epoch']) });
  if (remoteCode !== undefined && REMOTE_STREAM_CODES.has(remoteCode)) return new TransferError(remoteCode as TransferErrorCode, message, details);
  return new TransferError('REFUSED', message, details);
}

/** A failed request as a TransferError: aborted by the caller, or the connection failed. */
export function requestError(error: unknown, signal: AbortSignal | undefined): TransferError {
  if (error instanceof TransferError) return error;
  if (signal?.aborted) return new TransferError('ABORTED', 'the transfer was aborted', { cause: signal.reason });
  const timeout = error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError || error instanceof undiciErrors.ConnectTimeoutError;
  return new TransferError('UNREACHABLE', `${timeout ? 'timed out' : 'connection failed'}: ${(error as Error).message}`, { cause: error });
}

/**
 * What the receiver holds durably for a transfer (it waits until no request of it is active), or
 * undefined when it does not know the transfer or cannot say.
 */
export async function fetchProgress(dispatcher: Dispatcher, call: PeerCall, transferIdHex: string, range: Arc): Promise<bigint | undefined> {
  try {
    const response = await dispatcher.request({ origin: peerOrigin(call.transport, call.to), method: 'GET', path: progressPath(transferIdHex), headers: callHeaders(call), signal: call.signal });
    const answer = await readAnswer(response);
    return response.statusCode === 200 ? answeredPosition(answer, range) : undefined;
  } catch {
    return undefined;
  }
}
