// Progress of anti-entropy rounds and of full-repair tasks (pure bookkeeping, no I/O).
// A round counts (range, peer) comparisons, where a range is a compared arc (neighbouring ring
// ranges with the same owners joined, plan.ts). A full repair (`POST /cluster/repair`) is one task id
// under which every live ring node runs one round — together they compare every pair of owners of
// every range — and each node keeps its part; any node answers for the task by gathering the parts.

export interface RoundCounts {
  /** (range, peer) comparisons this round makes. */
  rangesTotal: number;
  rangesDone: number;
  /** Comparisons that found differing buckets and streamed them. */
  rangesRepaired: number;
  /** Comparisons that failed or were skipped (peer down, error). */
  failures: number;
  /** Records that changed a replica in this round's streams. */
  blocksRepaired: number;
  /** Bytes of this round's streams, both directions. */
  bytesStreamed: number;
  tombstonesPurged: number;
}

export interface RoundSummary extends RoundCounts {
  reasons: string[];
  startedAt: number;
  finishedAt: number | null;
  /** How it ended: completed (with why, when there was nothing to compare) or interrupted (ring change, migration, stop). */
  outcome: string | null;
}

export class RoundProgress {
  readonly counts: RoundCounts = { rangesTotal: 0, rangesDone: 0, rangesRepaired: 0, failures: 0, blocksRepaired: 0, bytesStreamed: 0, tombstonesPurged: 0 };
  finishedAt: number | null = null;
  outcome: string | null = null;

  constructor(readonly reasons: readonly string[], readonly startedAt: number) {}

  compared(repaired: boolean): void {
    this.counts.rangesDone++;
    if (repaired) this.counts.rangesRepaired++;
  }

  failed(count = 1): void {
    this.counts.rangesDone += count;
    this.counts.failures += count;
  }

  finish(outcome: string, nowMs: number): void {
    this.outcome = outcome;
    this.finishedAt = nowMs;
  }

  get complete(): boolean {
    return this.outcome?.startsWith('completed') ?? false;
  }

  summary(): RoundSummary {
    return { reasons: [...this.reasons], startedAt: this.startedAt, finishedAt: this.finishedAt, outcome: this.outcome, ...this.counts };
  }
}

export type PartState = 'queued' | 'running' | 'done' | 'failed';

export interface TaskStart {
  task: string;
  createdAt: number;
  createdBy: string;
}

/** What a task reports of each round that carries it, summed over nodes. */
const TASK_COUNTS = ['rangesTotal', 'rangesDone', 'rangesRepaired', 'failures', 'blocksRepaired'] as const;
export type TaskCounts = Pick<RoundCounts, (typeof TASK_COUNTS)[number]>;

function taskCounts(counts: TaskCounts | undefined): TaskCounts {
  return Object.fromEntries(TASK_COUNTS.map((field) => [field, counts?.[field] ?? 0])) as unknown as TaskCounts;
}

export interface TaskPartJson extends TaskStart, TaskCounts {
  node: string;
  state: PartState;
  startedAt: number | null;
  finishedAt: number | null;
  outcome: string | null;
}

/** This node's part of a task: queued until a round takes it, then that round's counts. */
export class TaskPart {
  private round: RoundProgress | undefined;

  constructor(readonly start: TaskStart, readonly node: string) {}

  /** The round that carries this part (again, after an interrupted one). */
  attach(round: RoundProgress): void {
    this.round = round;
  }

  /** An interrupted round gives its parts back to the queue. */
  detach(): void {
    this.round = undefined;
  }

  get state(): PartState {
    if (!this.round) return 'queued';
    if (this.round.finishedAt === null) return 'running';
    return this.round.complete && this.round.counts.failures === 0 ? 'done' : 'failed';
  }

  json(): TaskPartJson {
    const round = this.round;
    return {
      ...this.start,
      node: this.node,
      state: this.state,
      ...taskCounts(round?.counts),
      startedAt: round?.startedAt ?? null,
      finishedAt: round?.finishedAt ?? null,
      outcome: round?.outcome ?? null,
    };
  }
}

/** The parts this node keeps, oldest dropped first beyond the bound. */
export class TaskBook {
  private readonly parts = new Map<string, TaskPart>();

  constructor(private readonly keptMax: number) {}

  /** The part for `start` (created once; a repeated start finds the same part). */
  accept(start: TaskStart, node: string): { part: TaskPart; created: boolean } {
    const existing = this.parts.get(start.task);
    if (existing) return { part: existing, created: false };
    while (this.parts.size >= this.keptMax) this.parts.delete(this.parts.keys().next().value!);
    const part = new TaskPart(start, node);
    this.parts.set(start.task, part);
    return { part, created: true };
  }

  get(task: string): TaskPart | undefined {
    return this.parts.get(task);
  }
}

export type TaskState = 'running' | 'done' | 'failed';

export interface NodePart extends TaskCounts {
  node: string;
  /** `unknown`: the node did not answer or does not know the task (it was down when it started). */
  state: PartState | 'unknown';
}

export interface TaskStatus {
  id: string;
  kind: 'repair';
  createdAt: number;
  createdBy: string;
  state: TaskState;
  progress: TaskCounts & { ratio: number };
  nodes: NodePart[];
}

/** A peer's part from its JSON, or undefined when it is not one. */
export function parseTaskPart(value: unknown): TaskPartJson | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const part = value as Record<string, unknown>;
  if (typeof part['task'] !== 'string' || typeof part['node'] !== 'string' || !['queued', 'running', 'done', 'failed'].includes(part['state'] as string)) return undefined;
  if (!TASK_COUNTS.every((field) => Number.isSafeInteger(part[field]))) return undefined;
  return part as unknown as TaskPartJson;
}

/**
 * The task across nodes: running while any part is queued or running; failed when any part failed
 * or a ring node has no part (it did not run its round); done otherwise.
 */
export function aggregateTask(id: string, parts: readonly (TaskPartJson | { node: string; state: 'unknown' })[]): TaskStatus | undefined {
  const known = parts.filter((part): part is TaskPartJson => part.state !== 'unknown');
  const first = known[0];
  if (!first) return undefined;
  const nodes: NodePart[] = parts.map((part) => ({ node: part.node, state: part.state, ...taskCounts(part.state === 'unknown' ? undefined : part) }));
  const summed = Object.fromEntries(TASK_COUNTS.map((field) => [field, nodes.reduce((total, node) => total + node[field], 0)])) as unknown as TaskCounts;
  const progress = { ...summed, ratio: 0 };
  const running = nodes.some((node) => node.state === 'queued' || node.state === 'running');
  progress.ratio = progress.rangesTotal === 0 ? (running ? 0 : 1) : progress.rangesDone / progress.rangesTotal;
  const state: TaskState = running ? 'running' : nodes.some((node) => node.state === 'failed' || node.state === 'unknown') ? 'failed' : 'done';
  return { id, kind: 'repair', createdAt: first.createdAt, createdBy: first.createdBy, state, progress, nodes };
}
