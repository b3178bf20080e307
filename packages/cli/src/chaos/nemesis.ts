// The nemesis: a seeded, bounded schedule of faults against a cluster, through a small control
// interface (./control.ts drives a real local cluster; tests drive a fake). One fault at a time, and
// the cluster settles (every ring member live and ready, no migration) before the next, so at most one
// node of at least three is ever down: a minority. A partition cuts links, not nodes: random halves,
// or one node from its peers, from its peers and ZooKeeper, or from ZooKeeper alone. Every fault is
// healed even when the run is cut short.
// Kinds are drawn from a shuffled bag, so each enabled kind happens once before any happens twice.
import { setTimeout as delay } from 'node:timers/promises';
import type { FaultEvent, FaultKind, History } from './history.js';
import { describeSplit, drawSplit, type PartitionSplit } from './netns-plan.js';
import type { Random } from './random.js';

export interface ClusterControl {
  /** Nodes that are (or will be again after healing) in the ring: the candidates for node faults. */
  members(): string[];
  kill(name: string): Promise<void>;
  /** Starts a killed node and waits until it is ready. */
  restart(name: string): Promise<void>;
  pause(name: string): void;
  /** SIGCONT, then waits until it is ready. */
  resume(name: string): Promise<void>;
  stopZooKeeper(): Promise<void>;
  startZooKeeper(): Promise<void>;
  /** Starts a new node; resolves with its name once it is ready. */
  addNode(): Promise<string>;
  /** Decommissions through another node, waits for the task, then stops the node; returns the task id. */
  decommission(name: string): Promise<string>;
  /** Cuts the links the split names, both directions; `healPartition` restores them all. */
  partition(split: PartitionSplit): Promise<void>;
  healPartition(): Promise<void>;
  /** Waits (bounded) until every member is live, ready and in the ring, and no migration runs. */
  settle(): Promise<void>;
}

export type NemesisFault = FaultKind;
export const NEMESIS_FAULTS: readonly NemesisFault[] = ['kill', 'pause', 'zookeeper', 'scale-up', 'decommission', 'partition'];

export interface NemesisOptions {
  control: ClusterControl;
  history: History;
  random: Random;
  faults: readonly NemesisFault[];
  /** The nodes' ZooKeeper session timeout: a pause lasts longer than it. */
  sessionTimeoutMs: number;
  /** The ring never shrinks below this many members (the replication factor, at least). */
  membersMin: number;
  /** Nor grows above this many (scale-up turns into decommission there). */
  membersMax: number;
  signal: AbortSignal;
  log?: (line: string) => void;
  /** Bound on faults per run, whatever the duration. */
  faultsMax?: number;
  /** How long faults last and the pauses between them (tests shorten them). */
  timings?: Partial<NemesisTimings>;
}

export interface Range {
  min: number;
  max: number;
}

export interface NemesisTimings {
  /** Between faults; the first fault waits this long after the start too. */
  gapMs: Range;
  killDownMs: Range;
  /** How far beyond the session timeout a pause lasts. */
  pauseBeyondSessionMs: Range;
  zooKeeperDownMs: Range;
  /** How long a partition holds (around the session timeout: sometimes shorter, mostly longer). */
  partitionMs: Range;
}

const FAULTS_MAX_DEFAULT = 1_000;
export const NEMESIS_TIMINGS: NemesisTimings = {
  gapMs: { min: 1_000, max: 3_000 },
  killDownMs: { min: 1_000, max: 4_000 },
  pauseBeyondSessionMs: { min: 1_000, max: 3_000 },
  zooKeeperDownMs: { min: 2_000, max: 6_000 },
  partitionMs: { min: 1_000, max: 9_000 },
};

export class Nemesis {
  /** Why the nemesis stopped early or a fault did not take place, for the summary. */
  readonly problems: string[] = [];
  private readonly faultsMax: number;
  private readonly timings: NemesisTimings;

  constructor(private readonly options: NemesisOptions) {
    this.faultsMax = options.faultsMax ?? FAULTS_MAX_DEFAULT;
    this.timings = { ...NEMESIS_TIMINGS, ...options.timings };
    if (options.membersMin < 3) throw new RangeError(`membersMin must be at least 3 so one node down is a minority, got ${options.membersMin}`);
    if (options.membersMax < options.membersMin + 1 && (options.faults.includes('scale-up') || options.faults.includes('decommission'))) {
      throw new RangeError('scale-up and decommission need room for one more member than the minimum');
    }
  }

  /** Injects faults until `untilMs` (history time) or the signal; every fault is healed before it returns. */
  async run(untilMs: number): Promise<void> {
    const { random, signal, history } = this.options;
    let bag: NemesisFault[] = [];
    for (let count = 0; count < this.faultsMax && this.options.faults.length > 0; count++) {
      await this.wait(this.draw(this.timings.gapMs));
      if (signal.aborted || history.now() >= untilMs) return;
      if (bag.length === 0) bag = random.shuffle(this.options.faults);
      const kind = bag.shift()!;
      try {
        await this.inject(kind);
        await this.options.control.settle();
      } catch (error) {
        if (signal.aborted) return;
        this.problems.push(`${kind}: ${error instanceof Error ? error.message : String(error)}; no more faults`);
        this.log(`nemesis stops: ${this.problems.at(-1)}`);
        return;
      }
    }
  }

  private draw(range: Range): number {
    return this.options.random.between(range.min, range.max);
  }

  private inject(kind: NemesisFault): Promise<void> {
    switch (kind) {
      case 'kill':
        return this.kill();
      case 'pause':
        return this.pauseNode();
      case 'zookeeper':
        return this.zookeeper();
      case 'scale-up':
        return this.members().length >= this.options.membersMax ? this.decommission() : this.scaleUp();
      case 'decommission':
        return this.decommission();
      case 'partition':
        return this.partition();
    }
  }

  private async kill(): Promise<void> {
    const { control, random } = this.options;
    const target = random.pick(this.members());
    const downMs = this.draw(this.timings.killDownMs);
    await this.fault('kill', target, `SIGKILL, restarted after ${downMs} ms`, () => this.hold(() => control.kill(target), downMs, () => control.restart(target)));
  }

  private async pauseNode(): Promise<void> {
    const { control, random, sessionTimeoutMs } = this.options;
    const target = random.pick(this.members());
    const pausedMs = sessionTimeoutMs + this.draw(this.timings.pauseBeyondSessionMs);
    await this.fault('pause', target, `SIGSTOP for ${pausedMs} ms (session timeout ${sessionTimeoutMs} ms)`, () => this.hold(async () => control.pause(target), pausedMs, () => control.resume(target)));
  }

  private async zookeeper(): Promise<void> {
    const { control } = this.options;
    const downMs = this.draw(this.timings.zooKeeperDownMs);
    await this.fault('zookeeper', 'zookeeper', `stopped for ${downMs} ms`, () => this.hold(() => control.stopZooKeeper(), downMs, () => control.startZooKeeper()));
  }

  /** A seeded split of the members (halves, or one node from its peers, from everything, or from ZooKeeper), held, then healed. */
  private async partition(): Promise<void> {
    const { control, random, sessionTimeoutMs } = this.options;
    const split = drawSplit(random, this.members());
    const heldMs = this.draw(this.timings.partitionMs);
    const detail = `${split.kind} for ${heldMs} ms (${heldMs > sessionTimeoutMs ? 'beyond' : 'within'} the ${sessionTimeoutMs} ms session timeout)`;
    await this.fault('partition', describeSplit(split), detail, () => this.hold(() => control.partition(split), heldMs, () => control.healPartition()));
  }

  /** Injects, keeps the fault for `ms` (less when the run stops), and always heals it. */
  private async hold(inject: () => Promise<void>, ms: number, heal: () => Promise<void>): Promise<void> {
    try {
      await inject();
      await this.wait(ms);
    } finally {
      await heal();
    }
  }

  private async scaleUp(): Promise<void> {
    await this.fault('scale-up', 'a new node', 'joined through a migration', async () => ({ target: await this.options.control.addNode() }));
  }

  /** Grows the ring first when it is at its minimum, so the decommission leaves enough members. */
  private async decommission(): Promise<void> {
    const { control, random } = this.options;
    if (this.members().length <= this.options.membersMin) {
      await this.scaleUp();
      await control.settle();
    }
    const target = random.pick(this.members());
    await this.fault('decommission', target, 'moved its data away and left the ring', async () => {
      const task = await control.decommission(target);
      return { detail: `moved its data away and left the ring (task ${task})` };
    });
  }

  /** Runs one fault and records it with its real start and end, and what `act` learnt (a node's name); recorded even when healing failed. */
  private async fault(kind: NemesisFault, target: string, detail: string, act: () => Promise<Partial<Pick<FaultEvent, 'target' | 'detail'>> | void>): Promise<void> {
    const { history } = this.options;
    const startMs = history.now();
    this.log(`${kind} ${target}: ${detail}`);
    let learnt: Partial<Pick<FaultEvent, 'target' | 'detail'>> | void = { detail: `${detail} (failed)` };
    try {
      learnt = await act();
    } finally {
      history.fault({ kind, target, startMs, endMs: history.now(), detail, ...learnt });
    }
  }

  private members(): string[] {
    return this.options.control.members();
  }

  /** Waits, but returns early (without throwing) when the run is being stopped. */
  private async wait(ms: number): Promise<void> {
    await delay(ms, undefined, { signal: this.options.signal }).catch(() => undefined);
  }

  private log(line: string): void {
    this.options.log?.(`[${(this.options.history.now() / 1000).toFixed(1).padStart(6)}s] ${line}`);
  }
}
