// The answering side of anti-entropy: builds trees of local ranges (kept briefly so a peer can drill
// down into the build it compared), streams ranges to a peer that asks for them (its pull), and
// purges tombstones a range's leader says every owner holds. Every piece is bounded: trees kept,
// builds and pushes at once, and the time one push request runs.
import { randomBytes } from 'node:crypto';
import type { CorruptBlock } from '@ringblock/engine';
import { rangeContains, type Arc } from '@ringblock/ring';
import type { Dispatcher } from 'undici';
import { HttpError, type ErrorCode } from '../http/errors.js';
import { furthest } from '../transfer/arc.js';
import type { ChecksumHasher } from '../transfer/codec.js';
import { isTransferError } from '../transfer/errors.js';
import { ConcurrencyLimit, type ByteRateLimiter } from '../transfer/limiter.js';
import { positionText } from '../transfer/protocol.js';
import { sendRange } from '../transfer/sender.js';
import { MerkleBuilder, type MerkleTree } from './merkle.js';
import { pastGrace, type CandidateCollector } from './plan.js';
import type { MerkleRequest, MerkleResult, PurgeRequest, PushAnswer, PushRequest } from './protocol.js';
import type { RepairContext, RepairStore, ResponderLimits } from './types.js';

export interface ResponderOptions extends RepairContext, ResponderLimits {
  limiter: ByteRateLimiter;
  now: () => number;
  onCorrupt: (block: CorruptBlock) => void;
  onPurged: (count: number) => void;
  /** The connection pool to a peer (shared with this node's own repair calls to it). */
  dispatcherFor: (addr: string) => Dispatcher;
  /** Bytes this node streamed for a peer's pull. */
  onSent: (bytes: number) => void;
}

interface KeptTree {
  tree: MerkleTree;
  expiresMs: number;
}

/** A tree of one local range, in one pass over it; `collector` sees every record too. */
export async function buildLocalTree(
  engine: RepairStore, hasher: ChecksumHasher, arc: Arc, depth: number, onCorrupt: (block: CorruptBlock) => void, collector?: CandidateCollector,
): Promise<MerkleTree> {
  const builder = new MerkleBuilder(arc, depth, hasher);
  for await (const record of engine.rangeEntries(arc.start, arc.end, { namespace: 0, onCorrupt })) {
    builder.add(record);
    collector?.offer(record);
  }
  return builder.finish();
}

export class RepairResponder {
  private readonly kept = new Map<string, KeptTree>();
  private readonly builds: ConcurrencyLimit;
  private readonly pushes: ConcurrencyLimit;

  constructor(private readonly options: ResponderOptions) {
    this.builds = new ConcurrencyLimit({ inFlightMax: options.buildsInFlightMax, waitingMax: 0 });
    this.pushes = new ConcurrencyLimit({ inFlightMax: options.pushesInFlightMax, waitingMax: 0 });
  }

  async merkle(request: MerkleRequest): Promise<MerkleResult[]> {
    if (request.catchUp !== true) this.refuseDuringMigration();
    const release = this.builds.tryAcquire();
    if (!release) throw busy('tree builds');
    try {
      const results: MerkleResult[] = [];
      for (const query of request.queries) {
        const tree = query.tree === undefined ? await this.build(query.arc, request.depth) : this.keptTree(query.tree, query.arc, request.depth);
        if (!tree) {
          results.push({ missing: true });
          continue;
        }
        const hashes = query.indexes ? query.indexes.map((index) => tree.tree.hash(query.level, index)) : Array.from(levelHashes(tree.tree, query.level));
        results.push({ tree: tree.id, records: tree.tree.records, hashes });
      }
      return results;
    } finally {
      release();
    }
  }

  /** Streams the arc to `from` (through its transfer route) for about pushBudgetMs. */
  async push(request: PushRequest, signal: AbortSignal): Promise<PushAnswer> {
    if (request.catchUp !== true) this.refuseDuringMigration();
    const to = this.options.addressOf(request.from);
    if (!to) throw new HttpError(409, 'CONFLICT', `no address is known for node "${request.from}"`);
    const release = this.pushes.tryAcquire();
    if (!release) throw busy('pushes');
    const { arc } = request;
    const answer: PushAnswer = { done: false, records: 0, applied: 0, bytes: 0, lastPosition: request.resumeAfter };
    const deadlineMs = performance.now() + this.options.pushBudgetMs;
    try {
      while (!answer.done && performance.now() < deadlineMs) {
        const sent = await sendRange({
          engine: this.options.engine,
          hasher: this.options.hasher,
          range: arc,
          to,
          token: this.options.token,
          transport: this.options.transport,
          epoch: () => this.options.view.currentEpoch(),
          limiter: this.options.limiter,
          transferId: Buffer.from(request.transferId, 'hex'),
          requestMs: this.options.pushRequestMs,
          signal,
          onCorrupt: this.options.onCorrupt,
          dispatcher: this.options.dispatcherFor(to),
          ...(answer.lastPosition === undefined ? {} : { resumeAfter: answer.lastPosition }),
        });
        answer.records += sent.records;
        answer.applied += sent.applied;
        answer.bytes += sent.bytes;
        this.options.onSent(sent.bytes);
        answer.lastPosition = furthest(arc, answer.lastPosition, sent.lastPosition);
        answer.done = sent.rangeDone;
      }
      return answer;
    } catch (error) {
      if (!isTransferError(error)) throw error;
      // What the requester holds durably so far travels back, so its next ask resumes there.
      const lastPosition = positionText(furthest(arc, answer.lastPosition, error.lastPosition));
      const status = error.code === 'STALE_EPOCH' ? 409 : error.retryable ? 502 : 422;
      throw new HttpError(status, error.code as ErrorCode, `streaming the range failed: ${error.message}`, { lastPosition, epoch: error.epoch ?? null });
    } finally {
      release();
    }
  }

  /**
   * Purges the listed tombstones the range's leader found every owner to hold (see plan.ts): only
   * where this node owns the position, `from` leads it, the grace has passed by this node's clock,
   * and the current record is exactly that tombstone (the engine checks the version).
   */
  async purge(request: PurgeRequest): Promise<number> {
    this.refuseDuringMigration();
    const ring = this.options.view.currentRing();
    if (!ring) throw new HttpError(503, 'UNAVAILABLE', 'no committed ring is known yet');
    const nowMs = this.options.now();
    let purged = 0;
    for (const { id, version } of request.tombstones) {
      const position = this.options.hasher.h64(Buffer.from(id, 'utf8'));
      if (!rangeContains(request.arc, position)) continue;
      const owners = ring.ownersOfPosition(position).map((node) => node.name);
      const leader = [...owners].sort()[0];
      if (!owners.includes(this.options.self) || leader !== request.from || !pastGrace(version, nowMs, this.options.tombstoneGraceMs)) continue;
      if ((await this.options.engine.purgeTombstone(id, version)).purged) purged++;
    }
    this.options.onPurged(purged);
    return purged;
  }

  private refuseDuringMigration(): void {
    if (this.options.migrationRunning()) throw new HttpError(503, 'UNAVAILABLE', 'a migration is running; anti-entropy waits for its end', {}, { 'retry-after': '5' });
  }

  private async build(arc: Arc, depth: number): Promise<{ id: string; tree: MerkleTree }> {
    const tree = await buildLocalTree(this.options.engine, this.options.hasher, arc, depth, this.options.onCorrupt);
    const id = randomBytes(8).toString('hex');
    this.expire();
    while (this.kept.size >= this.options.treesKeptMax) this.kept.delete(this.kept.keys().next().value!);
    this.kept.set(id, { tree, expiresMs: performance.now() + this.options.treeKeepMs });
    return { id, tree };
  }

  private keptTree(id: string, arc: Arc, depth: number): { id: string; tree: MerkleTree } | undefined {
    this.expire();
    const kept = this.kept.get(id)?.tree;
    if (!kept || kept.depth !== depth || kept.arc.start !== arc.start || kept.arc.end !== arc.end) return undefined;
    return { id, tree: kept };
  }

  private expire(): void {
    const nowMs = performance.now();
    for (const [id, kept] of this.kept) if (kept.expiresMs <= nowMs) this.kept.delete(id);
  }
}

function levelHashes(tree: MerkleTree, level: number): BigUint64Array {
  return tree.nodes.subarray(1 << level, 2 << level);
}

function busy(what: string): HttpError {
  return new HttpError(503, 'UNAVAILABLE', `this node serves as many anti-entropy ${what} as it allows; ask again later`, {}, { 'retry-after': '1' });
}
