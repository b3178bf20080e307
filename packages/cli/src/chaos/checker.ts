// The history checker: pure, over the operations of a chaos run (no I/O, no clock), so it is tested
// on hand-written histories. Writes are PUTs and DELETEs; a write is *acknowledged* when it answered
// 201 / 204. Any other outcome (503, timeout, reset) is *indeterminate*: it may have reached replicas
// and may still win later (Dynamo semantics), so it is allowed wherever it could explain a read.
// Versions order writes as the nodes do (last writer wins); "before" in real time means the first
// operation's answer arrived before the second was sent (both on the runner's monotonic clock).
//
// Rules (a violation names the operations that prove it):
//  lost-write (a)  after healing, each final read of a key (at `all`, through every node) returns a
//                  write that was not acknowledged before another acknowledged write of the key
//                  started — i.e. the last acknowledged write or one concurrent with or after it
//                  (indeterminate writes always qualify; "absent" qualifies through such a delete, or
//                  when no write of the key was ever acknowledged) — and its version is not older
//                  than any acknowledged write of the key.
//  stale-read (b)  a read at level r that began after a write at level w was acknowledged, with
//                  acks(r) + acks(w) > RF (e.g. quorum and quorum), never returns an older version;
//                  nor "absent" when that write was a PUT, unless a DELETE could be ordered after it.
//  resurrected (c) the same for a DELETE: such a read never returns data older than the delete.
//  phantom (d)     every 200 holds a chaos block of the key it was read from, written by a PUT of that
//                  key that started before the read ended; nothing torn, foreign or invented.
//  version-mismatch  a version names one write: a read's version and bytes agree with the acknowledged
//                  write of that version (or, while that write is in flight, an earlier round of it);
//                  no two acknowledged writes share a version; a 200 has one.
//  unverified      a key could not be read through some node after healing, so (a) is unproven there.
import { acknowledged, type Level, type Operation } from './history.js';
import { compareVersionText } from './versions.js';

export const VIOLATION_KINDS = ['lost-write', 'stale-read', 'resurrected', 'phantom', 'version-mismatch', 'unverified'] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export type OperationRef = Pick<Operation, 'id' | 'phase' | 'kind' | 'key' | 'level' | 'node' | 'startMs' | 'endMs' | 'status' | 'code' | 'version' | 'writeId'>;

export interface Violation {
  kind: ViolationKind;
  key: string;
  message: string;
  operations: OperationRef[];
}

export interface CheckOptions {
  replicationFactor: number;
  /** Violations kept per kind (all are counted). */
  violationsPerKindMax?: number;
}

export interface CheckResult {
  violations: Violation[];
  counts: Record<ViolationKind, number>;
  keys: number;
  finalReads: number;
}

const VIOLATIONS_PER_KIND_MAX_DEFAULT = 20;
/**
 * Versions are hybrid clock timestamps in milliseconds from one wall clock (all nodes run on this
 * machine): a write that answered more than this before another started has the smaller version.
 */
export const CLOCK_SLACK_MS = 2;

type Write = Operation & { kind: 'put' | 'delete' };

/** The checker's view of one key's operations. */
interface KeyOperations {
  key: string;
  writes: Write[];
  acked: Write[];
  /** The first acknowledged write of each version. */
  ackedByVersion: Map<string, Write>;
  deletes: Write[];
  reads: Operation[];
}

export function checkHistory(operations: readonly Operation[], options: CheckOptions): CheckResult {
  const report = new Report(options.violationsPerKindMax ?? VIOLATIONS_PER_KIND_MAX_DEFAULT);
  const putsByWriteId = new Map<number, Write>();
  for (const op of operations) if (op.kind === 'put' && op.writeId !== undefined) putsByWriteId.set(op.writeId, op as Write);
  const keys = groupByKey(operations);
  for (const ops of keys.values()) {
    checkVersionsUnique(ops, report);
    for (const read of ops.reads) checkReadBytes(read, ops, putsByWriteId, report);
    checkNotStale(ops, options.replicationFactor, report);
    checkFinalReads(ops, report);
  }
  return { violations: report.violations, counts: report.counts, keys: keys.size, finalReads: operations.filter((op) => op.phase === 'final').length };
}

function groupByKey(operations: readonly Operation[]): Map<string, KeyOperations> {
  const keys = new Map<string, KeyOperations>();
  for (const op of operations) {
    let entry = keys.get(op.key);
    if (!entry) keys.set(op.key, (entry = { key: op.key, writes: [], acked: [], ackedByVersion: new Map(), deletes: [], reads: [] }));
    if (op.kind === 'get') {
      entry.reads.push(op);
      continue;
    }
    const write = op as Write;
    entry.writes.push(write);
    if (acknowledged(write) && write.version !== undefined) entry.acked.push(write);
    if (write.kind === 'delete') entry.deletes.push(write);
  }
  return keys;
}

function checkVersionsUnique(ops: KeyOperations, report: Report): void {
  for (const write of ops.acked) {
    const other = ops.ackedByVersion.get(write.version!);
    if (other) report.add('version-mismatch', ops.key, `two acknowledged writes share version ${write.version}`, [other, write]);
    else ops.ackedByVersion.set(write.version!, write);
  }
}

/** (d) and version agreement, for one 200 read. */
function checkReadBytes(read: Operation, ops: KeyOperations, putsByWriteId: ReadonlyMap<number, Write>, report: Report): void {
  if (read.status !== 200) return;
  if (read.version === undefined) return report.add('version-mismatch', ops.key, 'a 200 answer carried no version (ETag)', [read]);
  if (read.garbage !== undefined) return report.add('phantom', ops.key, `read bytes that were never written: ${read.garbage}`, [read]);
  const put = read.writeId === undefined ? undefined : putsByWriteId.get(read.writeId);
  if (!put || put.key !== ops.key) return report.add('phantom', ops.key, `read write id ${read.writeId}, which no PUT of ${ops.key} sent`, [read]);
  if (put.startMs > read.endMs) return report.add('phantom', ops.key, `read write ${read.writeId} before its PUT was sent`, [read, put]);
  // A coordinator that meets a newer version on a replica writes again under a later one (README,
  // "How a request is served"), so while the PUT is in flight its bytes can be read under the
  // earlier round's version. Once it answered, only the acknowledged version names it.
  const earlierRound = (version: string) => read.startMs < put.endMs && compareVersionText(read.version!, version) < 0;
  if (acknowledged(put) && put.version !== undefined && put.version !== read.version && !earlierRound(put.version)) {
    return report.add('version-mismatch', ops.key, `write ${put.writeId} was acknowledged as ${put.version} but read as ${read.version}`, [read, put]);
  }
  const owner = ops.ackedByVersion.get(read.version);
  if (owner && owner !== put) report.add('version-mismatch', ops.key, `read version ${read.version} with the bytes of write ${read.writeId}, but that version was acknowledged for another ${owner.kind}`, [read, owner, put]);
}

/** acks(r) + acks(w) > RF: every read quorum meets every write quorum. */
export function overlaps(read: Level, write: Level, replicationFactor: number): boolean {
  const acks = (level: Level) => (level === 'one' ? 1 : level === 'quorum' ? Math.floor(replicationFactor / 2) + 1 : replicationFactor);
  return acks(read) + acks(write) > replicationFactor;
}

/**
 * (b), (c), and the version half of (a): sweeps reads by start time against the acknowledged writes
 * that had answered by then, keeping the newest per level.
 */
function checkNotStale(ops: KeyOperations, replicationFactor: number, report: Report): void {
  const writes = [...ops.acked].sort((a, b) => a.endMs - b.endMs);
  const reads = ops.reads.filter((read) => read.status === 200 || read.status === 404).sort((a, b) => a.startMs - b.startMs);
  const newest = new Map<Level, Write>();
  let next = 0;
  for (const read of reads) {
    for (; next < writes.length && writes[next]!.endMs < read.startMs; next++) {
      const write = writes[next]!;
      const current = newest.get(write.level);
      if (!current || compareVersionText(write.version!, current.version!) > 0) newest.set(write.level, write);
    }
    const floor = newestOf([...newest].filter(([level]) => overlaps(read.level, level, replicationFactor)).map(([, write]) => write));
    if (floor) checkAgainst(read, floor, ops, report);
  }
}

function checkAgainst(read: Operation, floor: Write, ops: KeyOperations, report: Report): void {
  const final = read.phase === 'final';
  if (read.status === 200 && read.version !== undefined && compareVersionText(read.version, floor.version!) < 0) {
    const kind = floor.kind === 'delete' ? 'resurrected' : final ? 'lost-write' : 'stale-read';
    const what = floor.kind === 'delete' ? 'data older than an acknowledged DELETE' : `version ${read.version}, older than an acknowledged PUT (${floor.version})`;
    report.add(kind, ops.key, `a ${read.level} read returned ${what} that answered before the read began`, [floor, read]);
  } else if (read.status === 404 && floor.kind === 'put' && !absenceExplained(floor, read, ops.deletes)) {
    report.add(final ? 'lost-write' : 'stale-read', ops.key, `a ${read.level} read found the key absent after a PUT (${floor.version}) was acknowledged, and no DELETE can be ordered after that PUT`, [floor, read]);
  }
}

/** A DELETE sent before `read` ended can be newer than `put`, unless its version says otherwise. */
function absenceExplained(put: Write, read: Operation, deletes: readonly Write[]): boolean {
  return deletes.some((deletion) => {
    if (deletion.startMs >= read.endMs) return false;
    if (deletion.version !== undefined && acknowledged(deletion)) return compareVersionText(deletion.version, put.version!) > 0;
    const answeredBefore = deletion.status !== null && deletion.endMs + CLOCK_SLACK_MS < put.startMs;
    return !answeredBefore;
  });
}

function newestOf(writes: readonly Write[]): Write | undefined {
  return writes.reduce<Write | undefined>((best, write) => (!best || compareVersionText(write.version!, best.version!) > 0 ? write : best), undefined);
}

/** (a), the real-time half, and whether every node answered a final read of the key. */
function checkFinalReads(ops: KeyOperations, report: Report): void {
  const finals = ops.reads.filter((read) => read.phase === 'final');
  if (finals.length === 0) return;
  checkEveryNodeAnswered(ops.key, finals, report);
  const lastAcked = ops.acked.reduce<Write | undefined>((latest, write) => (!latest || write.startMs > latest.startMs ? write : latest), undefined);
  for (const read of finals) {
    if (!lastAcked || (read.status !== 200 && read.status !== 404)) continue;
    const source = read.status === 200 ? ops.writes.filter((write) => write.kind === 'put' && write.writeId === read.writeId) : ops.deletes;
    if (read.status === 200 && source.length === 0) continue; // bytes no PUT sent: a phantom, reported as such
    const allowed = source.filter((write) => !acknowledged(write) || write.endMs >= lastAcked.startMs);
    if (allowed.length === 0) {
      const what = read.status === 200 ? `write ${read.writeId}` : 'absent';
      report.add('lost-write', ops.key, `the final read returned ${what}, which an acknowledged write started after it answered should have replaced`, [lastAcked, ...source.slice(-1), read]);
    }
  }
}

function checkEveryNodeAnswered(key: string, finals: readonly Operation[], report: Report): void {
  const answered = new Set(finals.filter((read) => read.status === 200 || read.status === 404).map((read) => read.node));
  for (const node of new Set(finals.map((read) => read.node))) {
    if (answered.has(node)) continue;
    const attempts = finals.filter((read) => read.node === node);
    report.add('unverified', key, `no final read through ${node} succeeded (${attempts.length} attempts)`, attempts.slice(-1));
  }
}

class Report {
  readonly violations: Violation[] = [];
  readonly counts = Object.fromEntries(VIOLATION_KINDS.map((kind) => [kind, 0])) as Record<ViolationKind, number>;

  constructor(private readonly perKindMax: number) {}

  add(kind: ViolationKind, key: string, message: string, operations: readonly Operation[]): void {
    this.counts[kind]++;
    if (this.counts[kind] <= this.perKindMax) this.violations.push({ kind, key, message, operations: operations.map(reference) });
  }
}

function reference(op: Operation): OperationRef {
  const { id, phase, kind, key, level, node, startMs, endMs, status, code, version, writeId } = op;
  return { id, phase, kind, key, level, node, startMs, endMs, status, ...(code !== undefined ? { code } : {}), ...(version !== undefined ? { version } : {}), ...(writeId !== undefined ? { writeId } : {}) };
}
