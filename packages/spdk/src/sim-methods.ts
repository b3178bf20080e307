// Client wrappers for spdk-sim's sim-only methods (documented in sim/methods/sim-control.ts). A peer on
// spdk-sim uses simGetLvolFile to find the file standing in for /dev/nvmeXnY; tests inject faults.
import type { U64 } from './rpc-types.js';
import { expectObject, expectTrue } from './reply-checks.js';
import { TypedRpc } from './methods.js';
import type { SpdkCallOptions } from './rpc-client.js';

export interface SimLvolFile {
  readonly uuid: string;
  readonly path: string;
  readonly size_bytes: number;
  readonly block_size: number;
}

export interface SimFaultParams {
  /** A method name, or "*" for every non-sim method. */
  readonly method: string;
  /** Default 1. */
  readonly count?: number;
  /** "error" (default) answers {code, message}; "drop" closes the connection without a reply. */
  readonly action?: 'error' | 'drop';
  /** "before" (default): the call has no effect; "after": it takes effect, then the reply is replaced. */
  readonly when?: 'before' | 'after';
  /** Default -5 (EIO). */
  readonly code?: number;
  /** Default strerror(-code). */
  readonly message?: string;
}

export interface SimDelayParams {
  readonly method: string;
  /** ≤ 60000; 0 removes the method's delay. */
  readonly ms: number;
  /** Calls to delay; default every call until changed. */
  readonly count?: number;
}

type IoKind = 'read' | 'write' | 'unmap' | 'copy';

/** Counters to add, named as bdev_get_iostat names them. */
export type SimIostatParams = { readonly name: string } & Partial<
  Record<'bytes_read' | 'bytes_written' | 'bytes_unmapped' | 'bytes_copied' | `num_${IoKind}_ops` | `${IoKind}_latency_ticks`, U64>
>;

export interface SimHealthParams {
  readonly name: string;
  readonly critical_warning?: number;
  readonly temperature_celsius?: number;
  readonly available_spare_percentage?: number;
  readonly available_spare_threshold_percentage?: number;
  readonly percentage_used?: number;
  readonly media_errors?: U64;
  readonly num_err_log_entries?: U64;
  readonly unsafe_shutdowns?: U64;
  readonly power_on_hours?: U64;
  readonly temperature_sensors_celsius?: readonly number[];
}

export class SpdkSimControl extends TypedRpc {
  simInjectFault(params: SimFaultParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('sim_inject_fault', params, expectTrue, options);
  }

  simInjectDelay(params: SimDelayParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('sim_inject_delay', params, expectTrue, options);
  }

  simClearFaults(options?: SpdkCallOptions): Promise<true> {
    return this.invoke('sim_clear_faults', undefined, expectTrue, options);
  }

  /** The call itself never gets a reply: it fails with SPDK_CONNECTION_LOST. */
  simDropConnection(params: { readonly all?: boolean } = {}, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('sim_drop_connection', params, expectTrue, options);
  }

  simGetLvolFile(params: { readonly name: string }, options?: SpdkCallOptions): Promise<SimLvolFile> {
    return this.invoke('sim_get_lvol_file', params, expectObject<SimLvolFile>(), options);
  }

  simAddIostat(params: SimIostatParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('sim_add_iostat', params, expectTrue, options);
  }

  simSetControllerHealth(params: SimHealthParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('sim_set_controller_health', params, expectTrue, options);
  }
}
