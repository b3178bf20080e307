// The history checker on hand-written histories: each violation kind is caught with the operations
// that prove it, and correct histories — with concurrent, failed and timed-out writes — pass.
import t from 'tap';
import { compareVersions, versionFromText } from '@ringblock/node';
import { checkHistory, overlaps, type ViolationKind } from '../src/chaos/checker.js';
import type { Level, Operation, OperationKind } from '../src/chaos/history.js';
import { compareVersionText } from '../src/chaos/versions.js';

/** A version text at `ms` on `node` (logical counter 0). */
const v = (ms: number, node = 'node-1') => `${ms.toString(16).padStart(12, '0')}0000-${node}`;

interface Spec {
  kind: OperationKind;
  at: [number, number];
  status?: number | null;
  version?: string;
  writeId?: number;
  key?: string;
  level?: Level;
  node?: string;
  final?: boolean;
  garbage?: string;
  code?: string;
}

function history(...specs: Spec[]): Operation[] {
  return specs.map((spec, index) => {
    const ok = spec.kind === 'put' ? 201 : spec.kind === 'delete' ? 204 : 200;
    const op: Operation = {
      type: 'op',
      id: index + 1,
      phase: spec.final ? 'final' : 'workload',
      client: spec.final ? -1 : 0,
      kind: spec.kind,
      key: spec.key ?? 'k',
      level: spec.level ?? (spec.final ? 'all' : 'quorum'),
      node: spec.node ?? 'node-1',
      startMs: spec.at[0],
      endMs: spec.at[1],
      status: spec.status === undefined ? ok : spec.status,
    };
    if (spec.version !== undefined) op.version = spec.version;
    if (spec.writeId !== undefined) op.writeId = spec.writeId;
    if (spec.garbage !== undefined) op.garbage = spec.garbage;
    if (spec.code !== undefined) op.code = spec.code;
    return op;
  });
}

const put = (writeId: number, at: [number, number], version?: string, extra: Partial<Spec> = {}): Spec => ({ kind: 'put', at, writeId, ...(version ? { version } : {}), ...extra });
const del = (at: [number, number], version?: string, extra: Partial<Spec> = {}): Spec => ({ kind: 'delete', at, ...(version ? { version } : {}), ...extra });
const read = (at: [number, number], writeId: number | undefined, version?: string, extra: Partial<Spec> = {}): Spec =>
  writeId === undefined ? { kind: 'get', at, status: 404, ...extra } : { kind: 'get', at, writeId, ...(version ? { version } : {}), ...extra };
/** Final reads through three nodes that all return the same thing. */
const finals = (at: number, writeId: number | undefined, version?: string): Spec[] =>
  ['node-1', 'node-2', 'node-3'].map((node, index) => read([at + index * 2, at + index * 2 + 1], writeId, version, { final: true, node }));

function kinds(operations: Operation[]): ViolationKind[] {
  return [...new Set(checkHistory(operations, { replicationFactor: 3 }).violations.map((violation) => violation.kind))].sort();
}

t.test('a correct history with concurrency, failures and timeouts passes', async (t) => {
  const operations = history(
    put(1, [0, 10], v(5, 'node-1')),
    put(2, [2, 12], v(6, 'node-2'), { node: 'node-2' }), // concurrent with write 1, and newer
    read([4, 8], 1, v(5, 'node-1')), // concurrent with both: either is fine
    read([13, 15], 2, v(6, 'node-2')),
    put(3, [20, 30], undefined, { status: 503, code: 'UNAVAILABLE' }), // may have landed: v(25)
    read([31, 33], 3, v(25, 'node-3')),
    put(4, [40, 50], undefined, { status: null, code: 'TIMEOUT' }),
    del([60, 70], v(65)),
    read([71, 72], undefined), // deleted
    read([72, 73], 4, v(45, 'node-2'), { level: 'one' }), // a `one` read may be stale
    put(5, [80, 90], v(85)),
    put(6, [85, 95], v(88), { level: 'one' }),
    read([100, 101], 6, v(88)),
    put(7, [110, 200], undefined, { status: null, code: 'TIMEOUT' }), // still in flight at the end
    ...finals(300, 7, v(150, 'node-2')),
  );
  const result = checkHistory(operations, { replicationFactor: 3 });
  t.same(result.violations, []);
  t.equal(result.finalReads, 3);
  t.equal(result.keys, 1);
});

t.test('a key never written may read absent, and keys are checked apart', async (t) => {
  t.same(kinds(history(...finals(10, undefined), put(1, [0, 5], v(3), { key: 'other' }), read([6, 7], 1, v(3), { key: 'other', final: true }))), []);
});

t.test('lost-write: the final value is an acknowledged write that a later acknowledged write replaced', async (t) => {
  const operations = history(put(1, [0, 10], v(5)), put(2, [20, 30], v(25)), ...finals(100, 1, v(5)));
  const result = checkHistory(operations, { replicationFactor: 3 });
  t.same(kinds(operations), ['lost-write']);
  const violation = result.violations[0]!;
  t.equal(violation.key, 'k');
  t.ok(violation.operations.some((op) => op.writeId === 2 && op.kind === 'put'), 'names the acknowledged write that was lost');
  t.ok(violation.operations.some((op) => op.phase === 'final'), 'names the final read');
});

t.test('lost-write: an older failed write came back over an acknowledged one (versions)', async (t) => {
  const operations = history(put(1, [0, 5], undefined, { status: 503, code: 'UNAVAILABLE' }), put(2, [10, 20], v(15)), ...finals(100, 1, v(3)));
  t.same(kinds(operations), ['lost-write']);
});

t.test('lost-write: the key is absent though a PUT was the last acknowledged write', async (t) => {
  t.same(kinds(history(del([0, 5], v(3)), put(1, [10, 20], v(15)), ...finals(100, undefined))), ['lost-write']);
  t.same(kinds(history(put(1, [10, 20], v(15)), del([30, 40], undefined, { status: null, code: 'TIMEOUT' }), ...finals(100, undefined))), [], 'a timed-out DELETE after it explains absence');
  t.same(kinds(history(put(1, [10, 20], v(15)), del([12, 30], v(22)), ...finals(100, undefined))), [], 'so does a concurrent acknowledged DELETE');
});

t.test('stale-read: a quorum read older than a quorum write acknowledged before it began', async (t) => {
  const operations = history(put(1, [0, 10], v(5)), put(2, [20, 30], v(25)), read([40, 45], 1, v(5)));
  const result = checkHistory(operations, { replicationFactor: 3 });
  t.same(kinds(operations), ['stale-read']);
  t.same(result.violations[0]!.operations.map((op) => op.id), [2, 3], 'the write and the read');
  t.same(kinds(history(put(1, [0, 10], v(5)), put(2, [20, 30], v(25)), read([40, 45], 1, v(5), { level: 'one' }))), [], 'one + quorum do not overlap');
  t.same(kinds(history(put(1, [0, 10], v(5)), put(2, [20, 30], v(25), { level: 'one' }), read([40, 45], 1, v(5)))), [], 'nor quorum + one');
  t.same(kinds(history(put(1, [0, 10], v(5)), put(2, [20, 30], v(25), { level: 'all' }), read([40, 45], 1, v(5), { level: 'one' }))), ['stale-read'], 'all + one do');
  t.same(kinds(history(put(1, [0, 10], v(5)), put(2, [20, 45], v(25)), read([40, 50], 1, v(5)))), [], 'a write still in flight may be missed');
});

t.test('stale-read: absent after an acknowledged quorum PUT with no DELETE to explain it', async (t) => {
  t.same(kinds(history(put(1, [0, 10], v(5)), read([20, 25], undefined))), ['stale-read']);
  t.same(kinds(history(del([0, 2], v(1), { status: 503, code: 'UNAVAILABLE' }), put(1, [10, 20], v(15)), read([30, 35], undefined))), ['stale-read'], 'a DELETE that failed before the PUT began cannot be newer');
  t.same(kinds(history(put(1, [10, 20], v(15)), del([12, 22], undefined, { status: null, code: 'TIMEOUT' }), read([30, 35], undefined))), []);
});

t.test('resurrected: data older than an acknowledged quorum DELETE', async (t) => {
  const operations = history(put(1, [0, 10], v(5)), del([20, 30], v(25)), read([40, 45], 1, v(5)));
  t.same(kinds(operations), ['resurrected']);
  t.same(kinds(history(put(1, [0, 10], v(5)), del([20, 30], v(25)), put(2, [32, 38], undefined, { status: 503 }), read([40, 45], 2, v(33)))), [], 'a later write may come back');
});

t.test('phantom: bytes that no PUT of the key sent', async (t) => {
  t.same(kinds(history(read([0, 1], undefined, undefined, { status: 200, version: v(1), garbage: 'no chaos magic' }))), ['phantom'], 'garbage');
  t.same(kinds(history(put(1, [0, 10], v(5)), read([20, 21], 9, v(5)))), ['phantom'], 'a write id never sent');
  t.same(kinds(history(put(1, [0, 10], v(5), { key: 'other' }), read([20, 21], 1, v(5)))), ['phantom'], 'another key\'s write');
  t.same(kinds(history(read([0, 5], 1, v(7)), put(1, [6, 10], v(8)))), ['phantom'], 'read before it was sent');
});

t.test('version-mismatch: a version names exactly one write', async (t) => {
  t.same(kinds(history(put(1, [0, 10], v(5)), read([20, 21], 1, v(6)))), ['version-mismatch'], 'read under another version than acknowledged');
  t.same(kinds(history(put(1, [0, 10], v(5)), read([20, 21], 1, v(4)))), ['stale-read', 'version-mismatch'], 'after the PUT answered, an earlier round\'s version is a mismatch');
  t.same(kinds(history(put(1, [0, 10], v(5)), read([5, 8], 1, v(4)))), [], 'while the PUT is in flight, its bytes under an earlier round\'s version are allowed');
  t.same(kinds(history(put(1, [0, 10], v(5)), read([5, 8], 1, v(6)))), ['version-mismatch'], 'never under a later version than acknowledged');
  t.same(kinds(history(put(1, [0, 10], undefined, { status: 503 }), read([5, 8], 1, v(4)))), [], 'the bytes of a PUT that failed, read while it ran');
  t.same(kinds(history(put(1, [0, 10], v(5)), put(2, [0, 10], v(5)))), ['version-mismatch'], 'two writes, one version');
  t.same(kinds(history(put(1, [0, 10], v(5)), read([20, 21], 1, undefined))), ['version-mismatch'], 'a 200 without a version');
  t.same(kinds(history(put(1, [0, 10], undefined, { status: 503 }), del([0, 10], v(5)), read([20, 21], 1, v(5)))), ['version-mismatch'], 'data under a tombstone\'s version');
});

t.test('unverified: a node that never answered a final read', async (t) => {
  const operations = history(put(1, [0, 10], v(5)), read([20, 21], 1, v(5), { final: true, node: 'node-1' }), ...[1, 2, 3].map((attempt) => read([20 + attempt * 10, 25 + attempt * 10], undefined, undefined, { final: true, node: 'node-2', status: 503, code: 'UNAVAILABLE' })));
  const result = checkHistory(operations, { replicationFactor: 3 });
  t.same(kinds(operations), ['unverified']);
  t.match(result.violations[0]!.message, /node-2 .*3 attempts/);
});

t.test('violations are counted in full but kept up to the bound per kind', async (t) => {
  const specs: Spec[] = [put(1, [0, 10], v(5)), put(2, [20, 30], v(25))];
  for (let index = 0; index < 50; index++) specs.push(read([40 + index, 41 + index], 1, v(5)));
  const result = checkHistory(history(...specs), { replicationFactor: 3, violationsPerKindMax: 5 });
  t.equal(result.counts['stale-read'], 50);
  t.equal(result.violations.length, 5);
});

t.test('overlapping levels for RF 3 and RF 5', async (t) => {
  const table = (rf: number) => (['one', 'quorum', 'all'] as const).map((read) => (['one', 'quorum', 'all'] as const).map((write) => (overlaps(read, write, rf) ? 1 : 0)));
  t.same(table(3), [[0, 0, 1], [0, 1, 1], [1, 1, 1]]);
  t.same(table(5), [[0, 0, 1], [0, 1, 1], [1, 1, 1]]);
});

t.test('version texts order like the node package orders version bytes', async (t) => {
  const samples = [v(5), v(5, 'node-2'), v(5, 'node-10'), v(6), '0000018f00000001-node-1', '0000018f00000001-a', '0000018f0000ffff-node-1', 'ffffffffffff0000-z'];
  for (const a of samples) {
    for (const b of samples) t.equal(Math.sign(compareVersionText(a, b)), Math.sign(compareVersions(versionFromText(a)!, versionFromText(b)!)), `${a} vs ${b}`);
  }
  t.throws(() => compareVersionText('nope', v(1)));
});
