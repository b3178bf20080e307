// The history of a chaos run: every client operation (start and end on one monotonic clock, node,
// consistency level, key, write id, status, version) and every fault, kept in memory for the checker
// and written as JSON lines, so a run can be checked again or read by a person afterwards.
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

export type Level = 'one' | 'quorum' | 'all';
export type OperationKind = 'put' | 'get' | 'delete';
/** `final`: the reads after the cluster healed, which the lost-write rule is checked against. */
export type Phase = 'workload' | 'final';

export const LEVELS: readonly Level[] = ['one', 'quorum', 'all'];
export const FAULT_KINDS = ['kill', 'pause', 'zookeeper', 'scale-up', 'decommission', 'partition'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Operation {
  type: 'op';
  id: number;
  phase: Phase;
  /** The client loop that issued it; -1 for the final reads. */
  client: number;
  kind: OperationKind;
  key: string;
  level: Level;
  /** The node the request went to (its coordinator). */
  node: string;
  /** Milliseconds since the run started, on a monotonic clock; end is when the answer was complete. */
  startMs: number;
  endMs: number;
  /** The HTTP status, or null when no answer came (timeout, refused, reset). */
  status: number | null;
  /** The error `code` of a JSON error answer, or the transport error. */
  code?: string;
  /** The version (ETag) a PUT or DELETE was acknowledged with, or a GET returned. */
  version?: string;
  /** PUT: the write id inside the bytes sent; GET 200: the write id the bytes read name. */
  writeId?: number;
  /** GET 200 whose bytes are not a block this run wrote for this key: why. */
  garbage?: string;
}

export interface FaultEvent {
  type: 'fault';
  id: number;
  kind: FaultKind;
  target: string;
  startMs: number;
  endMs: number;
  detail?: string;
}

export interface RunHeader {
  type: 'run';
  seed: number;
  nodes: number;
  clients: number;
  keys: number;
  replicationFactor: number;
  durationMs: number;
  startedAt: string;
}

export type HistoryLine = RunHeader | Operation | FaultEvent;
export type NewOperation = Omit<Operation, 'type' | 'id'>;

/** Operations acknowledged: PUT 201, DELETE 204, GET 200 or 404 (an answer either way). */
export function acknowledged(op: Pick<Operation, 'kind' | 'status'>): boolean {
  if (op.kind === 'put') return op.status === 201;
  if (op.kind === 'delete') return op.status === 204;
  return op.status === 200 || op.status === 404;
}

export class History {
  readonly operations: Operation[] = [];
  readonly faults: FaultEvent[] = [];
  /** The workload stopped early because the bound was reached. */
  truncated = false;
  private origin = performance.now();
  private readonly stream: WriteStream | undefined;
  private nextId = 1;

  /**
   * `workloadOperationsMax` bounds memory and file size: clients check `full` before they issue, so at
   * most one operation per client more is recorded. Every operation issued is recorded — a write
   * missing from the history would make its bytes look never written.
   */
  constructor(readonly workloadOperationsMax: number, readonly file?: string) {
    this.stream = file === undefined ? undefined : createWriteStream(file, { flags: 'w' });
  }

  /** Milliseconds since the run started (monotonic, 0.01 ms resolution). */
  now(): number {
    return Math.round((performance.now() - this.origin) * 100) / 100;
  }

  /** Restarts the clock at 0 (when the workload starts); only before anything is recorded. */
  startClock(): void {
    if (this.operations.length > 0 || this.faults.length > 0) throw new Error('the history clock starts before the first record');
    this.origin = performance.now();
  }

  get full(): boolean {
    return this.operations.length >= this.workloadOperationsMax;
  }

  header(header: Omit<RunHeader, 'type'>): void {
    this.write({ type: 'run', ...header });
  }

  add(operation: NewOperation): Operation {
    const recorded: Operation = { type: 'op', id: this.nextId++, ...operation };
    this.operations.push(recorded);
    this.write(recorded);
    return recorded;
  }

  fault(fault: Omit<FaultEvent, 'type' | 'id'>): FaultEvent {
    const recorded: FaultEvent = { type: 'fault', id: this.nextId++, ...fault };
    this.faults.push(recorded);
    this.write(recorded);
    return recorded;
  }

  async close(): Promise<void> {
    const stream = this.stream;
    if (!stream || stream.closed) return;
    await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }

  private write(line: HistoryLine): void {
    this.stream?.write(`${JSON.stringify(line)}\n`);
  }
}

/** Reads a history file back (for `ringblock chaos --check FILE`). */
export async function readHistory(file: string): Promise<{ header: RunHeader | undefined; operations: Operation[]; faults: FaultEvent[] }> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((line) => line.trim() !== '');
  let header: RunHeader | undefined;
  const operations: Operation[] = [];
  const faults: FaultEvent[] = [];
  for (const [index, text] of lines.entries()) {
    let line: HistoryLine;
    try {
      line = JSON.parse(text) as HistoryLine;
    } catch {
      throw new Error(`${file}:${index + 1}: not a JSON line`);
    }
    if (line.type === 'run') header = line;
    else if (line.type === 'op') operations.push(line);
    else if (line.type === 'fault') faults.push(line);
    else throw new Error(`${file}:${index + 1}: unknown line type`);
  }
  return { header, operations, faults };
}
