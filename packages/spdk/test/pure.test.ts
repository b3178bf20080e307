// Pure pieces: the JSON parser and writer, both framers, NQN rules, lvstore geometry (RPC.md §3.2).
import t from 'tap';
import {
  clustersForMib,
  isValidNqn,
  isValidPrintableField,
  JsonSyntaxError,
  JsonValueSplitter,
  LineSplitter,
  LineTooLongError,
  lvstoreGeometry,
  objectWithRepeatedKeys,
  parseJson,
  RawJson,
  spdkErrno,
  SpdkRpcError,
  stringifyJson,
} from '../src/index.js';

t.test('parseJson: duplicates, big integers, collected repeats, no prototype pollution', async (t) => {
  const { value, objectsWithDuplicateKeys } = parseJson('{"a":1,"b":{"x":1,"x":2},"c":[1,2]}');
  t.same(value, { a: 1, b: { x: 2 }, c: [1, 2] });
  t.equal(objectsWithDuplicateKeys.size, 1);
  t.ok(objectsWithDuplicateKeys.has((value as { b: object }).b), 'the inner object is marked');
  t.equal(parseJson('18446744073709551615').value, 18446744073709551615n, 'u64 max stays exact');
  t.equal(parseJson('9007199254740991').value, 9007199254740991, 'safe integers stay numbers');
  t.equal(parseJson('-1.5e3').value, -1500);
  t.same(parseJson('{"t":1,"t":2,"t":3,"u":[4]}', { duplicateKeys: 'collect' }).value, { t: [1, 2, 3], u: [4] });
  const polluted = parseJson('{"__proto__":{"evil":true}}').value as Record<string, unknown>;
  t.equal(({} as Record<string, unknown>).evil, undefined);
  t.same(Object.keys(polluted), ['__proto__']);
  for (const bad of ['{', '{"a":}', '[1,]', '01', '"\u0001"', '{"a":1}x', 'tru', '{"a" 1}', '[1 2]']) {
    t.throws(() => parseJson(bad), JsonSyntaxError, `rejects ${JSON.stringify(bad)}`);
  }
  t.throws(() => parseJson('['.repeat(100) + ']'.repeat(100)), JsonSyntaxError, 'nesting is bounded');
});

t.test('stringifyJson: compact, bigint, raw fragments, repeated keys', async (t) => {
  t.equal(stringifyJson({ a: 1n << 60n, b: [undefined, 'x\ny'], c: undefined, d: new RawJson('{"r":1}') }), '{"a":1152921504606846976,"b":[null,"x\\ny"],"d":{"r":1}}');
  t.equal(stringifyJson(objectWithRepeatedKeys([['t', 1], ['t', 2]])), '{"t":1,"t":2}');
});

t.test('JsonValueSplitter: values across chunks, several per chunk, scalars, errors, overflow', async (t) => {
  const splitter = new JsonValueSplitter(1024);
  t.same(splitter.push(Buffer.from('{"a":"}{[\\"x"')), [], 'incomplete: braces and escaped quotes inside strings do not count');
  t.same(splitter.push(Buffer.from('}  \n{"b":2}[1,\n2] "s" 12')), [
    { kind: 'value', text: '{"a":"}{[\\"x"}' },
    { kind: 'value', text: '{"b":2}' },
    { kind: 'value', text: '[1,\n2]' },
    { kind: 'value', text: '"s"' },
  ]);
  t.same(splitter.push(Buffer.from(' ')), [{ kind: 'value', text: '12' }], 'a bare scalar ends at a delimiter');
  t.same(new JsonValueSplitter(1024).push(Buffer.from(' } ')), [{ kind: 'syntax_error' }]);
  const multibyte = new JsonValueSplitter(1024);
  const bytes = Buffer.from('{"é":"ü"}');
  t.same([...multibyte.push(bytes.subarray(0, 3)), ...multibyte.push(bytes.subarray(3))], [{ kind: 'value', text: '{"é":"ü"}' }], 'UTF-8 split inside a character');
  const small = new JsonValueSplitter(8);
  t.same(small.push(Buffer.from('{"abcdefgh')), [{ kind: 'overflow' }]);
  const bounded = new JsonValueSplitter(8);
  t.same(bounded.push(Buffer.from('{"a":1}{"b":2}{"c":3}')).length, 3, 'complete values never count against the buffer');
  t.equal(bounded.bufferedBytes, 0);
});

t.test('LineSplitter: split and merged lines, bounded', async (t) => {
  const lines = new LineSplitter(16);
  t.same(lines.push(Buffer.from('{"id":1,')), []);
  t.same(lines.push(Buffer.from('"r":2}\n{"id":2}\n{"i')), ['{"id":1,"r":2}', '{"id":2}']);
  t.same(lines.push(Buffer.from('d":3}\n')), ['{"id":3}']);
  t.throws(() => new LineSplitter(4).push(Buffer.from('12345')), LineTooLongError);
});

t.test('NQN, serial and model validation (RPC.md §3.7)', async (t) => {
  const valid = [
    'nqn.2014-08.org.nvmexpress.discovery',
    'nqn.2014-08.org.nvmexpress:uuid:5a1c0000-1111-2222-3333-444455556666',
    'nqn.2016-06.io.spdk:vol1',
    'nqn.2024-99.com.example-a.b9:x', // month digits are not range-checked
    'nqn.2016-06.io.spdk:ünïcode',
  ];
  const invalid = [
    'nqn.2016-06.io.spdk', // no ":"
    'nqn.2016-06.io.spdk:', // empty after ":"
    'nqn.16-06.io.spdk:x',
    'nqn.2016-6.io.spdk:x',
    'nqn.2016-06.1io.spdk:x', // label starts with a digit
    'nqn.2016-06.io-.spdk:x', // label ends with "-"
    'nqn.2016-06..spdk:x',
    `nqn.2016-06.${'a'.repeat(64)}:x`,
    'nqn.2014-08.org.nvmexpress:uuid:5a1c0000-1111-2222-3333-44445555666',
    'NQN.2016-06.io.spdk:x',
    `nqn.2016-06.io.spdk:${'x'.repeat(210)}`, // 224 bytes
    'nqn.a',
  ];
  for (const nqn of valid) t.ok(isValidNqn(nqn), nqn);
  for (const nqn of invalid) t.notOk(isValidNqn(nqn), nqn);
  t.ok(isValidNqn(`nqn.2016-06.io.spdk:${'x'.repeat(203)}`), '223 bytes is the maximum');
  t.ok(isValidPrintableField('SPDK0001', 20));
  t.notOk(isValidPrintableField('x'.repeat(21), 20));
  t.notOk(isValidPrintableField('tab\there', 40));
});

t.test('lvstore geometry: the exact numbers of RPC.md §3.2', async (t) => {
  const MiB = 1024 * 1024;
  const C = 4 * MiB;
  const rows: [string, number, number, number][] = [
    ['128 MiB', 128 * MiB, 31, 137271181312],
    ['1 GiB', 1024 * MiB, 255, 137271181312],
    ['100 GiB', 100 * 1024 * MiB, 25574, 137271181312],
    ['1 TiB', 1024 * 1024 * MiB, 261887, 1236782809088],
  ];
  for (const [name, baseBytes, clusters, growable] of rows) {
    t.match(lvstoreGeometry({ baseBytes, clusterBytes: C }), { ok: true, totalDataClusters: clusters, maxGrowableSizeBytes: growable }, name);
  }
  t.same(lvstoreGeometry({ baseBytes: 2 * MiB, clusterBytes: C }), { ok: false, errno: 'ENOSPC' }, 'base smaller than a cluster');
  t.same(lvstoreGeometry({ baseBytes: C, clusterBytes: C }), { ok: false, errno: 'ENOMEM' }, 'metadata fills the base');
  t.equal(clustersForMib(1, C), 1, '1 MiB on 4 MiB clusters is one cluster');
  t.equal(clustersForMib(4, C), 1);
  t.equal(clustersForMib(5, C), 2);
  t.equal(clustersForMib(10240, C), 2560);
});

t.test('spdkErrno classifies by code and message (RPC.md §1.4)', async (t) => {
  t.equal(spdkErrno(new SpdkRpcError(-17, 'File exists', 'm')), 17, 'synchronous');
  t.equal(spdkErrno(new SpdkRpcError(-32602, 'No space left on device', 'm')), 28, 'lvol callback');
  t.equal(spdkErrno(new SpdkRpcError(-32603, 'Operation not permitted', 'm')), 1, 'lvol delete callback');
  t.equal(spdkErrno(new SpdkRpcError(-32602, 'Invalid parameters', 'm')), undefined);
  t.equal(spdkErrno(new SpdkRpcError('SPDK_TIMEOUT', 'x', 'm')), undefined);
});
