// Runs an async job serially, coalescing triggers: a trigger while the job runs causes exactly one
// more run afterwards, however many triggers arrived. Used for re-reads after watch firings and for
// ring re-evaluation, so a burst of events costs at most two runs and runs never overlap (an older
// result is never delivered after a newer one).

export class CoalescedTask {
  private dirty = false;
  private closedFlag = false;
  private running: Promise<void> | undefined;

  /** `job` must handle its own errors; a throw is passed to `onError` (default: ignored). */
  constructor(
    private readonly job: () => Promise<void>,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Asks for a run: now if idle, else once more after the current one. */
  readonly trigger = (): void => {
    if (this.closedFlag) return;
    this.dirty = true;
    this.running ??= this.loop();
  };

  /** Resolves when no run is in progress or pending. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** No further runs start (a run in progress completes). */
  close(): void {
    this.closedFlag = true;
  }

  private async loop(): Promise<void> {
    try {
      while (this.dirty && !this.closedFlag) {
        this.dirty = false;
        try {
          await this.job();
        } catch (error) {
          this.onError(error);
        }
      }
    } finally {
      this.running = undefined;
    }
  }
}
