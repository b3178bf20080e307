// Acknowledgement accounting for one round of replica calls, pure: feed it outcomes, it says when
// the level is met or can no longer be met. The coordinator answers at the first of the two; calls
// still in flight complete in the background.
import assert from 'node:assert/strict';

export type QuorumState = 'pending' | 'met' | 'impossible';

export class QuorumCount {
  acked = 0;
  failed = 0;

  constructor(readonly required: number, readonly targets: number) {
    assert.ok(required >= 1 && targets >= 0);
  }

  /** `_name` is unused: one owner set, counted by number (the dual count needs names). */
  ack(_name?: string): QuorumState {
    this.acked++;
    return this.state();
  }

  fail(_name?: string): QuorumState {
    this.failed++;
    return this.state();
  }

  state(): QuorumState {
    assert.ok(this.acked + this.failed <= this.targets, 'more outcomes than targets');
    if (this.acked >= this.required) return 'met';
    if (this.targets - this.failed < this.required) return 'impossible';
    return 'pending';
  }
}

/** What a write round needs of an acknowledgement count: QuorumCount, or the migration's dual count. */
export interface AckCount {
  ack(name: string): QuorumState;
  fail(name: string): QuorumState;
  state(): QuorumState;
}
