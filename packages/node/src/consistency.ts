// Consistency levels (DESIGN §5) and the acknowledgement count each needs.
export type Consistency = 'one' | 'quorum' | 'all';

export const CONSISTENCY_LEVELS: readonly Consistency[] = ['one', 'quorum', 'all'];

export function isConsistency(value: string): value is Consistency {
  return (CONSISTENCY_LEVELS as readonly string[]).includes(value);
}

/** Acks needed at `level` for a replication factor: one → 1, quorum → ⌊RF/2⌋+1, all → RF. */
export function requiredAcks(level: Consistency, replicationFactor: number): number {
  switch (level) {
    case 'one':
      return 1;
    case 'quorum':
      return Math.floor(replicationFactor / 2) + 1;
    case 'all':
      return replicationFactor;
  }
}
