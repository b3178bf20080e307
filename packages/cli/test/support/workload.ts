// A bounded writer for tests that change the cluster under traffic: overwrites a fixed key space at
// quorum through every node, remembering for each key the last acknowledged bytes and every write
// attempted after it (a failed write may still have landed: Dynamo semantics). `check` then says
// whether what a read returns is allowed: the last acknowledged write or one attempted after it.
// Each worker owns its own keys, so the writes of one key follow each other (one client per key).
import { randomBlock, putBlock, type Reply } from './cluster.js';

interface KeyHistory {
  acknowledged: Buffer | undefined;
  /** Writes attempted after the last acknowledged one, answered or not. */
  later: Buffer[];
}

/** A workload stops by itself after this long, so a test that failed before stop() leaves no writer behind. */
const RUN_MS_MAX = 5 * 60_000;
/** Pause after a failed write: with every node down, writes fail at once, and each one is remembered. */
const FAILURE_PAUSE_MS = 100;

export class Workload {
  private readonly keys = new Map<string, KeyHistory>();
  private running = false;
  private loop: Promise<void> | undefined;
  acknowledged = 0;
  failed = 0;
  /** Failed writes by status and code (or the transport error), for the report. */
  readonly failures = new Map<string, number>();

  constructor(private readonly urls: () => readonly string[], readonly keyCount: number, private readonly concurrency = 8) {}

  start(): void {
    this.running = true;
    const worker = async (index: number) => {
      let turn = 0;
      const ownKeys = Math.ceil((this.keyCount - index) / this.concurrency);
      const deadline = Date.now() + RUN_MS_MAX;
      while (this.running && ownKeys > 0 && Date.now() < deadline) {
        const urls = this.urls();
        const key = `w-${index + ((turn * 7919) % ownKeys) * this.concurrency}`;
        // No node left to write to: the cluster was stopped (a test that failed before stop()).
        if (urls.length === 0) break;
        const url = urls[(index + turn++) % urls.length]!;
        if (!(await this.write(url, key))) await new Promise((resolve) => setTimeout(resolve, FAILURE_PAUSE_MS));
      }
    };
    this.loop = Promise.all(Array.from({ length: this.concurrency }, (_, index) => worker(index))).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Writes every key once more and waits, so each has an acknowledged value to check. */
  async settle(url: string): Promise<void> {
    for (let index = 0; index < this.keyCount; index++) {
      const key = `w-${index}`;
      if (!this.keys.get(key)?.acknowledged) await this.write(url, key);
    }
  }

  ids(): string[] {
    return [...this.keys.keys()].filter((key) => this.keys.get(key)!.acknowledged);
  }

  /** Undefined when the read is allowed; otherwise why not. */
  check(key: string, reply: Reply): string | undefined {
    const history = this.keys.get(key);
    if (!history?.acknowledged) return undefined;
    if (reply.status !== 200) return `${key}: read answered ${reply.status} after an acknowledged write`;
    if (reply.body.equals(history.acknowledged) || history.later.some((data) => reply.body.equals(data))) return undefined;
    return `${key}: read bytes that are neither the last acknowledged write nor a later attempt`;
  }

  /** True when the write was acknowledged. */
  private async write(url: string, key: string): Promise<boolean> {
    const data = randomBlock();
    const history = this.keys.get(key) ?? { acknowledged: undefined, later: [] };
    this.keys.set(key, history);
    history.later.push(data);
    let reply: Reply | undefined;
    try {
      reply = await putBlock(url, key, data);
    } catch {
      reply = undefined;
    }
    if (reply?.status === 201) {
      this.acknowledged++;
      history.acknowledged = data;
      history.later = [];
      return true;
    }
    this.failed++;
    const reason = reply ? `${reply.status} ${String(reply.json().code ?? '')} ${String(reply.json().reason ?? '')}`.trim() : 'no answer';
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
    return false;
  }
}
