// The receiving end of bulk transfer (DESIGN §6, transfer phase): `POST /internal/transfer` takes
// one stream (codec.ts), applies it frame by frame under last-writer-wins, and answers
// `{transferId, records, applied, lastPosition, complete, rangeDone}`. The body is read one chunk at a time
// and not read on while FRAMES_APPLYING_MAX frames are being applied, so a slow store slows the
// sender (TCP backpressure), and memory stays at a few frames. A bad or cut stream is answered with its
// typed code and the lastPosition applied durably before it, so the sender resumes from there;
// when the sender gets no answer at all, `GET /internal/transfer/{id}` tells it the same.
// Both routes need the cluster token and carry the ring epoch (an older one is answered 409).
import { checkSenderEpoch } from '../http/epoch.js';
import type { IncomingMessage } from 'node:http';
import { isEngineError } from '@ringblock/engine';
import { HttpError, sendJson, type ErrorCode } from '../http/errors.js';
import type { Route } from '../http/router.js';
import { applyRecords, type TransferSink } from './apply.js';
import { BodyReader } from './body-reader.js';
import { FRAME_PAYLOAD_BYTES_MAX, type ChecksumHasher, type StreamHeader } from './codec.js';
import { TransferDecoder, type DecodedItem } from './decoder.js';
import { TransferError, type TransferErrorCode } from './errors.js';
import { ConcurrencyLimit, systemClock, type Clock } from './limiter.js';
import { ProgressRegistry, type ProgressHandle } from './progress.js';
import { positionText, type ReceiveSummary, TRANSFER_PATTERN, TRANSFER_PROGRESS_PATTERN } from './protocol.js';

export interface ReceiveLimits {
  /** Transfers applied at once; more wait (their bodies unread: TCP holds the sender back). */
  transfersInFlightMax: number;
  /** Transfers waiting for a slot; beyond it, or after queueWaitMs, they are answered 503. */
  transfersWaitingMax: number;
  /**
   * Longest wait for a slot. Waiting beats refusing: a refused sender has already streamed frames
   * that are thrown away (bytes moved twice) and retries after a pause the slot did not need.
   */
  queueWaitMs: number;
  /** Bytes of one request body at most (the sender cuts its streams well below this). */
  requestBytesMax: number;
  /** Longest wait for the next chunk of a body. */
  idleMs: number;
  /** Longest time for one request body. */
  requestMs: number;
  /** Largest frame payload accepted. */
  framePayloadBytesMax: number;
  /** Transfer ids whose progress is remembered. */
  progressEntriesMax: number;
  /** How long a progress query waits for a still-active request of its transfer to finish. */
  progressWaitMs: number;
}

export const DEFAULT_RECEIVE_LIMITS: ReceiveLimits = {
  transfersInFlightMax: 4,
  transfersWaitingMax: 16,
  queueWaitMs: 5_000,
  requestBytesMax: 512 * 1024 * 1024,
  idleMs: 30_000,
  requestMs: 120_000,
  framePayloadBytesMax: FRAME_PAYLOAD_BYTES_MAX,
  progressEntriesMax: 1024,
  progressWaitMs: 10_000,
};

export interface ReceiveProgress {
  transferId: string;
  records: number;
  applied: number;
  lastPosition: bigint | undefined;
  bytes: number;
}

export interface TransferRouteOptions {
  /** The local store (`Engine` fits). */
  engine: TransferSink;
  hasher: ChecksumHasher;
  /** The ring epoch this node routes by. */
  epoch: () => number;
  /** A sender routes by a newer epoch than ours: re-read the ring. */
  onNewerEpoch?: (epoch: number) => void;
  /** After every applied frame. */
  onProgress?: (progress: ReceiveProgress) => void;
  /** Unexpected failures (answered 500). */
  onError?: (error: unknown) => void;
  limits?: Partial<ReceiveLimits>;
  clock?: Clock;
}

/** Status of each stream error; 422 where the bytes were damaged, 400 where they were never right. */
const STREAM_ERROR_STATUS: Partial<Record<TransferErrorCode, number>> = {
  CHECKSUM_MISMATCH: 422,
  FRAME_TOO_LARGE: 413,
  TOO_LARGE: 413,
  TIMEOUT: 408,
  BUSY: 503,
};

export function transferRoutes(options: TransferRouteOptions): Route[] {
  const limits = { ...DEFAULT_RECEIVE_LIMITS, ...options.limits };
  checkLimits(limits);
  const slots = new ConcurrencyLimit({ inFlightMax: limits.transfersInFlightMax, waitingMax: limits.transfersWaitingMax });
  const registry = new ProgressRegistry(limits.progressEntriesMax);
  const receiver = new StreamReceiver(options, limits, registry);
  return [
    {
      name: 'internal_transfer',
      pattern: TRANSFER_PATTERN,
      requiresToken: true,
      methods: {
        POST: async ({ req, res }) => {
          checkEpoch(req, options);
          const release = await acquireSlot(slots, req, limits);
          try {
            sendJson(res, 200, summaryJson(await receiver.receive(req)));
          } finally {
            release();
          }
        },
      },
    },
    {
      name: 'internal_transfer_progress',
      pattern: TRANSFER_PROGRESS_PATTERN,
      requiresToken: true,
      methods: {
        GET: async ({ req, res, params }) => {
          checkEpoch(req, options);
          const snapshot = await registry.settled(params[0]!, limits.progressWaitMs);
          if (!snapshot) throw new HttpError(404, 'NOT_FOUND', `no progress is known for transfer ${params[0]!}`);
          sendJson(res, 200, { transferId: snapshot.transferId, lastPosition: positionText(snapshot.lastPosition), active: snapshot.active });
        },
      },
    },
  ];
}

/** Frames of one stream applying at once (each at most FRAME_PAYLOAD_BYTES_MAX of memory). */
const FRAMES_APPLYING_MAX = 4;

/** A frame handed to the store, not yet confirmed. */
interface FrameApply {
  applied: Promise<number>;
  records: readonly { position: bigint }[];
  /** Body bytes read when it was decoded (progress). */
  bytes: number;
}

/** One request's state: what was applied so far is what an error answer reports. */
interface Reception extends ReceiveSummary {
  namespace: number;
  progress: ProgressHandle | undefined;
}

class StreamReceiver {
  private readonly clock: Clock;

  constructor(private readonly options: TransferRouteOptions, private readonly limits: ReceiveLimits, private readonly registry: ProgressRegistry) {
    this.clock = options.clock ?? systemClock;
  }

  async receive(req: IncomingMessage): Promise<ReceiveSummary> {
    const reader = new BodyReader(req, { bytesMax: this.limits.requestBytesMax, idleMs: this.limits.idleMs, totalMs: this.limits.requestMs });
    const decoder = new TransferDecoder(this.options.hasher, { framePayloadBytesMax: this.limits.framePayloadBytesMax });
    const reception: Reception = { transferId: '', records: 0, applied: 0, lastPosition: undefined, complete: false, rangeDone: false, namespace: 0, progress: undefined };
    const applying: FrameApply[] = [];
    try {
      for (let chunk = await reader.next(); chunk !== undefined; chunk = await reader.next()) {
        decoder.push(chunk);
        for (let item = decoder.next(); item !== undefined; item = decoder.next()) await this.handle(reception, item, reader.bytesRead, applying);
      }
      decoder.end();
      while (applying.length > 0) await this.confirmOldest(reception, applying);
      return summary(reception);
    } catch (error) {
      // Nothing may still be writing once the answer is sent: what applied in order is confirmed.
      await this.settleAll(reception, applying);
      throw this.answerFor(error, reception);
    } finally {
      reader.detach();
      reception.progress?.finish();
    }
  }

  private async handle(reception: Reception, item: DecodedItem, bytes: number, applying: FrameApply[]): Promise<void> {
    if (item.kind === 'header') return this.begin(reception, item.header);
    if (item.kind === 'trailer') {
      reception.complete = true;
      reception.rangeDone = item.trailer.rangeDone;
      return;
    }
    // Frames hold distinct ids, so several apply at once (one group commit takes them all); the
    // body is not read on while FRAMES_APPLYING_MAX are applying.
    const applied = applyRecords(this.options.engine, reception.namespace, item.records, (ms) => this.clock.sleep(ms));
    applied.catch(() => undefined);
    applying.push({ applied, records: item.records, bytes });
    if (applying.length >= FRAMES_APPLYING_MAX) await this.confirmOldest(reception, applying);
  }

  /** Only once a frame and every frame before it are durable does the confirmed position move. */
  private async confirmOldest(reception: Reception, applying: FrameApply[]): Promise<void> {
    const frame = applying[0]!;
    reception.applied += await frame.applied;
    applying.shift();
    reception.records += frame.records.length;
    reception.lastPosition = frame.records[frame.records.length - 1]!.position;
    reception.progress!.advance(reception.lastPosition);
    this.options.onProgress?.({ transferId: reception.transferId, records: reception.records, applied: reception.applied, lastPosition: reception.lastPosition, bytes: frame.bytes });
  }

  /** After a failure: waits for every frame still applying; confirms those before the first that failed. */
  private async settleAll(reception: Reception, applying: FrameApply[]): Promise<void> {
    await Promise.allSettled(applying.map((frame) => frame.applied));
    while (applying.length > 0) {
      try {
        await this.confirmOldest(reception, applying);
      } catch {
        applying.length = 0;
      }
    }
  }

  private begin(reception: Reception, header: StreamHeader): void {
    reception.transferId = header.transferId.toString('hex');
    reception.namespace = header.namespace;
    reception.lastPosition = header.resumeAfter;
    reception.progress = this.registry.begin(reception.transferId, header.resumeAfter);
    if (!reception.progress) throw new TransferError('BUSY', `transfer ${reception.transferId} is still being applied by an earlier request`);
  }

  /** The error answer, carrying what was applied durably before the failure. */
  private answerFor(error: unknown, reception: Reception): HttpError {
    const details = { ...summaryJson(summary(reception)), complete: false };
    if (error instanceof TransferError) {
      const status = STREAM_ERROR_STATUS[error.code] ?? 400;
      // The transfer codes are not in http/errors.ts's ErrorCode union; the JSON shape is the same.
      return new HttpError(status, error.code as ErrorCode, error.message, details, status === 503 ? { 'retry-after': '1' } : {});
    }
    if (isEngineError(error, 'DEVICE_FULL')) return new HttpError(507, 'INSUFFICIENT_STORAGE', error.message, details);
    this.options.onError?.(error);
    return new HttpError(500, 'INTERNAL', 'applying the transfer failed', details);
  }
}

function summary(reception: Reception): ReceiveSummary {
  const { transferId, records, applied, lastPosition, complete, rangeDone } = reception;
  return { transferId, records, applied, lastPosition, complete, rangeDone };
}

function summaryJson(summary: ReceiveSummary): Record<string, unknown> {
  return { ...summary, lastPosition: positionText(summary.lastPosition) };
}

/** Same rule as the replica routes: an older sender epoch is answered 409 with ours. */
function checkEpoch(req: IncomingMessage, options: Pick<TransferRouteOptions, 'epoch' | 'onNewerEpoch'>): void {
  checkSenderEpoch(req, options);
}

/** A slot for one transfer, waiting for it (bounded in count and time); 503 when none comes. */
async function acquireSlot(slots: ConcurrencyLimit, req: IncomingMessage, limits: ReceiveLimits): Promise<() => void> {
  const now = slots.tryAcquire();
  if (now) return now;
  const gone = new AbortController();
  const onClose = () => gone.abort(new TransferError('ABORTED', 'the sender went away while waiting for a slot'));
  req.once('close', onClose);
  try {
    return await slots.acquire(AbortSignal.any([gone.signal, AbortSignal.timeout(limits.queueWaitMs)]));
  } catch (error) {
    if (gone.signal.aborted) throw error;
    throw new HttpError(503, 'UNAVAILABLE', `${limits.transfersInFlightMax} transfers are being received already (${slots.queued} waiting)`, {}, { 'retry-after': '1' });
  } finally {
    req.off('close', onClose);
  }
}

function checkLimits(limits: ReceiveLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!(Number.isSafeInteger(value) && value > 0)) throw new TransferError('BAD_OPTION', `Receive limit ${name} must be a positive integer; got ${String(value)}.`);
  }
  if (limits.framePayloadBytesMax > FRAME_PAYLOAD_BYTES_MAX) {
    throw new TransferError('BAD_OPTION', `Receive limit framePayloadBytesMax may be at most ${FRAME_PAYLOAD_BYTES_MAX}.`);
  }
}
