// The pure parts of anti-entropy besides the trees: who compares with whom (one side per pair, the
// first name by order leading every range it owns), the purge rule's bookkeeping (grace measured
// from the version's HLC time, candidates bounded, a range purgeable only when in sync with every
// owner), how differing buckets become streams, task progress, and the strict wire parsing.
import t from 'tap';
import { loadHasher } from '@ringblock/engine';
import { loadHasher as loadRingHasher, rangeContains, Ring } from '@ringblock/ring';
import {
  aggregateTask, buildTree, CandidateCollector, pastGrace, planRanges, RangeRound, versionTimeMs, type MerkleRecord, type TaskPartJson,
} from '../src/repair/index.js';
import { streamRuns } from '../src/repair/merkle.js';
import { PendingPurges, rangesByPeer } from '../src/repair/plan.js';
import { RoundProgress, TaskBook } from '../src/repair/progress.js';
import { parseMerkleAnswer, parseMerkleRequest, parsePurgeRequest, parsePushRequest } from '../src/repair/protocol.js';
import { arcDistance } from '../src/transfer/index.js';
import { encodeVersion } from '../src/version.js';

const hasher = await loadHasher();
const ringHasher = await loadRingHasher();
const DAY_MS = 86_400_000;
const BAD = { name: 'BadMessage' };

for (const rangesPerArcMax of [1, 4]) {
  t.test(`pairs (${rangesPerArcMax} ranges per arc at most): of each pair of owners the first name starts; the first owner by name leads`, async (t) => {
    const ring = new Ring({ nodes: ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name })), vnodes: 16, replicationFactor: 3, hasher: ringHasher });
    const plans = new Map(ring.nodes.map((node) => [node.name, planRanges(ring.rangesOwnedBy(node.name), node.name, rangesPerArcMax)]));
    const pairs = new Map<string, number>();
    for (const [self, plan] of plans) {
      const owned = ring.rangesOwnedBy(self);
      t.equal(plan.reduce((total, arc) => total + arc.ranges, 0), owned.length, `${self}: the arcs join every owned range once`);
      t.ok(plan.every((arc) => arc.ranges <= rangesPerArcMax), 'within the bound');
      for (const arc of plan) {
        t.equal(arc.leader, [...arc.owners].sort()[0] === self, 'the leader is the first owner by name');
        if (arc.leader) t.same([...arc.peers].sort(), arc.owners.filter((owner) => owner !== self).sort(), 'the leader compares with every other owner');
        for (const range of owned.filter((candidate) => rangeContains(arc.arc, candidate.end))) {
          t.same([...range.owners].sort(), [...arc.owners].sort(), 'a joined range has the same owners');
          for (const peer of arc.peers) {
            t.ok(peer > self, 'a node starts only the pairs where its name sorts first');
            const key = `${range.end}:${self}:${peer}`;
            pairs.set(key, (pairs.get(key) ?? 0) + 1);
          }
        }
      }
    }
    const expected = ring.ranges().reduce((total, range) => total + (range.owners.length * (range.owners.length - 1)) / 2, 0);
    t.equal(pairs.size, expected, 'every pair of owners of every range is compared');
    t.ok([...pairs.values()].every((count) => count === 1), 'by exactly one of the two');
    const byPeer = rangesByPeer((plans.get('a') ?? []).map((plan) => ({ plan })));
    t.same([...byPeer.keys()], [...byPeer.keys()].sort(), 'peers in name order');
  });
}

t.test('a 3-node ring with RF 3: its 384 ranges become 12 arcs of 32', async (t) => {
  const ring = new Ring({ nodes: ['n1', 'n2', 'n3'].map((name) => ({ name })), vnodes: 128, replicationFactor: 3, hasher: ringHasher });
  const plan = planRanges(ring.rangesOwnedBy('n1'), 'n1', 32);
  t.equal(plan.length, 12);
  t.ok(plan.every((arc) => arc.ranges === 32 && arc.leader));
});

t.test('a single owner (RF 1) leads its ranges with nobody to compare with: in sync by itself', async (t) => {
  const ring = new Ring({ nodes: [{ name: 'solo' }], vnodes: 4, replicationFactor: 3, hasher: ringHasher });
  const [plan] = planRanges(ring.rangesOwnedBy('solo'), 'solo', 32);
  t.same(plan!.peers, []);
  t.ok(plan!.leader);
  t.ok(new RangeRound(plan!).inSyncWithAllOwners());
});

t.test('grace: measured from the HLC time of the tombstone version', async (t) => {
  const nowMs = 1_800_000_000_000;
  const at = (ms: number) => encodeVersion({ physicalMs: ms, logical: 7, node: 'node-1' });
  t.equal(versionTimeMs(at(nowMs)), nowMs);
  t.ok(pastGrace(at(nowMs - DAY_MS), nowMs, DAY_MS), 'exactly the grace old: past it');
  t.notOk(pastGrace(at(nowMs - DAY_MS + 1), nowMs, DAY_MS), 'a millisecond younger: not yet');
  t.notOk(pastGrace(Buffer.from('abc'), nowMs, 0), 'a version that is not an HLC version is never purged');
});

function tombstone(id: string, ms: number, tombstoneFlag = true): MerkleRecord {
  return { id, position: hasher.h64(Buffer.from(id)), version: encodeVersion({ physicalMs: ms, logical: 0, node: 'node-2' }), tombstone: tombstoneFlag };
}

t.test('candidates: tombstones past the grace when the leader built its tree, bounded', async (t) => {
  const builtAtMs = 1_800_000_000_000;
  const budget = { remaining: 4 };
  const collector = new CandidateCollector(builtAtMs, DAY_MS, 3, budget);
  collector.offer(tombstone('old-1', builtAtMs - 2 * DAY_MS));
  collector.offer(tombstone('young', builtAtMs - 1000));
  collector.offer(tombstone('put', builtAtMs - 2 * DAY_MS, false));
  collector.offer(tombstone('old-2', builtAtMs - 2 * DAY_MS));
  collector.offer(tombstone('old-3', builtAtMs - 2 * DAY_MS));
  t.same(collector.candidates.map((c) => c.id), ['old-1', 'old-2', 'old-3'], 'old tombstones only: not young ones, not puts');
  t.notOk(collector.truncated);
  collector.offer(tombstone('old-4', builtAtMs - 2 * DAY_MS));
  t.equal(collector.candidates.length, 3, 'the bound holds');
  t.ok(collector.truncated, 'the rest waits for a later round');
  t.equal(budget.remaining, 1, 'the shared budget counts what was kept');
  const second = new CandidateCollector(builtAtMs, DAY_MS, 3, budget);
  second.offer(tombstone('old-5', builtAtMs - 2 * DAY_MS));
  second.offer(tombstone('old-6', builtAtMs - 2 * DAY_MS));
  t.same(second.candidates.map((c) => c.id), ['old-5'], 'another range gets what is left of the budget');
});

t.test('pending purges: purged by a later round that started after the settle time, same epoch only', async (t) => {
  const pending = new PendingPurges();
  const range = { start: 1n, end: 2n };
  const candidates = [{ id: 'x', version: Buffer.from('v') }];
  pending.offer(range, { epoch: 3, candidates, dueAtMs: 1000 });
  t.equal(pending.candidates, 1);
  t.same(pending.due(range, 3, 999), [], 'a round that started before the settle time ends purges nothing');
  t.same(pending.due(range, 4, 1000), [], 'nor one of another epoch');
  t.same(pending.due(range, 3, 1000), candidates, 'a round that started after it does');
  pending.offer(range, { epoch: 3, candidates: [{ id: 'y', version: Buffer.from('v') }], dueAtMs: 5000 });
  t.same(pending.due(range, 3, 1000), candidates, 'a waiting entry is not replaced by a later one');
  pending.clear(range);
  t.equal(pending.size, 0);
  pending.offer(range, { epoch: 3, candidates: [], dueAtMs: 5000 });
  t.equal(pending.size, 0, 'nothing to purge: nothing pending');
  pending.offer(range, { epoch: 3, candidates, dueAtMs: 5000 });
  pending.clearAll();
  t.equal(pending.candidates, 0, 'a ring change drops everything');
});

t.test('a range is purgeable only when the leader compared with every other owner, all successfully', async (t) => {
  const plan = { arc: { start: 1n, end: 2n }, ranges: 1, owners: ['a', 'b', 'c'], peers: ['b', 'c'], leader: true };
  const round = new RangeRound(plan);
  round.collector = new CandidateCollector(10 * DAY_MS, DAY_MS, 10, { remaining: 10 });
  round.collector.offer(tombstone('x', DAY_MS));
  t.same(round.purgeable(), [], 'no owner compared yet');
  round.synced.add('b');
  t.same(round.purgeable(), [], 'one owner still missing');
  round.synced.add('c');
  t.same(round.purgeable().map((c) => c.id), ['x'], 'every other owner compared: pending now');
  round.failed = true;
  t.same(round.purgeable(), [], 'a failed comparison (a retry of some peer) blocks it');
  const follower = new RangeRound({ ...plan, peers: ['c'], leader: false });
  follower.collector = round.collector;
  follower.synced.add('c');
  t.same(follower.purgeable(), [], 'only the leader purges');
});

t.test('streams: one per run of differing buckets, joined across empty gaps and then the cheapest ones', async (t) => {
  const arc = { start: 0n, end: 1n << 40n };
  const depth = 6;
  const at = (leaf: number, id: string): MerkleRecord => {
    const position = (BigInt(leaf) << 34n) + 5n;
    return { id, position, version: encodeVersion({ physicalMs: 1, logical: 0, node: 'n' }), tombstone: false };
  };
  const sorted = (list: MerkleRecord[]) => list.sort((a, b) => (arcDistance(arc, a.position) < arcDistance(arc, b.position) ? -1 : 1));
  // Local records in buckets 1, 2, 3, 10, 11, 20 and 40; buckets 4..9 and 12..19 are empty here.
  const local = await buildTree(arc, depth, hasher, sorted([1, 2, 3, 10, 11, 20, 40].map((leaf) => at(leaf, `l${leaf}`))));
  const remote = new Map<number, bigint>([[1, 0n], [3, 7n], [4, 9n], [10, 0n], [20, 5n]]);
  // 1 differs (only here), 3 (both), 4 (only there), 10 (only here), 20 (both).
  const runs = streamRuns(local, [1, 3, 4, 10, 20], remote, 8);
  t.same(runs, [
    { first: 1, last: 1, push: true, pull: false },
    { first: 3, last: 10, push: true, pull: true },
    { first: 20, last: 20, push: true, pull: true },
  ], '3..4 adjacent, 4..10 across empty buckets; 1..3 and 10..20 would re-send equal records');
  const capped = streamRuns(local, [1, 3, 4, 10, 20], remote, 2);
  t.same(capped.map((run) => [run.first, run.last]), [[1, 10], [20, 20]], 'capped at 2: of the gaps with one equal bucket, the first is joined');
  const one = streamRuns(local, [1, 3, 4, 10, 20], remote, 1);
  t.same(one.map((run) => [run.first, run.last, run.push, run.pull]), [[1, 20, true, true]]);
  const wiped = streamRuns(local, [1, 2, 3, 10, 11, 20, 40], new Map([1, 2, 3, 10, 11, 20, 40].map((leaf) => [leaf, 0n])), 8);
  t.same(wiped, [{ first: 1, last: 40, push: true, pull: false }], 'a wiped peer: one stream, push only');
});

t.test('rounds and task parts: queued, running with the round counts, done or failed', async (t) => {
  const book = new TaskBook(2);
  const start = { task: '11111111-1111-1111-1111-111111111111', createdAt: 5, createdBy: 'node-2' };
  const { part, created } = book.accept(start, 'node-1');
  t.ok(created);
  t.notOk(book.accept(start, 'node-1').created, 'a repeated start finds the same part');
  t.equal(part.state, 'queued');
  const round = new RoundProgress(['repair'], 10);
  part.attach(round);
  round.counts.rangesTotal = 4;
  round.compared(true);
  round.failed();
  t.equal(part.state, 'running');
  t.match(part.json(), { rangesTotal: 4, rangesDone: 2, rangesRepaired: 1, failures: 1, state: 'running' });
  round.finish('completed', 20);
  t.equal(part.state, 'failed', 'a failed comparison fails the part');
  book.accept({ ...start, task: '22222222-2222-2222-2222-222222222222' }, 'node-1');
  book.accept({ ...start, task: '33333333-3333-3333-3333-333333333333' }, 'node-1');
  t.equal(book.get(start.task), undefined, 'the oldest part is dropped beyond the bound');
});

t.test('a task across nodes: running while any part runs, failed when one failed or is unknown, else done', async (t) => {
  const part = (node: string, state: TaskPartJson['state'], done: number, total: number): TaskPartJson => ({
    task: 't', createdAt: 1, createdBy: 'node-1', node, state, rangesTotal: total, rangesDone: done, rangesRepaired: 0, failures: 0, blocksRepaired: 3, startedAt: 1, finishedAt: null, outcome: null,
  });
  t.equal(aggregateTask('t', [{ node: 'node-1', state: 'unknown' }]), undefined, 'no node knows it');
  const running = aggregateTask('t', [part('node-1', 'done', 10, 10), part('node-2', 'running', 2, 10)])!;
  t.equal(running.state, 'running');
  t.equal(running.progress.ratio, 0.6);
  t.equal(running.progress.blocksRepaired, 6);
  t.equal(aggregateTask('t', [part('node-1', 'done', 10, 10), part('node-2', 'done', 10, 10)])!.state, 'done');
  t.equal(aggregateTask('t', [part('node-1', 'done', 10, 10), { node: 'node-3', state: 'unknown' }])!.state, 'failed', 'a node that did not run its round');
  t.equal(aggregateTask('t', [part('node-1', 'failed', 10, 10)])!.state, 'failed');
});

t.test('wire parsing is strict and bounded', async (t) => {
  const good = { depth: 10, queries: [{ start: '1', end: '18446744073709551615', level: 5, indexes: [0, 31] }] };
  const request = parseMerkleRequest(good);
  t.same(request.queries[0], { arc: { start: 1n, end: 2n ** 64n - 1n }, level: 5, indexes: [0, 31] });
  const refused = [
    { depth: 0, queries: good.queries },
    { depth: 10, queries: [] },
    { depth: 10, queries: Array.from({ length: 65 }, () => ({ start: '1', end: '2', level: 0 })) },
    { depth: 10, queries: [{ start: '1', end: '18446744073709551616', level: 0 }] },
    { depth: 10, queries: [{ start: '1', end: '2', level: 5, indexes: [32] }] },
    { depth: 10, queries: [{ start: '1', end: '2', level: 0, tree: 'nothex' }] },
    { depth: 12, queries: [{ start: '1', end: '2', level: 12 }] },
    [],
  ];
  for (const body of refused) t.throws(() => parseMerkleRequest(body), BAD, JSON.stringify(body).slice(0, 80));
  t.throws(() => parseMerkleAnswer({ results: [{ tree: '0123456789abcdef', records: 1, hashes: '00' }] }, request), BAD, 'wrong hash count');
  t.same(parseMerkleAnswer({ results: [{ missing: true }] }, request), [{ missing: true }]);
  t.throws(() => parsePushRequest({ from: 'node-1', start: '1', end: '2', transferId: 'short' }), BAD);
  t.throws(() => parsePushRequest({ from: '../x', start: '1', end: '2', transferId: '0'.repeat(32) }), BAD);
  t.same(parsePushRequest({ from: 'node-1', start: '1', end: '2', transferId: '0'.repeat(32), resumeAfter: '2' }).resumeAfter, 2n);
  t.throws(() => parsePurgeRequest({ from: 'node-1', start: '1', end: '2', tombstones: [{ id: 'a b', version: '0000000000000001-n' }] }), BAD, 'a bad id');
  t.throws(() => parsePurgeRequest({ from: 'node-1', start: '1', end: '2', tombstones: [{ id: 'a', version: 'zz' }] }), BAD, 'a bad version');
  t.throws(() => parsePurgeRequest({ from: 'node-1', start: '1', end: '2', tombstones: Array.from({ length: 513 }, () => ({ id: 'a', version: '0000000000000001-n' })) }), BAD, 'too many');
});
