// One request through the emulated target (RPC.md §1.3–1.6): method lookup, framework state, injected
// delay and faults, param decoding and the handler. Returns what to answer, or that the connection
// was dropped instead.
import { setTimeout as sleep } from 'node:timers/promises';
import { JSONRPC_ERROR, strerror } from '../errno.js';
import type { JsonParseResult } from '../json/parse.js';
import type { RpcRequest } from './envelope.js';
import type { FaultTiming } from './faults.js';
import type { SimCall, SimMethod } from './method.js';
import { SimRpcError } from './rpc-error.js';
import type { SimTarget } from './target.js';

export type CallOutcome = { readonly kind: 'result'; readonly value: unknown } | { readonly kind: 'error'; readonly error: SimRpcError } | { readonly kind: 'dropped' };

export interface ConnectionControl {
  /** Closes this connection without answering. */
  drop(): void;
  /** Closes every connection of the server. */
  dropAll(): void;
}

const NOT_YET_INITIALIZED = 'Method may only be called after framework is initialized using framework_start_init RPC.';
const ALREADY_INITIALIZED =
  'Method may only be called before framework is initialized. Use --wait-for-rpc command line parameter and then issue this RPC before the framework_start_init RPC.';

export class Dispatcher {
  private readonly byName: ReadonlyMap<string, SimMethod>;

  constructor(
    methods: readonly SimMethod[],
    readonly target: SimTarget,
  ) {
    this.byName = new Map(methods.map((method) => [method.name, method]));
  }

  /** Method names, all or those callable in the current state (rpc_get_methods). */
  names(currentOnly: boolean): string[] {
    const state = this.target.framework.state;
    return [...this.byName.values()].filter((method) => !currentOnly || method.states.includes(state)).map((method) => method.name);
  }

  async call(request: RpcRequest, parsed: JsonParseResult, connection: ConnectionControl): Promise<CallOutcome> {
    const method = this.byName.get(request.method);
    if (method === undefined) return failure(new SimRpcError(JSONRPC_ERROR.METHOD_NOT_FOUND, 'Method not found'));
    const state = this.target.framework.state;
    if (!method.states.includes(state)) return failure(new SimRpcError(-1, state === 'startup' ? NOT_YET_INITIALIZED : ALREADY_INITIALIZED));
    const delayMs = this.target.faults.takeDelay(method.name);
    if (delayMs > 0) await sleep(delayMs);
    const before = this.injected(method.name, 'before', connection);
    if (before !== undefined) return before;
    const call: SimCall = { target: this.target, dropConnection: () => connection.drop(), dropAllConnections: () => connection.dropAll(), methodNames: (current) => this.names(current) };
    let outcome: CallOutcome;
    try {
      outcome = { kind: 'result', value: await method.invoke(request.params, parsed, call) };
    } catch (error) {
      if (!(error instanceof SimRpcError)) this.target.logger?.error({ err: error, method: method.name }, 'spdk-sim handler failed');
      outcome = failure(error instanceof SimRpcError ? error : new SimRpcError(JSONRPC_ERROR.INTERNAL_ERROR, 'Internal error'));
    }
    return this.injected(method.name, 'after', connection) ?? outcome;
  }

  private injected(method: string, when: FaultTiming, connection: ConnectionControl): CallOutcome | undefined {
    const fault = this.target.faults.takeFault(method, when);
    if (fault === undefined) return undefined;
    this.target.logger?.info({ method, when, action: fault.action }, 'spdk-sim injected fault');
    if (fault.action === 'error') return failure(new SimRpcError(fault.code, fault.message || strerror(-fault.code)));
    connection.drop();
    return { kind: 'dropped' };
  }
}

function failure(error: SimRpcError): CallOutcome {
  return { kind: 'error', error };
}
