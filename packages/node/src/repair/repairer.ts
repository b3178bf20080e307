// Anti-entropy (DESIGN §5): in a round, this node compares every range it owns with the owners it
// pairs with (plan.ts), by Merkle trees (merkle.ts): its own built locally, the peer's root first and
// then only the subtrees that differ. Differing buckets are streamed both ways over the bulk
// transfer (newest wins on the receiving side): pushed from here with a TransferTask, pulled by
// asking the peer to push (responder.ts). The leader of a range then purges tombstones every owner
// holds (the rule is written in plan.ts).
// Rounds run one at a time: periodically, after start-up, after a ring node comes back, after a ring
// change, and for a full-repair task; requests arriving meanwhile are batched into the next round.
// A round waits while a migration runs and stops early (no purge) when one starts or the ring changes.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CorruptBlock } from '@ringblock/engine';
import type { Arc } from '@ringblock/ring';
import { furthest } from '../transfer/arc.js';
import { requestError } from '../transfer/client.js';
import { TransferError } from '../transfer/errors.js';
import { ByteRateLimiter, systemClock } from '../transfer/limiter.js';
import { TransferTask } from '../transfer/task.js';
import { RepairClient } from './client.js';
import { bucketsArc, descendants, streamRuns, TREE_DEPTH_MAX, type MerkleTree } from './merkle.js';
import { arcKey, CandidateCollector, PendingPurges, planRanges, rangesByPeer, RangeRound, type CandidateBudget, type PurgeCandidate } from './plan.js';
import { aggregateTask, parseTaskPart, RoundProgress, TaskBook, type RoundSummary, type TaskPart, type TaskPartJson, type TaskStart, type TaskStatus } from './progress.js';
import { HASHES_PER_REQUEST_MAX, PURGE_BATCH_MAX, QUERIES_PER_REQUEST_MAX } from './protocol.js';
import { buildLocalTree, RepairResponder } from './responder.js';
import { DEFAULT_REPAIR_LIMITS, type RepairContext, type RepairCounters, type RepairLimits } from './types.js';

/** Levels one drill-down request descends: 32 children per differing node. */
const DRILL_LEVELS = 5;
/** Streams (each way) one range's repair takes at most: differing buckets far apart are joined. */
const STREAMS_PER_RANGE_MAX = 8;
/** How often a waiting round looks whether the migration ended. */
const MIGRATION_POLL_MS = 1_000;
/** Backoff between failed calls of one comparison: doubling from… up to… */
const BACKOFF_MS_INITIAL = 200;
const BACKOFF_MS_MAX = 5_000;
/** Bound on waiting for a peer's part of a task. */
const TASK_PART_TIMEOUT_MS = 3_000;

export interface RepairerOptions extends RepairContext {
  log: Logger;
  limits?: Partial<RepairLimits>;
  counters?: Partial<RepairCounters>;
  /** Wall clock (ms since the epoch): compared with version timestamps. */
  now?: () => number;
}

export interface RepairStatus {
  periodicIntervalMs: number;
  onEvents: boolean;
  tombstoneGraceMs: number;
  bytesPerSecond: number;
  /** The round in progress, if any. */
  round: RoundSummary | null;
  lastRound: RoundSummary | null;
  rounds: number;
  /** Arcs (neighbouring ranges joined, plan.ts) this node leads found in sync with every owner (this ring epoch). */
  rangesInSync: number;
  /** Ranges with tombstones waiting for their purging round, and how many tombstones. */
  purgesPending: { ranges: number; tombstones: number };
  totals: { rangesCompared: number; rangesRepaired: number; blocksRepaired: number; tombstonesPurged: number; bytesSent: number; compareBytes: number; failures: number };
}

interface PeerTarget {
  name: string;
  addr: string;
}

/** One range's exchange with one peer: where it streams, under which signal, and where counts go. */
interface Exchange {
  peer: PeerTarget;
  signal: AbortSignal;
  /** A migration sender's catch-up: the peer serves it during a migration. */
  catchUp: boolean;
  streamed: (result: { applied: number; bytes: number }) => void;
}

/** What a migration sender's catch-up with one old owner changed. */
export interface CatchUpResult {
  /** The trees differed (something was streamed one way or the other). */
  differed: boolean;
  /** Records that changed a store (either side), and bytes streamed (both ways). */
  applied: number;
  bytes: number;
  /** Records of the range this node hashed (the peer hashed about as many): the comparison's cost. */
  recordsCompared: number;
}

export class Repairer {
  readonly limits: RepairLimits;
  readonly responder: RepairResponder;
  private readonly limiter: ByteRateLimiter;
  private readonly client: RepairClient;
  private readonly tasks: TaskBook;
  private readonly stopping = new AbortController();
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly pendingReasons = new Set<string>();
  private pendingParts: TaskPart[] = [];
  private running: Promise<void> | undefined;
  private current: RoundProgress | undefined;
  private last: RoundSummary | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAtMs = 0;
  private periodicTimer: NodeJS.Timeout | undefined;
  private started = false;
  private liveRingNodes: ReadonlySet<string> | undefined;
  private ringEpoch: number | undefined;
  /** Ranges (by arcKey) found in sync with every owner, and when (this node leads them). */
  private readonly inSync = new Map<string, number>();
  /** Tombstones of ranges found in sync, waiting for the round that purges them (plan.ts). */
  private readonly pending = new PendingPurges();
  private rounds = 0;
  private readonly totals = { rangesCompared: 0, rangesRepaired: 0, blocksRepaired: 0, tombstonesPurged: 0, bytesSent: 0, compareBytes: 0, failures: 0 };

  constructor(private readonly options: RepairerOptions) {
    const graceMs = options.limits?.tombstoneGraceMs ?? DEFAULT_REPAIR_LIMITS.tombstoneGraceMs;
    this.limits = { ...DEFAULT_REPAIR_LIMITS, purgeSettleMs: Math.min(DEFAULT_REPAIR_LIMITS.purgeSettleMs, graceMs), ...options.limits };
    checkLimits(this.limits);
    this.now = options.now ?? Date.now;
    this.log = options.log.child({ component: 'anti-entropy' });
    this.limiter = new ByteRateLimiter({ bytesPerSecond: this.limits.bytesPerSecond, burstBytes: Math.max(256 * 1024, Math.floor(this.limits.bytesPerSecond / 4)) });
    this.client = new RepairClient({ token: options.token, transport: options.transport, epoch: () => options.view.currentEpoch(), answerTimeoutMs: this.limits.pushBudgetMs + 4 * this.limits.pushRequestMs + 30_000,
      onCompareBytes: (bytes) => {
        this.totals.compareBytes += bytes;
        this.options.counters?.compareBytes?.inc(bytes);
      },
    });
    this.tasks = new TaskBook(this.limits.tasksKeptMax);
    this.responder = new RepairResponder({
      ...this.limits,
      ...options,
      limiter: this.limiter,
      now: this.now,
      onCorrupt: this.onCorrupt,
      onPurged: (count) => this.purged(count),
      onSent: (bytes) => this.sent(bytes),
      dispatcherFor: (addr) => this.client.dispatcher(addr),
    });
  }

  start(): void {
    if (this.started || this.stopping.signal.aborted) return;
    this.started = true;
    this.ringEpoch = this.options.view.currentEpoch();
    this.liveRingNodes = this.liveRingNodeNames();
    if (this.limits.intervalMs > 0) {
      this.periodicTimer = setInterval(() => this.requestRound('periodic', 0), this.limits.intervalMs);
      this.periodicTimer.unref();
    }
    // This node itself just came back: the pairs it starts are compared now.
    if (this.limits.onEvents) this.requestRound('start-up');
  }

  /** Stops rounds (the one running ends at its next step) and closes connections. */
  async stop(): Promise<void> {
    this.stopping.abort(new TransferError('ABORTED', 'anti-entropy is stopping'));
    clearInterval(this.periodicTimer);
    clearTimeout(this.wakeTimer);
    await this.running;
    await this.client.close();
  }

  /** Call after the committed ring changed (a migration committed): sync state restarts, a round follows. */
  onRingChanged(): void {
    const epoch = this.options.view.currentEpoch();
    if (epoch === this.ringEpoch) return;
    this.ringEpoch = epoch;
    this.inSync.clear();
    this.pending.clearAll();
    this.liveRingNodes = this.liveRingNodeNames();
    if (this.started && this.limits.onEvents) this.requestRound('ring changed');
  }

  /** Call after the live member set changed: a ring node that is live again gets its ranges compared. */
  onMembersChanged(): void {
    const live = this.liveRingNodeNames();
    const before = this.liveRingNodes;
    this.liveRingNodes = live;
    if (!this.started || !this.limits.onEvents || !before) return;
    const back = [...live].filter((name) => !before.has(name));
    if (back.length > 0) this.requestRound(`back: ${back.join(', ')}`);
  }

  /** Starts a full repair: every live ring node runs one round under a new task id. */
  repairAll(): string {
    const start: TaskStart = { task: randomUUID(), createdAt: this.now(), createdBy: this.options.self };
    this.acceptTask(start);
    for (const peer of this.livePeers()) {
      this.client.startTask(peer.addr, start, this.stopping.signal).catch((error: unknown) => this.log.warn({ err: error, peer: peer.name, task: start.task }, 'a peer did not take its part of a repair'));
    }
    this.log.info({ task: start.task }, 'full repair started');
    return start.task;
  }

  /** Takes this node's part of a task (idempotent): the next round carries it. */
  acceptTask(start: TaskStart): TaskPart {
    const { part, created } = this.tasks.accept(start, this.options.self);
    if (created) this.requestRound(`repair task ${start.task}`, 0, part);
    return part;
  }

  localTaskPart(task: string): TaskPartJson | undefined {
    return this.tasks.get(task)?.json();
  }

  /** A task across every ring node (their parts gathered), or undefined when no node knows it. */
  async taskStatus(task: string): Promise<TaskStatus | undefined> {
    const local = this.localTaskPart(task);
    const remote = await Promise.all(
      this.otherRingNodes().map(async (name) => {
        const unknown = { node: name, state: 'unknown' as const };
        const addr = this.options.addressOf(name);
        if (!addr) return unknown;
        const answer = await this.client.taskPart(addr, task, AbortSignal.timeout(TASK_PART_TIMEOUT_MS)).catch(() => undefined);
        return parseTaskPart(answer) ?? unknown;
      }),
    );
    return aggregateTask(task, [...(local ? [local] : [{ node: this.options.self, state: 'unknown' as const }]), ...remote]);
  }

  status(): RepairStatus {
    return {
      periodicIntervalMs: this.limits.intervalMs,
      onEvents: this.limits.onEvents,
      tombstoneGraceMs: this.limits.tombstoneGraceMs,
      bytesPerSecond: this.limits.bytesPerSecond,
      round: this.current?.summary() ?? null,
      lastRound: this.last ?? null,
      rounds: this.rounds,
      rangesInSync: this.inSync.size,
      purgesPending: { ranges: this.pending.size, tombstones: this.pending.candidates },
      totals: { ...this.totals },
    };
  }

  /**
   * A migration sender's catch-up (migration/plan.ts): before this node streams `arc` to a new owner,
   * it compares the arc with another old owner and streams the differing buckets both ways (newest
   * wins), so its copy holds every write that old owner holds — a write acknowledged at quorum by
   * the other old owners while this one missed it reaches the new owner too. Runs while a migration
   * does (the peer serves `catchUp` requests then); purges nothing.
   */
  async catchUp(arc: Arc, peerName: string, signal?: AbortSignal): Promise<CatchUpResult> {
    const addr = this.options.addressOf(peerName);
    if (!addr) throw new TransferError('REFUSED', `no address is known for node "${peerName}"`);
    const totals: CatchUpResult = { differed: false, applied: 0, bytes: 0, recordsCompared: 0 };
    const exchange: Exchange = {
      peer: { name: peerName, addr },
      signal: signal ? AbortSignal.any([this.stopping.signal, signal]) : this.stopping.signal,
      catchUp: true,
      streamed: (result) => {
        totals.applied += result.applied;
        totals.bytes += result.bytes;
        this.countStreamed(result);
      },
    };
    const depth = this.limits.depth;
    const local = await buildLocalTree(this.options.engine, this.options.hasher, arc, depth, this.onCorrupt);
    totals.recordsCompared = local.records;
    const [result] = await this.withRetries(() => this.client.merkle(addr, { depth, queries: [{ arc, level: 0 }], catchUp: true }, exchange.signal), exchange.signal);
    if (!result || 'missing' in result) throw new TransferError('REFUSED', 'the peer built no tree of the range');
    totals.differed = local.root !== result.hashes[0] && (await this.repairRange(exchange, arc, local, result.tree));
    return totals;
  }

  /** Asks for a round after `delayMs` (default: the event delay); requests meanwhile are batched. */
  requestRound(reason: string, delayMs = this.limits.eventDelayMs, part?: TaskPart): void {
    if (this.stopping.signal.aborted) return;
    this.pendingReasons.add(reason);
    if (part) this.pendingParts.push(part);
    if (!this.running) this.arm(delayMs);
  }

  /** Resolves when no round runs or waits (for tests and the bench). */
  async idle(): Promise<void> {
    while (this.running || this.wakeTimer) {
      await (this.running ?? new Promise((resolve) => setTimeout(resolve, Math.max(1, this.wakeAtMs - performance.now()))));
    }
  }

  // ---- rounds ----

  private arm(delayMs: number): void {
    const atMs = performance.now() + delayMs;
    if (this.wakeTimer && this.wakeAtMs <= atMs) return;
    clearTimeout(this.wakeTimer);
    this.wakeAtMs = atMs;
    this.wakeTimer = setTimeout(() => this.runPending(), delayMs);
    this.wakeTimer.unref();
  }

  private runPending(): void {
    this.wakeTimer = undefined;
    if (this.stopping.signal.aborted || this.running || this.pendingReasons.size === 0) return;
    const reasons = [...this.pendingReasons];
    const parts = this.pendingParts;
    this.pendingReasons.clear();
    this.pendingParts = [];
    this.running = this.round(reasons, parts)
      .catch((error: unknown) => this.log.warn({ err: error }, 'anti-entropy round failed'))
      .finally(() => {
        this.running = undefined;
        if (this.pendingReasons.size > 0) this.arm(this.pendingParts.length > 0 ? 0 : this.limits.eventDelayMs);
      });
  }

  private async round(reasons: string[], parts: TaskPart[]): Promise<void> {
    await this.waitWhileMigrating();
    const progress = new RoundProgress(reasons, this.now());
    this.current = progress;
    for (const part of parts) part.attach(progress);
    let outcome = 'interrupted';
    try {
      outcome = await this.compareAll(progress);
    } finally {
      progress.finish(outcome, this.now());
      this.current = undefined;
      this.last = progress.summary();
      this.rounds++;
      if (outcome === 'interrupted' && !this.stopping.signal.aborted) {
        // A ring change or migration cut the round short: its tasks go with the next round.
        for (const part of parts) part.detach();
        this.pendingParts.push(...parts);
        this.pendingReasons.add('after an interrupted round');
      }
      this.log.info(this.last, 'anti-entropy round finished');
    }
  }

  /** One round over every owned range; returns how it ended. */
  private async compareAll(progress: RoundProgress): Promise<string> {
    const ring = this.options.view.currentRing();
    const epoch = this.options.view.currentEpoch();
    if (!ring || !ring.has(this.options.self)) return 'completed: this node owns no range of the committed ring';
    const states = planRanges(ring.rangesOwnedBy(this.options.self), this.options.self, this.limits.rangesPerArcMax).map((plan) => new RangeRound(plan));
    const budget: CandidateBudget = { remaining: this.limits.candidatesMax - this.pending.candidates };
    progress.counts.rangesTotal = states.reduce((total, state) => total + state.plan.peers.length, 0);
    for (const [name, ranges] of rangesByPeer(states)) {
      if (this.interrupted(epoch)) return 'interrupted';
      const addr = this.options.view.isLive(name) ? this.options.addressOf(name) : undefined;
      if (!addr) {
        for (const state of ranges) state.failed = true;
        progress.failed(ranges.length);
        this.totals.failures += ranges.length;
        continue;
      }
      for (let at = 0; at < ranges.length; at += QUERIES_PER_REQUEST_MAX) {
        if (this.interrupted(epoch)) return 'interrupted';
        await this.compareChunk({ name, addr }, ranges.slice(at, at + QUERIES_PER_REQUEST_MAX), progress, budget);
      }
    }
    if (this.interrupted(epoch)) return 'interrupted';
    await this.purgeInSync(states, epoch, progress, budget);
    return this.interrupted(epoch) ? 'interrupted' : 'completed';
  }

  private interrupted(epoch: number): boolean {
    return this.stopping.signal.aborted || this.options.view.currentEpoch() !== epoch || this.options.migrationRunning();
  }

  private async waitWhileMigrating(): Promise<void> {
    while (this.options.migrationRunning() && !this.stopping.signal.aborted) {
      await systemClock.sleep(MIGRATION_POLL_MS, this.stopping.signal).catch(() => undefined);
    }
  }

  /** Compares up to QUERIES_PER_REQUEST_MAX ranges with one peer: roots in one call, then each differing range. */
  private async compareChunk(peer: PeerTarget, chunk: readonly RangeRound[], progress: RoundProgress, budget: CandidateBudget): Promise<void> {
    const trees: MerkleTree[] = [];
    for (const state of chunk) {
      // The leader's first build of the range this round is where purge candidates are collected.
      const collector = state.plan.leader && !state.collector ? this.collector(budget) : undefined;
      if (collector) state.collector = collector;
      trees.push(await buildLocalTree(this.options.engine, this.options.hasher, state.plan.arc, this.limits.depth, this.onCorrupt, collector));
    }
    const request = { depth: this.limits.depth, queries: chunk.map((state) => ({ arc: state.plan.arc, level: 0 })) };
    let results;
    try {
      results = await this.withRetries(() => this.client.merkle(peer.addr, request, this.stopping.signal));
    } catch (error) {
      this.log.warn({ err: error, peer: peer.name, ranges: chunk.length }, 'comparing trees with a peer failed');
      for (const state of chunk) state.failed = true;
      progress.failed(chunk.length);
      this.totals.failures += chunk.length;
      return;
    }
    await forEachBounded(chunk, this.limits.rangesInFlightMax, async (state, at) => {
      const local = trees[at]!;
      const result = results[at]!;
      try {
        if ('missing' in result) throw new TransferError('REFUSED', 'the peer no longer keeps the tree it built');
        const exchange: Exchange = { peer, signal: this.stopping.signal, catchUp: false, streamed: (streamed) => this.streamed(progress, streamed) };
        const repaired = local.root !== result.hashes[0] && (await this.repairRange(exchange, state.plan.arc, local, result.tree));
        state.synced.add(peer.name);
        state.repaired ||= repaired;
        progress.compared(repaired);
        this.totals.rangesCompared++;
        this.options.counters?.rangesCompared?.inc();
        if (repaired) {
          this.totals.rangesRepaired++;
          this.options.counters?.rangesRepaired?.inc();
        }
      } catch (error) {
        this.log.warn({ err: error, peer: peer.name, range: arcKey(state.plan.arc) }, 'repairing a range with a peer failed');
        state.failed = true;
        progress.failed();
        this.totals.failures++;
      }
    });
  }

  /** Drills down to the differing buckets and streams them both ways; true when any differed. */
  private async repairRange(exchange: Exchange, arc: Arc, local: MerkleTree, remoteTree: string): Promise<boolean> {
    const { peer, signal, catchUp } = exchange;
    const depth = this.limits.depth;
    let level = 0;
    let differing = [0];
    const remoteLeaves = new Map<number, bigint>();
    while (level < depth && differing.length > 0) {
      const next = Math.min(depth, level + DRILL_LEVELS);
      const indexes = descendants(differing, next - level);
      const found: number[] = [];
      for (let at = 0; at < indexes.length; at += HASHES_PER_REQUEST_MAX) {
        const batch = indexes.slice(at, at + HASHES_PER_REQUEST_MAX);
        const request = { depth, queries: [{ arc, level: next, tree: remoteTree, indexes: batch }], catchUp };
        const [result] = await this.withRetries(() => this.client.merkle(peer.addr, request, signal), signal);
        if (!result || 'missing' in result) throw new TransferError('REFUSED', 'the peer no longer keeps the tree it built');
        batch.forEach((index, i) => {
          if (local.hash(next, index) === result.hashes[i]) return;
          found.push(index);
          if (next === depth) remoteLeaves.set(index, result.hashes[i]!);
        });
      }
      differing = found;
      level = next;
    }
    if (differing.length === 0) return false;
    for (const run of streamRuns(local, differing, remoteLeaves, STREAMS_PER_RANGE_MAX)) {
      const runArc = bucketsArc(arc, depth, run.first, run.last);
      if (!runArc) continue;
      // An empty side has nothing to send: a wiped node only pulls, a node that missed writes only pulls.
      if (run.push) exchange.streamed(await this.pushArc(exchange, runArc));
      if (run.pull) exchange.streamed(await this.pullArc(exchange, runArc));
    }
    return true;
  }

  /** Streams our records of `arc` to the peer (it keeps what is newer). */
  private async pushArc({ peer, signal }: Exchange, arc: Arc): Promise<{ applied: number; bytes: number }> {
    const task = new TransferTask({
      engine: this.options.engine,
      hasher: this.options.hasher,
      range: arc,
      to: peer.addr,
      token: this.options.token,
      transport: this.options.transport,
      epoch: () => this.options.view.currentEpoch(),
      limiter: this.limiter,
      signal,
      attemptsMax: this.limits.attemptsMax,
      onCorrupt: this.onCorrupt,
      dispatcher: this.client.dispatcher(peer.addr),
    });
    const result = await task.run();
    this.sent(result.bytes);
    return { applied: result.applied, bytes: result.bytes };
  }

  /** Asks the peer to stream its records of `arc` to us, again after each bounded answer, until done. */
  private async pullArc({ peer, signal, catchUp }: Exchange, arc: Arc): Promise<{ applied: number; bytes: number }> {
    const transferId = randomBytes(16).toString('hex');
    const totals = { applied: 0, bytes: 0 };
    let resumeAfter: bigint | undefined;
    let failuresInRow = 0;
    for (;;) {
      try {
        const request = { from: this.options.self, arc, transferId, catchUp, ...(resumeAfter === undefined ? {} : { resumeAfter }) };
        const answer = await this.client.push(peer.addr, request, signal);
        totals.applied += answer.applied;
        totals.bytes += answer.bytes;
        if (answer.done) return totals;
        const before = resumeAfter;
        resumeAfter = furthest(arc, resumeAfter, answer.lastPosition);
        failuresInRow = resumeAfter === before ? failuresInRow + 1 : 0;
        if (failuresInRow >= this.limits.attemptsMax) throw new TransferError('REFUSED', 'the peer streamed nothing in several answers');
      } catch (error) {
        const failure = requestError(error, signal);
        const before = resumeAfter;
        resumeAfter = furthest(arc, resumeAfter, failure.lastPosition);
        failuresInRow = resumeAfter === before ? failuresInRow + 1 : 1;
        if (!failure.retryable || failuresInRow >= this.limits.attemptsMax) throw failure;
        await this.backoff(failuresInRow, signal);
      }
    }
  }

  /** Calls `call` again after transient failures (bounded, with backoff). */
  private async withRetries<T>(call: () => Promise<T>, signal = this.stopping.signal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        const failure = requestError(error, signal);
        if (!failure.retryable || attempt >= this.limits.attemptsMax) throw failure;
        await this.backoff(attempt, signal);
      }
    }
  }

  private async backoff(failuresInRow: number, signal: AbortSignal): Promise<void> {
    const delayMs = Math.min(BACKOFF_MS_MAX, BACKOFF_MS_INITIAL * 2 ** (failuresInRow - 1));
    await systemClock.sleep(delayMs, signal).catch((reason: unknown) => {
      throw requestError(reason, signal);
    });
  }

  // ---- purging ----

  private collector(budget: CandidateBudget): CandidateCollector {
    return new CandidateCollector(this.now(), this.limits.tombstoneGraceMs, this.limits.candidatesPerRangeMax, budget);
  }

  /**
   * For every range this node leads that this round found in sync with every owner: purges what an
   * earlier round left pending once due (plan.ts step 3, epoch and migration re-checked first), then
   * leaves this round's candidates pending (step 2).
   */
  private async purgeInSync(states: readonly RangeRound[], epoch: number, progress: RoundProgress, budget: CandidateBudget): Promise<void> {
    for (const state of states) {
      if (this.interrupted(epoch)) return;
      if (!state.inSyncWithAllOwners()) continue;
      const { arc } = state.plan;
      // A range with no other owner (RF 1) was not compared; its tombstones are collected now.
      if (!state.collector) await buildLocalTree(this.options.engine, this.options.hasher, arc, 1, this.onCorrupt, (state.collector = this.collector(budget)));
      this.inSync.set(arcKey(arc), state.collector.builtAtMs);
      const due = this.pending.due(arc, epoch, progress.startedAt);
      if (due.length > 0) {
        const purged = await this.purgeEverywhere(state, due, epoch);
        progress.counts.tombstonesPurged += purged;
        this.pending.clear(arc);
      }
      this.pending.offer(arc, { epoch, candidates: state.purgeable(), dueAtMs: this.now() + this.limits.purgeSettleMs });
    }
  }

  /** The other owners purge first, then this node; returns how many this node purged. */
  private async purgeEverywhere(state: RangeRound, candidates: readonly PurgeCandidate[], epoch: number): Promise<number> {
    const { arc, peers } = state.plan;
    for (const name of peers) {
      const addr = this.options.addressOf(name);
      if (!addr) continue;
      for (let at = 0; at < candidates.length; at += PURGE_BATCH_MAX) {
        const tombstones = candidates.slice(at, at + PURGE_BATCH_MAX);
        await this.client.purge(addr, { from: this.options.self, arc, tombstones }, this.stopping.signal).catch((error: unknown) => {
          // Safe to go on: that owner keeps its copy, repair spreads it back, a later round purges again.
          this.log.warn({ err: error, peer: name }, 'an owner did not purge tombstones');
        });
      }
    }
    if (this.interrupted(epoch)) return 0;
    let purged = 0;
    for (const { id, version } of candidates) if ((await this.options.engine.purgeTombstone(id, version)).purged) purged++;
    this.purged(purged);
    return purged;
  }

  // ---- counting ----

  private streamed(progress: RoundProgress, result: { applied: number; bytes: number }): void {
    progress.counts.blocksRepaired += result.applied;
    progress.counts.bytesStreamed += result.bytes;
    this.countStreamed(result);
  }

  private countStreamed(result: { applied: number }): void {
    this.totals.blocksRepaired += result.applied;
    this.options.counters?.blocksRepaired?.inc(result.applied);
  }

  private sent(bytes: number): void {
    this.totals.bytesSent += bytes;
    this.options.counters?.bytesSent?.inc(bytes);
  }

  private purged(count: number): void {
    this.totals.tombstonesPurged += count;
    this.options.counters?.tombstonesPurged?.inc(count);
  }

  private readonly onCorrupt = (block: CorruptBlock): void => {
    this.log.warn({ block: { ...block, position: block.position.toString() } }, 'a corrupt block was skipped by anti-entropy (the scrubber repairs it)');
  };

  private liveRingNodeNames(): ReadonlySet<string> {
    const ring = this.options.view.currentRing();
    return new Set(ring ? ring.nodes.map((node) => node.name).filter((name) => this.options.view.isLive(name)) : []);
  }

  /** The other ring nodes that are live, with their addresses. */
  private livePeers(): PeerTarget[] {
    const peers: PeerTarget[] = [];
    for (const name of this.otherRingNodes()) {
      const addr = this.options.view.isLive(name) ? this.options.addressOf(name) : undefined;
      if (addr) peers.push({ name, addr });
    }
    return peers;
  }

  private otherRingNodes(): string[] {
    const ring = this.options.view.currentRing();
    return ring ? ring.nodes.map((node) => node.name).filter((name) => name !== this.options.self) : [];
  }
}

/** Runs `task` over `items` with at most `limit` at once. */
async function forEachBounded<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function checkLimits(limits: RepairLimits): void {
  if (!(Number.isInteger(limits.depth) && limits.depth >= 1 && limits.depth <= TREE_DEPTH_MAX)) {
    throw new TransferError('BAD_OPTION', `Repair limit depth must be an integer from 1 to ${TREE_DEPTH_MAX}; got ${String(limits.depth)}.`);
  }
  for (const [name, value] of Object.entries(limits)) {
    if (name === 'onEvents') continue;
    const positive = !['intervalMs', 'eventDelayMs', 'tombstoneGraceMs', 'purgeSettleMs'].includes(name);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < (positive ? 1 : 0)) {
      throw new TransferError('BAD_OPTION', `Repair limit ${name} must be ${positive ? 'a positive' : 'a non-negative'} integer; got ${String(value)}.`);
    }
  }
}
