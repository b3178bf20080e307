// Ring members and their validation. Both the Ring constructor and the ring-znode parser go through
// `canonicalNodes`, so a node list that one accepts the other accepts too.
import { NODE_LABEL_LENGTH_MAX, NODE_NAME_LENGTH_MAX, NODES_MAX } from './limits.js';
import { RingError } from './errors.js';

export interface RingNode {
  /** Unique name; hashed into the node's tokens, so renaming a node moves its data. */
  readonly name: string;
  /** Where peers reach it (`host:port`); not part of placement. */
  readonly addr?: string;
  /** Failure domain; placement spreads a block's replicas over distinct zones first. */
  readonly zone?: string;
}

/**
 * Names use the block-id alphabet: they appear in ZooKeeper paths (`members/<name>`) and in token
 * strings (`"<name>#<i>"`), and being ASCII makes "order by name" mean the same thing (byte order)
 * in every implementation.
 */
const NODE_NAME_PATTERN = /^[A-Za-z0-9._~:-]+$/;

/**
 * Validates `input`, returning new frozen nodes sorted by name (the canonical order: a ring does not
 * depend on the order its nodes were listed in). A zone or address that is `null`, `undefined` or
 * `""` means "none" and is left out of the result.
 */
export function canonicalNodes(input: readonly unknown[]): readonly RingNode[] {
  if (input.length > NODES_MAX) {
    throw new RingError('TOO_MANY_NODES', `${input.length} nodes, at most ${NODES_MAX} allowed`);
  }
  const nodes = input.map(canonicalNode).sort((a, b) => compareNames(a.name, b.name));
  for (let index = 1; index < nodes.length; index++) {
    if (nodes[index]!.name === nodes[index - 1]!.name) {
      throw new RingError('DUPLICATE_NODE', `node "${nodes[index]!.name}" is listed twice`);
    }
  }
  return Object.freeze(nodes);
}

/** Orders node names by UTF-16 code unit, which for ASCII names is byte order. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function canonicalNode(input: unknown): RingNode {
  if (typeof input !== 'object' || input === null) throw badNode('a node is not an object');
  const { name, addr, zone } = input as Record<string, unknown>;
  if (typeof name !== 'string' || name.length === 0 || name.length > NODE_NAME_LENGTH_MAX) {
    throw badNode(`node name must be a string of 1..${NODE_NAME_LENGTH_MAX} characters`);
  }
  if (!NODE_NAME_PATTERN.test(name)) {
    throw badNode(`node name "${name}" has characters outside [A-Za-z0-9._~:-]`);
  }
  const node: { name: string; addr?: string; zone?: string } = { name };
  const addrValue = optionalLabel(name, 'addr', addr);
  if (addrValue !== undefined) node.addr = addrValue;
  const zoneValue = optionalLabel(name, 'zone', zone);
  if (zoneValue !== undefined) node.zone = zoneValue;
  return Object.freeze(node);
}

function optionalLabel(name: string, field: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || value.length > NODE_LABEL_LENGTH_MAX) {
    throw badNode(`node "${name}": ${field} must be a string of at most ${NODE_LABEL_LENGTH_MAX} characters`);
  }
  return value;
}

function badNode(message: string): RingError {
  return new RingError('BAD_NODE', message);
}
