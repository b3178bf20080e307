// A whole range to one receiver, to the end: request after request (each bounded, see sender.ts),
// each resuming after the position the receiver confirmed, with bounded retries and exponential
// backoff on failures that may be transient. All requests carry one transfer id, so after a cut
// connection the receiver can say what became durable (see sendRange), and a retry resends only
// the frames that did not. Failures are counted since the last confirmed progress;
// progress is finite (a range has finitely many positions), so the loop ends.
import { randomBytes } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { furthest } from './arc.js';
import { requestError, transferClient } from './client.js';
import { TRANSFER_ID_BYTES } from './codec.js';
import { TransferError } from './errors.js';
import { systemClock, type Clock, type ConcurrencyLimit } from './limiter.js';
import { sendRange, type SendRangeOptions } from './sender.js';

export const DEFAULT_ATTEMPTS_MAX = 5;
export const DEFAULT_BACKOFF_MS_INITIAL = 200;
export const DEFAULT_BACKOFF_MS_MAX = 10_000;

/**
 * sendRange's options, where `transferId` names every request of the task (default: random) and
 * `onProgress` counts cumulatively over the task's requests.
 */
export interface TransferTaskOptions extends SendRangeOptions {
  /** Failed requests in a row (without progress in between) before giving up (default 5). */
  attemptsMax?: number;
  backoffMsInitial?: number;
  backoffMsMax?: number;
  /** Bounds this node's transfers in flight; the task holds a slot while it runs. */
  slots?: ConcurrencyLimit;
}

export interface TransferTaskResult {
  transferId: string;
  records: number;
  applied: number;
  /** Body bytes of every request, failed ones included. */
  bytes: number;
  lastPosition: bigint | undefined;
  requests: number;
  failures: number;
  corruptSkipped: number;
}

export class TransferTask {
  readonly transferId: Buffer;
  private readonly clock: Clock;
  private readonly attemptsMax: number;
  private readonly totals: TransferTaskResult;
  private resumeAfter: bigint | undefined;
  /** Bytes of the request in flight, as its progress reports them (a failed request has no result). */
  private requestBytes = 0;

  constructor(private readonly options: TransferTaskOptions) {
    this.transferId = options.transferId ?? randomBytes(TRANSFER_ID_BYTES);
    this.clock = options.clock ?? systemClock;
    this.attemptsMax = options.attemptsMax ?? DEFAULT_ATTEMPTS_MAX;
    if (!(Number.isInteger(this.attemptsMax) && this.attemptsMax >= 1 && this.attemptsMax <= 100)) {
      throw new TransferError('BAD_OPTION', 'Option attemptsMax must be an integer from 1 to 100.');
    }
    this.resumeAfter = options.resumeAfter;
    this.totals = { transferId: this.transferId.toString('hex'), records: 0, applied: 0, bytes: 0, lastPosition: options.resumeAfter, requests: 0, failures: 0, corruptSkipped: 0 };
  }

  /** Runs to the end of the range; throws the last TransferError (with lastPosition) when it gives up. */
  async run(): Promise<TransferTaskResult> {
    const release = await this.options.slots?.acquire(this.options.signal);
    const dispatcher = this.options.dispatcher ?? transferClient(this.options);
    try {
      return await this.loop(dispatcher);
    } finally {
      if (!this.options.dispatcher) await dispatcher.destroy();
      release?.();
    }
  }

  private async loop(dispatcher: Dispatcher): Promise<TransferTaskResult> {
    let failuresInRow = 0;
    for (;;) {
      try {
        if (await this.sendOnce(dispatcher)) return { ...this.totals };
        failuresInRow = 0;
      } catch (error) {
        const failure = requestError(error, this.options.signal);
        this.totals.failures++;
        failuresInRow++;
        const before = this.resumeAfter;
        this.advance(failure.lastPosition);
        // A failed request that still made progress does not count against the bound.
        if (this.resumeAfter !== before) failuresInRow = 0;
        if (!failure.retryable || failuresInRow >= this.attemptsMax) throw this.givingUp(failure);
        await this.clock.sleep(this.backoffMs(Math.max(1, failuresInRow)), this.options.signal).catch((reason: unknown) => {
          throw requestError(reason, this.options.signal);
        });
      }
    }
  }

  /** One request; true when the range is done. */
  private async sendOnce(dispatcher: Dispatcher): Promise<boolean> {
    this.requestBytes = 0;
    this.totals.requests++;
    try {
      const result = await sendRange({
        ...this.options,
        dispatcher,
        transferId: this.transferId,
        resumeAfter: this.resumeAfter,
        onProgress: (progress) => {
          this.requestBytes = progress.bytes;
          this.options.onProgress?.({ ...progress, records: this.totals.records + progress.records, bytes: this.totals.bytes + progress.bytes });
        },
      });
      this.requestBytes = result.bytes;
      this.totals.records += result.records;
      this.totals.applied += result.applied;
      this.totals.corruptSkipped += result.corruptSkipped;
      const before = this.resumeAfter;
      this.advance(result.lastPosition);
      if (!result.rangeDone && this.resumeAfter === before) {
        throw new TransferError('REFUSED', 'a request ended without the range done and without progress', { status: 200 });
      }
      return result.rangeDone;
    } finally {
      this.totals.bytes += this.requestBytes;
    }
  }

  /** Moves the resume point forward along the range (never back). */
  private advance(position: bigint | undefined): void {
    this.resumeAfter = furthest(this.options.range, this.resumeAfter, position);
    this.totals.lastPosition = this.resumeAfter;
  }

  private backoffMs(failuresInRow: number): number {
    const initialMs = this.options.backoffMsInitial ?? DEFAULT_BACKOFF_MS_INITIAL;
    const maxMs = this.options.backoffMsMax ?? DEFAULT_BACKOFF_MS_MAX;
    return Math.min(maxMs, initialMs * 2 ** (failuresInRow - 1));
  }

  private givingUp(failure: TransferError): TransferError {
    const lastPosition = this.resumeAfter;
    const { status, remoteCode, epoch } = failure;
    const message = `${failure.message} (gave up after ${this.totals.failures} failed requests; confirmed up to ${String(lastPosition)})`;
    return new TransferError(failure.code, message, { lastPosition, status, remoteCode, epoch, cause: failure });
  }
}
