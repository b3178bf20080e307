// Shared by the migration tests: tiny rings with chosen tokens, event constructors, a compact text
// form of actions for scripted (etcd rafttest style) expectations, and a seeded random source.
import type { RingNodeInfo } from '@ringblock/coord';
import { Ring, type Arc, type Hasher } from '@ringblock/ring';
import type { MigrationAction, MigrationEvent, MigrationRecord } from '../src/migration/index.js';

export const node = (name: string): RingNodeInfo => ({ name, addr: `${name}:3000` });
export const nodes = (...names: string[]): RingNodeInfo[] => names.map(node);

/**
 * One vnode per node at these tokens, RF 2: A 100, B 200, C 300, D 250, E 50. Ring A,B,C has arcs
 * (300,100] → A,B · (100,200] → B,C · (200,300] → C,A; adding D gives (100,200] → B,D and
 * (200,250] → D,C, so B sends (100,200] and C sends (200,250] to D; C and A release those.
 */
const TOKENS: Record<string, bigint> = { 'A#0': 100n, 'B#0': 200n, 'C#0': 300n, 'D#0': 250n, 'E#0': 50n };
const tinyHasher: Hasher = { h64String: (text) => TOKENS[text] ?? 0n, h64Bytes: () => 0n };

export function tinyRing(members: readonly RingNodeInfo[]): Ring {
  return new Ring({ nodes: members, vnodes: 1, replicationFactor: 2, hasher: tinyHasher });
}

export function record(epoch: number, from: string[], to: string[], proposer: string, startedAt: number, participants: string[]): MigrationRecord {
  return { epoch, from: nodes(...from), to: nodes(...to), startedAt, proposer, participants };
}

export const ev = {
  ring: (epoch: number, version: number, ...names: string[]): MigrationEvent => ({ type: 'ringCommitted', epoch, version, nodes: nodes(...names) }),
  members: (...live: string[]): MigrationEvent => ({ type: 'members', live }),
  target: (...names: string[]): MigrationEvent => ({ type: 'target', nodes: names.length === 0 ? null : nodes(...names) }),
  seen: (migration: MigrationRecord | null, prepared: string[] = [], done: string[] = []): MigrationEvent => ({ type: 'migrationSeen', record: migration, prepared, done }),
  exists: (): MigrationEvent => ({ type: 'proposeFailed', reason: 'exists' }),
  proposeError: (): MigrationEvent => ({ type: 'proposeFailed', reason: 'error' }),
  dualOn: (migration: string): MigrationEvent => ({ type: 'dualWritesEnabled', migration }),
  progress: (transferId: string, bytesMoved: number, blocksMoved: number): MigrationEvent => ({ type: 'transferProgress', transferId, bytesMoved, blocksMoved }),
  done: (transferId: string, bytesMoved = 0, blocksMoved = 0): MigrationEvent => ({ type: 'transferDone', transferId, bytesMoved, blocksMoved }),
  failed: (transferId: string): MigrationEvent => ({ type: 'transferFailed', transferId, error: 'connection reset' }),
  tick: (now: number): MigrationEvent => ({ type: 'tick', now }),
};

const names = (list: readonly RingNodeInfo[]): string => `[${list.map((entry) => entry.name).join(',')}]`;
const arc = (range: Arc): string => `(${range.start},${range.end}]`;

/** One line per action, with what a script needs to tell actions apart. */
export function show(action: MigrationAction): string {
  switch (action.type) {
    case 'createMigration': {
      const { record: created } = action;
      return `create ${created.epoch}:${created.proposer}:${created.startedAt} ${names(created.from)}->${names(created.to)} p=${created.participants.join(',')}`;
    }
    case 'enableDualWrites':
      return `enableDualWrites ${action.migration}`;
    case 'startTransfer':
      return `start ${action.transferId} ${action.transfer.from}->${action.transfer.to} ${arc(action.transfer.range)}`;
    case 'cancelTransfer':
      return `cancel ${action.transferId}`;
    case 'commit':
      return `commit e${action.epoch} v${action.expectedRingVersion}`;
    case 'abortMigration':
      return `abort ${action.migration} ${action.reason}${action.nodes?.length ? ` ${action.nodes.join(',')}` : ''}`;
    case 'switchRing':
      return `switchRing e${action.epoch}`;
    case 'scheduleRelease':
      return `release ${action.ranges.map(arc).join(' ')} at ${action.atMs}`;
    case 'markPrepared':
    case 'markDone':
    case 'stopTransfers':
    case 'disableDualWrites':
      return action.type;
  }
}

/** mulberry32: seeded floats in [0, 1), so a failing random run replays from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

export function shuffled<T>(random: () => number, items: readonly T[]): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [copy[index], copy[other]] = [copy[other]!, copy[index]!];
  }
  return copy;
}
