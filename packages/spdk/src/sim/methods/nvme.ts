// NVMe bdev methods (RPC.md §2.3).
import { defineMethod, type SimMethod } from '../method.js';
import { bool, i32, oneOf, opt, req, str, u32 } from '../params.js';
import { decodeObjectFailed, SimRpcError } from '../rpc-error.js';

const decodeError = (): SimRpcError => decodeObjectFailed();

export const nvmeMethods: readonly SimMethod[] = [
  defineMethod({
    name: 'bdev_nvme_attach_controller',
    params: {
      name: req(str),
      trtype: req(str),
      traddr: req(str),
      adrfam: opt(str),
      trsvcid: opt(str),
      subnqn: opt(str),
      hostnqn: opt(str),
      hostaddr: opt(str),
      hostsvcid: opt(str),
      multipath: opt(oneOf('disable', 'failover', 'multipath')),
      num_io_queues: opt(u32),
      ctrlr_loss_timeout_sec: opt(i32),
      reconnect_delay_sec: opt(u32),
      fast_io_fail_timeout_sec: opt(u32),
      max_bdevs: opt(u32),
      hdgst: opt(bool),
      ddgst: opt(bool),
      prchk_reftag: opt(bool),
      prchk_guard: opt(bool),
      psk: opt(str),
      dhchap_key: opt(str),
      dhchap_ctrlr_key: opt(str),
    },
    decodeError,
    handler: (params, { target }) => target.nvme.attach(params),
  }),
  defineMethod({
    name: 'bdev_nvme_detach_controller',
    params: {
      name: req(str),
      trtype: opt(str),
      traddr: opt(str),
      adrfam: opt(str),
      trsvcid: opt(str),
      subnqn: opt(str),
      hostaddr: opt(str),
      hostsvcid: opt(str),
    },
    decodeError,
    handler({ name, ...filters }, { target }) {
      target.nvme.detach(name, filters);
      return true;
    },
  }),
  defineMethod({
    name: 'bdev_nvme_get_controllers',
    params: { name: opt(str) },
    decodeError,
    handler: ({ name }, { target }) => target.nvme.list(name),
  }),
  defineMethod({
    name: 'bdev_nvme_get_controller_health_info',
    params: { name: req(str) },
    decodeError: () => new SimRpcError(-32603, 'Invalid parameters'),
    absentParamsError: () => new SimRpcError(-32603, 'Missing device name'),
    handler: ({ name }, { target }) => target.nvme.healthInfo(name),
  }),
];
