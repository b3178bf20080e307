// NVMe-oF target methods (RPC.md §2.5). Decode errors: E(-32602,"Invalid parameters"). `tgt_name` is
// accepted everywhere; the sim has only the default target "nvmf_tgt".
import { defineMethod, type SimMethod } from '../method.js';
import { bool, i32, object, opt, req, str, u16, u32, type Decoded, type Schema } from '../params.js';
import { nvmfInvalidParameters, SimRpcError } from '../rpc-error.js';
import type { SimTarget } from '../target.js';

export const DEFAULT_NVMF_TARGET_NAME = 'nvmf_tgt';

const decodeError = nvmfInvalidParameters;

const listenAddress = object({ trtype: req(str), traddr: req(str), adrfam: opt(str), trsvcid: opt(str) });

const transportOptions = {
  max_queue_depth: opt(u16),
  max_io_qpairs_per_ctrlr: opt(u16),
  in_capsule_data_size: opt(u32),
  max_io_size: opt(u32),
  io_unit_size: opt(u32),
  max_aq_depth: opt(u32),
  num_shared_buffers: opt(u32),
  buf_cache_size: opt(u32),
  num_cqe: opt(u32),
  max_srq_depth: opt(u32),
  no_srq: opt(bool),
  acceptor_backlog: opt(i32),
  abort_timeout_sec: opt(u32),
  no_wr_batching: opt(bool),
  zcopy: opt(bool),
  dif_insert_or_strip: opt(bool),
  c2h_success: opt(bool),
  sock_priority: opt(u32),
  ack_timeout: opt(u32),
  data_wr_pool_size: opt(u32),
  disable_command_passthru: opt(bool),
  kas: opt(u32),
  min_kato: opt(u32),
} as const;

/**
 * Every nvmf method's params plus the optional `tgt_name`; an unknown target name is refused. A
 * handler that returns nothing answers `true`.
 */
function nvmfMethod<S extends Schema>(
  name: string,
  params: S,
  handler: (params: Decoded<S>, target: SimTarget) => unknown,
  relaxed = false,
): SimMethod {
  return defineMethod({
    name,
    params: { ...params, tgt_name: opt(str) },
    relaxed,
    decodeError,
    async handler(decoded, { target }) {
      const { tgt_name: targetName, ...params } = decoded as Decoded<S> & { tgt_name?: string };
      if (targetName !== undefined && targetName !== DEFAULT_NVMF_TARGET_NAME) throw new SimRpcError(-32602, 'Unable to find a target.');
      return (await handler(params as Decoded<S>, target)) ?? true;
    },
  });
}

export const nvmfMethods: readonly SimMethod[] = [
  nvmfMethod(
    'nvmf_create_transport',
    { trtype: req(str), ...transportOptions },
    ({ trtype, ...options }, target) => target.nvmf.createTransport(trtype, options),
    true,
  ),
  nvmfMethod('nvmf_get_transports', { trtype: opt(str) }, ({ trtype }, target) => target.nvmf.listTransports(trtype)),
  nvmfMethod(
    'nvmf_create_subsystem',
    {
      nqn: req(str),
      serial_number: opt(str),
      model_number: opt(str),
      allow_any_host: opt(bool),
      max_namespaces: opt(u32),
      min_cntlid: opt(u16),
      max_cntlid: opt(u16),
      ana_reporting: opt(bool),
      dmrsl: opt(u32),
      wzsl: opt(u32),
      passthrough: opt(bool),
      enable_nssr: opt(bool),
      admin_label: opt(str),
    },
    (params, target) => target.nvmf.createSubsystem(params),
  ),
  nvmfMethod('nvmf_delete_subsystem', { nqn: req(str) }, ({ nqn }, target) => target.nvmf.deleteSubsystem(nqn)),
  nvmfMethod('nvmf_get_subsystems', { nqn: opt(str) }, ({ nqn }, target) => target.nvmf.listSubsystems(nqn)),
  nvmfMethod(
    'nvmf_subsystem_add_listener',
    { nqn: req(str), listen_address: req(listenAddress), secure_channel: opt(bool), ana_state: opt(str), sock_impl: opt(str), numa_id: opt(i32) },
    ({ nqn, listen_address: address }, target) => target.nvmf.addListener(nqn, address),
    true,
  ),
  nvmfMethod('nvmf_subsystem_remove_listener', { nqn: req(str), listen_address: req(listenAddress) }, ({ nqn, listen_address: address }, target) => target.nvmf.removeListener(nqn, address)),
  nvmfMethod(
    'nvmf_subsystem_add_ns',
    {
      nqn: req(str),
      namespace: req(
        object({
          bdev_name: req(str),
          nsid: opt(u32),
          nguid: opt(str),
          eui64: opt(str),
          uuid: opt(str),
          ptpl_file: opt(str),
          anagrpid: opt(u32),
          no_auto_visible: opt(bool),
        }),
      ),
    },
    ({ nqn, namespace }, target) => target.nvmf.addNamespace(nqn, namespace),
    true,
  ),
  nvmfMethod('nvmf_subsystem_remove_ns', { nqn: req(str), nsid: req(u32) }, ({ nqn, nsid }, target) => target.nvmf.removeNamespace(nqn, nsid)),
  nvmfMethod(
    'nvmf_subsystem_add_host',
    { nqn: req(str), host: req(str), psk: opt(str), dhchap_key: opt(str), dhchap_ctrlr_key: opt(str) },
    ({ nqn, host, psk, dhchap_key: key, dhchap_ctrlr_key: controllerKey }, target) => {
      // The sim has no keyring: every key name is unknown.
      if (psk !== undefined || key !== undefined || controllerKey !== undefined) throw nvmfInvalidParameters();
      target.nvmf.addHost(nqn, host);
    },
    true,
  ),
  nvmfMethod('nvmf_subsystem_allow_any_host', { nqn: req(str), allow_any_host: req(bool) }, ({ nqn, allow_any_host: allow }, target) => target.nvmf.allowAnyHost(nqn, allow)),
];
