// Reads a request body one chunk at a time, on demand: the request stays paused between reads, so
// a receiver that applies what it read before asking for more pushes back on the sender through
// TCP. Bounded in bytes, in idle time between chunks and in total time. It never destroys the
// request: after an error the server still answers (and drains) on the same connection.
import type { IncomingMessage } from 'node:http';
import { TransferError } from './errors.js';

export interface BodyLimits {
  bytesMax: number;
  /** Longest wait for the next chunk. */
  idleMs: number;
  /** Longest time for the whole body. */
  totalMs: number;
}

export class BodyReader {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private failure: TransferError | undefined;
  private wake: (() => void) | undefined;
  private bytes = 0;
  private readonly deadlineMs: number;

  constructor(private readonly req: IncomingMessage, private readonly limits: BodyLimits) {
    this.deadlineMs = performance.now() + limits.totalMs;
    req.on('data', this.onData);
    req.on('end', this.onEnd);
    req.on('error', this.onError);
    req.on('close', this.onClose);
    req.pause();
  }

  get bytesRead(): number {
    return this.bytes;
  }

  /** The next chunk, or undefined at the end of the body. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) return chunk;
      if (this.failure) throw this.failure;
      if (this.ended) return undefined;
      await this.waitForEvent();
    }
  }

  /** Stops listening (the server's own error handling may drain the rest). */
  detach(): void {
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    this.req.off('error', this.onError);
    this.req.off('close', this.onClose);
    this.wake = undefined;
  }

  private readonly onEnd = (): void => this.settle(() => (this.ended = true));

  private readonly onError = (error: Error): void => this.settle(() => (this.failure ??= gone(error)));

  private readonly onClose = (): void => this.settle(() => {
    if (!this.req.complete) this.failure ??= gone(undefined);
  });

  private readonly onData = (chunk: Buffer): void => {
    this.bytes += chunk.length;
    this.req.pause();
    if (this.bytes > this.limits.bytesMax) {
      this.settle(() => (this.failure ??= new TransferError('TOO_LARGE', `the transfer body exceeds ${this.limits.bytesMax} bytes`)));
      return;
    }
    this.settle(() => this.chunks.push(chunk));
  };

  private settle(change: () => void): void {
    change();
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async waitForEvent(): Promise<void> {
    const waitMs = Math.min(this.limits.idleMs, this.deadlineMs - performance.now());
    if (waitMs <= 0) throw this.timeout();
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        timer = setTimeout(() => {
          this.failure ??= this.timeout();
          resolve();
        }, waitMs);
        this.req.resume();
      });
    } finally {
      clearTimeout(timer);
      this.wake = undefined;
    }
  }

  private timeout(): TransferError {
    return new TransferError('TIMEOUT', `the transfer body did not arrive in time (idle bound ${this.limits.idleMs} ms, total ${this.limits.totalMs} ms)`);
  }
}

function gone(cause: Error | undefined): TransferError {
  return new TransferError('UNREACHABLE', 'the sender went away before the body ended', cause === undefined ? {} : { cause });
}
