// Fault injection for spdk-sim, driven over the RPC socket by the sim-only methods (see sim/methods/
// sim-control.ts): fail the next N calls of a method (before or after it takes effect), drop the
// connection instead of answering, or delay a method. Every rule set is bounded.
import { SimRpcError } from './rpc-error.js';

export const FAULT_RULES_MAX = 256;
export const FAULT_COUNT_MAX = 1_000_000;
export const DELAY_MS_MAX = 60_000;
/** Matches every method that is not sim-only. */
export const ANY_METHOD = '*';

export type FaultAction = 'error' | 'drop';
/** `before`: the call fails without effect; `after`: it takes effect, then the reply is replaced (or lost). */
export type FaultTiming = 'before' | 'after';

export interface FaultRule {
  readonly method: string;
  remaining: number;
  readonly action: FaultAction;
  readonly when: FaultTiming;
  readonly code: number;
  readonly message: string;
}

export interface DelayRule {
  readonly method: string;
  readonly delayMs: number;
  /** undefined: every call until cleared. */
  remaining?: number;
}

export class FaultInjector {
  private faults: FaultRule[] = [];
  private delays: DelayRule[] = [];

  addFault(rule: FaultRule): void {
    this.checkRoom();
    this.faults.push(rule);
  }

  /** Adds a delay; a delay of 0 ms removes the method's delay rules. */
  addDelay(rule: DelayRule): void {
    this.delays = this.delays.filter((delay) => delay.method !== rule.method);
    if (rule.delayMs === 0) return;
    this.checkRoom();
    this.delays.push(rule);
  }

  clear(): void {
    this.faults = [];
    this.delays = [];
  }

  /** The delay to apply to one call of `method` (0 for none); consumes a count. */
  takeDelay(method: string): number {
    const rule = this.delays.find((delay) => matches(delay.method, method));
    if (rule === undefined) return 0;
    if (rule.remaining !== undefined && --rule.remaining === 0) this.delays.splice(this.delays.indexOf(rule), 1);
    return rule.delayMs;
  }

  /** The fault to apply to one call of `method` at `when`, if any; consumes a count. */
  takeFault(method: string, when: FaultTiming): FaultRule | undefined {
    const rule = this.faults.find((fault) => fault.when === when && matches(fault.method, method));
    if (rule === undefined) return undefined;
    if (--rule.remaining === 0) this.faults.splice(this.faults.indexOf(rule), 1);
    return rule;
  }

  private checkRoom(): void {
    if (this.faults.length + this.delays.length >= FAULT_RULES_MAX) throw new SimRpcError(-12, 'Cannot allocate memory');
  }
}

function matches(pattern: string, method: string): boolean {
  return pattern === method || (pattern === ANY_METHOD && !method.startsWith('sim_'));
}
