// Sim-only methods (not in SPDK), over the same socket; they run in any framework state and are never
// themselves delayed or failed by injection. Params decode strictly; a decode error is
// E(-32602,"Invalid parameters").
//
//   sim_inject_fault {method, count?=1, action?="error"|"drop", when?="before"|"after", code?=-5, message?}
//       The next `count` calls of `method` ("*" = every non-sim method) fail with {code, message}
//       (message default strerror(-code)), or drop the connection without a reply. "before": the call
//       has no effect; "after": it takes effect and then the reply is replaced or lost.
//   sim_inject_delay {method, ms, count?}  Delay `method` ("*" = all) by ms (≤ 60000) before it runs,
//       for `count` calls or until changed; ms = 0 removes the delay.
//   sim_clear_faults                       Removes every fault and delay rule.
//   sim_drop_connection {all?=false}       Closes the caller's connection (or all) without a reply.
//   sim_get_lvol_file {name}               → {uuid, path, size_bytes, block_size} of an lvol's data file
//       (name, alias or UUID); files are named <stateDir>/lvols/<lvol uuid>.img.
//   sim_add_iostat {name, bytes_read?, num_read_ops?, read_latency_ticks?, bytes_written?, num_write_ops?,
//       write_latency_ticks?, bytes_unmapped?, …unmap…, bytes_copied?, …copy…}
//       Adds to a bdev's bdev_get_iostat counters (u64, may exceed 2^53).
//   sim_set_controller_health {name, critical_warning?, temperature_celsius?, available_spare_percentage?,
//       available_spare_threshold_percentage?, percentage_used?, media_errors?, num_err_log_entries?,
//       unsafe_shutdowns?, power_on_hours?, temperature_sensors_celsius?: [int]}
import { strerror } from '../../errno.js';
import { DELAY_MS_MAX, FAULT_COUNT_MAX } from '../faults.js';
import { IO_KINDS, IOSTAT_BYTES_KEY } from '../iostat.js';
import { ANY_STATE, defineMethod, defineParamlessMethod, type MethodDefinition, type SimMethod } from '../method.js';
import { arrayOf, bool, i32, integer, oneOf, opt, req, str, u64Exact, unsignedExact, type Field, type Schema } from '../params.js';
import { nvmfInvalidParameters } from '../rpc-error.js';

/** NVMe SMART counters are 128-bit. */
const u128 = unsignedExact(128);
/** Temperature sensors a device reports at most (NVMe defines 8). */
const TEMPERATURE_SENSORS_MAX = 8;

function simMethod<S extends Schema>(definition: Omit<MethodDefinition<S>, 'states' | 'decodeError'>): SimMethod {
  return defineMethod({ ...definition, states: ANY_STATE, decodeError: nvmfInvalidParameters });
}

const iostatCounters: Record<string, Field<bigint, false>> = Object.fromEntries(
  IO_KINDS.flatMap((kind) => [
    [IOSTAT_BYTES_KEY[kind], opt(u64Exact)],
    [`num_${kind}_ops`, opt(u64Exact)],
    [`${kind}_latency_ticks`, opt(u64Exact)],
  ]),
);

export const simControlMethods: readonly SimMethod[] = [
  simMethod({
    name: 'sim_inject_fault',
    params: {
      method: req(str),
      count: opt(integer(1, FAULT_COUNT_MAX)),
      action: opt(oneOf('error', 'drop')),
      when: opt(oneOf('before', 'after')),
      code: opt(i32),
      message: opt(str),
    },
    handler(params, { target }) {
      const code = params.code ?? -5;
      target.faults.addFault({
        method: params.method,
        remaining: params.count ?? 1,
        action: params.action ?? 'error',
        when: params.when ?? 'before',
        code,
        message: params.message ?? strerror(-code),
      });
      return true;
    },
  }),
  simMethod({
    name: 'sim_inject_delay',
    params: { method: req(str), ms: req(integer(0, DELAY_MS_MAX)), count: opt(integer(1, FAULT_COUNT_MAX)) },
    handler({ method, ms, count }, { target }) {
      target.faults.addDelay({ method, delayMs: ms, ...(count === undefined ? {} : { remaining: count }) });
      return true;
    },
  }),
  defineParamlessMethod({
    name: 'sim_clear_faults',
    states: ANY_STATE,
    params: 'ignore',
    handler({ target }) {
      target.faults.clear();
      return true;
    },
  }),
  simMethod({
    name: 'sim_drop_connection',
    params: { all: opt(bool) },
    handler({ all }, call) {
      if (all === true) call.dropAllConnections();
      else call.dropConnection();
      return true;
    },
  }),
  simMethod({
    name: 'sim_get_lvol_file',
    params: { name: req(str) },
    handler({ name }, { target }) {
      const { lvol, lvstore, bdev } = target.lvols.lookup(name);
      return { uuid: lvol.uuid, path: target.lvols.files.pathOf(lvol.uuid), size_bytes: target.lvols.sizeBytes(lvstore, lvol), block_size: bdev.blockSize };
    },
  }),
  simMethod({
    name: 'sim_add_iostat',
    params: { name: req(str), ...iostatCounters },
    handler(params, { target }) {
      const bdev = target.bdevs.get(params.name);
      const counters = params as unknown as Record<string, bigint | undefined>;
      for (const kind of IO_KINDS) {
        bdev.iostat.add(kind, counters[IOSTAT_BYTES_KEY[kind]] ?? 0n, counters[`num_${kind}_ops`] ?? 0n, counters[`${kind}_latency_ticks`] ?? 0n);
      }
      return true;
    },
  }),
  simMethod({
    name: 'sim_set_controller_health',
    params: {
      name: req(str),
      critical_warning: opt(integer(0, 255)),
      temperature_celsius: opt(i32),
      available_spare_percentage: opt(integer(0, 100)),
      available_spare_threshold_percentage: opt(integer(0, 100)),
      percentage_used: opt(integer(0, 255)),
      media_errors: opt(u128),
      num_err_log_entries: opt(u128),
      unsafe_shutdowns: opt(u128),
      power_on_hours: opt(u128),
      temperature_sensors_celsius: opt(arrayOf(i32, TEMPERATURE_SENSORS_MAX)),
    },
    handler({ name, ...patch }, { target }) {
      target.nvme.setHealth(name, patch);
      return true;
    },
  }),
];
