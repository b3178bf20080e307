// Scrubbing (DESIGN §7): a background pass verifies every stored block's checksums at a bounded
// rate; a corrupt block is repaired from a healthy replica (the newest copy another owner holds is
// written back locally: the engine takes a put of the same version over a corrupt data page).
// Counts go to metrics and /health.
import type { Logger } from 'pino';
import type { Engine } from '@ringblock/engine';
import type { Owner } from './coordinator.js';
import type { Replica, StoredBlock } from './store.js';
import { compareVersions } from './version.js';

/** Corrupt blocks repaired per pass at most (the next pass continues). */
const REPAIRS_PER_PASS_MAX = 1_000;

export interface ScrubStatus {
  passes: number;
  lastPassAt: number | null;
  lastPassMs: number | null;
  checked: number;
  corrupt: number;
  repaired: number;
  unrepaired: number;
}

export interface ScrubberOptions {
  engine: Engine;
  self: string;
  owners: (id: string) => readonly Owner[];
  isLive: (name: string) => boolean;
  replica: (owner: Owner) => Replica;
  local: Replica;
  blocksPerSecond: number;
  /** Pause between the end of a pass and the start of the next. */
  intervalMs: number;
  log: Logger;
  onPass?: (checked: number, corrupt: number, repaired: number) => void;
}

export class Scrubber {
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  readonly status: ScrubStatus = { passes: 0, lastPassAt: null, lastPassMs: null, checked: 0, corrupt: 0, repaired: 0, unrepaired: 0 };

  constructor(private readonly options: ScrubberOptions) {}

  start(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.abort.abort();
    await this.running;
  }

  /** One full pass now (also what the timer runs). */
  async pass(): Promise<void> {
    const started = performance.now();
    const report = await this.options.engine.scrub({ blocksPerSecond: this.options.blocksPerSecond, signal: this.abort.signal });
    let repaired = 0;
    let unrepaired = 0;
    for (const block of report.corrupt.slice(0, REPAIRS_PER_PASS_MAX)) {
      if (block.namespace !== 0 || block.id === undefined) {
        unrepaired++;
        continue;
      }
      if (await this.repair(block.id)) repaired++;
      else unrepaired++;
    }
    Object.assign(this.status, {
      passes: this.status.passes + 1,
      lastPassAt: Date.now(),
      lastPassMs: performance.now() - started,
      checked: this.status.checked + report.checked,
      corrupt: this.status.corrupt + report.corruptTotal,
      repaired: this.status.repaired + repaired,
      unrepaired: this.status.unrepaired + unrepaired,
    });
    this.options.onPass?.(report.checked, report.corruptTotal, repaired);
    if (report.corruptTotal > 0) this.options.log.warn({ checked: report.checked, corrupt: report.corruptTotal, repaired }, 'scrub found corrupt blocks');
  }

  /** Writes the newest healthy copy another live owner holds over the local corrupt one. */
  private async repair(id: string): Promise<boolean> {
    const others = this.options.owners(id).filter((owner) => owner.name !== this.options.self && this.options.isLive(owner.name));
    const copies = await Promise.allSettled(others.map((owner) => this.options.replica(owner).read(id)));
    let newest: StoredBlock | undefined;
    for (const copy of copies) {
      if (copy.status === 'fulfilled' && copy.value && (!newest || compareVersions(copy.value.version, newest.version) > 0)) newest = copy.value;
    }
    if (!newest) return false;
    try {
      await this.options.local.write(id, newest.version, newest.data);
      return true;
    } catch (error) {
      this.options.log.warn({ err: error, id }, 'repairing a corrupt block failed');
      return false;
    }
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.pass()
        .catch((error: unknown) => this.options.log.warn({ err: error }, 'scrub pass failed'))
        .finally(() => {
          this.running = undefined;
          if (!this.abort.signal.aborted) this.schedule();
        });
    }, this.options.intervalMs);
    this.timer.unref();
  }
}
