// The ring as a node publishes it (`GET /cluster/ring`), turned into what routing needs: the owners of
// a block in preference order and where each node listens. Pure: no I/O here.
//
// Placement is computed with @ringblock/ring's Ring from the published nodes, vnodes and RF (so zones
// are honoured exactly as the nodes honour them), and checked against the published tokens: a ring
// that does not reproduce them (a different hash, a different build) is refused rather than used to
// send requests to the wrong nodes.
import { Ring, type Hasher, type RingNode } from '@ringblock/ring';
import { nodeOrigin } from './validate.js';

/** What `GET /cluster/ring` answers (packages/node status-routes.ts). */
export interface RingAnswer {
  readonly epoch: number;
  readonly replicationFactor: number;
  readonly vnodes: number;
  readonly nodes: readonly { name: string; addr: string | null; zone: string | null }[];
  /** Every vnode token (unsigned decimal) and its node, ascending. */
  readonly tokens?: readonly { token: string; node: string }[];
}

export interface RingView {
  readonly epoch: number;
  readonly ring: Ring;
  /** The origin (`http://addr`) of each node that published an address. */
  readonly originOf: ReadonlyMap<string, string>;
}

export class RingAnswerError extends Error {
  override readonly name = 'RingAnswerError';
}

export function parseRingAnswer(value: unknown, hasher: Hasher): RingView {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RingAnswerError('the ring answer is not a JSON object');
  const answer = value as Partial<Record<keyof RingAnswer, unknown>>;
  const epoch = answer.epoch;
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) throw new RingAnswerError(`bad ring epoch ${JSON.stringify(epoch)}`);
  if (!Array.isArray(answer.nodes)) throw new RingAnswerError('the ring answer has no nodes array');
  let ring: Ring;
  try {
    ring = new Ring({
      nodes: answer.nodes as RingNode[],
      vnodes: answer.vnodes as number,
      replicationFactor: answer.replicationFactor as number,
      hasher,
    });
  } catch (error) {
    throw new RingAnswerError(`the ring answer does not make a ring: ${(error as Error).message}`);
  }
  if (answer.tokens !== undefined) checkTokens(ring, answer.tokens);
  const originOf = new Map<string, string>();
  for (const node of ring.nodes) {
    if (node.addr === undefined) continue;
    try {
      originOf.set(node.name, nodeOrigin(node.addr));
    } catch {
      // A node whose address is no usable origin is left out: requests for it go elsewhere.
    }
  }
  return Object.freeze({ epoch, ring, originOf });
}

function checkTokens(ring: Ring, published: unknown): void {
  if (!Array.isArray(published)) throw new RingAnswerError('the ring answer tokens are not an array');
  const computed = ring.tokens();
  if (computed.length !== published.length) {
    throw new RingAnswerError(`the ring answer lists ${published.length} tokens, its nodes make ${computed.length}`);
  }
  computed.forEach((entry, index) => {
    const other = published[index] as { token?: unknown; node?: unknown } | null;
    if (other?.token !== entry.token || other?.node !== entry.node) {
      throw new RingAnswerError(`token ${index} of the ring answer differs from the one computed locally (${entry.token} of ${entry.node})`);
    }
  });
}
