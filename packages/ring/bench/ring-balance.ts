// Ring benchmark: how evenly 128 vnodes spread replicas, and how fast a lookup is, against baselines
// measured in the same run. Writes <out>/ring.json and <out>/ring.md (default out: bench/results,
// relative to the working directory; `bench/ring` runs it from the repository root).
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { loadHasher, Ring, type Hasher, type RingNode } from '../src/index.js';
import { lowerBound } from '../src/tokens.js';
import { randomId, randomNames, seededRandom } from '../test/random.js';

const NODE_COUNTS = [4, 8, 16, 32];
const VNODES = 128;
const REPLICATION_FACTOR = 3;
/** Name sets per node count: blockstore-0..N-1, then this many minus one sets of random names. */
const NAME_SETS = 10;
const LOOKUP_IDS = 1_000_000;
/** Timed passes over the ids per measurement; the median is reported. */
const PASSES = 5;

interface Balance {
  nodes: number;
  /** Over the name sets: mean and worst of (max share / mean share) and (min share / mean share). */
  replicaMaxOverMean: { mean: number; worst: number };
  replicaMinOverMean: { mean: number; worst: number };
  primaryMaxOverMean: { mean: number; worst: number };
  primaryMinOverMean: { mean: number; worst: number };
}

interface Lookups {
  nodes: number;
  tokens: number;
  /** Operations per second, median of PASSES passes over LOOKUP_IDS ids. */
  opsPerSecond: {
    ownersOfPosition: number;
    ownersWithHash: number;
    hashOnly: number;
    bareBinarySearch: number;
    mapGet: number;
  };
  /** ownersOfPosition / bareBinarySearch and ownersWithHash / mapGet. */
  ratios: { positionToBinarySearch: number; idToMapGet: number };
}

function nameSet(nodeCount: number, set: number): RingNode[] {
  const names =
    set === 0
      ? Array.from({ length: nodeCount }, (_, index) => `blockstore-${index}`)
      : randomNames(seededRandom(1000 * nodeCount + set), nodeCount);
  return names.map((name) => ({ name }));
}

function buildRing(nodes: readonly RingNode[], hasher: Hasher): Ring {
  return new Ring({ nodes, vnodes: VNODES, replicationFactor: REPLICATION_FACTOR, hasher });
}

/** Mean over the name sets, and the most extreme set (`extreme` is Math.max or Math.min). */
function summarize(ratios: number[], extreme: (...values: number[]) => number): { mean: number; worst: number } {
  return { mean: ratios.reduce((sum, ratio) => sum + ratio, 0) / ratios.length, worst: extreme(...ratios) };
}

function measureBalance(nodeCount: number, hasher: Hasher): Balance {
  // Per name set, each node's share divided by the mean share.
  const sets = Array.from({ length: NAME_SETS }, (_, set) => {
    const ring = buildRing(nameSet(nodeCount, set), hasher);
    const shares = [...ring.ownershipShare().values()];
    return {
      replica: shares.map((share) => share.replica / (ring.ownerCount / nodeCount)),
      primary: shares.map((share) => share.primary * nodeCount),
    };
  });
  const spread = (kind: 'replica' | 'primary', extreme: (...values: number[]) => number) =>
    summarize(sets.map((set) => extreme(...set[kind])), extreme);
  return {
    nodes: nodeCount,
    replicaMaxOverMean: spread('replica', Math.max),
    replicaMinOverMean: spread('replica', Math.min),
    primaryMaxOverMean: spread('primary', Math.max),
    primaryMinOverMean: spread('primary', Math.min),
  };
}

/**
 * Median operations per second of each of `runs` (each does `count` operations and returns a
 * checksum). Passes go round-robin over the runs, so a burst of load on the machine hits them alike
 * and the ratios between them stay fair.
 */
function opsPerSecond<Name extends string>(count: number, runs: Record<Name, () => number>): Record<Name, number> {
  const entries = Object.entries(runs) as [Name, () => number][];
  let sink = 0;
  for (const [, run] of entries) sink += run(); // warm-up: the JIT settles, the owner cache fills
  const rates = new Map<Name, number[]>(entries.map(([name]) => [name, []]));
  for (let pass = 0; pass < PASSES; pass++) {
    for (const [name, run] of entries) {
      const started = process.hrtime.bigint();
      sink += run();
      rates.get(name)!.push(count / (Number(process.hrtime.bigint() - started) / 1e9));
    }
  }
  if (Number.isNaN(sink)) throw new Error('unreachable: keeps the checksums alive');
  const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return Object.fromEntries(entries.map(([name]) => [name, median(rates.get(name)!)])) as Record<Name, number>;
}

function measureLookups(nodeCount: number, ids: readonly string[], hasher: Hasher): Lookups {
  const ring = buildRing(nameSet(nodeCount, 0), hasher);
  const positions = ids.map((id) => ring.position(id));
  const tokens = BigUint64Array.from(ring.tokens(), (entry) => BigInt(entry.token));
  const table = new Map(ids.map((id) => [id, ring.owners(id)]));
  const count = ids.length;
  const rates = opsPerSecond(count, {
    ownersOfPosition: () => {
      let sum = 0;
      for (const position of positions) sum += ring.ownersOfPosition(position).length;
      return sum;
    },
    ownersWithHash: () => {
      let sum = 0;
      for (const id of ids) sum += ring.owners(id).length;
      return sum;
    },
    hashOnly: () => {
      let sum = 0;
      for (const id of ids) sum += Number(hasher.h64String(id) & 1n);
      return sum;
    },
    bareBinarySearch: () => {
      let sum = 0;
      for (const position of positions) sum += lowerBound(tokens, position);
      return sum;
    },
    mapGet: () => {
      let sum = 0;
      for (const id of ids) sum += table.get(id)!.length;
      return sum;
    },
  });
  return {
    nodes: nodeCount,
    tokens: tokens.length,
    opsPerSecond: rates,
    ratios: {
      positionToBinarySearch: rates.ownersOfPosition / rates.bareBinarySearch,
      idToMapGet: rates.ownersWithHash / rates.mapGet,
    },
  };
}

const fixed = (value: number, digits = 3): string => value.toFixed(digits);
const perSecond = (value: number): string => `${(value / 1e6).toFixed(2)} M/s`;

function markdown(balance: Balance[], lookups: Lookups[], environment: string): string {
  const lines = [
    '# Ring benchmark',
    '',
    `${VNODES} vnodes per node, RF ${REPLICATION_FACTOR}. ${environment}`,
    '',
    `## Ownership balance (${NAME_SETS} name sets per size: blockstore-0..N-1 and ${NAME_SETS - 1} random)`,
    '',
    'Share of the hash space a node holds, divided by the mean share (ideal 1). "mean" averages over',
    'the name sets, "worst" is the most extreme set.',
    '',
    '| nodes | replica max/mean (mean, worst) | replica min/mean (mean, worst) | primary max/mean (mean, worst) | primary min/mean (mean, worst) |',
    '|---:|---:|---:|---:|---:|',
    ...balance.map(
      (row) =>
        `| ${row.nodes} | ${fixed(row.replicaMaxOverMean.mean)}, ${fixed(row.replicaMaxOverMean.worst)} ` +
        `| ${fixed(row.replicaMinOverMean.mean)}, ${fixed(row.replicaMinOverMean.worst)} ` +
        `| ${fixed(row.primaryMaxOverMean.mean)}, ${fixed(row.primaryMaxOverMean.worst)} ` +
        `| ${fixed(row.primaryMinOverMean.mean)}, ${fixed(row.primaryMinOverMean.worst)} |`,
    ),
    '',
    `## Lookups (${LOOKUP_IDS.toLocaleString('en')} random ids, median of ${PASSES} passes)`,
    '',
    '| nodes | tokens | ownersOfPosition | owners(id) incl. hash | hash only | bare binary search | Map.get(id) | position ÷ binary search | id ÷ Map.get |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...lookups.map(
      (row) =>
        `| ${row.nodes} | ${row.tokens} | ${perSecond(row.opsPerSecond.ownersOfPosition)} | ${perSecond(row.opsPerSecond.ownersWithHash)} ` +
        `| ${perSecond(row.opsPerSecond.hashOnly)} | ${perSecond(row.opsPerSecond.bareBinarySearch)} | ${perSecond(row.opsPerSecond.mapGet)} ` +
        `| ${fixed(row.ratios.positionToBinarySearch, 2)} | ${fixed(row.ratios.idToMapGet, 2)} |`,
    ),
    '',
    'Baselines: "bare binary search" is the lower-bound search over the same sorted token array with no',
    'owner lookup; "Map.get(id)" reads the owners from a Map precomputed for exactly these ids (no',
    'hashing, the floor for any id-keyed lookup); "hash only" is xxh64 of the id.',
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const outDir = process.argv[2] ?? join('bench', 'results');
  const hasher = await loadHasher();
  const random = seededRandom(42);
  const ids = Array.from({ length: LOOKUP_IDS }, () => randomId(random, 8, 40));

  const balance = NODE_COUNTS.map((nodeCount) => measureBalance(nodeCount, hasher));
  const lookups = NODE_COUNTS.map((nodeCount) => measureLookups(nodeCount, ids, hasher));
  const environment = `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}.`;
  const result = {
    generatedAt: new Date().toISOString(),
    environment,
    config: { vnodes: VNODES, replicationFactor: REPLICATION_FACTOR, nameSets: NAME_SETS, lookupIds: LOOKUP_IDS, passes: PASSES },
    balance,
    lookups,
  };
  const report = markdown(balance, lookups, environment);
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'ring.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(join(outDir, 'ring.md'), report);
  process.stdout.write(report);
}

await main();
