// Runs the migration's transfers on this node: each `startTransfer` first catches up with the range's
// other live old owners (migration/plan.ts says why), then becomes a resumable TransferTask
// streaming one range of the local engine to its new owner, paced by one node-wide byte-rate limit
// (a rebuild must not starve client traffic), reporting progress and the outcome back as FSM events.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Engine } from '@ringblock/engine';
import type { Arc, Hasher } from '@ringblock/ring';
import type { PeerTransport } from './peer-transport.js';
import type { MigrationEvent } from './migration/protocol.js';
import type { TransferRunner } from './migration-executor.js';
import type { CatchUpResult } from './repair/index.js';
import { AdaptivePacer, ByteRateLimiter, COMPARE_CHARGE_BYTES_PER_RECORD, loopDelayMs, pacedBurstBytes, TransferTask, type ChecksumHasher } from './transfer/index.js';

/** Progress reports per transfer at most every this often (the FSM only needs them against stalls). */
const PROGRESS_REPORT_MS = 500;
/** The pacer's window: event-loop delay is read, and the rate set, this often while transfers run. */
const PACE_WINDOW_MS = 250;
/** Sampling interval of the event-loop delay the pacer reads. */
const PACE_RESOLUTION_MS = 5;
/** The pacer never goes below the configured rate divided by this (a transfer always ends). */
const PACE_FLOOR_DIVISOR = 16;

export interface NodeTransferRunnerOptions {
  engine: Engine;
  hasher: Hasher;
  token: string;
  transport?: PeerTransport | undefined;
  epoch: () => number;
  /** host:port of a node by name (live member, else its ring record). */
  addressOf: (name: string) => string | undefined;
  bytesPerSecond: number;
  /** Event-loop delay p99 (ms) above which transfers slow down; 0: always bytesPerSecond. */
  paceDelayMs?: number;
  /** Compares `arc` with old owner `peer` and streams what differs both ways (Repairer.catchUp). */
  catchUp: (arc: Arc, peer: string, signal: AbortSignal) => Promise<CatchUpResult>;
  log: Logger;
  onMoved?: (blocks: number, bytes: number) => void;
}

export class NodeTransferRunner implements TransferRunner {
  private readonly running = new Map<string, AbortController>();
  private readonly limiter: ByteRateLimiter;
  private readonly checksums: ChecksumHasher;
  private readonly pacer: AdaptivePacer | undefined;
  private pacing: { timer: NodeJS.Timeout; delay: IntervalHistogram } | undefined;

  constructor(private readonly options: NodeTransferRunnerOptions) {
    this.limiter = new ByteRateLimiter({ bytesPerSecond: options.bytesPerSecond, burstBytes: Math.max(1 << 20, options.bytesPerSecond / 4) });
    this.checksums = { h64: (bytes) => options.hasher.h64Bytes(bytes) };
    const targetDelayMs = options.paceDelayMs ?? 0;
    if (targetDelayMs > 0) {
      this.pacer = new AdaptivePacer({ maxBytesPerSecond: options.bytesPerSecond, minBytesPerSecond: Math.max(64 * 1024, options.bytesPerSecond / PACE_FLOOR_DIVISOR), targetDelayMs });
      this.limiter.setRate(this.pacer.rate, pacedBurstBytes(this.pacer.rate));
    }
  }

  /** The rate transfers run at now (the pacer's, when pacing). */
  get bytesPerSecond(): number {
    return this.limiter.rate;
  }

  start(action: Parameters<TransferRunner['start']>[0], report: (event: MigrationEvent) => void): void {
    const { transferId, transfer } = action;
    const to = this.options.addressOf(transfer.to);
    if (!to) {
      report({ type: 'transferFailed', transferId, error: `no address known for ${transfer.to}` });
      return;
    }
    const abort = new AbortController();
    this.running.set(transferId, abort);
    this.pace();
    let lastReportMs = 0;
    const task = new TransferTask({
      engine: this.options.engine,
      hasher: this.checksums,
      range: transfer.range,
      to,
      token: this.options.token,
      transport: this.options.transport,
      epoch: this.options.epoch,
      limiter: this.limiter,
      signal: abort.signal,
      onProgress: (progress) => {
        const now = Date.now();
        if (now - lastReportMs < PROGRESS_REPORT_MS) return;
        lastReportMs = now;
        report({ type: 'transferProgress', transferId, blocksMoved: progress.records, bytesMoved: progress.bytes });
      },
    });
    this.catchUpThenStream(action, abort.signal, () => report({ type: 'transferProgress', transferId, blocksMoved: 0, bytesMoved: 0 }), () => task.run()).then(
      (streamed) => {
        this.ended(transferId);
        const result = streamed ?? { records: 0, bytes: 0 };
        this.options.onMoved?.(result.records, result.bytes);
        report({ type: 'transferDone', transferId, blocksMoved: result.records, bytesMoved: result.bytes });
      },
      (error: unknown) => {
        this.ended(transferId);
        if (abort.signal.aborted) return; // cancelled: the FSM expects no event
        this.options.log.warn({ err: error, transferId, to: transfer.to }, 'transfer failed');
        report({ type: 'transferFailed', transferId, error: error instanceof Error ? error.message : String(error) });
      },
    );
  }

  /** Catch-ups one after another (each is a progress step for the stall timer), then the stream. */
  private async catchUpThenStream<T>(action: Parameters<TransferRunner['start']>[0], signal: AbortSignal, progressed: () => void, stream: () => Promise<T>): Promise<T | undefined> {
    const { transfer, transferId } = action;
    for (const peer of transfer.catchUpFrom) {
      signal.throwIfAborted();
      const result = await this.options.catchUp(transfer.range, peer, signal);
      progressed();
      // The comparison is paid for like the bytes it stands in for, so catch-ups are paced too.
      await this.limiter.take(result.recordsCompared * COMPARE_CHARGE_BYTES_PER_RECORD, signal);
      if (result.differed) this.options.log.info({ transferId, peer, applied: result.applied, bytes: result.bytes }, 'caught up with an old owner before streaming a range');
    }
    // A transfer to itself stands in for a receiver that is down (plan.ts): the catch-up was all of it.
    return transfer.to === transfer.from ? undefined : stream();
  }

  cancel(transferId: string): void {
    this.running.get(transferId)?.abort();
    this.ended(transferId);
  }

  stopAll(): void {
    for (const abort of this.running.values()) abort.abort();
    this.running.clear();
    this.ended(undefined);
  }

  private ended(transferId: string | undefined): void {
    if (transferId !== undefined) this.running.delete(transferId);
    if (this.running.size === 0 && this.pacing) {
      clearInterval(this.pacing.timer);
      this.pacing.delay.disable();
      this.pacing = undefined;
    }
  }

  /** While transfers run: every window, the event-loop delay's p99 sets the next window's rate. */
  private pace(): void {
    const pacer = this.pacer;
    if (!pacer || this.pacing) return;
    const delay = monitorEventLoopDelay({ resolution: PACE_RESOLUTION_MS });
    delay.enable();
    const timer = setInterval(() => {
      const p99Ms = loopDelayMs(delay.percentile(99), PACE_RESOLUTION_MS);
      delay.reset();
      const before = this.limiter.rate;
      const rate = pacer.observe(p99Ms);
      this.limiter.setRate(rate, pacedBurstBytes(rate));
      if (this.limiter.rate < before / 1.9) this.options.log.debug({ p99Ms, bytesPerSecond: this.limiter.rate }, 'transfers slowed down: this node is busy');
    }, PACE_WINDOW_MS);
    timer.unref();
    this.pacing = { timer, delay };
  }
}
