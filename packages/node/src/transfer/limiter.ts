// Limits on bulk transfer, so migration and repair never starve client traffic: a token bucket
// that bounds the byte rate (with a burst), and a bound on transfers in flight. Time is injected
// (a clock and a sleep), so tests drive both deterministically.
import assert from 'node:assert/strict';
import { setTimeout as sleepTimer } from 'node:timers/promises';
import { TransferError } from './errors.js';

export interface Clock {
  /** Milliseconds on a monotonic clock. */
  nowMs(): number;
  /** Resolves after `ms` (rejects when `signal` aborts). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  nowMs: () => performance.now(),
  sleep: (ms, signal) => sleepTimer(ms, undefined, signal === undefined ? undefined : { signal }),
};

export interface ByteRateOptions {
  bytesPerSecond: number;
  /** Bytes that may go at once after a quiet period; also the bucket's starting content. */
  burstBytes: number;
  clock?: Clock;
}

/**
 * A token bucket with debt: take(n) reserves n bytes at once (the balance may go negative) and
 * waits until the refill has paid the debt back. Reservations are served in arrival order, every
 * caller waits for exactly its share, and over any interval of t seconds at most
 * burstBytes + bytesPerSecond × t bytes are granted (plus one take larger than the burst).
 */
export class ByteRateLimiter {
  private bytesPerSecond: number;
  private burstBytes: number;
  private readonly clock: Clock;
  private balanceBytes: number;
  private updatedMs: number;

  constructor(options: ByteRateOptions) {
    checkPositive('bytesPerSecond', options.bytesPerSecond);
    checkPositive('burstBytes', options.burstBytes);
    this.bytesPerSecond = options.bytesPerSecond;
    this.burstBytes = options.burstBytes;
    this.clock = options.clock ?? systemClock;
    this.balanceBytes = options.burstBytes;
    this.updatedMs = this.clock.nowMs();
  }

  get rate(): number {
    return this.bytesPerSecond;
  }

  get burst(): number {
    return this.burstBytes;
  }

  /**
   * Changes the rate (and the burst, when given) from now on: the adaptive pacer does. What accrued
   * so far accrued at the old rate, but never beyond the new burst: a bucket filled at a fast rate
   * must not pour out at once after a slow-down (a 16 MiB burst sized for 64 MiB/s let the first
   * 16 MiB of every paced migration go unpaced). Reservations already waiting keep their wait.
   */
  setRate(bytesPerSecond: number, burstBytes = this.burstBytes): void {
    checkPositive('bytesPerSecond', bytesPerSecond);
    checkPositive('burstBytes', burstBytes);
    const nowMs = this.clock.nowMs();
    this.burstBytes = burstBytes;
    this.balanceBytes = Math.min(this.burstBytes, this.balanceBytes + ((nowMs - this.updatedMs) * this.bytesPerSecond) / 1000);
    this.updatedMs = nowMs;
    this.bytesPerSecond = bytesPerSecond;
  }

  /** Waits until `bytes` may be sent. An abort while waiting keeps the reservation (the rate stays honest). */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    assert.ok(Number.isFinite(bytes) && bytes >= 0, 'take a non-negative byte count');
    signal?.throwIfAborted();
    const nowMs = this.clock.nowMs();
    this.balanceBytes = Math.min(this.burstBytes, this.balanceBytes + ((nowMs - this.updatedMs) * this.bytesPerSecond) / 1000);
    this.updatedMs = nowMs;
    this.balanceBytes -= bytes;
    assert.ok(this.balanceBytes <= this.burstBytes);
    if (this.balanceBytes >= 0) return;
    await this.clock.sleep((-this.balanceBytes * 1000) / this.bytesPerSecond, signal);
  }
}

export interface ConcurrencyOptions {
  /** Transfers in flight at most. */
  inFlightMax: number;
  /** Callers waiting for a slot at most; more are refused with BUSY. */
  waitingMax: number;
}

/** A bound on transfers in flight, with a bounded queue of waiters served in order. */
export class ConcurrencyLimit {
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly options: ConcurrencyOptions) {
    checkPositive('inFlightMax', options.inFlightMax);
    assert.ok(Number.isInteger(options.waitingMax) && options.waitingMax >= 0, 'waitingMax is a count');
  }

  get active(): number {
    return this.inFlight;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** A slot now, or undefined when all are taken (for a server that answers 503 instead of queueing). */
  tryAcquire(): (() => void) | undefined {
    if (this.inFlight >= this.options.inFlightMax) return undefined;
    this.inFlight++;
    return this.releaser();
  }

  /** Waits for a slot; throws BUSY when the queue is full, the signal's reason when aborted. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    const now = this.tryAcquire();
    if (now) return now;
    if (this.waiting.length >= this.options.waitingMax) {
      throw new TransferError('BUSY', `${this.inFlight} transfers in flight and ${this.waiting.length} waiting (the bounds)`);
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiting.indexOf(grant);
        if (at !== -1) this.waiting.splice(at, 1);
        reject(signal!.reason);
      };
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return this.releaser();
  }

  /** Runs `task` holding a slot. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await task();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      assert.ok(!released, 'a slot is released once');
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter: inFlight stays the same.
      if (next) next();
      else this.inFlight--;
      assert.ok(this.inFlight >= 0 && this.inFlight <= this.options.inFlightMax);
    };
  }
}

function checkPositive(name: string, value: number): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new TransferError('BAD_OPTION', `Option ${name} must be a positive number; got ${String(value)}.`);
  }
}
