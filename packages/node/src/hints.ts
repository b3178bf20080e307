// Hinted handoff (DESIGN §5): a write acknowledged without some of its owners (down, or their call
// failed) is kept by the coordinator in its own engine, apart from regular blocks (namespace 1, one
// record per block id, the newest version wins), and replayed to the block's owners once they are
// live again. Replay goes through the owners' last-writer-wins, so a hint never overwrites a newer
// version. A hint is removed (evicted with its exact version, so a newer hint stays) once every
// owner holds it or something newer. Bounded by count and age; beyond them anti-entropy is relied
// on and a metric says so.
import type { Logger } from 'pino';
import { CoalescedTask } from '@ringblock/coord';
import type { Engine, EngineStats } from '@ringblock/engine';
import type { Owner } from './coordinator.js';
import type { Replica } from './store.js';
import { decodeVersion } from './version.js';

export const HINT_NAMESPACE = 1;
/** Hints replayed per pass at most; the next pass continues. */
const REPLAY_BATCH_MAX = 2_000;
/** Replica calls of one replay pass in flight at once. */
const REPLAY_CONCURRENCY = 8;
/** Hints being written at once; beyond it a hint is dropped (counted) rather than queued without end. */
const STORING_MAX = 1_024;

export type HintDropReason = 'full' | 'age' | 'busy' | 'error';

/** What hinted handoff needs of the engine: the node passes its Engine, the simulator an in-memory one. */
export type HintEngine = Pick<Engine, 'put' | 'delete' | 'get' | 'evict' | 'scan'> & { stats(): Pick<EngineStats, 'namespaces'> };

export interface HintOptions {
  engine: HintEngine;
  self: string;
  /** The owners of a block now (committed ring, plus the pending one while migrating). */
  owners: (id: string) => readonly Owner[];
  isLive: (name: string) => boolean;
  replica: (owner: Owner) => Replica;
  maxHints: number;
  maxAgeMs: number;
  replayIntervalMs: number;
  log: Logger;
  now?: () => number;
  onStored?: () => void;
  onReplayed?: (count: number) => void;
  onDropped?: (reason: HintDropReason) => void;
}

export class HintedHandoff {
  private readonly replayTask: CoalescedTask;
  private timer: NodeJS.Timeout | undefined;
  private storing = 0;
  private readonly now: () => number;

  constructor(private readonly options: HintOptions) {
    this.now = options.now ?? Date.now;
    this.replayTask = new CoalescedTask(() => this.replayOnce(), (error) => options.log.warn({ err: error }, 'hint replay failed'));
  }

  start(): void {
    this.timer = setInterval(() => this.replayTask.trigger(), this.options.replayIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.replayTask.close();
    await this.replayTask.idle();
  }

  /** A member came back (or the ring changed): replay now rather than at the next interval. */
  replaySoon(): void {
    this.replayTask.trigger();
  }

  pending(): number {
    const counts = this.options.engine.stats().namespaces[HINT_NAMESPACE];
    return counts ? counts.blocks + counts.tombstones : 0;
  }

  /** Keeps the write for the owners that missed it. Never throws; drops are counted. */
  record(id: string, version: Buffer, data: Buffer | undefined, missed: readonly Owner[]): void {
    if (missed.every((owner) => owner.name === this.options.self)) return;
    if (this.pending() >= this.options.maxHints) return this.drop('full');
    if (this.storing >= STORING_MAX) return this.drop('busy');
    this.storing++;
    const { engine } = this.options;
    const write = data ? engine.put(id, version, data, { namespace: HINT_NAMESPACE }) : engine.delete(id, version, { namespace: HINT_NAMESPACE });
    write.then(
      () => this.options.onStored?.(),
      (error: unknown) => {
        this.options.log.warn({ err: error, id }, 'storing a hint failed');
        this.drop('error');
      },
    ).finally(() => this.storing--);
  }

  private drop(reason: HintDropReason): void {
    this.options.onDropped?.(reason);
  }

  /** One pass over the stored hints (bounded); each is delivered to its live owners, then removed if all hold it. */
  private async replayOnce(): Promise<void> {
    if (this.pending() === 0) return;
    const batch: { id: string; version: Buffer; tombstone: boolean }[] = [];
    for await (const hint of this.options.engine.scan({ namespace: HINT_NAMESPACE })) {
      batch.push({ id: hint.id, version: hint.version, tombstone: hint.tombstone });
      if (batch.length >= REPLAY_BATCH_MAX) break;
    }
    let next = 0;
    let replayed = 0;
    const worker = async () => {
      while (next < batch.length) {
        const hint = batch[next++]!;
        if (await this.replayHint(hint)) replayed++;
      }
    };
    await Promise.all(Array.from({ length: REPLAY_CONCURRENCY }, worker));
    if (replayed > 0) {
      this.options.onReplayed?.(replayed);
      this.options.log.info({ replayed, left: this.pending() }, 'replayed hints');
    }
  }

  /** True when the hint was delivered everywhere and removed. */
  private async replayHint(hint: { id: string; version: Buffer; tombstone: boolean }): Promise<boolean> {
    const { engine } = this.options;
    if (this.now() - decodeVersion(hint.version).physicalMs > this.options.maxAgeMs) {
      await engine.evict(hint.id, hint.version, { namespace: HINT_NAMESPACE });
      this.drop('age');
      return false;
    }
    // Every owner, this node included: a ring change may have made it an owner since the hint was
    // stored, and then nothing else gives it the version (a local write, `equal` if it holds it).
    const owners = this.options.owners(hint.id);
    if (owners.some((owner) => !this.options.isLive(owner.name))) return false;
    let data: Buffer | undefined;
    if (!hint.tombstone) {
      const stored = await engine.get(hint.id, { namespace: HINT_NAMESPACE });
      if (!stored || !stored.data || Buffer.compare(stored.version, hint.version) !== 0) return false; // replaced meanwhile
      data = stored.data;
    }
    const outcomes = await Promise.allSettled(owners.map((owner) => this.options.replica(owner).write(hint.id, hint.version, data)));
    if (outcomes.some((outcome) => outcome.status === 'rejected')) return false;
    const { evicted } = await engine.evict(hint.id, hint.version, { namespace: HINT_NAMESPACE });
    return evicted;
  }
}
