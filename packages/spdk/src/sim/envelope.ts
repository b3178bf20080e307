// The JSON-RPC envelope as SPDK checks it (RPC.md §1.3): `jsonrpc` optional but "2.0" if present,
// `method` a string, `id` string/number/null (echoed verbatim), `params` object/array/null; duplicate
// or unknown top-level members are an invalid request. No id (or a null id) makes a notification.
import { isJsonObject, type JsonValue } from '../json/parse.js';

export interface RpcRequest {
  readonly method: string;
  /** The id to echo; null for a notification. */
  readonly id: string | number | bigint | null;
  readonly notification: boolean;
  /** undefined when absent or null. */
  readonly params: JsonValue | undefined;
}

const MEMBERS: ReadonlySet<string> = new Set(['jsonrpc', 'method', 'id', 'params']);

/** The request, or undefined when the envelope is invalid (→ E(-32600) with a null id). */
export function readEnvelope(value: JsonValue, objectsWithDuplicateKeys: ReadonlySet<object>): RpcRequest | undefined {
  if (!isJsonObject(value) || objectsWithDuplicateKeys.has(value)) return undefined;
  if (Object.keys(value).some((key) => !MEMBERS.has(key))) return undefined;
  const { jsonrpc, method, id, params } = value;
  if (jsonrpc !== undefined && jsonrpc !== '2.0') return undefined;
  if (typeof method !== 'string') return undefined;
  if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number' && typeof id !== 'bigint') return undefined;
  if (params !== undefined && params !== null && typeof params !== 'object') return undefined;
  return { method, id: id ?? null, notification: id === undefined || id === null, params: params ?? undefined };
}
