// The sending end of bulk transfer: streams one ring range of the local engine (blocks with their
// data, and tombstones) to a receiver in one HTTP request whose body is produced as it is sent.
// The body is an async generator that undici pulls only as the socket drains, so the engine is
// read no faster than the receiver applies (backpressure), and every frame first waits for the
// byte-rate limiter. One request carries at most `requestBytesMax` bytes or `requestMs` of
// sending; then the stream ends with a trailer that says the range is not done, and the caller
// (TransferTask) continues after the confirmed position in a new request. Bounded requests keep
// server request timeouts, memory and what a cut connection costs small.
import { peerOrigin } from '../peer-transport.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { CorruptBlock, RangeOptions } from '@ringblock/engine';
import type { Dispatcher } from 'undici';
import { type Arc, isPosition, onArc, remainingArc } from './arc.js';
import { answerError, answeredPosition, callHeaders, fetchProgress, readAnswer, requestError, transferClient, type PeerCall } from './client.js';
import { FRAME_RECORDS_MAX, TRANSFER_ID_BYTES, TransferEncoder, type ChecksumHasher, type OutgoingRecord } from './codec.js';
import { TransferError } from './errors.js';
import { systemClock, type ByteRateLimiter, type Clock } from './limiter.js';
import { TRANSFER_PATH } from './protocol.js';

/** What the sender needs of a store; `Engine` fits. */
export interface TransferSource {
  rangeEntries(startExclusive: bigint, endInclusive: bigint, options: RangeOptions): AsyncIterable<OutgoingRecord>;
}

export const DEFAULT_BATCH_RECORDS = 64;
export const DEFAULT_REQUEST_BYTES_MAX = 64 * 1024 * 1024;
/** Below the node's default server request timeout (30 s, RINGBLOCK_REQUEST_TIMEOUT), which bounds a whole request body. */
export const DEFAULT_REQUEST_MS = 20_000;

export interface SendProgress {
  transferId: string;
  /** Records and bytes sent in this request so far (not yet confirmed). */
  records: number;
  bytes: number;
  lastSentPosition: bigint | undefined;
}

export interface SendRangeOptions extends PeerCall {
  engine: TransferSource;
  hasher: ChecksumHasher;
  /** (start, end], wrapping when start >= end; start === end is the whole ring. */
  range: Arc;
  namespace?: number;
  limiter: ByteRateLimiter;
  /** Send only what lies after this position along the range (a previous attempt's confirmed position). */
  resumeAfter?: bigint;
  /** 16 bytes naming the transfer across its requests (default: random). */
  transferId?: Buffer;
  /** Records per frame (default 64, at most 256). */
  batchRecords?: number;
  /** Bytes one request carries at most before it ends with "range not done" (default 64 MiB). */
  requestBytesMax?: number;
  /** Sending time one request takes at most before it ends likewise (default 20 s; keep it below the receiver's request timeout). */
  requestMs?: number;
  /** Default: a Client for this call, closed after it. */
  dispatcher?: Dispatcher;
  onProgress?: (progress: SendProgress) => void;
  /** Corrupt local blocks are skipped (a replica or anti-entropy repairs them) and reported here. */
  onCorrupt?: (block: CorruptBlock) => void;
  clock?: Clock;
}

/**
 * On failure sendRange throws a TransferError whose lastPosition is what the receiver confirmed
 * (from its error answer, or, when no answer came, from its progress route); retry with it as
 * resumeAfter and the same transferId.
 */
export interface SendResult {
  transferId: string;
  /** Records sent in this request (the receiver confirmed every one). */
  records: number;
  /** Records that changed the receiver's store. */
  applied: number;
  /** Bytes of the request body. */
  bytes: number;
  /** Last position the receiver holds durably: resume after it. */
  lastPosition: bigint | undefined;
  /** The range was sent to its end. */
  rangeDone: boolean;
  corruptSkipped: number;
}

/** Counters the body generator keeps, read after the request. */
interface BodyState {
  records: number;
  bytes: number;
  lastSentPosition: bigint | undefined;
  corruptSkipped: number;
  sourceError: unknown;
}

export async function sendRange(options: SendRangeOptions): Promise<SendResult> {
  checkSendOptions(options);
  const transferId = options.transferId ?? randomBytes(TRANSFER_ID_BYTES);
  const state: BodyState = { records: 0, bytes: 0, lastSentPosition: undefined, corruptSkipped: 0, sourceError: undefined };
  // Stops the body generator once the request is over, whichever way it ended.
  const bodyStop = new AbortController();
  const stopOnAbort = () => bodyStop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', stopOnAbort, { once: true });
  // One chunk at a time (highWaterMark 1 byte): nothing is read from the engine or taken from the
  // limiter before the socket can take it.
  const body = Readable.from(streamBody(options, transferId, state, bodyStop.signal), { objectMode: false, highWaterMark: 1 });
  const dispatcher = options.dispatcher ?? transferClient(options);
  try {
    const response = await dispatcher.request({
      origin: peerOrigin(options.transport, options.to),
      method: 'POST',
      path: TRANSFER_PATH,
      headers: { ...callHeaders(options), 'content-type': 'application/octet-stream' },
      body,
      signal: options.signal,
    });
    const answer = await readAnswer(response);
    if (response.statusCode !== 200) throw answerError(response.statusCode, answer, options.range);
    return confirmedResult(answer, options, state);
  } catch (error) {
    if (state.sourceError !== undefined && !options.signal?.aborted) {
      throw new TransferError('SOURCE_FAILED', `reading the local range failed: ${(state.sourceError as Error).message}`, { cause: state.sourceError });
    }
    const failure = requestError(error, options.signal);
    if (failure.lastPosition !== undefined || !failure.retryable) throw failure;
    // No answer (a cut connection): ask the receiver what became durable before the cut.
    throw failure.withLastPosition(await fetchProgress(dispatcher, options, transferId.toString('hex'), options.range));
  } finally {
    options.signal?.removeEventListener('abort', stopOnAbort);
    bodyStop.abort();
    body.destroy();
    if (!options.dispatcher) await dispatcher.destroy();
  }
}

/** The header, frames of up to batchRecords records, the trailer; each piece paced by the limiter. */
async function* streamBody(options: SendRangeOptions, transferId: Buffer, state: BodyState, stop: AbortSignal): AsyncGenerator<Buffer> {
  const { range, limiter } = options;
  const namespace = options.namespace ?? 0;
  const clock = options.clock ?? systemClock;
  const batchRecords = options.batchRecords ?? DEFAULT_BATCH_RECORDS;
  const requestBytesMax = options.requestBytesMax ?? DEFAULT_REQUEST_BYTES_MAX;
  const deadlineMs = clock.nowMs() + (options.requestMs ?? DEFAULT_REQUEST_MS);
  const header = { namespace, start: range.start, end: range.end, transferId, ...(options.resumeAfter === undefined ? {} : { resumeAfter: options.resumeAfter }) };
  const encoder = new TransferEncoder(options.hasher, header);
  const paced = async (bytes: Buffer): Promise<Buffer> => {
    await limiter.take(bytes.length, stop);
    state.bytes += bytes.length;
    return bytes;
  };
  yield await paced(encoder.headerBytes);
  const rest = remainingArc(range, options.resumeAfter);
  let rangeDone = true;
  if (rest !== undefined) {
    const onCorrupt = (block: CorruptBlock) => {
      state.corruptSkipped++;
      options.onCorrupt?.(block);
    };
    const entries = options.engine.rangeEntries(rest.start, rest.end, { withData: true, namespace, onCorrupt });
    let batch: OutgoingRecord[] = [];
    const flush = async (): Promise<Buffer> => {
      const frame = encoder.frame(batch);
      state.records += batch.length;
      state.lastSentPosition = batch[batch.length - 1]!.position;
      batch = [];
      return paced(frame);
    };
    try {
      for await (const record of entries) {
        stop.throwIfAborted();
        batch.push(record);
        if (batch.length < batchRecords) continue;
        yield await flush();
        options.onProgress?.({ transferId: transferId.toString('hex'), records: state.records, bytes: state.bytes, lastSentPosition: state.lastSentPosition });
        if (state.bytes >= requestBytesMax || clock.nowMs() >= deadlineMs) {
          rangeDone = false;
          break;
        }
      }
    } catch (error) {
      if (!stop.aborted) state.sourceError = error;
      throw error;
    }
    if (batch.length > 0) yield await flush();
  }
  yield await paced(encoder.trailer(rangeDone));
}

/** The 200 answer, checked against what was sent: the receiver confirms exactly the records sent. */
function confirmedResult(answer: Record<string, unknown>, options: SendRangeOptions, state: BodyState): SendResult {
  const lastPosition = answeredPosition(answer, options.range);
  const records = Number(answer['records']);
  const applied = Number(answer['applied']);
  if (answer['complete'] !== true || records !== state.records || lastPosition !== (state.lastSentPosition ?? options.resumeAfter)) {
    throw new TransferError('REFUSED', `the receiver confirmed ${records} records up to ${String(lastPosition)}; ${state.records} up to ${String(state.lastSentPosition)} were sent`, {
      status: 200,
      lastPosition,
    });
  }
  assert.ok(Number.isSafeInteger(applied) && applied >= 0 && applied <= records, 'applied counts a subset of the records');
  return {
    transferId: String(answer['transferId']),
    records,
    applied,
    bytes: state.bytes,
    lastPosition,
    rangeDone: answer['rangeDone'] === true,
    corruptSkipped: state.corruptSkipped,
  };
}

function checkSendOptions(options: SendRangeOptions): void {
  const bad = (message: string) => new TransferError('BAD_OPTION', message);
  if (!isPosition(options.range.start) || !isPosition(options.range.end)) throw bad('The range start and end must be unsigned 64-bit bigints.');
  if (options.resumeAfter !== undefined && !(isPosition(options.resumeAfter) && onArc(options.range, options.resumeAfter))) {
    throw bad('Option resumeAfter must be a position on the range.');
  }
  if (options.transferId !== undefined && options.transferId.length !== TRANSFER_ID_BYTES) throw bad(`Option transferId must have ${TRANSFER_ID_BYTES} bytes.`);
  const namespace = options.namespace ?? 0;
  if (!Number.isInteger(namespace) || namespace < 0 || namespace > 255) throw bad('Option namespace must be an integer from 0 to 255.');
  const batchRecords = options.batchRecords ?? DEFAULT_BATCH_RECORDS;
  if (!Number.isInteger(batchRecords) || batchRecords < 1 || batchRecords > FRAME_RECORDS_MAX) throw bad(`Option batchRecords must be an integer from 1 to ${FRAME_RECORDS_MAX}.`);
  for (const name of ['requestBytesMax', 'requestMs', 'stallTimeoutMs'] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) throw bad(`Option ${name} must be a positive integer.`);
  }
}
