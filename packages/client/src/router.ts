// Where each attempt goes. Plain mode: the seed nodes in turn (any node coordinates). Ring-aware
// mode: the block's owners in preference order, then the seeds; the first owner coordinates, which
// saves the hop from a non-owner coordinator. Either way, nodes that recently refused a connection
// are skipped while others are left, and a retry goes to a node the call has not tried yet when
// there is one.
import type { RingView } from './ring-view.js';

export interface Route {
  readonly origin: string;
  /** Whether the origin is one of the block's owners in the ring routed by. */
  readonly owner: boolean;
}

export class Router {
  readonly #downUntilMs = new Map<string, number>();
  #cursor = 0;

  constructor(
    private readonly seeds: readonly string[],
    private readonly nodeDownMs: number,
    private readonly now: () => number,
  ) {}

  /**
   * The next attempt of a call for block `id`, which already tried `tried` (in order), routed by `view`
   * when there is one.
   */
  route(id: string, tried: readonly string[], view: RingView | undefined): Route {
    const owners = view === undefined ? [] : this.#ownerOrigins(id, view);
    if (owners.length > 0) {
      const origin = this.#pick(owners.concat(this.seeds), 0, tried);
      return { origin, owner: owners.includes(origin) };
    }
    if (tried.length === 0) this.#cursor = (this.#cursor + 1) % this.seeds.length;
    return { origin: this.#pick(this.seeds, this.#cursor, tried), owner: false };
  }

  /** A node refused a connection: skip it for `nodeDownMs`. */
  markDown(origin: string): void {
    this.#downUntilMs.set(origin, this.now() + this.nodeDownMs);
  }

  /** Forgets down marks of nodes no longer known (keeps the map bounded by the known nodes). */
  retain(keep: ReadonlySet<string>): void {
    for (const origin of this.#downUntilMs.keys()) if (!keep.has(origin)) this.#downUntilMs.delete(origin);
  }

  isDown(origin: string): boolean {
    const until = this.#downUntilMs.get(origin);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.#downUntilMs.delete(origin);
    return false;
  }

  #ownerOrigins(id: string, view: RingView): string[] {
    const origins: string[] = [];
    for (const node of view.ring.owners(id)) {
      const origin = view.originOf.get(node.name);
      if (origin !== undefined) origins.push(origin);
    }
    return origins;
  }

  /**
   * Walking `candidates` cyclically from `start`: the first live one not tried yet, else the first not
   * tried yet, else (all tried) the next in turn.
   */
  #pick(candidates: readonly string[], start: number, tried: readonly string[]): string {
    const count = candidates.length;
    let untried: string | undefined;
    for (let step = 0; step < count; step++) {
      const origin = candidates[(start + step) % count]!;
      if (tried.includes(origin)) continue;
      if (!this.isDown(origin)) return origin;
      untried ??= origin;
    }
    return untried ?? candidates[(start + tried.length) % count]!;
  }
}
