// The simulated network: every replica call between two nodes is a request message and a response
// message, each delayed by a random latency (so messages overtake each other: reordering), lost at
// a given rate, or dropped when the link is cut by a partition. A lost message is noticed only by
// the caller's timeout, as with TCP behind a partition; a call to a crashed node fails fast
// (connection refused). The callee runs the request only if it is up when the request arrives, and
// answers only if it is still the same incarnation when it is done (a crash loses the answer).
// A caller that crashed never hears back: its promise never settles, like a process that is gone.
import { ReplicaError } from '../../src/store.js';
import type { SimRandom } from './random.js';
import type { Scheduler } from './scheduler.js';

export interface NetworkOptions {
  /** Chance that one message (request or response) is lost. */
  lossRate: number;
  latencyMsMin: number;
  latencyMsMax: number;
  /** The caller gives up after this long (peers.ts: timeoutMs). */
  timeoutMs: number;
}

/** What the network needs to know of the nodes: whether one is up, and which incarnation runs. */
export interface NodeProcesses {
  isUp(name: string): boolean;
  incarnation(name: string): number;
}

export class SimNetwork {
  /** Directed links that are cut: `from>to`. */
  private readonly cut = new Set<string>();
  messagesSent = 0;
  messagesLost = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: SimRandom,
    private readonly processes: NodeProcesses,
    readonly options: NetworkOptions,
  ) {}

  /** Cuts both directions between the two sides. */
  partition(sideA: readonly string[], sideB: readonly string[]): void {
    for (const a of sideA) {
      for (const b of sideB) {
        this.cut.add(`${a}>${b}`);
        this.cut.add(`${b}>${a}`);
      }
    }
  }

  /** Cuts one direction only (an asymmetric partition). */
  cutOneWay(from: string, to: string): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  partitioned(): boolean {
    return this.cut.size > 0;
  }

  /** Sends a request from `from` to `to`, where `handle` runs; resolves with its answer. */
  call<T>(from: string, to: string, label: string, handle: () => Promise<T>): Promise<T> {
    const callerIncarnation = this.processes.incarnation(from);
    const callerAlive = () => this.processes.isUp(from) && this.processes.incarnation(from) === callerIncarnation;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (finish: () => void) => {
        if (settled || !callerAlive()) return;
        settled = true;
        timeout.cancel();
        finish();
      };
      const timeout = this.scheduler.after(this.options.timeoutMs, `timeout ${from}->${to} ${label}`, () =>
        settle(() => reject(new ReplicaError('TIMEOUT', `simulated: ${to} did not answer ${label} in time`))),
      );
      this.send(from, to, `${label} request`, () => {
        if (!this.processes.isUp(to)) {
          this.send(to, from, `${label} refused`, () => settle(() => reject(new ReplicaError('UNREACHABLE', `simulated: ${to} is down`))), true);
          return;
        }
        const calleeIncarnation = this.processes.incarnation(to);
        const answer = (finish: () => void) => {
          if (!this.processes.isUp(to) || this.processes.incarnation(to) !== calleeIncarnation) return;
          this.send(to, from, `${label} response`, () => settle(finish));
        };
        handle().then(
          (value) => answer(() => resolve(value)),
          (error: unknown) => answer(() => reject(error)),
        );
      });
    });
  }

  /** One message: lost, cut or delivered after a latency. `refusal`: a TCP reset, sent by the host even when the process is down. */
  private send(from: string, to: string, label: string, deliver: () => void, refusal = false): void {
    this.messagesSent++;
    if (this.cut.has(`${from}>${to}`) || this.random.chance(this.options.lossRate)) {
      this.messagesLost++;
      return;
    }
    const latencyMs = this.random.int(this.options.latencyMsMin, this.options.latencyMsMax);
    this.scheduler.after(latencyMs, `deliver ${from}->${to} ${label}`, () => {
      // A partition that started while the message was in flight drops it too.
      // A message already on the wire when its sender crashed still arrives.
      if (this.cut.has(`${from}>${to}`) && !refusal) return;
      deliver();
    });
  }
}
