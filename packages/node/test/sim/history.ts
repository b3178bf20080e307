// The client-side history of a run and the checks made on it afterwards. Operations are ordered by
// one logical sequence (taken when an operation starts and when its answer arrives), which is the
// real-time order of the simulation.
//
// Checked, with RF replicas per block (the level of an operation is the one the client asked for):
// 1. Quorum/all reads are fresh: a successful quorum or all read returns a version no older than
//    every quorum/all write acknowledged before the read began; a tombstone (the read answers
//    "absent") counts only if a delete with such a version was stored somewhere.
// 2. Quorum/all writes are ordered: one that starts after another (same block) was acknowledged gets
//    a greater version — so a key deleted at quorum cannot come back with an earlier write.
// 3. No bytes never written: every read's data is exactly what some write of that block carried under
//    that version (the ledger of every version any disk was asked to store).
// 4. Nothing acknowledged is lost: after healing, every quorum/all write acknowledged is held (it or a
//    newer version) on at least as many of its owners' disks as its level required.
// 4b. At every ring commit, before any process hears of it, every quorum/all write acknowledged so
//    far is held (it or a newer version) by a write quorum of the NEW ring's owners: the migration
//    moved every acknowledged write, without help from hints, repair or reads later. (A quorum, not
//    `all`'s RF: a new owner that is down gets its copy from hints and repair after it is back.)
// 5. Hints drain: after healing every hint was delivered and removed, and every owner holds every
//    version that was ever durably hinted for it, or a newer one.
import type { Ring } from '@ringblock/ring';
import { requiredAcks, type Consistency } from '../../src/consistency.js';
import type { StoredBlock } from '../../src/store.js';
import { compareVersions, versionToText } from '../../src/version.js';
import { ledgerKey, type SimCluster } from './cluster.js';

export type OpKind = 'put' | 'get' | 'delete';

export interface Op {
  readonly index: number;
  readonly client: number;
  readonly kind: OpKind;
  readonly key: string;
  readonly level: Consistency;
  readonly node: string;
  readonly startSeq: number;
  readonly startMs: number;
  endSeq: number;
  endMs: number;
  /** `unknown`: no answer (the coordinator crashed or the client gave up): it may or may not have happened. */
  status: 'pending' | 'ok' | 'failed' | 'unknown';
  /** A write's acknowledged version. */
  version?: Buffer;
  /** A put's bytes. */
  data?: Buffer;
  /** A read's answer (undefined: absent or a tombstone). */
  result?: StoredBlock | undefined;
  error?: string;
}

export function describeOp(op: Op): string {
  const answer =
    op.kind === 'get'
      ? op.status === 'ok'
        ? ` -> ${op.result ? `${versionToText(op.result.version)} "${tagOf(op.result.data)}"` : 'absent'}`
        : ''
      : op.version
        ? ` -> ${versionToText(op.version)}`
        : '';
  return `#${op.index} c${op.client} ${op.kind} ${op.key} @${op.level} via ${op.node} [${op.startSeq}..${op.endSeq}] t=${op.startMs}..${op.endMs} ${op.status}${answer}${op.error ? ` (${op.error})` : ''}`;
}

/** A put's data: its tag ("key#op") then a fill derived from the op, 4096 bytes. */
export function blockData(key: string, opIndex: number): Buffer {
  const data = Buffer.alloc(4096, opIndex % 251);
  data.write(`${key}#${opIndex};`, 0, 'utf8');
  return data;
}

export function tagOf(data: Buffer | undefined): string {
  if (!data) return '';
  const end = data.indexOf(';');
  return data.toString('utf8', 0, end < 0 ? 16 : end);
}

const strong = (op: Op) => op.level !== 'one';
const isWrite = (op: Op) => op.kind !== 'get';

export function checkHistory(ops: readonly Op[], cluster: SimCluster, replicationFactor: number): string[] {
  const violations: string[] = [...cluster.violations];
  const byKey = new Map<string, Op[]>();
  for (const op of ops) byKey.set(op.key, [...(byKey.get(op.key) ?? []), op]);
  for (const [key, keyOps] of byKey) {
    const ackedStrongWrites = keyOps.filter((op) => isWrite(op) && strong(op) && op.status === 'ok');
    for (const read of keyOps.filter((op) => op.kind === 'get' && op.status === 'ok')) {
      violations.push(...checkReadBytes(read, cluster));
      if (strong(read)) violations.push(...checkFresh(read, ackedStrongWrites.filter((write) => write.endSeq < read.startSeq), cluster));
    }
    for (const first of ackedStrongWrites) {
      for (const later of ackedStrongWrites) {
        if (later.startSeq > first.endSeq && compareVersions(later.version!, first.version!) <= 0) {
          violations.push(`write order on ${key}: ${describeOp(later)} started after ${describeOp(first)} was acknowledged but got an older version`);
        }
      }
    }
    violations.push(...checkDurable(key, ackedStrongWrites, cluster, replicationFactor));
  }
  violations.push(...checkHints(cluster));
  return violations;
}

/** The data of a read is what a write of that block stored under that version. */
function checkReadBytes(read: Op, cluster: SimCluster): string[] {
  const block = read.result;
  if (!block) return [];
  const written = cluster.ledger.get(ledgerKey(read.key, block.version));
  if (!written) return [`${describeOp(read)} returned version ${versionToText(block.version)}, which no write ever stored`];
  if (!written.data || !block.data || !written.data.equals(block.data)) {
    return [`${describeOp(read)} returned bytes "${tagOf(block.data)}" that no write of ${read.key} stored under ${versionToText(block.version)}`];
  }
  return [];
}

function checkFresh(read: Op, before: readonly Op[], cluster: SimCluster): string[] {
  if (before.length === 0) return [];
  const newest = before.reduce((a, b) => (compareVersions(a.version!, b.version!) >= 0 ? a : b));
  if (read.result) {
    if (compareVersions(read.result.version, newest.version!) >= 0) return [];
    return [`stale read: ${describeOp(read)} is older than ${describeOp(newest)}, acknowledged before the read began`];
  }
  // Absent: some tombstone no older than the newest acknowledged write must exist.
  for (const written of cluster.ledger.values()) {
    if (written.id === read.key && !written.data && compareVersions(written.version, newest.version!) >= 0) return [];
  }
  return [`lost write: ${describeOp(read)} answered absent although ${describeOp(newest)} was acknowledged before the read began and no delete is that new`];
}

function checkDurable(key: string, acked: readonly Op[], cluster: SimCluster, replicationFactor: number): string[] {
  const owners = cluster.owners(key).map((owner) => owner.name);
  return underHeld(key, acked, cluster, owners, replicationFactor).map(({ holding, required, write }) => `lost write: after healing only ${holding} of ${key}'s owners hold ${describeOp(write)} or newer (needs ${required})`);
}

/** Check 4b, run by the cluster at each commit on the ring just committed. */
export function checkAtCommit(ops: readonly Op[], cluster: SimCluster, epoch: number, ring: Ring, replicationFactor: number): string[] {
  const violations: string[] = [];
  for (const key of new Set(ops.map((op) => op.key))) {
    const acked = ops.filter((op) => op.key === key && isWrite(op) && strong(op) && op.status === 'ok');
    const owners = ring.owners(key).map((owner) => owner.name);
    for (const { holding, required, write } of underHeld(key, acked, cluster, owners, replicationFactor, 'quorum')) {
      violations.push(`under-replicated at the commit of epoch ${epoch}: only ${holding} of ${key}'s new owners [${owners.join(',')}] hold ${describeOp(write)} or newer (needs ${required})`);
    }
  }
  return violations;
}

/** The writes of `acked` that fewer of `owners` durably hold (or something newer) than their level required. */
function underHeld(key: string, acked: readonly Op[], cluster: SimCluster, owners: readonly string[], replicationFactor: number, level?: Consistency): { holding: number; required: number; write: Op }[] {
  const copies = cluster.durableCopies(key).filter((copy) => owners.includes(copy.node));
  const short: { holding: number; required: number; write: Op }[] = [];
  for (const write of acked) {
    const holding = copies.filter((copy) => copy.block && compareVersions(copy.block.version, write.version!) >= 0).length;
    const required = requiredAcks(level ?? write.level, Math.min(replicationFactor, owners.length));
    if (holding < required) short.push({ holding, required, write });
  }
  return short;
}

function checkHints(cluster: SimCluster): string[] {
  const violations: string[] = [];
  for (const node of cluster.nodes) {
    const left = node.disk.records(1).size;
    if (left > 0) violations.push(`hints not drained: ${node.name} still holds ${left} after healing (${[...node.disk.records(1).keys()].join(',')})`);
  }
  for (const [key, versions] of cluster.hinted) {
    const owners = new Set(cluster.owners(key).map((owner) => owner.name));
    for (const copy of cluster.durableCopies(key)) {
      if (!owners.has(copy.node)) continue;
      for (const version of versions) {
        if (!copy.block || compareVersions(copy.block.version, version) < 0) {
          violations.push(`hint lost: ${copy.node} holds ${copy.block ? versionToText(copy.block.version) : 'nothing'} for ${key}, older than hinted ${versionToText(version)}`);
        }
      }
    }
  }
  return violations;
}
