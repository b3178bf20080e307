// The sorted token table: every vnode's token with the node it belongs to, in clockwise order.
import assert from 'node:assert/strict';
import type { Hasher } from './hash.js';

/**
 * Parallel arrays, one entry per vnode, ascending by token. Ties (two vnodes hashing to the same
 * token, which for 64-bit tokens is astronomically unlikely but must still be deterministic) are
 * broken by node name, then by vnode index: the tied vnode of the smaller name comes first, so it is
 * the one a position equal to that token finds.
 */
export interface TokenTable {
  readonly tokens: BigUint64Array;
  /** `nodeOf[k]` is the index, in the name-sorted node list, of the node owning `tokens[k]`. */
  readonly nodeOf: Uint16Array;
}

/** DESIGN §4: the string whose xxh64 (seed 0) is the token of vnode `vnode` of node `name`. */
export function vnodeKey(name: string, vnode: number): string {
  return `${name}#${vnode}`;
}

/** Builds the table for `names`, which must already be sorted by name (the tie-break order). */
export function buildTokenTable(names: readonly string[], vnodes: number, hasher: Hasher): TokenTable {
  const count = names.length * vnodes;
  // Entry e is vnode e % vnodes of node floor(e / vnodes), so ordering entries by e orders them by
  // node name, then vnode index: exactly the tie-break.
  const unsorted = new BigUint64Array(count);
  for (let entry = 0; entry < count; entry++) {
    unsorted[entry] = hasher.h64String(vnodeKey(names[Math.floor(entry / vnodes)]!, entry % vnodes));
  }
  const order = new Uint32Array(count);
  for (let entry = 0; entry < count; entry++) order[entry] = entry;
  order.sort((a, b) => {
    const tokenA = unsorted[a]!;
    const tokenB = unsorted[b]!;
    return tokenA < tokenB ? -1 : tokenA > tokenB ? 1 : a - b;
  });

  const tokens = new BigUint64Array(count);
  const nodeOf = new Uint16Array(count);
  for (let index = 0; index < count; index++) {
    tokens[index] = unsorted[order[index]!]!;
    nodeOf[index] = Math.floor(order[index]! / vnodes);
  }
  for (let index = 1; index < count; index++) assert.ok(tokens[index - 1]! <= tokens[index]!);
  return { tokens, nodeOf };
}

/** Index of the first token ≥ `position`, or `tokens.length` when every token is below it. */
export function lowerBound(tokens: BigUint64Array, position: bigint): number {
  let low = 0;
  let high = tokens.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (tokens[middle]! < position) low = middle + 1;
    else high = middle;
  }
  return low;
}
