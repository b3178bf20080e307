// Light checks on the kind of value a method returns (RPC.md §2): a reply of the wrong kind is a
// SPDK_BAD_REPLY, not a value that fails later far from the call. Deep shapes are trusted.
import { SpdkRpcError } from './errors.js';
import { isJsonObject, type JsonValue } from './json/parse.js';

export type ReplyCheck<T> = (reply: JsonValue, method: string) => T;

function badReply(method: string, expected: string, reply: JsonValue): SpdkRpcError {
  const shown = typeof reply === 'bigint' ? reply.toString() : JSON.stringify(reply);
  return new SpdkRpcError('SPDK_BAD_REPLY', `expected ${expected}, got ${shown?.slice(0, 80)}`, method);
}

/** Methods that answer `true`. */
export const expectTrue: ReplyCheck<true> = (reply, method) => {
  if (reply !== true) throw badReply(method, 'true', reply);
  return true;
};

export const expectString: ReplyCheck<string> = (reply, method) => {
  if (typeof reply !== 'string') throw badReply(method, 'a string', reply);
  return reply;
};

export const expectInteger: ReplyCheck<number> = (reply, method) => {
  if (typeof reply !== 'number' || !Number.isInteger(reply)) throw badReply(method, 'an integer', reply);
  return reply;
};

/** An array of objects, typed as T (entries are not checked beyond being objects). */
export function expectObjectArray<T>(): ReplyCheck<T[]> {
  return (reply, method) => {
    if (!Array.isArray(reply) || !reply.every(isJsonObject)) throw badReply(method, 'an array of objects', reply);
    return reply as unknown as T[];
  };
}

export const expectStringArray: ReplyCheck<string[]> = (reply, method) => {
  if (!Array.isArray(reply) || !reply.every((entry) => typeof entry === 'string')) throw badReply(method, 'an array of strings', reply);
  return reply as string[];
};

/** An object, typed as T. */
export function expectObject<T>(): ReplyCheck<T> {
  return (reply, method) => {
    if (!isJsonObject(reply)) throw badReply(method, 'an object', reply);
    return reply as unknown as T;
  };
}
