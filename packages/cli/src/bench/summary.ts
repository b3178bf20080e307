// bench/results/summary.md: the headline figure of every benchmark, read from its results file,
// each beside its baseline or goal. A results file that is missing (that benchmark not run yet) is
// named as such instead of failing the summary.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface LoadFigures {
  opsPerSecond: number;
  p99Ms: number;
  serverCpuUsPerOp?: number;
  clientCpuUsPerOp?: number;
}

interface ClusterJson {
  date: string;
  rows: { case: string; concurrency: number; cluster: LoadFigures; baseline: LoadFigures; ratio: number }[];
  protocols?: { case: string; binary: LoadFigures; http: LoadFigures }[];
  clients?: { case: string; plain: LoadFigures; ringAware: LoadFigures }[];
  clientNodes?: number;
}

interface EngineJson {
  date: string;
  baseline: { sparseFileHandle: { opsPerSecond: number } };
  puts: { label: string; concurrency: number; opsPerSecond: number; timesGoalBaseline: number; latencyMsP99: number }[];
  reopen: { blocks: number; warm: { openMs: number; heapBytesPerBlock: number }; cold: { openMs: number } };
}

interface RingJson {
  generatedAt: string;
  balance: { nodes: number; replicaMaxOverMean: { worst: number } }[];
  lookups: { nodes: number; opsPerSecond: { ownersWithHash: number; mapGet: number }; ratios: { idToMapGet: number } }[];
}

interface MigrationJson {
  date: string;
  megabytesStored: number;
  throughputMBps: number;
  movedOverMinimum: number;
  p99Ratio: number;
  seconds: number;
}

interface RepairJson {
  date: string;
  idle: { compareBytesPerGiBData: number };
  replaced: { streamMBps: number; convergeSeconds: number };
}

async function readJson<T>(dir: string, name: string): Promise<T | undefined> {
  const text = await readFile(join(dir, `${name}.json`), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

const percent = (ratio: number) => `${(ratio * 100).toFixed(0)}%`;
const times = (ratio: number) => `${ratio.toFixed(2)}×`;
const rate = (value: number) => Math.round(value).toLocaleString('en-US');
const verdict = (met: boolean) => (met ? 'met' : '**not met**');

export async function renderSummary(dir: string): Promise<string> {
  const [cluster, engine, ring, migration, repair] = await Promise.all([
    readJson<ClusterJson>(dir, 'cluster'),
    readJson<EngineJson>(dir, 'engine'),
    readJson<RingJson>(dir, 'ring'),
    readJson<MigrationJson>(dir, 'migration'),
    readJson<RepairJson>(dir, 'repair'),
  ]);
  const rows: string[] = [];
  const missing: string[] = [];
  if (cluster) rows.push(...clusterRows(cluster));
  else missing.push('cluster');
  if (engine) rows.push(...engineRows(engine));
  else missing.push('engine');
  if (ring) rows.push(...ringRows(ring));
  else missing.push('ring');
  if (migration) rows.push(...migrationRows(migration));
  else missing.push('migration');
  if (repair) rows.push(...repairRows(repair));
  else missing.push('repair');
  return [
    '| benchmark | figure | measured | beside (same run) | goal | |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    ...(missing.length ? [`Not run yet: ${missing.join(', ')}.`, ''] : []),
    'Every ratio is taken against a baseline measured in the same run on the same machine (2 shared cores here); absolute figures are context only. Details, charts and the machine of each run: the files beside this one (`cluster.svg` draws every cluster case).',
    '',
  ].join('\n');
}

function clusterRows(cluster: ClusterJson): string[] {
  const date = cluster.date.slice(0, 10);
  const at64 = (name: string) => cluster.rows.find((row) => row.case === name && row.concurrency === 64);
  const rows: string[] = [];
  for (const [name, goal, p99Goal] of [['PUT quorum', 0.6, 15], ['GET quorum', 0.6, 15], ['GET one', 0.8, 15]] as const) {
    const row = at64(name);
    if (!row) continue;
    const client = (result: LoadFigures) => (result.clientCpuUsPerOp === undefined ? '' : ` + ${result.clientCpuUsPerOp.toFixed(0)} in the load generator`);
    const cpu = row.cluster.serverCpuUsPerOp !== undefined && row.baseline.serverCpuUsPerOp !== undefined ? `; CPU ${row.cluster.serverCpuUsPerOp.toFixed(0)} µs/op over the nodes${client(row.cluster)} vs ${row.baseline.serverCpuUsPerOp.toFixed(0)}${client(row.baseline)}` : '';
    rows.push(`| cluster ${date} | ${name}, 64 concurrent | ${rate(row.cluster.opsPerSecond)} ops/s, p99 ${row.cluster.p99Ms.toFixed(1)} ms | ${percent(row.ratio)} of bare node:http (${rate(row.baseline.opsPerSecond)} ops/s${cpu}) | ≥ ${percent(goal)}, p99 ≤ ${p99Goal} ms | ${verdict(row.ratio >= goal && row.cluster.p99Ms <= p99Goal)} |`);
  }
  for (const protocol of cluster.protocols ?? []) {
    rows.push(`| cluster ${date} | ${protocol.case}, binary replication | ${rate(protocol.binary.opsPerSecond)} ops/s | ${times(protocol.binary.opsPerSecond / protocol.http.opsPerSecond)} HTTP replication (${rate(protocol.http.opsPerSecond)} ops/s) | — | |`);
  }
  for (const client of cluster.clients ?? []) {
    const ratio = client.ringAware.opsPerSecond / client.plain.opsPerSecond;
    rows.push(`| client ${date} | ${client.case}, ring-aware${cluster.clientNodes ? `, ${cluster.clientNodes} nodes` : ''} | ${rate(client.ringAware.opsPerSecond)} ops/s | ${times(ratio)} the plain client (${rate(client.plain.opsPerSecond)} ops/s) | ≥ 1.30× | ${verdict(ratio >= 1.3)} |`);
  }
  return rows;
}

function engineRows(engine: EngineJson): string[] {
  const date = engine.date.slice(0, 10);
  const at64 = engine.puts.find((entry) => entry.label === 'new blocks' && entry.concurrency === 64);
  return [
    ...(at64 ? [`| engine ${date} | durable puts, 64 concurrent | ${rate(at64.opsPerSecond)} puts/s, p99 ${at64.latencyMsP99.toFixed(1)} ms | ${times(at64.timesGoalBaseline)} a write+fdatasync loop (${rate(engine.baseline.sparseFileHandle.opsPerSecond)}/s) | ≥ 10× | ${verdict(at64.timesGoalBaseline >= 10)} |`] : []),
    `| engine ${date} | reopen with ${rate(engine.reopen.blocks)} blocks | ${engine.reopen.warm.openMs.toFixed(0)} ms warm, ${engine.reopen.cold.openMs.toFixed(0)} ms cold | — | < 3 s | ${verdict(engine.reopen.cold.openMs < 3000)} |`,
    `| engine ${date} | heap per block | ${engine.reopen.warm.heapBytesPerBlock.toFixed(1)} B | — | ≤ 64 B | ${verdict(engine.reopen.warm.heapBytesPerBlock <= 64)} |`,
  ];
}

function ringRows(ring: RingJson): string[] {
  const date = ring.generatedAt.slice(0, 10);
  const lookup = ring.lookups[ring.lookups.length - 1];
  const balance = ring.balance[ring.balance.length - 1];
  return [
    ...(lookup ? [`| ring ${date} | owners(id) incl. hash, ${lookup.nodes} nodes | ${rate(lookup.opsPerSecond.ownersWithHash)} lookups/s | ${percent(lookup.ratios.idToMapGet)} of a Map.get | — | |`] : []),
    ...(balance ? [`| ring ${date} | worst replica share, ${balance.nodes} nodes | ${times(balance.replicaMaxOverMean.worst)} the mean | — | — | |`] : []),
  ];
}

function migrationRows(migration: MigrationJson): string[] {
  const date = migration.date.slice(0, 10);
  return [
    `| migration ${date} | 3→4 with ${migration.megabytesStored} MiB, limits raised | ${migration.throughputMBps.toFixed(1)} MB/s while transferring, ${migration.seconds.toFixed(1)} s from join to settled | — | ≥ 50 MB/s | ${verdict(migration.throughputMBps >= 50)} |`,
    `| migration ${date} | bytes moved | ${times(migration.movedOverMinimum)} the ring diff's minimum | — | ≤ 1.05× | ${verdict(migration.movedOverMinimum <= 1.05)} |`,
    `| migration ${date} | client p99 during, default limits | ${times(migration.p99Ratio)} the steady state before | — | ≤ 2× | ${verdict(migration.p99Ratio <= 2)} |`,
  ];
}

function repairRows(repair: RepairJson): string[] {
  const date = repair.date.slice(0, 10);
  return [
    `| repair ${date} | idle full repair | ${(repair.idle.compareBytesPerGiBData / 1024).toFixed(1)} KiB compared per GiB stored | — | < 1 MiB/GiB | ${verdict(repair.idle.compareBytesPerGiBData < 1024 * 1024)} |`,
    `| repair ${date} | replaced node refilled | ${repair.replaced.streamMBps.toFixed(1)} MB/s, ${repair.replaced.convergeSeconds.toFixed(1)} s | — | — | |`,
  ];
}
