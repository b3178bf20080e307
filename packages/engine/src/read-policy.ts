// Where a device read runs: inline on the calling thread, or on libuv's thread pool. Without
// O_DIRECT most reads are copies out of the page cache (a few microseconds), and a thread-pool
// round trip costs several times that in CPU (measured on a range scan of 16k records: 16.5 µs of
// CPU per header read through the pool, 4.6 µs inline). But a read that misses the page cache waits
// for the disk, and inline that wait blocks the event loop. So reads run inline until one is slow
// (it went to the disk), then the next ones go to the pool for a while, then inline is tried again:
// at most one blocking miss per `asyncAfterSlow` reads when nothing is cached.
import { assert } from './errors.js';

/** A read slower than this went to the disk: a page-cache copy of 128 KiB takes tens of microseconds. */
export const SLOW_INLINE_READ_NS_DEFAULT = 250_000;
/** Reads sent to the thread pool after a slow inline read, before inline reads are tried again. */
export const ASYNC_READS_AFTER_SLOW_DEFAULT = 1024;

export interface ReadPolicyCounts {
  inline: number;
  async: number;
  /** Inline reads that took longer than the slow threshold (each switched reads to the pool). */
  slowInline: number;
}

export class InlineReadPolicy {
  private asyncLeft = 0;
  readonly counts: ReadPolicyCounts = { inline: 0, async: 0, slowInline: 0 };

  constructor(
    private readonly slowNs = SLOW_INLINE_READ_NS_DEFAULT,
    private readonly asyncAfterSlow = ASYNC_READS_AFTER_SLOW_DEFAULT,
  ) {
    assert(slowNs > 0 && Number.isInteger(asyncAfterSlow) && asyncAfterSlow >= 0, 'read policy limits must be positive');
  }

  /** True when the next read runs inline; false sends it to the thread pool (and counts it). */
  nextInline(): boolean {
    if (this.asyncLeft === 0) return true;
    this.asyncLeft--;
    this.counts.async++;
    return false;
  }

  /** An inline read finished after `durationNs`. */
  inlineDone(durationNs: number): void {
    this.counts.inline++;
    if (durationNs > this.slowNs) {
      this.counts.slowInline++;
      this.asyncLeft = this.asyncAfterSlow;
    }
  }
}
