// The consistent-hash ring of DESIGN §4: vnode tokens, replica placement and the queries the rest of
// the system asks of it. Immutable once built; a topology change builds a new Ring, and `diffRings`
// says what moves between the two.
import assert from 'node:assert/strict';
import { RingError } from './errors.js';
import type { Hasher } from './hash.js';
import {
  DEFAULT_REPLICATION_FACTOR,
  DEFAULT_VNODES,
  HASH_SPACE_SIZE,
  POSITION_MAX,
  REPLICATION_FACTOR_MAX,
  TOKENS_MAX,
  VNODES_MAX,
} from './limits.js';
import { canonicalNodes, type RingNode } from './nodes.js';
import { buildPreferenceLists, zoneIndexes } from './placement.js';
import { rangeWidth, type TokenRange } from './ranges.js';
import { buildTokenTable, lowerBound, type TokenTable } from './tokens.js';

export interface RingOptions {
  /** Members; their order does not matter. */
  readonly nodes: readonly RingNode[];
  /** Vnodes (tokens) per node; DESIGN §4 default 128. */
  readonly vnodes?: number;
  /** Replicas per block; default 3. A ring with fewer nodes gives every block all of them. */
  readonly replicationFactor?: number;
  /** xxh64 seed 0, loaded once at start-up (`loadHasher`). */
  readonly hasher: Hasher;
}

/** One vnode token, as `GET /cluster/ring` lists it (64-bit values do not fit a JSON number). */
export interface TokenEntry {
  /** Unsigned decimal. */
  readonly token: string;
  readonly node: string;
}

/** Fractions of the hash space, in 0..1. */
export interface OwnershipShare {
  /** Where the node is one of the replica owners; summed over nodes this is min(RF, N). */
  readonly replica: number;
  /** Where the node is the first owner; summed over nodes this is 1. */
  readonly primary: number;
}

export class Ring {
  /** Members, sorted by name; node index i in the tables below is `nodes[i]`. */
  readonly nodes: readonly RingNode[];
  readonly vnodes: number;
  readonly replicationFactor: number;
  /** Length of every preference list: min(replicationFactor, nodes.length). */
  readonly ownerCount: number;

  readonly #hasher: Hasher;
  readonly #table: TokenTable;
  /** Flattened preference lists, `ownerCount` node indexes per token index (see placement.ts). */
  readonly #lists: Uint16Array;
  /** Frozen owner arrays per token index, made on first lookup so lookups allocate nothing after. */
  readonly #ownersCache: (readonly RingNode[] | undefined)[];
  readonly #indexByName: ReadonlyMap<string, number>;

  constructor(options: RingOptions) {
    const vnodes = options.vnodes ?? DEFAULT_VNODES;
    const replicationFactor = options.replicationFactor ?? DEFAULT_REPLICATION_FACTOR;
    if (!Number.isInteger(vnodes) || vnodes < 1 || vnodes > VNODES_MAX) {
      throw new RingError('BAD_VNODES', `vnodes must be an integer in 1..${VNODES_MAX}, got ${vnodes}`);
    }
    if (!Number.isInteger(replicationFactor) || replicationFactor < 1 || replicationFactor > REPLICATION_FACTOR_MAX) {
      throw new RingError(
        'BAD_RF',
        `replicationFactor must be an integer in 1..${REPLICATION_FACTOR_MAX}, got ${replicationFactor}`,
      );
    }
    const nodes = canonicalNodes(options.nodes);
    if (nodes.length * vnodes > TOKENS_MAX) {
      throw new RingError('TOO_MANY_NODES', `${nodes.length} nodes × ${vnodes} vnodes exceeds ${TOKENS_MAX} tokens`);
    }

    this.nodes = nodes;
    this.vnodes = vnodes;
    this.replicationFactor = replicationFactor;
    this.#hasher = options.hasher;
    this.#indexByName = new Map(nodes.map((node, index) => [node.name, index]));
    this.#table = buildTokenTable(
      nodes.map((node) => node.name),
      vnodes,
      options.hasher,
    );
    const placement = buildPreferenceLists(this.#table, zoneIndexes(nodes), nodes.length, replicationFactor);
    this.#lists = placement.lists;
    this.ownerCount = placement.width;
    this.#ownersCache = new Array<readonly RingNode[] | undefined>(this.#table.tokens.length);
  }

  get size(): number {
    return this.nodes.length;
  }

  has(name: string): boolean {
    return this.#indexByName.has(name);
  }

  node(name: string): RingNode | undefined {
    const index = this.#indexByName.get(name);
    return index === undefined ? undefined : this.nodes[index];
  }

  /** A block's position: xxh64 (seed 0) of its id. */
  position(id: string): bigint {
    return this.#hasher.h64String(id);
  }

  /** Replica owners of block `id`, in preference order. The array is shared and frozen. */
  owners(id: string): readonly RingNode[] {
    return this.#ownersAt(this.#tokenIndexOf(this.position(id)));
  }

  /** Replica owners of a position, in preference order. The array is shared and frozen. */
  ownersOfPosition(position: bigint): readonly RingNode[] {
    if (typeof position !== 'bigint' || position < 0n || position > POSITION_MAX) {
      throw new RingError('BAD_POSITION', `position must be an unsigned 64-bit bigint, got ${String(position)}`);
    }
    return this.#ownersAt(this.#tokenIndexOf(position));
  }

  /** Every vnode token in ascending order (tied tokens in tie-break order). */
  tokens(): TokenEntry[] {
    const { tokens, nodeOf } = this.#table;
    return Array.from(tokens, (token, index) => ({ token: token.toString(), node: this.nodes[nodeOf[index]!]!.name }));
  }

  /**
   * The ranges between consecutive distinct tokens, ascending by `end`: they cover the 2^64 positions
   * exactly once. The first is the wrap-around range, ending at the smallest token and starting at the
   * largest. Empty for an empty ring.
   */
  ranges(): TokenRange[] {
    const ranges: TokenRange[] = [];
    this.#forEachRange((start, end, index) => {
      ranges.push({ start, end, owners: this.#mapOwners(index, (node) => node.name) });
    });
    return ranges;
  }

  /** The ranges of which `name` is one of the replica owners. */
  rangesOwnedBy(name: string): TokenRange[] {
    if (!this.has(name)) throw new RingError('UNKNOWN_NODE', `node "${name}" is not in the ring`);
    return this.ranges().filter((range) => range.owners.includes(name));
  }

  /** Share of the hash space each node holds, for every node (sorted by name). */
  ownershipShare(): Map<string, OwnershipShare> {
    const replica = new Array<bigint>(this.size).fill(0n);
    const primary = new Array<bigint>(this.size).fill(0n);
    this.#forEachRange((start, end, index) => {
      const width = rangeWidth({ start, end });
      const first = index * this.ownerCount;
      primary[this.#lists[first]!]! += width;
      for (let slot = first; slot < first + this.ownerCount; slot++) replica[this.#lists[slot]!]! += width;
    });
    const fraction = (positions: bigint): number => Number(positions) / Number(HASH_SPACE_SIZE);
    return new Map(
      this.nodes.map((node, index) => [
        node.name,
        { replica: fraction(replica[index]!), primary: fraction(primary[index]!) },
      ]),
    );
  }

  /** Index of the first token at or clockwise of `position`; of a tied group, the group's first. */
  #tokenIndexOf(position: bigint): number {
    const { tokens } = this.#table;
    if (tokens.length === 0) throw new RingError('EMPTY_RING', 'the ring has no nodes');
    const index = lowerBound(tokens, position);
    return index === tokens.length ? 0 : index;
  }

  #ownersAt(tokenIndex: number): readonly RingNode[] {
    let owners = this.#ownersCache[tokenIndex];
    if (owners === undefined) {
      owners = Object.freeze(this.#mapOwners(tokenIndex, (node) => node));
      this.#ownersCache[tokenIndex] = owners;
    }
    return owners;
  }

  /** The preference list of token index `tokenIndex`, mapped (a loop, not a subarray: no view allocated). */
  #mapOwners<T>(tokenIndex: number, map: (node: RingNode) => T): T[] {
    const owners = new Array<T>(this.ownerCount);
    const first = tokenIndex * this.ownerCount;
    for (let slot = 0; slot < this.ownerCount; slot++) owners[slot] = map(this.nodes[this.#lists[first + slot]!]!);
    return owners;
  }

  /** Calls `visit` for each range (see `ranges`) with the token index whose preference list it has. */
  #forEachRange(visit: (start: bigint, end: bigint, tokenIndex: number) => void): void {
    const { tokens } = this.#table;
    const count = tokens.length;
    let covered = 0n;
    for (let index = 0; index < count; index++) {
      const end = tokens[index]!;
      // A tied token repeats the previous value: its range would be empty, and lookups never land
      // on it (they find the first of the tied group).
      if (index > 0 && end === tokens[index - 1]) continue;
      const start = tokens[(index + count - 1) % count]!;
      covered += rangeWidth({ start, end });
      visit(start, end, index);
    }
    assert.ok(count === 0 || covered === HASH_SPACE_SIZE, 'ranges cover the hash space exactly once');
  }
}
