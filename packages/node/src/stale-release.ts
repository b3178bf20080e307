// Garbage collection after a migration (DESIGN §6, step 4): blocks of ranges this node no longer
// owns stay readable for staleGraceMs, then are removed from the local device. Ownership is checked
// again against the ring of that moment (a later migration may have given the range back), and a
// block is removed only with the exact version read, so a write that landed meanwhile is kept.
import type { Logger } from 'pino';
import type { Engine } from '@ringblock/engine';
import type { Arc, Ring } from '@ringblock/ring';

export interface StaleReleaseOptions {
  engine: Engine;
  self: string;
  /** The rings this node routes and dual-writes by now. */
  rings: () => readonly (Ring | undefined)[];
  log: Logger;
  onReleased?: (blocks: number) => void;
}

export function staleRelease(options: StaleReleaseOptions): (epoch: number, ranges: readonly Arc[]) => Promise<void> {
  return async (epoch, ranges) => {
    let released = 0;
    for (const range of ranges) {
      // Collected first, removed after: the index is not changed under a running iteration. One
      // range is a vnode arc (about 1/(vnodes × nodes) of the blocks), so the list stays small.
      const stale: { id: string; version: Buffer }[] = [];
      for await (const record of options.engine.rangeEntries(range.start, range.end)) {
        const owned = options.rings().some((ring) => ring?.ownersOfPosition(record.position).some((node) => node.name === options.self));
        if (!owned) stale.push({ id: record.id, version: record.version });
      }
      for (const { id, version } of stale) {
        if ((await options.engine.evict(id, version)).evicted) released++;
      }
    }
    options.onReleased?.(released);
    options.log.info({ epoch, ranges: ranges.length, released }, 'released stale blocks');
  };
}
