// Framework methods (RPC.md §1.6).
import { defineMethod, defineParamlessMethod, ANY_STATE, type SimMethod } from '../method.js';
import { bool, opt } from '../params.js';
import { SimRpcError } from '../rpc-error.js';

/** What spdk_get_version reports: the RPC.md source snapshot. */
export const SIM_SPDK_VERSION = {
  version: 'SPDK v26.09-pre git sha1 3230130e6',
  fields: { major: 26, minor: 9, patch: 0, suffix: '-pre', commit: '3230130e6' },
} as const;

export const frameworkMethods: readonly SimMethod[] = [
  defineParamlessMethod({
    name: 'framework_wait_init',
    states: ANY_STATE,
    params: 'ignore',
    async handler({ target }) {
      await target.framework.waitRuntime();
      return true;
    },
  }),
  defineParamlessMethod({
    name: 'framework_start_init',
    states: ['startup'],
    params: { reject: 'framework_start_init requires no parameters' },
    handler({ target }) {
      target.framework.startInit();
      return true;
    },
  }),
  defineParamlessMethod({
    name: 'spdk_get_version',
    states: ANY_STATE,
    params: { reject: 'spdk_get_version method requires no parameters' },
    handler: () => SIM_SPDK_VERSION,
  }),
  defineMethod({
    name: 'rpc_get_methods',
    states: ANY_STATE,
    params: { current: opt(bool), include_aliases: opt(bool) },
    decodeError: () => new SimRpcError(-32602, 'Invalid parameters'),
    handler: ({ current }, { methodNames }) => methodNames(current ?? false),
  }),
];
