// Keeps the committed ring in line with the live members (the I/O glue around ring-policy.ts).
// Every node runs one: it records locally since when each ring node has been down (from 'members'
// events), re-evaluates on members and ring changes and on a timer (set for the moment the next
// down-grace runs out, and at most recheckIntervalMsMax apart), and applies a planned change
// version-checked, so when several nodes race only one wins and the others re-read the ring and find
// nothing left to do. The first evaluation on a cluster without a ring creates it (epoch 1).
//
// Applying a change is the `apply` option: by default commitRing (no data moves). The migration
// work replaces it with "start a migration to these nodes".
//
// Down-since times are local: a node that starts while a ring node is down counts that node's grace
// from its own start, so after restarts a removal may come later than downGraceMs, never earlier.
import type { Logger } from 'pino';
import { CoalescedTask } from './coalesced-task.js';
import { monotonicNow, type Clock } from './clock.js';
import type { ClusterMembership, CommittedRing } from './membership.js';
import { canonicalRingNodes, ringNodeOf, type RingNodeInfo } from './records.js';
import { planRingMembership, ringChanges } from './ring-policy.js';

export type RingMembershipView = Pick<ClusterMembership, 'on' | 'off' | 'liveMembers' | 'committedRing' | 'ringConfirmed' | 'config' | 'commitRing' | 'createRingIfAbsent'>;

export interface RingMaintainerOptions {
  readonly membership: RingMembershipView;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Default: the cluster config's downGraceMs. */
  readonly downGraceMs?: number;
  /** Upper bound between evaluations (default 10 s). */
  readonly recheckIntervalMsMax?: number;
  /** Names being decommissioned (see planRingMembership); re-evaluate with recheck() when it changes. */
  readonly excluded?: () => ReadonlySet<string>;
  /** Applies a planned ring; false when the ring changed meanwhile. Default: membership.commitRing. */
  readonly apply?: (current: CommittedRing, nodes: readonly RingNodeInfo[]) => Promise<boolean>;
  /**
   * The committed ring is right for the live set: a change handed to `apply` earlier (a node that
   * joined, then died before its migration committed) is no longer wanted.
   */
  readonly settled?: (current: CommittedRing) => void;
}

const RECHECK_INTERVAL_MS_MAX_DEFAULT = 10_000;
/** Pause before retrying after an evaluation failed (ZooKeeper unreachable...), bounded by recheckIntervalMsMax. */
const RETRY_AFTER_ERROR_MS = 1_000;

export class RingMaintainer {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly downSinceMs = new Map<string, number>();
  private readonly task: CoalescedTask;
  private timer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(private readonly options: RingMaintainerOptions) {
    this.clock = options.clock ?? monotonicNow;
    this.log = options.logger.child({ component: 'ring-maintainer' });
    this.task = new CoalescedTask(() => this.evaluate());
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const { membership } = this.options;
    membership.on('members', this.onChange);
    membership.on('ring', this.onChange);
    membership.on('fence', this.onChange);
    this.onChange();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    const { membership } = this.options;
    membership.off('members', this.onChange);
    membership.off('ring', this.onChange);
    membership.off('fence', this.onChange);
    this.task.close();
    clearTimeout(this.timer);
    await this.task.idle();
  }

  /** Since when each ring node not live has been seen down (on this maintainer's clock). */
  downSince(): ReadonlyMap<string, number> {
    return this.downSinceMs;
  }

  /** Evaluates now (after the one in progress) and resolves when done. */
  async recheck(): Promise<void> {
    this.onChange();
    await this.task.idle();
  }

  private readonly onChange = (): void => {
    this.trackDown(this.clock());
    this.task.trigger();
  };

  private trackDown(now: number): void {
    const ring = this.options.membership.committedRing();
    const live = this.options.membership.liveMembers();
    const ringNames = new Set(ring?.nodes.map((node) => node.name) ?? []);
    for (const name of ringNames) {
      if (live.has(name)) this.downSinceMs.delete(name);
      else if (!this.downSinceMs.has(name)) this.downSinceMs.set(name, now);
    }
    for (const name of this.downSinceMs.keys()) if (!ringNames.has(name)) this.downSinceMs.delete(name);
  }

  private async evaluate(): Promise<void> {
    clearTimeout(this.timer);
    let nextCheckMs = this.recheckIntervalMsMax();
    try {
      nextCheckMs = Math.min(nextCheckMs, await this.evaluateOnce());
    } catch (error) {
      this.log.warn({ err: error }, 'ring evaluation failed; retrying');
      nextCheckMs = Math.min(nextCheckMs, RETRY_AFTER_ERROR_MS);
    }
    if (this.task.closed) return;
    this.timer = setTimeout(this.onChange, Math.max(1, nextCheckMs));
    this.timer.unref();
  }

  /** One evaluation; returns the milliseconds until the next down-grace runs out (Infinity: none). */
  private async evaluateOnce(): Promise<number> {
    const { membership } = this.options;
    const now = this.clock();
    this.trackDown(now);
    if (!membership.ringConfirmed()) return Number.POSITIVE_INFINITY; // the 'fence' event re-triggers
    const live = membership.liveMembers();
    const ring = membership.committedRing();
    if (ring === undefined) {
      if (live.size > 0 && (await membership.createRingIfAbsent(canonicalRingNodes([...live.values()].map(ringNodeOf))))) {
        this.log.info({ nodes: [...live.keys()] }, 'created the ring (epoch 1)');
      }
      return Number.POSITIVE_INFINITY;
    }
    const downGraceMs = this.options.downGraceMs ?? membership.config.downGraceMs;
    const excluded = this.options.excluded?.();
    const planned = planRingMembership({ ringNodes: ring.nodes, liveMembers: live, downSince: this.downSinceMs, now, downGraceMs, ...(excluded ? { excluded } : {}) });
    if (planned !== null) {
      const changes = ringChanges(ring.nodes, planned);
      const apply = this.options.apply ?? ((current, nodes) => membership.commitRing(current.version, nodes));
      if (await apply(ring, planned)) this.log.info({ fromEpoch: ring.epoch, ...changes }, 'ring change applied');
      else this.log.debug({ fromEpoch: ring.epoch }, 'the ring changed meanwhile; re-evaluating on the new one');
    } else {
      this.options.settled?.(ring);
    }
    return this.untilNextGraceEnds(now, downGraceMs);
  }

  private untilNextGraceEnds(now: number, downGraceMs: number): number {
    // Graces already over were just acted on (or cannot be: the last node); the recheck covers them.
    let soonestMs = Number.POSITIVE_INFINITY;
    for (const since of this.downSinceMs.values()) {
      const remainingMs = since + downGraceMs - now;
      if (remainingMs > 0) soonestMs = Math.min(soonestMs, remainingMs);
    }
    return soonestMs;
  }

  private recheckIntervalMsMax(): number {
    return this.options.recheckIntervalMsMax ?? RECHECK_INTERVAL_MS_MAX_DEFAULT;
  }
}
