// Paces a loop to at most `perSecond` steps per second (the scrub's blocksPerSecond), sleeping in
// slices of at least MIN_SLEEP_MS so that slow rates do not cost a timer per step.
import { setTimeout as sleep } from 'node:timers/promises';

const MIN_SLEEP_MS = 5;

export class Pacer {
  private readonly startedMs = performance.now();
  private steps = 0;

  constructor(private readonly perSecond: number | undefined, private readonly signal: AbortSignal | undefined) {}

  /** Counts one step and waits if the loop runs ahead of the rate; rejects with AbortError when aborted. */
  async step(): Promise<void> {
    this.steps++;
    if (this.perSecond === undefined) return;
    const aheadMs = (this.steps / this.perSecond) * 1000 - (performance.now() - this.startedMs);
    if (aheadMs >= MIN_SLEEP_MS) await sleep(aheadMs, undefined, { signal: this.signal });
  }
}
