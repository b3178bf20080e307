// Write accounting during a migration: the level must be met in the old AND the new owner set.
import t from 'tap';
import type { Consistency } from '../src/consistency.js';
import { DualQuorumCount, dualWriteOwners, requiredAcksDual } from '../src/migration/index.js';
import { nodes, tinyRing } from './migration-fixtures.js';

interface Case {
  readonly name: string;
  readonly level: Consistency;
  readonly old: string[];
  readonly new: string[];
  readonly targets: string[];
  readonly required: [old: number, new: number];
  /** Outcomes in order, each with the state expected after it (`+A`: A acked, `-A`: A failed). */
  readonly steps: [outcome: string, state: 'met' | 'pending' | 'impossible'][];
}

const cases: Case[] = [
  { name: 'same sets, quorum', level: 'quorum', old: ['A', 'B', 'C'], new: ['A', 'B', 'C'], targets: ['A', 'B', 'C'], required: [2, 2], steps: [['+A', 'pending'], ['+B', 'met']] },
  {
    name: 'overlapping sets, quorum: acks only in one set do not meet it',
    level: 'quorum',
    old: ['A', 'B', 'C'],
    new: ['A', 'B', 'D'],
    targets: ['A', 'B', 'C', 'D'],
    required: [2, 2],
    steps: [['+D', 'pending'], ['+C', 'pending'], ['+A', 'met']],
  },
  {
    name: 'a node in both sets counts for both',
    level: 'one',
    old: ['A', 'B', 'C'],
    new: ['B', 'C', 'D'],
    targets: ['A', 'B', 'C', 'D'],
    required: [1, 1],
    steps: [['+B', 'met']],
  },
  { name: 'disjoint sets, one: one ack in each', level: 'one', old: ['A', 'B'], new: ['C', 'D'], targets: ['A', 'B', 'C', 'D'], required: [1, 1], steps: [['+A', 'pending'], ['-C', 'pending'], ['+D', 'met']] },
  { name: 'all: a new-only owner failing makes it impossible', level: 'all', old: ['A', 'B', 'C'], new: ['A', 'B', 'D'], targets: ['A', 'B', 'C', 'D'], required: [3, 3], steps: [['+A', 'pending'], ['-D', 'impossible']] },
  {
    name: 'quorum: failures in the shared node hurt both sets',
    level: 'quorum',
    old: ['A', 'B', 'C'],
    new: ['C', 'D', 'E'],
    targets: ['A', 'B', 'C', 'D', 'E'],
    required: [2, 2],
    steps: [['-C', 'pending'], ['+A', 'pending'], ['+B', 'pending'], ['-D', 'impossible']],
  },
  {
    name: 'quorum: old met early, new still pending',
    level: 'quorum',
    old: ['A', 'B', 'C'],
    new: ['A', 'D', 'E'],
    targets: ['A', 'B', 'C', 'D', 'E'],
    required: [2, 2],
    steps: [['+B', 'pending'], ['+C', 'pending'], ['+D', 'pending'], ['-E', 'pending'], ['+A', 'met']],
  },
  { name: 'fewer owners than RF: the level counts against the set', level: 'quorum', old: ['A', 'B'], new: ['A', 'B', 'C'], targets: ['A', 'B', 'C'], required: [2, 2], steps: [['+C', 'pending'], ['+A', 'pending'], ['+B', 'met']] },
];

for (const testCase of cases) {
  t.test(testCase.name, async (t) => {
    const acks = requiredAcksDual(testCase.level, testCase.old, testCase.new);
    t.same(acks.targets, testCase.targets, 'targets: the union, old owners first');
    t.same([acks.oldRequired, acks.newRequired], testCase.required);
    const count = DualQuorumCount.forLevel(testCase.level, testCase.old, testCase.new);
    t.equal(count.state(), 'pending');
    for (const [outcome, expected] of testCase.steps) {
      const name = outcome.slice(1);
      t.equal(outcome.startsWith('+') ? count.ack(name) : count.fail(name), expected, outcome);
    }
  });
}

t.test('one outcome per node; only owners report', async (t) => {
  const count = DualQuorumCount.forLevel('quorum', ['A', 'B', 'C'], ['A', 'B', 'D']);
  count.ack('A');
  t.throws(() => count.ack('A'), /second outcome/);
  t.throws(() => count.fail('Z'), /neither ring/);
  t.same(count.tally(), { oldAcked: 1, oldRequired: 2, newAcked: 1, newRequired: 2 });
});

t.test('dualWriteOwners reads both rings', async (t) => {
  const from = tinyRing(nodes('A', 'B', 'C'));
  const to = tinyRing(nodes('A', 'B', 'C', 'D'));
  // The tiny hasher puts every block id at position 0: the wrap-around arc, owners A,B in both.
  const owners = dualWriteOwners(from, to, 'block-1');
  t.same(owners.oldOwners.map((owner) => owner.name), ['A', 'B']);
  t.same(owners.newOwners.map((owner) => owner.name), ['A', 'B']);
});
