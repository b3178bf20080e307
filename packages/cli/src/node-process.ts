// One peer as a child process: started from an exact argv and environment (what cluster.json records,
// so a node can be restarted as it was), with its log in a file, and signals for chaos and tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { once } from 'node:events';

/** How long a stopping node may drain before it is killed. */
const STOP_GRACE_MS = 15_000;
/** Bound on waiting for /ready after a start. */
const READY_TIMEOUT_MS = 60_000;
const READY_POLL_MS = 50;

export interface NodeSpec {
  name: string;
  url: string;
  dataDir: string;
  argv: string[];
  env: Record<string, string>;
  logFile: string;
  /** Whether the started process serves yet (default: its url answers GET /ready with 200). */
  ready?: () => Promise<boolean>;
}

export class NodeProcess {
  private child: ChildProcess | undefined;
  /** Answered /ready since its last start (a client should not be sent to it before). */
  ready = false;
  private exited: Promise<number | null> | undefined;

  constructor(readonly spec: NodeSpec) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process (detached ones outlive this one: `ringblock up --detach`). */
  start(options: { detached?: boolean } = {}): void {
    if (this.running) throw new Error(`node ${this.spec.name} is already running`);
    this.ready = false;
    const log = openSync(this.spec.logFile, 'a');
    try {
      const [command, ...args] = this.spec.argv;
      this.child = spawn(command!, args, {
        env: { ...process.env, ...this.spec.env },
        stdio: ['ignore', log, log],
        detached: options.detached ?? false,
      });
    } finally {
      closeSync(log);
    }
    const child = this.child;
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
    if (options.detached) child.unref();
  }

  /** Polls /ready (bounded) until the node answers 200; fails early if the process exits. */
  async waitReady(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited?.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) throw new Error(`node ${this.spec.name} exited before it was ready; see ${this.spec.logFile}`);
      const ready = this.spec.ready ? await this.spec.ready().catch(() => false) : await fetch(`${this.spec.url}/ready`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.status === 200, () => false);
      if (ready) {
        this.ready = true;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
    throw new Error(`node ${this.spec.name} was not ready within ${timeoutMs} ms; see ${this.spec.logFile}`);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child!.kill(signal);
  }

  /** Resolves with the exit code (null when killed by a signal). */
  async waitExit(): Promise<number | null> {
    return this.running ? this.exited! : (this.child?.exitCode ?? null);
  }

  /** SIGTERM (graceful drain), SIGKILL after the grace period. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (!this.running) return;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.signal('SIGKILL');
    await this.exited;
  }
}
