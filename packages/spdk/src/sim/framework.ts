// The framework's STARTUP/RUNTIME state (RPC.md §1.6): a target started with --wait-for-rpc stays in
// STARTUP until framework_start_init; framework_wait_init resolves once in RUNTIME.
import type { FrameworkState } from './method.js';

export class Framework {
  private current: FrameworkState;
  private readonly waiters: (() => void)[] = [];

  constructor(waitForRpc: boolean) {
    this.current = waitForRpc ? 'startup' : 'runtime';
  }

  get state(): FrameworkState {
    return this.current;
  }

  startInit(): void {
    this.current = 'runtime';
    for (const wake of this.waiters.splice(0)) wake();
  }

  waitRuntime(): Promise<void> {
    if (this.current === 'runtime') return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
