// What a receiver holds durably per transfer id: the last position applied. When a connection is
// cut, the sender gets no answer; it asks here instead (after the receiver has finished applying
// what arrived), so a retry resends only what is not durable yet. In memory and bounded: the
// oldest idle entries are forgotten first; a forgotten transfer simply resumes from the sender's
// last confirmed position, which is never ahead of the truth.
import assert from 'node:assert/strict';

export interface ProgressSnapshot {
  transferId: string;
  /** Last position applied durably for this transfer, undefined when none. */
  lastPosition: bigint | undefined;
  /** A request of this transfer is still being applied. */
  active: boolean;
}

interface Entry {
  lastPosition: bigint | undefined;
  /** Set while a request is active; resolves when it finishes. */
  idle: Promise<void> | undefined;
}

export interface ProgressHandle {
  /** Records up to `position` are applied durably. */
  advance(position: bigint): void;
  finish(): void;
}

export class ProgressRegistry {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly entriesMax: number) {
    assert.ok(Number.isInteger(entriesMax) && entriesMax > 0, 'entriesMax is a positive count');
  }

  /** Starts a request of `transferId`, or undefined when one is still active. */
  begin(transferId: string, resumeAfter: bigint | undefined): ProgressHandle | undefined {
    const known = this.entries.get(transferId);
    if (known?.idle) return undefined;
    let finish!: () => void;
    const idle = new Promise<void>((resolve) => (finish = resolve));
    const entry: Entry = { lastPosition: resumeAfter ?? known?.lastPosition, idle };
    // Re-inserted so the map's order is least recently begun first.
    this.entries.delete(transferId);
    this.entries.set(transferId, entry);
    this.evict();
    return {
      advance: (position) => (entry.lastPosition = position),
      finish: () => {
        entry.idle = undefined;
        finish();
      },
    };
  }

  /** The entry once no request of it is active (waiting at most `waitMs`), undefined when unknown. */
  async settled(transferId: string, waitMs: number): Promise<ProgressSnapshot | undefined> {
    const entry = this.entries.get(transferId);
    if (!entry) return undefined;
    if (entry.idle) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([entry.idle, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
    }
    return { transferId, lastPosition: entry.lastPosition, active: entry.idle !== undefined };
  }

  private evict(): void {
    for (const [transferId, entry] of this.entries) {
      if (this.entries.size <= this.entriesMax) return;
      if (!entry.idle) this.entries.delete(transferId);
    }
    assert.ok(this.entries.size <= this.entriesMax, 'more active transfers than progress entries');
  }
}
