// Live record counts per namespace (blocks and tombstones), kept in step with the index.

export interface NamespaceCount {
  blocks: number;
  tombstones: number;
}

export class NamespaceCounters {
  private readonly counts = new Map<number, NamespaceCount>();

  /** Applies one change of a key: from absent / block / tombstone to absent / block / tombstone. */
  change(namespace: number, before: 'absent' | 'block' | 'tombstone', after: 'absent' | 'block' | 'tombstone'): void {
    const count = this.counts.get(namespace) ?? { blocks: 0, tombstones: 0 };
    if (before === 'block') count.blocks--;
    if (before === 'tombstone') count.tombstones--;
    if (after === 'block') count.blocks++;
    if (after === 'tombstone') count.tombstones++;
    if (count.blocks === 0 && count.tombstones === 0) this.counts.delete(namespace);
    else this.counts.set(namespace, count);
  }

  /** Namespaces holding at least one record, ascending. */
  namespaces(): number[] {
    return [...this.counts.keys()].sort((a, b) => a - b);
  }

  get(namespace: number): NamespaceCount {
    return { ...(this.counts.get(namespace) ?? { blocks: 0, tombstones: 0 }) };
  }

  total(): NamespaceCount {
    let blocks = 0;
    let tombstones = 0;
    for (const count of this.counts.values()) {
      blocks += count.blocks;
      tombstones += count.tombstones;
    }
    return { blocks, tombstones };
  }
}
