// The committed ring znode (DESIGN §3): `{epoch, nodes:[{name, addr, zone}]}`. Tokens are never
// stored: every node derives them from the nodes plus the cluster config (vnodes, RF), so the znode
// stays small and cannot disagree with the hash function.
import { RingError } from './errors.js';
import { canonicalNodes, type RingNode } from './nodes.js';

export interface RingRecord {
  /** Bumped by every committed topology change; internal requests carry it (DESIGN §6). */
  readonly epoch: number;
  readonly nodes: readonly RingNode[];
}

/**
 * JSON for the `ring` znode. Nodes are written sorted by name, and absent zones and addresses are
 * left out, so equal rings serialize to equal bytes.
 */
export function serializeRing(record: RingRecord): string {
  return JSON.stringify(validRecord(record));
}

/**
 * Parses the `ring` znode's data. Throws RingError: BAD_RING_JSON when it is not JSON, BAD_RING_RECORD
 * when the shape is wrong, and the node codes (BAD_NODE, DUPLICATE_NODE, TOO_MANY_NODES) for a bad
 * node list. Unknown extra fields are ignored, so a later version may add some.
 */
export function parseRing(data: string | Uint8Array): RingRecord {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (error) {
    throw new RingError('BAD_RING_JSON', `ring record is not UTF-8 JSON: ${(error as Error).message}`);
  }
  return validRecord(value);
}

function validRecord(value: unknown): RingRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RingError('BAD_RING_RECORD', 'ring record must be a JSON object');
  }
  const { epoch, nodes } = value as Record<string, unknown>;
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) {
    throw new RingError('BAD_RING_RECORD', `ring epoch must be a non-negative integer, got ${JSON.stringify(epoch)}`);
  }
  if (!Array.isArray(nodes)) throw new RingError('BAD_RING_RECORD', 'ring nodes must be an array');
  return Object.freeze({ epoch, nodes: canonicalNodes(nodes) });
}
