// planMigration on real xxh64 rings: who sends what to whom, what is released, what cannot be sent.
import t, { type Test } from 'tap';
import { diffRings, loadHasher, rangeWidth, Ring, type RangeChange } from '@ringblock/ring';
import { planMigration, transfersFrom, transfersTo, type MigrationPlan } from '../src/migration/index.js';
import { nodes, seededRandom, shuffled, tinyRing } from './migration-fixtures.js';

const hasher = await loadHasher();
const VNODES = 64;
const REPLICATION_FACTOR = 3;
/** Largest over smallest hash space assigned to a sender, when every node can send. */
const SENDER_SPREAD_MAX = 1.5;

const ringOf = (...names: string[]): Ring => new Ring({ nodes: nodes(...names), vnodes: VNODES, replicationFactor: REPLICATION_FACTOR, hasher });
const namesOf = (count: number, prefix = 'n'): string[] => Array.from({ length: count }, (_, index) => `${prefix}${index + 1}`);
const arcKey = (range: { start: bigint; end: bigint }): string => `${range.start}:${range.end}`;

/** The change each transfer's arc came from: the plan splits nothing further than diffRings. */
function changesByArc(plan: MigrationPlan): Map<string, RangeChange> {
  return new Map(diffRings(plan.fromRing, plan.toRing).map((change) => [arcKey(change), change]));
}

/** Checks what must hold of every plan, whatever the topology. */
function checkPlan(t: Test, plan: MigrationPlan, live: ReadonlySet<string>): void {
  const changes = changesByArc(plan);
  const streams = plan.transfers.filter((transfer) => transfer.to !== transfer.from);
  const standIns = plan.transfers.filter((transfer) => transfer.to === transfer.from);
  const wrong = streams.filter((transfer) => {
    const change = changes.get(arcKey(transfer.range));
    return (
      change === undefined ||
      !live.has(transfer.from) ||
      !change.oldOwners.includes(transfer.from) ||
      !change.addedOwners.includes(transfer.to) ||
      transfer.widthPositions !== rangeWidth(transfer.range)
    );
  });
  t.same(wrong, [], 'every transfer goes from a live old owner of its arc to an added owner');
  // The sender plus its catch-up peers are exactly the arc's live old owners, in preference order:
  // a write held by any of them reaches the new owner.
  const partial = streams.filter((transfer) => {
    const change = changes.get(arcKey(transfer.range))!;
    const expected = change.oldOwners.filter((name) => live.has(name) && name !== transfer.from).slice(0, Math.floor(change.oldOwners.length / 2));
    return transfer.catchUpFrom.join() !== expected.join() || transfer.catchUpFrom.includes(transfer.to);
  });
  t.same(partial, [], 'each sender catches up with enough other live old owners of its arc to make a read quorum, first in preference order');
  const addedTotal = [...changes.values()].reduce((sum, change) => sum + change.addedOwners.length, 0);
  t.equal(streams.length + plan.unsourced.length + plan.downReceivers.length, addedTotal, 'each added owner of each arc is sent, unsourced or a down receiver');
  // Where a receiver is down, every live staying owner catches up with the other live old owners.
  const expectedStandIns = [...changes.values()].flatMap((change) => {
    if (!change.addedOwners.some((name) => !live.has(name))) return [];
    return change.newOwners
      .filter((name) => !change.addedOwners.includes(name) && live.has(name))
      .map((name) => ({ key: `${arcKey(change)} ${name}`, catchUpFrom: change.oldOwners.filter((other) => other !== name && live.has(other)).slice(0, Math.floor(change.oldOwners.length / 2)) }))
      .filter((standIn) => standIn.catchUpFrom.length > 0);
  });
  t.same(standIns.map((transfer) => `${arcKey(transfer.range)} ${transfer.from} <- ${transfer.catchUpFrom.join(',')}`).sort(), expectedStandIns.map((standIn) => `${standIn.key} <- ${standIn.catchUpFrom.join(',')}`).sort(), 'live staying owners stand in (catch-up only) where a receiver is down');
  const quorum = (owners: readonly string[]) => Math.floor(owners.length / 2) + 1;
  const liveIn = (owners: readonly string[]) => owners.filter((name) => live.has(name)).length;
  const short = [...changes.values()].filter((change) =>
    liveIn(change.newOwners) < quorum(change.newOwners) ||
    (liveIn(change.oldOwners) < quorum(change.oldOwners) && change.oldOwners.some((name) => !live.has(name) && change.newOwners.includes(name))));
  t.same(plan.undersupplied.map((range) => arcKey(range.range)).sort(), short.map(arcKey).sort(), 'undersupplied: exactly the arcs with fewer live new owners than a quorum, or fewer live sources than a read quorum while a down owner stays');
  t.ok(plan.unsourced.every((missed) => missed.oldOwners.every((name) => !live.has(name))), 'unsourced only where no old owner is live');
  t.ok(plan.downReceivers.every((missed) => !live.has(missed.to)), 'down receivers are down');
  const sent = [...plan.sends.values()].flat().length;
  const received = [...plan.receives.values()].flat().length;
  t.ok(sent === plan.transfers.length && received === plan.transfers.length, 'sends and receives list every transfer once');
}

/** Hash space released per node, from the changes directly. */
function releasedWidths(plan: MigrationPlan): Map<string, bigint> {
  const widths = new Map<string, bigint>();
  for (const change of changesByArc(plan).values()) {
    for (const name of change.removedOwners) widths.set(name, (widths.get(name) ?? 0n) + rangeWidth(change));
  }
  return widths;
}

t.test('adding a node (3 → 4): everything it receives comes from live old owners', async (t) => {
  const live = new Set(namesOf(4));
  const plan = planMigration({ from: ringOf(...namesOf(3)), to: ringOf(...namesOf(4)), live });
  checkPlan(t, plan, live);
  t.ok(plan.transfers.length > 0);
  t.ok(plan.transfers.every((transfer) => transfer.to === 'n4'), 'only the new node receives');
  t.same(plan.unsourced, []);
  t.same(plan.participants, ['n1', 'n2', 'n3', 'n4']);
  t.same(transfersTo(plan, 'n4'), plan.transfers);
  t.same(transfersFrom(plan, 'n4'), [], 'the new node sends nothing');
  t.same(transfersTo(plan, 'n1'), []);
});

t.test('decommission (4 → 3, the leaving node live): its arcs go to their new owners', async (t) => {
  const live = new Set(namesOf(4));
  const plan = planMigration({ from: ringOf(...namesOf(4)), to: ringOf(...namesOf(3)), live });
  checkPlan(t, plan, live);
  t.ok(plan.transfers.every((transfer) => transfer.to !== 'n4'), 'the leaving node receives nothing');
  const changes = changesByArc(plan);
  t.ok(
    [...changes.values()].every((change) => change.addedOwners.length === 0 || change.oldOwners.includes('n4')),
    'only arcs the leaving node owned gain owners',
  );
  t.same([...plan.releases.keys()], ['n4'], 'only the leaving node releases');
  const widthOf = (arcs: readonly { start: bigint; end: bigint }[]): bigint => arcs.reduce((sum, arc) => sum + rangeWidth(arc), 0n);
  t.equal(widthOf(plan.releases.get('n4')!), widthOf(plan.fromRing.rangesOwnedBy('n4')), 'it releases everything it owned');
});

t.test('removing a down node (6 → 5): it never sends, surviving owners do', async (t) => {
  const all = namesOf(6);
  const live = new Set(all.slice(0, 5));
  const plan = planMigration({ from: ringOf(...all), to: ringOf(...all.slice(0, 5)), live });
  checkPlan(t, plan, live);
  t.same(transfersFrom(plan, 'n6'), [], 'the down node sends nothing');
  t.ok(plan.transfers.length > 0);
  t.same(plan.unsourced, [], 'RF 3 leaves two live copies of each arc');
  t.same(plan.participants, all.slice(0, 5));
});

t.test('a down old owner is never a sender (adding a node while two are down)', async (t) => {
  const all = namesOf(8);
  const live = new Set(all.filter((name) => name !== 'n2' && name !== 'n5'));
  const plan = planMigration({ from: ringOf(...all.slice(0, 7)), to: ringOf(...all), live });
  checkPlan(t, plan, live);
  t.same(transfersFrom(plan, 'n2'), []);
  t.same(transfersFrom(plan, 'n5'), []);
});

t.test('sending is spread over the old owners', async (t) => {
  for (const count of [3, 6, 10]) {
    const plan = planMigration({ from: ringOf(...namesOf(count)), to: ringOf(...namesOf(count + 1)), live: new Set(namesOf(count + 1)) });
    const assigned = [...plan.sends.values()].map((sent) => sent.reduce((sum, transfer) => sum + Number(transfer.widthPositions), 0));
    t.equal(assigned.length, count, `${count} → ${count + 1}: every old node sends`);
    const spread = Math.max(...assigned) / Math.min(...assigned);
    t.ok(spread <= SENDER_SPREAD_MAX, `${count} → ${count + 1}: largest/smallest hash space sent ${spread.toFixed(2)} ≤ ${SENDER_SPREAD_MAX}`);
  }
});

t.test('a move that would leave arcs with fewer live owners than a quorum is undersupplied', async (t) => {
  // 5 → 4 (n5 leaves) while n1 and n2 are down: arcs whose new owners are n1, n2 and a third have one live owner.
  const live = new Set(['n3', 'n4', 'n5']);
  const plan = planMigration({ from: ringOf(...namesOf(5)), to: ringOf(...namesOf(4)), live });
  checkPlan(t, plan, live);
  t.ok(plan.undersupplied.length > 0, `${plan.undersupplied.length} arcs undersupplied`);
  t.ok(plan.undersupplied.some((range) => range.liveOwners.length === 1 && range.required === 2), 'some with one live new owner of three');
  // The leaving n5 and the staying n1 down (simulation seed 10823): arcs n1, n4, n5 held go to n1, n4, n2 —
  // two live new owners, but one live source (n4): a write n1 and n5 acknowledged is on no live node.
  const sources = planMigration({ from: ringOf(...namesOf(5)), to: ringOf(...namesOf(4)), live: new Set(['n2', 'n3', 'n4']) });
  t.ok(sources.undersupplied.some((range) => range.liveOldOwners.length === 1 && range.sourcesRequired === 2 && range.liveOwners.length >= 2), 'also with enough live new owners but one live source while a down owner stays');
  const back = new Set(['n2', 'n3', 'n4', 'n5']);
  t.same(planMigration({ from: ringOf(...namesOf(5)), to: ringOf(...namesOf(4)), live: back }).undersupplied, [], 'with n2 back every arc has a live quorum');
});

t.test('the same inputs give the same plan, whatever their order', async (t) => {
  const random = seededRandom(7);
  for (let round = 0; round < 5; round++) {
    const from = namesOf(7);
    const to = [...namesOf(6), 'x1', 'x2'];
    const live = [...from, ...to].filter((name) => name !== 'n3');
    const plan = planMigration({ from: ringOf(...from), to: ringOf(...to), live: new Set(live) });
    const again = planMigration({ from: ringOf(...shuffled(random, from)), to: ringOf(...shuffled(random, to)), live: new Set(shuffled(random, live)) });
    t.same(again.transfers, plan.transfers, `round ${round}: transfers`);
    t.same([...again.releases.entries()].sort(), [...plan.releases.entries()].sort(), `round ${round}: releases`);
    t.same(again.unsourced, plan.unsourced);
    t.same(again.participants, plan.participants);
  }
});

t.test('arcs whose old owners are all down are reported unsourced, not failed', async (t) => {
  // RF 3 over 5 nodes, three of them down and removed: arcs held only by those three have no sender.
  const all = namesOf(5);
  const live = new Set(['n1', 'n2']);
  const plan = planMigration({ from: ringOf(...all), to: ringOf('n1', 'n2'), live });
  checkPlan(t, plan, live);
  t.same(plan.undersupplied, [], 'the down nodes are removed: nothing to wait for, the survivors take over');
  t.ok(plan.unsourced.length > 0, 'some arcs have no live old owner');
  t.ok(plan.unsourced.every((missed) => missed.to === 'n1' || missed.to === 'n2'));
});

t.test('an added owner that is down is not sent to (repair brings its data later); the staying owners catch up meanwhile', async (t) => {
  const live = new Set(namesOf(3));
  const plan = planMigration({ from: ringOf(...namesOf(3)), to: ringOf(...namesOf(4)), live });
  checkPlan(t, plan, live);
  t.ok(plan.transfers.length > 0 && plan.transfers.every((transfer) => transfer.to === transfer.from), 'only stand-in catch-ups, no stream');
  t.same(plan.undersupplied, [], 'two live owners of three in every arc: a quorum');
  t.ok(plan.downReceivers.length > 0 && plan.downReceivers.every((missed) => missed.to === 'n4'));
  t.same(plan.participants, namesOf(3));
});

t.test('releases: each node releases exactly the arcs it stops owning', async (t) => {
  const from = namesOf(9);
  const to = [...namesOf(7), 'y1'];
  const plan = planMigration({ from: ringOf(...from), to: ringOf(...to), live: new Set([...from, ...to]) });
  const expected = releasedWidths(plan);
  t.same(new Set(plan.releases.keys()), new Set(expected.keys()));
  for (const [name, arcs] of plan.releases) {
    t.equal(arcs.reduce((sum, arc) => sum + rangeWidth(arc), 0n), expected.get(name), `${name}: released width`);
    const owned = arcs.filter((arc) => plan.toRing.ownersOfPosition(arc.end).some((owner) => owner.name === name) || !plan.fromRing.ownersOfPosition(arc.end).some((owner) => owner.name === name));
    t.same(owned, [], `${name}: owned each released arc before, not after`);
  }
});

t.test('tiny ring: the exact plan of adding D', async (t) => {
  const plan = planMigration({ from: tinyRing(nodes('A', 'B', 'C')), to: tinyRing(nodes('A', 'B', 'C', 'D')), live: new Set(['A', 'B', 'C', 'D']) });
  t.same(
    plan.transfers.map((transfer) => `${transfer.id} ${transfer.from}->${transfer.to} (${transfer.range.start},${transfer.range.end}]`),
    ['0 B->D (100,200]', '1 C->D (200,250]'],
  );
  t.same([...plan.releases.entries()], [['C', [{ start: 100n, end: 200n }]], ['A', [{ start: 200n, end: 250n }]]]);
});
