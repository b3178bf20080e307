// Fixed vectors: the exact tokens and owners DESIGN §4 implies, so another implementation (a
// ring-aware client, a tool in another language) can check itself against vectors.json, which this
// test keeps identical to the values written here.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { loadHasher, Ring, vnodeKey, type RingNode } from '../src/index.js';

const VECTORS: Vectors = {
  about:
    'xxh64 seed 0 over UTF-8; vnode i of node n has token xxh64("<n>#<i>"); owners follow DESIGN §4 as ' +
    'packages/ring/src/placement.ts defines it; 64-bit values are unsigned decimal strings.',
  h64: [
    { input: '', h64: 'ef46db3751d8e999' },
    { input: 'abc', h64: '44bc2cf5ad770999' },
    { input: 'node-1#0', h64: '872942a1b8224862' },
    { input: 'block-0', h64: 'e7a2807538f8595c' },
  ],
  tokens: [
    { key: 'node-1#0', token: '9739388931511830626' },
    { key: 'node-1#1', token: '9772168895558785464' },
    { key: 'node-2#0', token: '4218630117323598123' },
    { key: 'blockstore-0#127', token: '1865523514078736905' },
  ],
  ids: [
    { id: 'block-0', position: '16691044409943808348' },
    { id: 'block-1', position: '9909489441007207392' },
    { id: 'block-2', position: '4023520721362788761' },
    { id: 'a', position: '15154266338359012955' },
    { id: 'vol-7:000000000042', position: '4189350800866466662' },
    { id: 'x'.repeat(255), position: '6236242883261489688' },
    { id: 'Z', position: '17385820628446435083' },
    { id: '0', position: '7148434200721666028' },
    { id: 'blockstore-0#127', position: '1865523514078736905' },
    { id: '~._:-', position: '12076584152749108369' },
  ],
  rings: [
    {
      ring: 'five-nodes',
      vnodes: 128,
      replicationFactor: 3,
      nodes: [{ name: 'node-1' }, { name: 'node-2' }, { name: 'node-3' }, { name: 'node-4' }, { name: 'node-5' }],
      owners: [
        ['node-5', 'node-2', 'node-4'], ['node-4', 'node-3', 'node-5'],
        ['node-4', 'node-2', 'node-3'], ['node-3', 'node-2', 'node-1'],
        ['node-2', 'node-1', 'node-4'], ['node-5', 'node-2', 'node-4'],
        ['node-2', 'node-4', 'node-5'], ['node-2', 'node-1', 'node-3'],
        ['node-4', 'node-1', 'node-5'], ['node-2', 'node-1', 'node-5'],
      ],
    },
    {
      ring: 'three-zones',
      vnodes: 128,
      replicationFactor: 3,
      nodes: [
        { name: 'node-1', zone: 'zone-a' },
        { name: 'node-2', zone: 'zone-a' },
        { name: 'node-3', zone: 'zone-b' },
        { name: 'node-4', zone: 'zone-b' },
        { name: 'node-5', zone: 'zone-c' },
        { name: 'node-6', zone: 'zone-c' },
      ],
      owners: [
        ['node-5', 'node-2', 'node-4'], ['node-4', 'node-6', 'node-2'],
        ['node-4', 'node-6', 'node-2'], ['node-3', 'node-2', 'node-6'],
        ['node-2', 'node-4', 'node-6'], ['node-5', 'node-2', 'node-4'],
        ['node-2', 'node-6', 'node-4'], ['node-6', 'node-2', 'node-3'],
        ['node-4', 'node-6', 'node-1'], ['node-2', 'node-5', 'node-3'],
      ],
    },
    {
      ring: 'two-zones',
      vnodes: 128,
      replicationFactor: 3,
      nodes: [
        { name: 'node-1', zone: 'zone-a' },
        { name: 'node-2', zone: 'zone-a' },
        { name: 'node-3', zone: 'zone-b' },
        { name: 'node-4', zone: 'zone-b' },
      ],
      owners: [
        ['node-2', 'node-4', 'node-3'], ['node-4', 'node-2', 'node-3'],
        ['node-4', 'node-2', 'node-3'], ['node-3', 'node-2', 'node-1'],
        ['node-2', 'node-4', 'node-1'], ['node-2', 'node-4', 'node-3'],
        ['node-2', 'node-4', 'node-3'], ['node-2', 'node-3', 'node-1'],
        ['node-4', 'node-1', 'node-3'], ['node-2', 'node-3', 'node-1'],
      ],
    },
  ],
};

interface Vectors {
  about: string;
  /** xxh64 (seed 0) of UTF-8 strings, 16 lowercase hex digits. */
  h64: { input: string; h64: string }[];
  /** Vnode tokens, unsigned decimal. */
  tokens: { key: string; token: string }[];
  /** Block ids and their positions, unsigned decimal. */
  ids: { id: string; position: string }[];
  /** Rings, with `owners[i]` the owners (preference order) of `ids[i]`. */
  rings: { ring: string; vnodes: number; replicationFactor: number; nodes: RingNode[]; owners: string[][] }[];
}

const hasher = await loadHasher();

t.test('xxh64 matches the published values', async (t) => {
  // Published by the xxHash project: XXH64("", 0) and XXH64("abc", 0).
  t.equal(hasher.h64String(''), 0xef46db3751d8e999n);
  t.equal(hasher.h64String('abc'), 0x44bc2cf5ad770999n);
  t.equal(hasher.h64Bytes(new TextEncoder().encode('abc')), 0x44bc2cf5ad770999n);
  for (const { input, h64 } of VECTORS.h64) {
    t.equal(hasher.h64String(input).toString(16).padStart(16, '0'), h64, `xxh64(${JSON.stringify(input)})`);
  }
});

t.test('vnode tokens', async (t) => {
  t.equal(vnodeKey('node-1', 0), 'node-1#0');
  for (const { key, token } of VECTORS.tokens) t.equal(hasher.h64String(key).toString(), token, key);
  const ring = new Ring({ nodes: [{ name: 'node-1' }, { name: 'node-2' }], vnodes: 2, hasher });
  const listed = ring.tokens();
  for (const { key, token } of VECTORS.tokens.filter(({ key }) => !key.startsWith('blockstore'))) {
    t.ok(
      listed.some((entry) => entry.token === token && entry.node === key.split('#')[0]),
      `${key} is listed`,
    );
  }
});

t.test('owners on fixed rings', async (t) => {
  for (const { id, position } of VECTORS.ids) {
    t.equal(hasher.h64String(id).toString(), position, `position of ${id.slice(0, 20)}`);
  }
  for (const vector of VECTORS.rings) {
    const ring = new Ring({ ...vector, hasher });
    t.same(
      VECTORS.ids.map(({ id }) => ring.owners(id).map((node) => node.name)),
      vector.owners,
      `${vector.ring}: owners of every id`,
    );
  }
});

t.test('vectors.json holds the same vectors', async (t) => {
  // dist/test/ → test/vectors.json in the package source.
  const file = new URL('../../test/vectors.json', import.meta.url);
  t.same(JSON.parse(await readFile(file, 'utf8')), VECTORS);
});
