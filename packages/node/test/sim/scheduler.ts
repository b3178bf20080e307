// Simulated time: a virtual clock and an event queue ordered by (time, insertion sequence). Nothing
// here touches a real timer. Between two events the scheduler lets every pending promise job run to
// completion (one setImmediate turn: Node runs all microtasks before it), so the real coordination
// code, which is promise-based, finishes reacting to an event at the simulated instant it happened,
// before the next event is taken. Since no other macrotask source is used (no sockets, no timers,
// no files), the interleaving is a function of the seed only.
import assert from 'node:assert/strict';

/** Events one run may process at most: a run that does not quiesce is a bug of its own. */
export const EVENTS_PER_RUN_MAX = 2_000_000;

interface SimEvent {
  readonly atMs: number;
  readonly seq: number;
  readonly label: string;
  readonly run: () => void;
  cancelled: boolean;
}

export interface Timer {
  cancel(): void;
}

/** Lets every queued promise job run: Node drains the microtask queue before any macrotask. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class Scheduler {
  private nowMsValue: number;
  private seq = 0;
  private readonly heap: SimEvent[] = [];
  eventsRun = 0;
  /** Set to receive one line per event taken (replay of a seed). */
  trace: ((line: string) => void) | undefined;

  constructor(startMs: number) {
    this.nowMsValue = startMs;
  }

  nowMs(): number {
    return this.nowMsValue;
  }

  pending(): number {
    return this.heap.length;
  }

  /** Runs `run` `delayMs` from now (0: after everything already due now). */
  after(delayMs: number, label: string, run: () => void): Timer {
    assert.ok(Number.isFinite(delayMs) && delayMs >= 0, `delay ${delayMs}`);
    const event: SimEvent = { atMs: this.nowMsValue + delayMs, seq: this.seq++, label, run, cancelled: false };
    this.push(event);
    return { cancel: () => (event.cancelled = true) };
  }

  /** Takes events in order until none is left or the next one is after `untilMs`. */
  async runUntil(untilMs: number): Promise<void> {
    await flushMicrotasks();
    for (;;) {
      const event = this.heap[0];
      if (!event || event.atMs > untilMs) break;
      this.pop();
      if (event.cancelled) continue;
      assert.ok(event.atMs >= this.nowMsValue, 'time only moves forward');
      this.nowMsValue = event.atMs;
      assert.ok(++this.eventsRun <= EVENTS_PER_RUN_MAX, 'the simulation does not quiesce');
      this.trace?.(`${String(event.atMs).padStart(7)} ${event.label}`);
      event.run();
      await flushMicrotasks();
    }
    this.nowMsValue = Math.max(this.nowMsValue, untilMs);
  }

  private push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(heap[index]!, heap[parent]!)) break;
      [heap[index], heap[parent]] = [heap[parent]!, heap[index]!];
      index = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === index) return;
      [heap[index], heap[smallest]] = [heap[smallest]!, heap[index]!];
      index = smallest;
    }
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
