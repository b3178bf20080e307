// Write accounting while a migration runs (DESIGN §6 step 1): a write must reach the consistency
// level in the OLD owner set and in the NEW owner set, so that whichever ring ends up authoritative
// (the old one after an abort, the new one after a commit) holds it at that level. Reads stay on the
// old ring and use the plain count (quorum.ts). Pure: the coordinator feeds outcomes per node.
import assert from 'node:assert/strict';
import type { Ring, RingNode } from '@ringblock/ring';
import { requiredAcks, type Consistency } from '../consistency.js';
import type { QuorumState } from '../quorum.js';

export interface DualOwners {
  /** Preference order in the committed (old) ring. */
  readonly oldOwners: readonly RingNode[];
  /** Preference order in the ring being migrated to. */
  readonly newOwners: readonly RingNode[];
}

/** The owners of block `id` in both rings. */
export function dualWriteOwners(fromRing: Ring, toRing: Ring, id: string): DualOwners {
  return { oldOwners: fromRing.owners(id), newOwners: toRing.owners(id) };
}

export interface DualAcks {
  /** Union of both owner sets, old owners first (their order), then new-only owners. */
  readonly targets: readonly string[];
  readonly oldRequired: number;
  readonly newRequired: number;
}

/**
 * Targets and acknowledgements a write needs at `level`. Each set's requirement counts against its
 * own size, as the single-ring coordinator does (fewer nodes than RF: all of them are owners).
 */
export function requiredAcksDual(level: Consistency, oldOwners: readonly string[], newOwners: readonly string[]): DualAcks {
  return {
    targets: [...oldOwners, ...newOwners.filter((name) => !oldOwners.includes(name))],
    oldRequired: requiredAcks(level, oldOwners.length),
    newRequired: requiredAcks(level, newOwners.length),
  };
}

/** One owner set and its requirement, tallied. */
class SetCount {
  private readonly members: ReadonlySet<string>;
  acked = 0;
  failed = 0;

  constructor(owners: readonly string[], readonly required: number) {
    this.members = new Set(owners);
    assert.equal(this.members.size, owners.length, 'owners are distinct');
    assert.ok(required >= 1 && required <= owners.length, `required ${required} of ${owners.length} owners`);
  }

  has(name: string): boolean {
    return this.members.has(name);
  }

  state(): QuorumState {
    if (this.acked >= this.required) return 'met';
    if (this.members.size - this.failed < this.required) return 'impossible';
    return 'pending';
  }
}

/**
 * Like QuorumCount, over two owner sets at once: `met` when both sets reached their level,
 * `impossible` as soon as either cannot. A node in both sets counts for both. Each node reports at
 * most one outcome; a down owner that is not called should be reported as failed.
 */
export class DualQuorumCount {
  private readonly oldSet: SetCount;
  private readonly newSet: SetCount;
  private readonly outcomes = new Map<string, 'ack' | 'fail'>();

  constructor(oldOwners: readonly string[], newOwners: readonly string[], oldRequired: number, newRequired: number) {
    this.oldSet = new SetCount(oldOwners, oldRequired);
    this.newSet = new SetCount(newOwners, newRequired);
  }

  /** A count for a write at `level` (see requiredAcksDual). */
  static forLevel(level: Consistency, oldOwners: readonly string[], newOwners: readonly string[]): DualQuorumCount {
    const { oldRequired, newRequired } = requiredAcksDual(level, oldOwners, newOwners);
    return new DualQuorumCount(oldOwners, newOwners, oldRequired, newRequired);
  }

  ack(name: string): QuorumState {
    return this.record(name, 'ack');
  }

  fail(name: string): QuorumState {
    return this.record(name, 'fail');
  }

  state(): QuorumState {
    const old = this.oldSet.state();
    const next = this.newSet.state();
    if (old === 'impossible' || next === 'impossible') return 'impossible';
    return old === 'met' && next === 'met' ? 'met' : 'pending';
  }

  /** Acks counted in each set, with what each needs (for a 503's details). */
  tally(): { oldAcked: number; oldRequired: number; newAcked: number; newRequired: number } {
    return { oldAcked: this.oldSet.acked, oldRequired: this.oldSet.required, newAcked: this.newSet.acked, newRequired: this.newSet.required };
  }

  private record(name: string, outcome: 'ack' | 'fail'): QuorumState {
    assert.ok(!this.outcomes.has(name), `a second outcome for ${name}`);
    const sets = [this.oldSet, this.newSet].filter((set) => set.has(name));
    assert.ok(sets.length > 0, `${name} owns the block in neither ring`);
    this.outcomes.set(name, outcome);
    for (const set of sets) {
      if (outcome === 'ack') set.acked++;
      else set.failed++;
    }
    return this.state();
  }
}
