// Runs the migration's transfers on this node: each `startTransfer` first catches up with the range's
// other live old owners (migration/plan.ts says why), then becomes a resumable TransferTask
// streaming one range of the local engine to its new owner, paced by one node-wide byte-rate limit
// (a rebuild must not starve client traffic), reporting progress and the outcome back as FSM events.
import type { Logger } from 'pino';
import type { Engine } from '@ringblock/engine';
import type { Arc, Hasher } from '@ringblock/ring';
import type { PeerTransport } from './peer-transport.js';
import type { MigrationEvent } from './migration/protocol.js';
import type { TransferRunner } from './migration-executor.js';
import type { CatchUpResult } from './repair/index.js';
import { ByteRateLimiter, TransferTask, type ChecksumHasher } from './transfer/index.js';

/** Progress reports per transfer at most every this often (the FSM only needs them against stalls). */
const PROGRESS_REPORT_MS = 500;

export interface NodeTransferRunnerOptions {
  engine: Engine;
  hasher: Hasher;
  token: string;
  transport?: PeerTransport | undefined;
  epoch: () => number;
  /** host:port of a node by name (live member, else its ring record). */
  addressOf: (name: string) => string | undefined;
  bytesPerSecond: number;
  /** Compares `arc` with old owner `peer` and streams what differs both ways (Repairer.catchUp). */
  catchUp: (arc: Arc, peer: string, signal: AbortSignal) => Promise<CatchUpResult>;
  log: Logger;
  onMoved?: (blocks: number, bytes: number) => void;
}

export class NodeTransferRunner implements TransferRunner {
  private readonly running = new Map<string, AbortController>();
  private readonly limiter: ByteRateLimiter;
  private readonly checksums: ChecksumHasher;

  constructor(private readonly options: NodeTransferRunnerOptions) {
    this.limiter = new ByteRateLimiter({ bytesPerSecond: options.bytesPerSecond, burstBytes: Math.max(1 << 20, options.bytesPerSecond / 4) });
    this.checksums = { h64: (bytes) => options.hasher.h64Bytes(bytes) };
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
        this.running.delete(transferId);
        const result = streamed ?? { records: 0, bytes: 0 };
        this.options.onMoved?.(result.records, result.bytes);
        report({ type: 'transferDone', transferId, blocksMoved: result.records, bytesMoved: result.bytes });
      },
      (error: unknown) => {
        this.running.delete(transferId);
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
      if (result.differed) this.options.log.info({ transferId, peer, applied: result.applied, bytes: result.bytes }, 'caught up with an old owner before streaming a range');
    }
    // A transfer to itself stands in for a receiver that is down (plan.ts): the catch-up was all of it.
    return transfer.to === transfer.from ? undefined : stream();
  }

  cancel(transferId: string): void {
    this.running.get(transferId)?.abort();
    this.running.delete(transferId);
  }

  stopAll(): void {
    for (const abort of this.running.values()) abort.abort();
    this.running.clear();
  }
}
