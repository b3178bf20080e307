// The ring znode JSON: round-trips, canonical bytes, and typed errors for anything malformed.
import t from 'tap';
import { parseRing, serializeRing, type RingErrorCode } from '../src/index.js';

t.test('round-trip', async (t) => {
  const record = {
    epoch: 7,
    nodes: [
      { name: 'blockstore-1', addr: '10.0.0.2:3000', zone: 'b' },
      { name: 'blockstore-0', addr: '10.0.0.1:3000', zone: 'a' },
      { name: 'blockstore-2', addr: '10.0.0.3:3000' },
    ],
  };
  const text = serializeRing(record);
  t.equal(
    text,
    '{"epoch":7,"nodes":[{"name":"blockstore-0","addr":"10.0.0.1:3000","zone":"a"},' +
      '{"name":"blockstore-1","addr":"10.0.0.2:3000","zone":"b"},{"name":"blockstore-2","addr":"10.0.0.3:3000"}]}',
    'nodes sorted by name, absent zone left out',
  );
  const parsed = parseRing(text);
  t.same(parsed, { epoch: 7, nodes: [...record.nodes].sort((a, b) => (a.name < b.name ? -1 : 1)) });
  t.equal(serializeRing(parsed), text, 'parse then serialize gives the same bytes');
  t.same(parseRing(new TextEncoder().encode(text)), parsed, 'bytes as ZooKeeper returns them');
  t.same(parseRing('{"epoch":0,"nodes":[{"name":"a","zone":null,"addr":null}],"future":1}'), {
    epoch: 0,
    nodes: [{ name: 'a' }],
  }, 'null labels mean none; unknown fields are ignored');
  t.same(parseRing('{"epoch":0,"nodes":[]}'), { epoch: 0, nodes: [] });
});

t.test('malformed records fail with stable codes', async (t) => {
  const cases: [string | Uint8Array, RingErrorCode][] = [
    ['', 'BAD_RING_JSON'],
    ['{"epoch":1,', 'BAD_RING_JSON'],
    [new Uint8Array([0xff, 0xfe]), 'BAD_RING_JSON'],
    ['null', 'BAD_RING_RECORD'],
    ['[]', 'BAD_RING_RECORD'],
    ['{"nodes":[]}', 'BAD_RING_RECORD'],
    ['{"epoch":-1,"nodes":[]}', 'BAD_RING_RECORD'],
    ['{"epoch":1.5,"nodes":[]}', 'BAD_RING_RECORD'],
    ['{"epoch":"1","nodes":[]}', 'BAD_RING_RECORD'],
    ['{"epoch":1,"nodes":{}}', 'BAD_RING_RECORD'],
    ['{"epoch":1,"nodes":[{"addr":"x"}]}', 'BAD_NODE'],
    ['{"epoch":1,"nodes":[{"name":"a","addr":5}]}', 'BAD_NODE'],
    ['{"epoch":1,"nodes":[{"name":"a"},{"name":"a"}]}', 'DUPLICATE_NODE'],
  ];
  for (const [data, code] of cases) {
    t.throws(() => parseRing(data), { name: 'RingError', code }, typeof data === 'string' ? data || '(empty)' : 'bad UTF-8');
  }
  t.throws(() => serializeRing({ epoch: -1, nodes: [] }), { code: 'BAD_RING_RECORD' }, 'serialize validates too');
});
