// How a spdk-sim method is declared: its name, the framework state it runs in (RPC.md §1.6), how its
// params decode (strict or relaxed, which error a decode failure gives, §1.5) and its handler.
import type { JsonValue } from '../json/parse.js';
import { decodeObject, INVALID, type DecodeContext, type Decoded, type Schema } from './params.js';
import { SimRpcError } from './rpc-error.js';
import type { SimTarget } from './target.js';

/** STARTUP (app run with --wait-for-rpc) or RUNTIME (RPC.md §1.6). */
export type FrameworkState = 'startup' | 'runtime';

/** What a handler may use besides its params. */
export interface SimCall {
  readonly target: SimTarget;
  /** Closes the caller's connection without a reply. */
  readonly dropConnection: () => void;
  /** Closes every connection of the server. */
  readonly dropAllConnections: () => void;
  /** Method names, all or those callable in the current framework state. */
  readonly methodNames: (currentOnly: boolean) => string[];
}

export interface SimMethod {
  readonly name: string;
  /** The states in which the method may be called. */
  readonly states: readonly FrameworkState[];
  /** Decodes `params` and runs the handler; throws SimRpcError. */
  invoke(params: JsonValue | undefined, context: DecodeContext, call: SimCall): Promise<unknown>;
}

export const RUNTIME_ONLY: readonly FrameworkState[] = ['runtime'];
export const ANY_STATE: readonly FrameworkState[] = ['startup', 'runtime'];

export interface MethodDefinition<S extends Schema> {
  readonly name: string;
  readonly states?: readonly FrameworkState[];
  readonly params: S;
  /** Ignore unknown keys (nvmf_create_transport, add_listener, add_ns, add_host). */
  readonly relaxed?: boolean;
  /** What a decode failure answers (the method family's code and message, RPC.md §2). */
  readonly decodeError: () => SimRpcError;
  /** What absent params answer, when the method says so specifically. */
  readonly absentParamsError?: () => SimRpcError;
  readonly handler: (params: Decoded<S>, call: SimCall) => unknown;
}

export function defineMethod<S extends Schema>(definition: MethodDefinition<S>): SimMethod {
  return {
    name: definition.name,
    states: definition.states ?? RUNTIME_ONLY,
    async invoke(params, context, call) {
      if (params === undefined && definition.absentParamsError !== undefined) throw definition.absentParamsError();
      const decoded = decodeObject(params, definition.params, context, definition.relaxed ?? false);
      if (decoded === INVALID) throw definition.decodeError();
      return definition.handler(decoded, call);
    },
  };
}

/**
 * A method that takes no params. `reject`: any params, even {}, fail with
 * E(-32602,"<rejectMessage>") (RPC.md §1.5); `ignore`: params are ignored (framework_wait_init).
 */
export function defineParamlessMethod(definition: {
  readonly name: string;
  readonly states?: readonly FrameworkState[];
  readonly params: { readonly reject: string } | 'ignore';
  readonly handler: (call: SimCall) => unknown;
}): SimMethod {
  return {
    name: definition.name,
    states: definition.states ?? RUNTIME_ONLY,
    async invoke(params, _context, call) {
      if (params !== undefined && definition.params !== 'ignore') throw new SimRpcError(-32602, definition.params.reject);
      return definition.handler(call);
    },
  };
}
