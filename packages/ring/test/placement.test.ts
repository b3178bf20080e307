// Replica placement: who owns a position, checked against a naive model of the rule in placement.ts
// and against the properties DESIGN §4 asks for.
import t from 'tap';
import { HASH_SPACE_SIZE, loadHasher, POSITION_MAX, Ring, vnodeKey, type RingNode } from '../src/index.js';
import { fixedHasher } from './fixed-hasher.js';
import { randomId, randomInt, randomNames, seededRandom, type Random } from './random.js';

const hasher = await loadHasher();
const names = (owners: readonly RingNode[]): string[] => owners.map((node) => node.name);
const ownerNames = (ring: Ring, position: bigint): string[] => names(ring.ownersOfPosition(position));
const zonesOf = (owners: readonly RingNode[]): Set<string | undefined> => new Set(owners.map((node) => node.zone));
const numbered = (count: number, zones: readonly string[] = []): RingNode[] =>
  Array.from({ length: count }, (_, index) => ({
    name: `blockstore-${index}`,
    ...(zones.length > 0 ? { zone: zones[index % zones.length]! } : {}),
  }));

/** The documented rule, written as plainly as possible: sort every vnode, walk, take. */
function modelOwners(nodes: readonly RingNode[], vnodes: number, replicationFactor: number, position: bigint): string[] {
  const entries = nodes
    .flatMap((node) =>
      Array.from({ length: vnodes }, (_, vnode) => ({
        token: hasher.h64String(vnodeKey(node.name, vnode)),
        name: node.name,
        vnode,
        zone: node.zone === undefined ? `no zone: ${node.name}` : `zone: ${node.zone}`,
      })),
    )
    .sort((a, b) => {
      if (a.token !== b.token) return a.token < b.token ? -1 : 1;
      if (a.name !== b.name) return a.name < b.name ? -1 : 1;
      return a.vnode - b.vnode;
    });
  const first = entries.findIndex((entry) => entry.token >= position);
  const walk = first === -1 ? entries : [...entries.slice(first), ...entries.slice(0, first)];
  const taken: string[] = [];
  const zonesTaken = new Set<string>();
  const zoneCount = new Set(entries.map((entry) => entry.zone)).size;
  for (const entry of walk) {
    if (taken.length === Math.min(replicationFactor, zoneCount)) break;
    if (!zonesTaken.has(entry.zone)) taken.push(entry.name), zonesTaken.add(entry.zone);
  }
  for (const entry of walk) {
    if (taken.length === Math.min(replicationFactor, nodes.length)) break;
    if (!taken.includes(entry.name)) taken.push(entry.name);
  }
  return taken;
}

function randomPosition(random: Random): bigint {
  return (BigInt(Math.floor(random() * 2 ** 32)) << 32n) | BigInt(Math.floor(random() * 2 ** 32));
}

t.test('owners follow the documented rule (naive model, random rings)', async (t) => {
  for (let seed = 1; seed <= 12; seed++) {
    const random = seededRandom(seed);
    const zoneCount = randomInt(random, 0, 4);
    const nodes = randomNames(random, randomInt(random, 1, 9)).map((name) => {
      // Some nodes without a zone, to cover mixed rings.
      const zone = zoneCount === 0 || random() < 0.2 ? undefined : `z${randomInt(random, 1, zoneCount)}`;
      return zone === undefined ? { name } : { name, zone };
    });
    const vnodes = randomInt(random, 1, 16);
    const replicationFactor = randomInt(random, 1, 5);
    const ring = new Ring({ nodes, vnodes, replicationFactor, hasher });
    const tokens = ring.tokens().map((entry) => BigInt(entry.token));
    const positions = [0n, POSITION_MAX, ...tokens, ...tokens.map((token) => (token + 1n) % HASH_SPACE_SIZE)];
    for (let index = 0; index < 200; index++) positions.push(randomPosition(random));
    let mismatches = 0;
    for (const position of positions) {
      const expected = modelOwners(nodes, vnodes, replicationFactor, position);
      const actual = ownerNames(ring, position);
      if (expected.join() !== actual.join()) mismatches++;
    }
    t.equal(mismatches, 0, `seed ${seed}: ${nodes.length} nodes, ${vnodes} vnodes, RF ${replicationFactor}`);
  }
});

t.test('10k random ids get min(RF, N) distinct owners', async (t) => {
  const ring = new Ring({ nodes: numbered(7), hasher });
  const random = seededRandom(7);
  let bad = 0;
  for (let index = 0; index < 10_000; index++) {
    const owners = ring.owners(randomId(random));
    if (owners.length !== 3 || new Set(owners).size !== 3) bad++;
  }
  t.equal(bad, 0);
  t.equal(ring.ownerCount, 3);
});

t.test('lookups return one shared frozen array per range', async (t) => {
  const ring = new Ring({ nodes: numbered(4), hasher });
  const owners = ring.owners('block-1');
  t.equal(ring.owners('block-1'), owners);
  t.ok(Object.isFrozen(owners));
  t.ok(Object.isFrozen(owners[0]));
});

t.test('wrap-around and exact tokens', async (t) => {
  const ring = new Ring({ nodes: numbered(5), hasher });
  const tokens = ring.tokens();
  const smallest = BigInt(tokens[0]!.token);
  const largest = BigInt(tokens.at(-1)!.token);
  const wrapOwners = ownerNames(ring, smallest);
  t.equal(wrapOwners[0], tokens[0]!.node, 'the smallest token is its own node first');
  t.same(ownerNames(ring, largest + 1n), wrapOwners, 'just above the largest token wraps to the smallest');
  t.same(ownerNames(ring, POSITION_MAX), wrapOwners, '2^64-1 wraps');
  t.same(ownerNames(ring, 0n), wrapOwners, '0 belongs to the smallest token');
  t.equal(ownerNames(ring, largest)[0], tokens.at(-1)!.node, 'the largest token is its own node first');
  const onToken = tokens.filter((entry) => ownerNames(ring, BigInt(entry.token))[0] !== entry.node);
  t.same(onToken, [], 'a position equal to a token has that token\'s node first');
  const pastToken = tokens
    .slice(0, -1)
    .filter((entry, index) => ownerNames(ring, BigInt(entry.token) + 1n)[0] !== tokens[index + 1]!.node);
  t.same(pastToken, [], 'one past a token goes to the next token\'s node');
});

t.test('fewer nodes than RF, and RF 1', async (t) => {
  const two = new Ring({ nodes: numbered(2), replicationFactor: 3, hasher });
  t.equal(two.ownerCount, 2);
  t.same(new Set(names(two.owners('block-9'))), new Set(['blockstore-0', 'blockstore-1']));
  const one = new Ring({ nodes: numbered(1), replicationFactor: 5, hasher });
  t.same(names(one.owners('x')), ['blockstore-0']);
  const single = new Ring({ nodes: numbered(5), replicationFactor: 1, hasher });
  t.ok(single.tokens().every((entry) => ownerNames(single, BigInt(entry.token)).join() === entry.node));
  const empty = new Ring({ nodes: [], hasher });
  t.throws(() => empty.owners('x'), { code: 'EMPTY_RING' });
  t.same(empty.ranges(), []);
  t.same(empty.tokens(), []);
  t.same([...empty.ownershipShare()], []);
});

t.test('zone spread', async (t) => {
  const sixInThree = new Ring({ nodes: numbered(6, ['a', 'b', 'c']), replicationFactor: 3, hasher });
  const fourInTwo = new Ring({ nodes: numbered(4, ['a', 'b']), replicationFactor: 3, hasher });
  t.ok(sixInThree.ranges().every((range) => zonesOf(range.owners.map((name) => sixInThree.node(name)!)).size === 3));
  t.ok(fourInTwo.ranges().every((range) => zonesOf(range.owners.map((name) => fourInTwo.node(name)!)).size === 2));
  t.ok(fourInTwo.ranges().every((range) => new Set(range.owners).size === 3));
  // Without zones, the same nodes often put two replicas in one would-be zone; with zones, never.
  const plain = new Ring({ nodes: numbered(6), replicationFactor: 3, hasher });
  const sameZone = (owners: readonly string[]) => new Set(owners.map((name) => Number(name.split('-')[1]) % 3)).size < 3;
  t.ok(plain.ranges().some((range) => sameZone(range.owners)));
});

t.test('node order does not matter', async (t) => {
  const nodes = numbered(6, ['a', 'b']);
  const forward = new Ring({ nodes, hasher });
  const backward = new Ring({ nodes: [...nodes].reverse(), hasher });
  t.same(backward.tokens(), forward.tokens());
  t.same(backward.ranges(), forward.ranges());
  t.same(backward.nodes, forward.nodes);
});

t.test('tied tokens break by node name, then vnode index', async (t) => {
  // b#0 and a#1 share token 100; b#1 is 200, a#0 is 300.
  const tied = fixedHasher({ 'a#0': 300n, 'a#1': 100n, 'b#0': 100n, 'b#1': 200n });
  const ring = new Ring({ nodes: [{ name: 'b' }, { name: 'a' }], vnodes: 2, replicationFactor: 1, hasher: tied });
  t.same(ring.tokens(), [
    { token: '100', node: 'a' },
    { token: '100', node: 'b' },
    { token: '200', node: 'b' },
    { token: '300', node: 'a' },
  ]);
  t.same(ownerNames(ring, 100n), ['a'], 'a position on the tie goes to the smaller name');
  t.same(ownerNames(ring, 50n), ['a']);
  t.same(ownerNames(ring, 101n), ['b']);
  t.same(
    ring.ranges().map((range) => [range.start, range.end]),
    [
      [300n, 100n],
      [100n, 200n],
      [200n, 300n],
    ],
    'no empty range for the tie',
  );
  const sameNode = fixedHasher({ 'a#0': 7n, 'a#1': 7n });
  const whole = new Ring({ nodes: [{ name: 'a' }], vnodes: 2, hasher: sameNode });
  t.same(whole.ranges(), [{ start: 7n, end: 7n, owners: ['a'] }], 'one distinct token: one range, the whole circle');
  t.same(whole.ownershipShare().get('a'), { replica: 1, primary: 1 });
});
