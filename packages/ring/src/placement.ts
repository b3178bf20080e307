// Replica placement: the preference list of every token range, computed once when a ring is built so
// that a lookup is a binary search plus an array read.
import assert from 'node:assert/strict';
import type { RingNode } from './nodes.js';
import type { TokenTable } from './tokens.js';

/**
 * The zone of each node as a small integer. A node without a zone is a zone of its own: placement
 * never assumes two nodes share a failure domain unless told so. A consequence worth knowing: in a
 * ring where no node has a zone, the zone-aware rule below is exactly the plain "first RF distinct
 * nodes clockwise" walk, so one rule serves both.
 */
export function zoneIndexes(nodes: readonly RingNode[]): { zoneOf: Uint16Array; zoneCount: number } {
  const zoneOf = new Uint16Array(nodes.length);
  const named = new Map<string, number>();
  let zoneCount = 0;
  nodes.forEach((node, nodeIndex) => {
    let zone = node.zone === undefined ? undefined : named.get(node.zone);
    if (zone === undefined) {
      zone = zoneCount++;
      if (node.zone !== undefined) named.set(node.zone, zone);
    }
    zoneOf[nodeIndex] = zone;
  });
  return { zoneOf, zoneCount };
}

/**
 * Preference lists for every token index, flattened: entries `[k * width, (k + 1) * width)` are the
 * owners, as node indexes, of a position whose first token at or clockwise of it is `tokens[k]`,
 * where `width = min(replicationFactor, nodeCount)`.
 *
 * The rule, for the walk starting at token index k and visiting k, k+1, …, T-1, 0, 1, … (clockwise,
 * wrapping past the largest token to the smallest), with Z the number of distinct zones:
 *  1. Zone pass: visit tokens in walk order; take the token's node if its zone has no node taken yet.
 *     Stop once min(RF, Z) nodes are taken.
 *  2. Fill pass: walk again from k; take the token's node if it is not taken yet. Stop once
 *     min(RF, N) nodes are taken.
 * The list is in the order taken: zone-pass picks, then fill-pass picks. Its first entry is always the
 * node of `tokens[k]` (the primary). With no zones (every node its own zone) pass 2 takes nothing.
 */
export function buildPreferenceLists(
  table: TokenTable,
  zones: { zoneOf: Uint16Array; zoneCount: number },
  nodeCount: number,
  replicationFactor: number,
): { lists: Uint16Array; width: number } {
  const { nodeOf } = table;
  const tokenCount = nodeOf.length;
  const width = Math.min(replicationFactor, nodeCount);
  const zoneTarget = Math.min(replicationFactor, zones.zoneCount);
  const lists = new Uint16Array(tokenCount * width);
  // "Taken in the walk from k" is marked by stamping k + 1, so the marks need no clearing between walks.
  const nodeStamp = new Uint32Array(nodeCount);
  const zoneStamp = new Uint32Array(zones.zoneCount);

  for (let start = 0; start < tokenCount; start++) {
    const stamp = start + 1;
    let taken = 0;
    const takeClockwise = (target: number, accept: (node: number) => boolean): void => {
      for (let step = 0; taken < target; step++) {
        assert.ok(step < tokenCount, 'a full turn of the ring must find every zone and node');
        const node = nodeOf[(start + step) % tokenCount]!;
        if (accept(node)) {
          nodeStamp[node] = stamp;
          lists[start * width + taken++] = node;
        }
      }
    };
    takeClockwise(zoneTarget, (node) => {
      const zone = zones.zoneOf[node]!;
      if (zoneStamp[zone] === stamp) return false;
      zoneStamp[zone] = stamp;
      return true;
    });
    takeClockwise(width, (node) => nodeStamp[node] !== stamp);
    assert.equal(lists[start * width], nodeOf[start], 'the primary is the node of the first token');
  }
  return { lists, width };
}
