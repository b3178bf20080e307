// Ring construction: inputs are validated up front, with stable error codes.
import t from 'tap';
import { loadHasher, Ring, RingError, TOKENS_MAX, type RingErrorCode, type RingOptions } from '../src/index.js';

const hasher = await loadHasher();

t.test('bad options fail with stable codes', async (t) => {
  const cases: [string, Omit<Partial<RingOptions>, 'nodes'> & { nodes: unknown[] }, RingErrorCode][] = [
    ['duplicate name', { nodes: [{ name: 'a' }, { name: 'b' }, { name: 'a' }] }, 'DUPLICATE_NODE'],
    ['empty name', { nodes: [{ name: '' }] }, 'BAD_NODE'],
    ['name with #', { nodes: [{ name: 'a#1' }] }, 'BAD_NODE'],
    ['name with space', { nodes: [{ name: 'a b' }] }, 'BAD_NODE'],
    ['name too long', { nodes: [{ name: 'a'.repeat(256) }] }, 'BAD_NODE'],
    ['name not a string', { nodes: [{ name: 7 }] }, 'BAD_NODE'],
    ['node not an object', { nodes: ['a'] }, 'BAD_NODE'],
    ['zone not a string', { nodes: [{ name: 'a', zone: 1 }] }, 'BAD_NODE'],
    ['vnodes 0', { nodes: [], vnodes: 0 }, 'BAD_VNODES'],
    ['vnodes fractional', { nodes: [], vnodes: 1.5 }, 'BAD_VNODES'],
    ['vnodes too many', { nodes: [], vnodes: 5000 }, 'BAD_VNODES'],
    ['RF 0', { nodes: [], replicationFactor: 0 }, 'BAD_RF'],
    ['RF NaN', { nodes: [], replicationFactor: Number.NaN }, 'BAD_RF'],
    ['RF 17', { nodes: [], replicationFactor: 17 }, 'BAD_RF'],
    [
      'too many tokens',
      { nodes: Array.from({ length: TOKENS_MAX / 4096 + 1 }, (_, index) => ({ name: `n${index}` })), vnodes: 4096 },
      'TOO_MANY_NODES',
    ],
  ];
  for (const [label, options, code] of cases) {
    t.throws(() => new Ring({ ...(options as unknown as RingOptions), hasher }), { name: 'RingError', code }, label);
  }
});

t.test('lookups reject positions outside 64 bits', async (t) => {
  const ring = new Ring({ nodes: [{ name: 'a' }], hasher });
  for (const position of [-1n, 1n << 64n, 5 as unknown as bigint]) {
    t.throws(() => ring.ownersOfPosition(position), { code: 'BAD_POSITION' }, String(position));
  }
});

t.test('nodes are kept canonical: sorted, frozen, empty labels dropped', async (t) => {
  const ring = new Ring({ nodes: [{ name: 'b', zone: '', addr: 'b:3000' }, { name: 'a', zone: 'z1' }], hasher });
  t.same(ring.nodes, [{ name: 'a', zone: 'z1' }, { name: 'b', addr: 'b:3000' }]);
  t.ok(Object.isFrozen(ring.nodes) && ring.nodes.every((node) => Object.isFrozen(node)));
  t.equal(ring.size, 2);
  t.ok(ring.has('a'));
  t.notOk(ring.has('c'));
  t.equal(ring.node('b')?.addr, 'b:3000');
  t.equal(ring.node('c'), undefined);
  t.equal(ring.vnodes, 128);
  t.equal(ring.replicationFactor, 3);
  t.ok(new RingError('EMPTY_RING', 'x') instanceof Error);
});
