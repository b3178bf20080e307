// Adaptive pacing of bulk transfers: a byte-rate limit alone does not protect client latency when the
// bottleneck is CPU (on a small machine the default 64 MiB/s never binds, and a migration still
// multiplied client p99 by 4–6). The pacer watches this process's event-loop delay, the time work
// waits for the CPU here, and sets the transfer rate by AIMD, TCP-style: halve it when the window's
// p99 delay is above the target, grow it by a step when it is well below, up to the configured rate.
// Pure: the runner feeds it one delay figure per window and applies the rate it returns.
import assert from 'node:assert/strict';

export interface PacerOptions {
  /** The configured rate: the ceiling. */
  maxBytesPerSecond: number;
  /** The floor, so a transfer always ends. */
  minBytesPerSecond: number;
  /** Event-loop delay p99 (ms) above which the rate is halved. */
  targetDelayMs: number;
  /** Added per window while the delay is below half the target (default: a tenth of the ceiling). */
  stepBytesPerSecond?: number;
}

export class AdaptivePacer {
  private rateValue: number;
  private readonly step: number;

  constructor(private readonly options: PacerOptions) {
    assert.ok(options.minBytesPerSecond > 0 && options.minBytesPerSecond <= options.maxBytesPerSecond, 'a floor within the ceiling');
    assert.ok(options.targetDelayMs > 0, 'a positive delay target');
    this.step = options.stepBytesPerSecond ?? options.maxBytesPerSecond / 10;
    // Start low and probe up: a migration starting on a busy node should not hit it at full rate
    // (from a quarter, the first second of a 3 → 4 migration on 2 cores still tripled client p99).
    this.rateValue = Math.max(options.minBytesPerSecond, options.maxBytesPerSecond / 16);
  }

  get rate(): number {
    return this.rateValue;
  }

  /** One window's event-loop delay p99; returns the rate for the next window. */
  observe(delayP99Ms: number): number {
    const { maxBytesPerSecond, minBytesPerSecond, targetDelayMs } = this.options;
    if (delayP99Ms > targetDelayMs) this.rateValue = Math.max(minBytesPerSecond, this.rateValue / 2);
    else if (delayP99Ms < targetDelayMs / 2) this.rateValue = Math.min(maxBytesPerSecond, this.rateValue + this.step);
    assert.ok(this.rateValue >= minBytesPerSecond && this.rateValue <= maxBytesPerSecond);
    return this.rateValue;
  }
}

/**
 * The event-loop delay (ms) from a `monitorEventLoopDelay` percentile (ns). Node's histogram
 * records the whole interval between its timer's runs, the resolution included: an idle loop
 * sampled every 10 ms reports a p99 of 10.3 ms, not 0.3. Compared with a 10 ms target unsubtracted,
 * that held every migration at the pacer's floor.
 */
export function loopDelayMs(intervalNs: number, resolutionMs: number): number {
  return Math.max(0, intervalNs / 1e6 - resolutionMs);
}

/** Seconds of the current rate a limiter may grant at once (its burst) while paced. */
const PACED_BURST_SECONDS = 0.25;
/** The smallest burst: a couple of transfer batches, so a slow rate still sends whole batches. */
const PACED_BURST_BYTES_MIN = 256 * 1024;

/**
 * The burst for a paced rate: a quarter second of it. A burst sized once for the configured rate
 * (16 MiB at 64 MiB/s) was four seconds of the pacer's floor, and every paced migration began by
 * sending it unpaced: the worst second of client latency of the whole migration.
 */
export function pacedBurstBytes(bytesPerSecond: number): number {
  return Math.max(PACED_BURST_BYTES_MIN, Math.floor(bytesPerSecond * PACED_BURST_SECONDS));
}

/**
 * Bytes a range comparison is charged on the transfer limiter per record hashed on this node. A
 * migration sender's catch-up scans the range here and on the old owner it compares with (two
 * header reads and hashes per record, about a quarter of what sending a 4 KiB block costs both
 * ends), and moves nothing when they agree; left unpaced, a few hundred of them at the start of a
 * migration raised client latency while the streams themselves sat at the pacer's floor.
 */
export const COMPARE_CHARGE_BYTES_PER_RECORD = 1024;
