// Merkle trees over one ring range (pure: no I/O). A range is an Arc (start exclusive, end inclusive,
// wrapping when start >= end, the whole ring when start === end). Its positions are cut into 2^depth
// buckets of equal width by their clockwise distance d from the range's first position:
//   bucket(d) = floor(d × 2^depth / width)
// so a bucket is a contiguous sub-arc, and the same on every node that builds a tree of the range.
// Leaf hash: xxh64 over the bucket's records in ring order, each encoded as
//   position (8 bytes BE) | id length (1) | id | version length (1) | version | flags (1: bit 0 tombstone)
// (0 for an empty bucket). Inner hash: xxh64 of the two children's hashes (16 bytes BE), or 0 when both
// are 0, so an empty subtree costs nothing to compare. The tree lives in one BigUint64Array in heap
// order: node (level l, index i) at 2^l + i, the root at 1, the leaves at 2^depth + bucket.
import assert from 'node:assert/strict';
import { HASH_SPACE_SIZE, rangeWidth, type Arc } from '@ringblock/ring';
import { arcDistance } from '../transfer/arc.js';

export const DEFAULT_TREE_DEPTH = 10;
/** 2^14 leaves: a 256 KiB tree. Deeper trees cost more than the precision they buy. */
export const TREE_DEPTH_MAX = 14;

const POSITION_MASK = HASH_SPACE_SIZE - 1n;
const FLAG_TOMBSTONE = 1;
/** Largest encoded record: position, id (≤ 255 bytes) and version (≤ 255 bytes) with their lengths, flags. */
const RECORD_BYTES_MAX = 8 + 1 + 255 + 1 + 255 + 1;
const SCRATCH_BYTES_INITIAL = 16 * 1024;

/** xxh64 of raw bytes (the transfer's ChecksumHasher and the engine's Hasher fit). */
export interface Hash64 {
  h64(bytes: Uint8Array): bigint;
}

/** What a tree needs of a stored record (the engine's BlockHead fits). */
export interface MerkleRecord {
  id: string;
  position: bigint;
  version: Uint8Array;
  tombstone: boolean;
}

export function checkDepth(depth: number): void {
  assert.ok(Number.isInteger(depth) && depth >= 1 && depth <= TREE_DEPTH_MAX, `a tree depth is an integer from 1 to ${TREE_DEPTH_MAX}`);
}

/** First distance of bucket `leaf` (leaf may be 2^depth: the range's width). */
export function bucketStart(width: bigint, depth: number, leaf: number): bigint {
  return (BigInt(leaf) * width + (1n << BigInt(depth)) - 1n) >> BigInt(depth);
}

/** The bucket of a distance. */
export function bucketOf(width: bigint, depth: number, distance: bigint): number {
  return Number((distance << BigInt(depth)) / width);
}

/**
 * The sub-arc holding buckets first..last (inclusive), or undefined when it holds no position
 * (a range narrower than 2^depth has empty buckets).
 */
export function bucketsArc(arc: Arc, depth: number, first: number, last: number): Arc | undefined {
  const width = rangeWidth(arc);
  const from = bucketStart(width, depth, first);
  const to = bucketStart(width, depth, last + 1);
  if (to <= from) return undefined;
  return { start: (arc.start + from) & POSITION_MASK, end: (arc.start + to) & POSITION_MASK };
}

/** Sorted leaf indexes → the fewest sub-arcs covering exactly them (adjacent buckets merged). */
export function coalesceBuckets(arc: Arc, depth: number, leaves: readonly number[]): Arc[] {
  const arcs: Arc[] = [];
  for (let at = 0; at < leaves.length; ) {
    let last = at;
    while (last + 1 < leaves.length && leaves[last + 1] === leaves[last]! + 1) last++;
    const sub = bucketsArc(arc, depth, leaves[at]!, leaves[last]!);
    if (sub) arcs.push(sub);
    at = last + 1;
  }
  return arcs;
}

export class MerkleTree {
  constructor(
    readonly arc: Arc,
    readonly depth: number,
    /** Heap order: node (level l, index i) at 2^l + i. */
    readonly nodes: BigUint64Array,
    /** Records hashed into the tree. */
    readonly records: number,
  ) {
    checkDepth(depth);
    assert.equal(nodes.length, 2 << depth, 'a tree holds 2^(depth+1) slots');
  }

  get root(): bigint {
    return this.nodes[1]!;
  }

  hash(level: number, index: number): bigint {
    assert.ok(level >= 0 && level <= this.depth && index >= 0 && index < 1 << level, 'a node of the tree');
    return this.nodes[(1 << level) + index]!;
  }

  /** Whether this tree describes the same range with the same shape as `other`. */
  sameShape(other: MerkleTree): boolean {
    return this.depth === other.depth && this.arc.start === other.arc.start && this.arc.end === other.arc.end;
  }

  /** Leaves (ascending) whose hashes differ from `other`'s: only differing subtrees are visited. */
  diff(other: MerkleTree): number[] {
    assert.ok(this.sameShape(other), 'trees of the same range and depth');
    const leaves: number[] = [];
    const firstLeaf = 1 << this.depth;
    const visit = (node: number): void => {
      if (this.nodes[node] === other.nodes[node]) return;
      if (node >= firstLeaf) {
        leaves.push(node - firstLeaf);
        return;
      }
      visit(2 * node);
      visit(2 * node + 1);
    };
    visit(1);
    return leaves;
  }

  /** Sub-arcs of the buckets that differ from `other`'s. */
  diffArcs(other: MerkleTree): Arc[] {
    return coalesceBuckets(this.arc, this.depth, this.diff(other));
  }

  /** Of the nodes `indexes` at `level`, those whose hash differs from `remote` (same order). */
  differing(level: number, indexes: readonly number[], remote: readonly bigint[]): number[] {
    assert.equal(indexes.length, remote.length, 'one remote hash per index');
    return indexes.filter((index, at) => this.hash(level, index) !== remote[at]);
  }
}

/** Consecutive buckets streamed as one sub-arc, and which ways. */
export interface BucketRun {
  first: number;
  last: number;
  /** Some differing bucket of the run holds records here: send them. */
  push: boolean;
  /** Some differing bucket of the run holds records at the peer: ask for them. */
  pull: boolean;
}

/**
 * Groups the differing leaves (ascending) into runs to stream, one request each. Runs are joined
 * across buckets empty on both sides (they cost nothing to stream; a bucket that does not differ is
 * empty at the peer when it is empty here), and then across the cheapest gaps (fewest non-empty
 * buckets, whose equal records are re-sent and ignored by the receiver) until at most `runsMax`
 * remain: a sparse range or a wiped replica needs a few streams, not one per bucket.
 */
export function streamRuns(local: MerkleTree, differing: readonly number[], remoteLeaves: ReadonlyMap<number, bigint>, runsMax: number): BucketRun[] {
  assert.ok(Number.isInteger(runsMax) && runsMax >= 1, 'at least one run');
  const leafHash = (leaf: number) => local.hash(local.depth, leaf);
  const runs = differing.map((leaf): BucketRun => ({ first: leaf, last: leaf, push: leafHash(leaf) !== 0n, pull: remoteLeaves.get(leaf) !== 0n }));
  // Gap i lies between runs i and i+1; its cost is the number of non-empty (equal) buckets in it.
  const costs = runs.slice(1).map((run, i) => {
    let cost = 0;
    for (let leaf = runs[i]!.last + 1; leaf < run.first; leaf++) if (leafHash(leaf) !== 0n) cost++;
    return cost;
  });
  const order = costs.map((_, i) => i).sort((a, b) => costs[a]! - costs[b]! || a - b);
  const joined = new Set<number>();
  for (const gap of order) {
    if (costs[gap]! > 0 && runs.length - joined.size <= runsMax) break;
    joined.add(gap);
  }
  const merged: BucketRun[] = [];
  runs.forEach((run, i) => {
    const previous = merged[merged.length - 1];
    if (previous && joined.has(i - 1)) {
      previous.last = run.last;
      previous.push ||= run.push;
      previous.pull ||= run.pull;
    } else {
      merged.push({ ...run });
    }
  });
  return merged;
}

/** The indexes `step` levels below the given nodes (ascending when `indexes` are). */
export function descendants(indexes: readonly number[], step: number): number[] {
  const fanOut = 1 << step;
  const out: number[] = [];
  for (const index of indexes) for (let child = 0; child < fanOut; child++) out.push(index * fanOut + child);
  return out;
}

/**
 * Builds a tree from the records of its range, given in ascending clockwise distance from the range
 * start (the order the engine's rangeEntries yields). One scratch buffer holds the current bucket's
 * encoded records; it grows only for a bucket larger than it.
 */
export class MerkleBuilder {
  private readonly width: bigint;
  private readonly nodes: BigUint64Array;
  private scratch = Buffer.allocUnsafe(SCRATCH_BYTES_INITIAL);
  private scratchBytes = 0;
  private leaf = -1;
  /** First distance of the next bucket: a record at or beyond it closes the current one. */
  private nextBucketStart = 0n;
  private lastDistance = -1n;
  private count = 0;
  private finished = false;

  constructor(readonly arc: Arc, readonly depth: number, private readonly hasher: Hash64) {
    checkDepth(depth);
    this.width = rangeWidth(arc);
    this.nodes = new BigUint64Array(2 << depth);
  }

  add(record: MerkleRecord): void {
    assert.ok(!this.finished, 'records are added before finish()');
    const distance = arcDistance(this.arc, record.position);
    assert.ok(distance < this.width, 'the record lies on the range');
    assert.ok(distance > this.lastDistance, 'records come in ascending ring order, one per position');
    this.lastDistance = distance;
    if (distance >= this.nextBucketStart) {
      this.closeBucket();
      this.leaf = bucketOf(this.width, this.depth, distance);
      this.nextBucketStart = bucketStart(this.width, this.depth, this.leaf + 1);
    }
    this.encode(record);
    this.count++;
  }

  finish(): MerkleTree {
    assert.ok(!this.finished, 'finish() once');
    this.finished = true;
    this.closeBucket();
    const pair = Buffer.allocUnsafe(16);
    for (let node = (1 << this.depth) - 1; node >= 1; node--) {
      const left = this.nodes[2 * node]!;
      const right = this.nodes[2 * node + 1]!;
      if (left === 0n && right === 0n) continue;
      pair.writeBigUInt64BE(left, 0);
      pair.writeBigUInt64BE(right, 8);
      this.nodes[node] = this.hasher.h64(pair);
    }
    return new MerkleTree(this.arc, this.depth, this.nodes, this.count);
  }

  private encode(record: MerkleRecord): void {
    if (this.scratch.length - this.scratchBytes < RECORD_BYTES_MAX) {
      const grown = Buffer.allocUnsafe(this.scratch.length * 2);
      this.scratch.copy(grown, 0, 0, this.scratchBytes);
      this.scratch = grown;
    }
    const scratch = this.scratch;
    let at = scratch.writeBigUInt64BE(record.position, this.scratchBytes);
    const idBytes = scratch.write(record.id, at + 1, 255, 'utf8');
    assert.equal(idBytes, Buffer.byteLength(record.id, 'utf8'), 'an id has at most 255 bytes');
    scratch[at] = idBytes;
    at += 1 + idBytes;
    assert.ok(record.version.length <= 255, 'a version has at most 255 bytes');
    scratch[at] = record.version.length;
    scratch.set(record.version, at + 1);
    at += 1 + record.version.length;
    scratch[at] = record.tombstone ? FLAG_TOMBSTONE : 0;
    this.scratchBytes = at + 1;
  }

  private closeBucket(): void {
    if (this.leaf < 0 || this.scratchBytes === 0) return;
    const hash = this.hasher.h64(this.scratch.subarray(0, this.scratchBytes));
    // 0 means "empty"; a non-empty bucket hashing to 0 (chance 2^-64) is kept apart from it.
    this.nodes[(1 << this.depth) + this.leaf] = hash === 0n ? 1n : hash;
    this.scratchBytes = 0;
  }
}

/** A tree of `records` (in ring order) over `arc`. */
export async function buildTree(arc: Arc, depth: number, hasher: Hash64, records: AsyncIterable<MerkleRecord> | Iterable<MerkleRecord>): Promise<MerkleTree> {
  const builder = new MerkleBuilder(arc, depth, hasher);
  for await (const record of records) builder.add(record);
  return builder.finish();
}

/** Hashes as one hex string, 16 digits each (how trees travel in JSON). */
export function hashesToHex(hashes: readonly bigint[] | BigUint64Array): string {
  let text = '';
  for (const hash of hashes) text += hash.toString(16).padStart(16, '0');
  return text;
}

/** Parses hashesToHex's form; undefined when it is not `count` hashes. */
export function hashesFromHex(text: unknown, count: number): bigint[] | undefined {
  if (typeof text !== 'string' || text.length !== count * 16 || !/^[0-9a-f]*$/.test(text)) return undefined;
  const hashes: bigint[] = new Array<bigint>(count);
  for (let i = 0; i < count; i++) hashes[i] = BigInt(`0x${text.slice(16 * i, 16 * i + 16)}`);
  return hashes;
}
