// Where a device read runs: inline on the calling thread, or on libuv's thread pool. Without
// O_DIRECT most reads are copies out of the page cache (a few microseconds), and a thread-pool
// round trip costs several times that in CPU (measured on a range scan of 16k records: 16.5 µs of
// CPU per header read through the pool, 4.6 µs inline). But a read that misses the page cache waits
// for the disk, and inline that wait blocks the event loop. So reads run inline until several of a
// window are slow (they went to the disk), then the next ones go to the pool for a while, then
// inline is tried again: at most `slowPerWindow` blocking misses per `asyncAfterSlow` reads when
// nothing is cached. One slow read is not enough: the time is wall-clock time, and a process
// preempted during a page-cache copy (busy cores) looks slow too.
import { assert } from './errors.js';

/** A read slower than this went to the disk: a page-cache copy of 128 KiB takes tens of microseconds. */
export const SLOW_INLINE_READ_NS_DEFAULT = 250_000;
/** Reads sent to the thread pool after a window of slow inline reads, before inline reads are tried again. */
export const ASYNC_READS_AFTER_SLOW_DEFAULT = 1024;
/** Slow inline reads within one window of READ_WINDOW inline reads that send reads to the pool. */
export const SLOW_READS_PER_WINDOW_DEFAULT = 8;
const READ_WINDOW = 64;

export interface ReadPolicyCounts {
  inline: number;
  async: number;
  /** Inline reads that took longer than the slow threshold. */
  slowInline: number;
  /** Times reads were sent to the pool (a window held `slowPerWindow` slow reads). */
  switches: number;
}

export class InlineReadPolicy {
  private asyncLeft = 0;
  private windowReads = 0;
  private windowSlow = 0;
  readonly counts: ReadPolicyCounts = { inline: 0, async: 0, slowInline: 0, switches: 0 };

  constructor(
    private readonly slowNs = SLOW_INLINE_READ_NS_DEFAULT,
    private readonly asyncAfterSlow = ASYNC_READS_AFTER_SLOW_DEFAULT,
    private readonly slowPerWindow = SLOW_READS_PER_WINDOW_DEFAULT,
  ) {
    assert(slowNs > 0 && Number.isInteger(asyncAfterSlow) && asyncAfterSlow >= 0, 'read policy limits must be positive');
    assert(Number.isInteger(slowPerWindow) && slowPerWindow >= 1 && slowPerWindow <= READ_WINDOW, `slow reads per window must be 1..${READ_WINDOW}`);
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
    if (++this.windowReads > READ_WINDOW) {
      this.windowReads = 1;
      this.windowSlow = 0;
    }
    if (durationNs <= this.slowNs) return;
    this.counts.slowInline++;
    if (++this.windowSlow < this.slowPerWindow) return;
    this.counts.switches++;
    this.asyncLeft = this.asyncAfterSlow;
    this.windowReads = 0;
    this.windowSlow = 0;
  }
}
