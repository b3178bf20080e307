// The routing state of this node: the committed ring (rebuilt only when its epoch changes) and the
// live member set. A request takes one snapshot of it, so it is coordinated on a single epoch.
import { Ring, type Hasher, type RingNode } from '@ringblock/ring';
import type { Owner, RoutingView } from './coordinator.js';
import { HttpError } from './http/errors.js';

export interface RingSettings {
  vnodes: number;
  replicationFactor: number;
}

export interface LiveMember {
  name: string;
  addr: string;
}

/** Requests waiting for a newer ring at once; more are answered "not yet" at once. */
const EPOCH_WAITERS_MAX = 4096;

export class ClusterView {
  private readonly epochWaiters = new Set<{ epoch: number; resolve: (reached: boolean) => void }>();
  private ring: Ring | undefined;
  /** The ring a prepared migration moves to: writes go to its owners too. */
  private pending: Ring | undefined;
  private epoch = 0;
  private live: ReadonlyMap<string, LiveMember> = new Map();
  private snapshot: RoutingView | undefined;

  constructor(private readonly hasher: Hasher, private readonly settings: () => RingSettings) {}

  /** Adopts a committed ring; returns false when it is not newer than the one held. */
  setRing(epoch: number, nodes: readonly RingNode[]): boolean {
    if (this.ring && epoch <= this.epoch) return false;
    this.ring = this.build(nodes);
    this.epoch = epoch;
    this.snapshot = undefined;
    for (const waiter of this.epochWaiters) {
      if (waiter.epoch <= epoch) {
        this.epochWaiters.delete(waiter);
        waiter.resolve(true);
      }
    }
    return true;
  }

  /** A ring of these nodes under the cluster's vnodes and RF. */
  build(nodes: readonly RingNode[]): Ring {
    const { vnodes, replicationFactor } = this.settings();
    return new Ring({ nodes, vnodes, replicationFactor, hasher: this.hasher });
  }

  /** Starts (a ring) or ends (undefined) dual writes for a migration. */
  setPending(ring: Ring | undefined): void {
    this.pending = ring;
    this.snapshot = undefined;
  }

  pendingRing(): Ring | undefined {
    return this.pending;
  }

  setLive(members: ReadonlyMap<string, LiveMember>): void {
    this.live = members;
    this.snapshot = undefined;
  }

  /** Resolves true once this view routes by `epoch` or later, false after `timeoutMs`. */
  waitForEpoch(epoch: number, timeoutMs: number): Promise<boolean> {
    if (this.epoch >= epoch) return Promise.resolve(true);
    if (this.epochWaiters.size >= EPOCH_WAITERS_MAX) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = {
        epoch,
        resolve: (reached: boolean) => {
          clearTimeout(timer);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => {
        this.epochWaiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      this.epochWaiters.add(waiter);
    });
  }

  currentEpoch(): number {
    return this.epoch;
  }

  currentRing(): Ring | undefined {
    return this.ring;
  }

  isLive(name: string): boolean {
    return this.live.has(name);
  }

  routing(): RoutingView {
    if (this.snapshot) return this.snapshot;
    const ring = this.ring;
    if (!ring) throw new HttpError(503, 'NOT_READY', 'this node knows no committed ring yet');
    const live = this.live;
    const pending = this.pending;
    // Owners as routing needs them: the live member's address wins over the one in the ring record
    // (a restarted pod may come back elsewhere), cached per ring node so lookups do not allocate.
    const owners = new Map<readonly RingNode[], Owner[]>();
    const toOwners = (nodes: readonly RingNode[]): Owner[] => {
      let list = owners.get(nodes);
      if (!list) {
        list = nodes.map((node) => ({ name: node.name, addr: live.get(node.name)?.addr ?? node.addr ?? '' }));
        owners.set(nodes, list);
      }
      return list;
    };
    this.snapshot = {
      epoch: this.epoch,
      owners: (id) => toOwners(ring.owners(id)),
      ...(pending ? { pendingOwners: (id: string) => toOwners(pending.owners(id)) } : {}),
      isLive: (name) => live.has(name),
    };
    return this.snapshot;
  }
}
