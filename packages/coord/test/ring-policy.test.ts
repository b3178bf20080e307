import t from 'tap';
import { planRingMembership, ringChanges, type RingNodeInfo } from '../src/index.js';

const GRACE_MS = 60_000;
const NOW = 1_000_000;

const node = (name: string, addr = `${name}:3000`, zone?: string): RingNodeInfo => (zone === undefined ? { name, addr } : { name, addr, zone });
const live = (...nodes: RingNodeInfo[]): Map<string, RingNodeInfo> => new Map(nodes.map((entry) => [entry.name, entry]));

interface Case {
  readonly name: string;
  readonly ring: RingNodeInfo[];
  readonly live: Map<string, RingNodeInfo>;
  readonly downSince?: Record<string, number>;
  readonly excluded?: string[];
  readonly expected: RingNodeInfo[] | null;
}

const cases: Case[] = [
  { name: 'nothing changed', ring: [node('a'), node('b')], live: live(node('a'), node('b')), expected: null },
  { name: 'order of the ring does not matter', ring: [node('b'), node('a')], live: live(node('a'), node('b')), expected: null },
  { name: 'a live member missing from the ring is added', ring: [node('a')], live: live(node('a'), node('c', 'c:9', 'z1')), expected: [node('a'), node('c', 'c:9', 'z1')] },
  { name: 'several new members are added, sorted by name', ring: [node('m')], live: live(node('z'), node('m'), node('b')), expected: [node('b'), node('m'), node('z')] },
  { name: 'a down member inside the grace stays', ring: [node('a'), node('b')], live: live(node('a')), downSince: { b: NOW - GRACE_MS + 1 }, expected: null },
  { name: 'a down member with no down-since time stays', ring: [node('a'), node('b')], live: live(node('a')), expected: null },
  { name: 'a down member past the grace is removed', ring: [node('a'), node('b')], live: live(node('a')), downSince: { b: NOW - GRACE_MS }, expected: [node('a')] },
  { name: 'a down-since time of a live member is ignored', ring: [node('a'), node('b')], live: live(node('a'), node('b')), downSince: { b: NOW - 10 * GRACE_MS }, expected: null },
  { name: 'the last node is never removed', ring: [node('a')], live: live(), downSince: { a: NOW - 10 * GRACE_MS }, expected: null },
  { name: 'all ring nodes past the grace: replaced by the live ones', ring: [node('a'), node('b')], live: live(node('c')), downSince: { a: 0, b: 0 }, expected: [node('c')] },
  { name: 'an address change is an update', ring: [node('a'), node('b')], live: live(node('a'), node('b', 'b:4000')), expected: [node('a'), node('b', 'b:4000')] },
  { name: 'a zone change is an update', ring: [node('a', 'a:3000', 'z1')], live: live(node('a', 'a:3000', 'z2')), expected: [node('a', 'a:3000', 'z2')] },
  { name: 'an empty zone equals no zone', ring: [node('a')], live: live(node('a', 'a:3000', '')), expected: null },
  { name: 'a live node being decommissioned leaves the ring', ring: [node('a'), node('b'), node('c')], live: live(node('a'), node('b'), node('c')), excluded: ['c'], expected: [node('a'), node('b')] },
  { name: 'a decommissioned live member is not added back', ring: [node('a'), node('b')], live: live(node('a'), node('b'), node('c')), excluded: ['c'], expected: null },
  { name: 'decommissioning the last node is refused', ring: [node('a')], live: live(node('a')), excluded: ['a'], expected: null },
  { name: 'add, remove and update at once', ring: [node('a'), node('b'), node('c')], live: live(node('a', 'a:1'), node('c'), node('d')), downSince: { b: 0 }, expected: [node('a', 'a:1'), node('c'), node('d')] },
];

for (const testCase of cases) {
  t.test(testCase.name, async (t) => {
    const planned = planRingMembership({
      ringNodes: testCase.ring,
      liveMembers: testCase.live,
      downSince: new Map(Object.entries(testCase.downSince ?? {})),
      now: NOW,
      downGraceMs: GRACE_MS,
      excluded: new Set(testCase.excluded ?? []),
    });
    t.same(planned, testCase.expected);
  });
}

t.test('ringChanges names what was added, removed and updated', async (t) => {
  t.same(ringChanges([node('a'), node('b'), node('c')], [node('a', 'a:1'), node('c'), node('d')]), { added: ['d'], removed: ['b'], updated: ['a'] });
  t.same(ringChanges([node('a')], [node('a')]), { added: [], removed: [], updated: [] });
});
