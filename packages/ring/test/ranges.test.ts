// Token ranges: they tile the circle, agree with lookups, and add up to the ownership shares.
import t from 'tap';
import { HASH_SPACE_SIZE, loadHasher, POSITION_MAX, rangeContains, rangeWidth, Ring } from '../src/index.js';

const hasher = await loadHasher();
const nodes = ['blockstore-0', 'blockstore-1', 'blockstore-2', 'blockstore-3', 'blockstore-4'].map((name) => ({ name }));

t.test('rangeContains and rangeWidth, wrap-around included', async (t) => {
  const plain = { start: 10n, end: 20n };
  t.notOk(rangeContains(plain, 10n), 'start is exclusive');
  t.ok(rangeContains(plain, 11n));
  t.ok(rangeContains(plain, 20n), 'end is inclusive');
  t.notOk(rangeContains(plain, 21n));
  t.equal(rangeWidth(plain), 10n);

  const wrapping = { start: POSITION_MAX - 4n, end: 5n };
  t.ok(rangeContains(wrapping, POSITION_MAX));
  t.ok(rangeContains(wrapping, 0n));
  t.ok(rangeContains(wrapping, 5n));
  t.notOk(rangeContains(wrapping, 6n));
  t.notOk(rangeContains(wrapping, POSITION_MAX - 4n));
  t.equal(rangeWidth(wrapping), 10n);

  const whole = { start: 7n, end: 7n };
  t.ok([0n, 7n, 8n, POSITION_MAX].every((position) => rangeContains(whole, position)), 'start === end: everything');
  t.equal(rangeWidth(whole), HASH_SPACE_SIZE);
});

t.test('ranges tile the circle and agree with lookups', async (t) => {
  const ring = new Ring({ nodes, hasher });
  const ranges = ring.ranges();
  t.equal(ranges.length, nodes.length * 128, 'one range per token (no ties here)');
  t.equal(ranges.reduce((sum, range) => sum + rangeWidth(range), 0n), HASH_SPACE_SIZE, 'widths sum to 2^64');
  t.ok(ranges[0]!.start > ranges[0]!.end, 'the first range is the wrap-around one');
  t.ok(
    ranges.every((range, index) => index === 0 || range.start === ranges[index - 1]!.end),
    'each range starts where the previous ends',
  );
  t.equal(ranges[0]!.start, ranges.at(-1)!.end, 'and the first starts where the last ends');
  const disagreeing = ranges.filter((range) =>
    [range.end, (range.start + 1n) % HASH_SPACE_SIZE].some(
      (position) => ring.ownersOfPosition(position).map((node) => node.name).join() !== range.owners.join(),
    ),
  );
  t.same(disagreeing, [], 'owners of both ends of every range are the range\'s owners');
  t.same(
    ranges.map((range) => range.end.toString()),
    ring.tokens().map((entry) => entry.token),
    'range ends are the tokens',
  );
});

t.test('tokens(), rangesOwnedBy() and ownershipShare()', async (t) => {
  const ring = new Ring({ nodes, hasher });
  const tokens = ring.tokens();
  t.equal(tokens.length, nodes.length * 128);
  t.ok(tokens.every((entry) => /^(0|[1-9][0-9]*)$/.test(entry.token) && BigInt(entry.token) <= POSITION_MAX));
  t.equal(tokens.filter((entry) => entry.node === 'blockstore-3').length, 128);

  const shares = ring.ownershipShare();
  const sum = (pick: (share: { replica: number; primary: number }) => number) =>
    [...shares.values()].reduce((total, share) => total + pick(share), 0);
  t.ok(Math.abs(sum((share) => share.replica) - 3) < 1e-9, 'replica shares sum to RF');
  t.ok(Math.abs(sum((share) => share.primary) - 1) < 1e-9, 'primary shares sum to 1');
  const two = new Ring({ nodes: nodes.slice(0, 2), hasher });
  t.same([...two.ownershipShare().values()].map((share) => share.replica), [1, 1], 'N < RF: everyone owns everything');

  for (const { name } of nodes) {
    const owned = ring.rangesOwnedBy(name);
    t.ok(owned.every((range) => range.owners.includes(name)));
    const width = owned.reduce((total, range) => total + rangeWidth(range), 0n);
    const share = Number(width) / Number(HASH_SPACE_SIZE);
    t.ok(Math.abs(share - shares.get(name)!.replica) < 1e-12, `${name}: share matches its ranges`);
  }
  t.throws(() => ring.rangesOwnedBy('nobody'), { code: 'UNKNOWN_NODE' });
});
