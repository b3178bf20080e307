// Per-bdev I/O counters for bdev_get_iostat (RPC.md §2.1). The sim sees no I/O (peers write the lvol
// files directly), so counters move only through the sim-only method sim_add_iostat. u64 throughout.
import type { IostatResetMode } from '../rpc-types.js';

export const IO_KINDS = ['read', 'write', 'unmap', 'copy'] as const;
export type IoKind = (typeof IO_KINDS)[number];

/** SPDK's byte-counter names: bytes_read, bytes_written, bytes_unmapped, bytes_copied. */
export const IOSTAT_BYTES_KEY =  { read: 'bytes_read', write: 'bytes_written', unmap: 'bytes_unmapped', copy: 'bytes_copied' } as const satisfies Record<IoKind, string>;

/** The sim's tick rate: 1 tick = 0.5 ns. */
export const SIM_TICK_RATE_HZ = 2_000_000_000n;

export function simTicks(): bigint {
  return process.hrtime.bigint() * 2n;
}

interface KindCounters {
  bytes: bigint;
  ops: bigint;
  latencyTicks: bigint;
  maxLatencyTicks: bigint;
  /** undefined until an op was counted (SPDK reports 0 then). */
  minLatencyTicks: bigint | undefined;
}

function zeroCounters(): KindCounters {
  return { bytes: 0n, ops: 0n, latencyTicks: 0n, maxLatencyTicks: 0n, minLatencyTicks: undefined };
}

export class IostatCounters {
  private readonly kinds = new Map<IoKind, KindCounters>(IO_KINDS.map((kind) => [kind, zeroCounters()]));
  private readonly ioErrors = new Map<string, bigint>();

  /** Counts `ops` operations of `bytes` in total taking `latencyTicks` in total (max/min from the mean). */
  add(kind: IoKind, bytes: bigint, ops: bigint, latencyTicks: bigint): void {
    const counters = this.kinds.get(kind)!;
    counters.bytes += bytes;
    counters.ops += ops;
    counters.latencyTicks += latencyTicks;
    if (ops === 0n) return;
    const mean = latencyTicks / ops;
    if (mean > counters.maxLatencyTicks) counters.maxLatencyTicks = mean;
    if (counters.minLatencyTicks === undefined || mean < counters.minLatencyTicks) counters.minLatencyTicks = mean;
  }

  addErrors(status: string, count: bigint): void {
    this.ioErrors.set(status, (this.ioErrors.get(status) ?? 0n) + count);
  }

  /** One `bdevs[]` entry in SPDK's key order. */
  render(name: string): Record<string, unknown> {
    const entry: Record<string, unknown> = { name };
    for (const kind of IO_KINDS) {
      const counters = this.kinds.get(kind)!;
      entry[IOSTAT_BYTES_KEY[kind]] = counters.bytes;
      entry[`num_${kind}_ops`] = counters.ops;
    }
    for (const kind of IO_KINDS) {
      const counters = this.kinds.get(kind)!;
      entry[`${kind}_latency_ticks`] = counters.latencyTicks;
      entry[`max_${kind}_latency_ticks`] = counters.maxLatencyTicks;
      entry[`min_${kind}_latency_ticks`] = counters.minLatencyTicks ?? 0n;
    }
    entry.io_error = Object.fromEntries(this.ioErrors);
    return entry;
  }

  /** bdev_get_iostat's reset_mode, applied after the counters were reported. */
  reset(mode: IostatResetMode): void {
    if (mode === 'all') {
      for (const kind of IO_KINDS) this.kinds.set(kind, zeroCounters());
      this.ioErrors.clear();
    } else if (mode === 'maxmin') {
      for (const counters of this.kinds.values()) {
        counters.maxLatencyTicks = 0n;
        counters.minLatencyTicks = undefined;
      }
    } else if (mode === 'error') {
      this.ioErrors.clear();
    }
  }
}
