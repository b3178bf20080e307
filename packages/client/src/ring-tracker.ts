// Ring-aware mode's knowledge of the ring: the newest RingView fetched, and when to fetch another.
//
// Refreshes happen (a) on the first call, (b) when a node answers 409 STALE_EPOCH or reports a newer
// epoch, (c) after a connection failure (the node may have left the ring), (d) in the background once
// the view is older than `maxAgeMs`. Whatever triggers them, at most one runs at a time and at most
// one starts per `minIntervalMs`, so a storm of 409s or failures costs one fetch per interval. A
// fetched ring older than the one held is ignored (a lagging node does not roll routing back).
import type { Hasher } from '@ringblock/ring';
import { RING_SOURCES_PER_REFRESH_MAX } from './limits.js';
import { parseRingAnswer, type RingView } from './ring-view.js';

export interface RingTrackerOptions {
  readonly hasher: Hasher;
  /** Fetches the JSON of `GET /cluster/ring` from a node origin. */
  readonly fetchRing: (origin: string) => Promise<unknown>;
  /** Where to ask besides the ring's own nodes (the configured seeds). */
  readonly seeds: readonly string[];
  readonly minIntervalMs: number;
  readonly maxAgeMs: number;
  readonly now: () => number;
  /** Called with each newly adopted view. */
  readonly onView?: (view: RingView) => void;
}

export interface RingTrackerStats {
  refreshes: number;
  refreshFailures: number;
}

export class RingTracker {
  #view: RingView | undefined;
  #viewAtMs = -Infinity;
  #lastStartMs = -Infinity;
  #running: Promise<void> | undefined;
  #sourceCursor = 0;
  readonly stats: RingTrackerStats = { refreshes: 0, refreshFailures: 0 };

  constructor(private readonly options: RingTrackerOptions) {}

  get view(): RingView | undefined {
    return this.#view;
  }

  get epoch(): number | undefined {
    return this.#view?.epoch;
  }

  /**
   * Fetches the ring unless a fetch runs (its promise is shared) or one started less than
   * `minIntervalMs` ago (resolves at once). Never rejects: a failed refresh keeps the old view.
   */
  refresh(): Promise<void> {
    if (this.#running) return this.#running;
    const now = this.options.now();
    if (now - this.#lastStartMs < this.options.minIntervalMs) return Promise.resolve();
    this.#lastStartMs = now;
    this.#running = this.#fetchFromSomeNode().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Starts a background refresh when the view is missing or older than `maxAgeMs`. */
  refreshIfOld(): void {
    if (this.options.now() - this.#viewAtMs >= this.options.maxAgeMs) void this.refresh();
  }

  /** A node reported `epoch`: refresh in the background when it is newer than the view's. */
  noteEpoch(epoch: number | undefined): void {
    if (epoch !== undefined && (this.#view === undefined || epoch > this.#view.epoch)) void this.refresh();
  }

  async #fetchFromSomeNode(): Promise<void> {
    const sources = this.#sources();
    for (const origin of sources) {
      try {
        const view = parseRingAnswer(await this.options.fetchRing(origin), this.options.hasher);
        this.stats.refreshes++;
        this.#adopt(view);
        return;
      } catch {
        // Try the next node; the failure is counted once the round gives up.
      }
    }
    this.stats.refreshFailures++;
  }

  #adopt(view: RingView): void {
    this.#viewAtMs = this.options.now();
    if (this.#view !== undefined && view.epoch < this.#view.epoch) return;
    const changed = this.#view?.epoch !== view.epoch;
    this.#view = view;
    if (changed) this.options.onView?.(view);
  }

  /** Up to RING_SOURCES_PER_REFRESH_MAX origins, rotating through seeds and ring nodes. */
  #sources(): string[] {
    const all = [...new Set([...this.options.seeds, ...(this.#view?.originOf.values() ?? [])])];
    const start = this.#sourceCursor++ % all.length;
    const count = Math.min(all.length, RING_SOURCES_PER_REFRESH_MAX);
    return Array.from({ length: count }, (_, index) => all[(start + index) % all.length]!);
  }
}
