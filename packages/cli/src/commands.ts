// Subcommands of `ringblock`. Each returns an exit code, or undefined for a long-running command that
// ends on a signal.
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseDuration, startNodeFromEnv } from '@ringblock/node';
import { runSpdkSim, runStorageAgent } from '@ringblock/spdk';
import { LocalCluster, readManifest, releaseLoopDevices, type ClusterManifest } from './local-cluster.js';
import { renderMigration, renderStatus } from './status.js';
import { repair } from './repair-command.js';
import { runAllBenchmarks } from './bench/all.js';
import { runClusterBench } from './bench/cluster-bench.js';
import { runMigrationBench } from './bench/migration-bench.js';
import { runProfileBench } from './bench/profile-bench.js';
import { runRepairBench } from './bench/repair-bench.js';
import { CHAOS_USAGE, chaos } from './chaos/index.js';
import { VERIFY_USAGE, chaosVerify } from './chaos/verify.js';

const USAGE = `usage: ringblock <command> [options]

  node                     start one peer from RINGBLOCK_* variables or --flags (e.g. --name, --port, --zk)
  storage-agent            reconcile this host's volumes/<name> records with SPDK (RINGBLOCK_SPDK_SOCK,
                           RINGBLOCK_NVMF_TRANSPORT, RINGBLOCK_NVMF_ADDR, …; see README)
  spdk-sim --sock PATH --state DIR [--device BDF=SIZE] [--no-rdma]
                           an SPDK target emulator speaking SPDK's JSON-RPC (for local runs and tests)
  up [--nodes 3] [--base-port 3000] [--data-dir .ringblock] [--backing file|spdk-sim] [--detach]
                           start ZooKeeper and N peers locally; Ctrl-C stops them
  down [--data-dir .ringblock]
                           stop a cluster started with up --detach
  status [--watch] [--data-dir .ringblock] [--url URL]
                           members, ring epoch, ownership
  put ID FILE [--consistency quorum] [--data-dir .ringblock] [--url URL]
  get ID [FILE] [--consistency quorum] [--data-dir .ringblock] [--url URL]
  decommission NAME [--data-dir .ringblock] [--url URL] [--token T]
                           move a node's data away and take it out of the ring; waits with a progress bar
  bench [all|cluster|profile|migration|repair] [--duration 5s] [--megabytes 256] [--transfer-rate 1G] [--repair-rate 1G] [--cpu-prof (migration)]
        [--engine-blocks 1000000] [--results bench/results] [--readme README.md]
                           benchmarks with a baseline measured in the same run; all (the default) runs
                           every one, writes results/summary.md and its table into the README
${CHAOS_USAGE}${VERIFY_USAGE}`;

export async function runCommand(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'node':
      await startNodeFromEnv(rest);
      return undefined;
    case 'storage-agent':
      return runStorageAgent(rest);
    case 'spdk-sim':
      return runSpdkSim(rest);
    case 'up':
      return up(rest);
    case 'down':
      return down(rest);
    case 'status':
      return status(rest);
    case 'put':
      return put(rest);
    case 'get':
      return get(rest);
    case 'bench':
      return bench(rest);
    case 'repair':
      return repair(rest);
    case 'decommission':
      return decommission(rest);
    case 'chaos':
      return chaos(rest);
    case 'chaos-verify':
      return chaosVerify(rest);
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`ringblock: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

const common = {
  'data-dir': { type: 'string', default: '.ringblock' },
  url: { type: 'string' },
  consistency: { type: 'string', default: 'quorum' },
} as const;

async function up(argv: string[]): Promise<number | undefined> {
  const { values } = parseArgs({
    args: argv,
    options: { ...common, nodes: { type: 'string', default: '3' }, 'base-port': { type: 'string', default: '3000' }, backing: { type: 'string', default: 'file' }, detach: { type: 'boolean', default: false }, 'device-size': { type: 'string', default: '256M' } },
  });
  const nodes = Number(values.nodes);
  const basePort = Number(values['base-port']);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 64) throw new Error(`--nodes must be 1..64, got "${values.nodes}"`);
  if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65535 - nodes) throw new Error(`--base-port must be a port, got "${values['base-port']}"`);
  if (values.backing !== 'file' && values.backing !== 'spdk-sim') throw new Error(`--backing must be "file" or "spdk-sim", got "${values.backing}"`);
  const cluster = await LocalCluster.start({ nodes, basePort, dataDir: values['data-dir'], detached: values.detach, deviceSize: values['device-size'], backing: values.backing });
  const manifest = cluster.manifest();
  process.stdout.write(describe(manifest, cluster.dataDir));
  if (values.detach) {
    process.stdout.write(`running in the background; stop it with: scripts/ringblock down --data-dir ${values['data-dir']}\n`);
    return 0;
  }
  process.stdout.write('press Ctrl-C to stop\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stdout.write('stopping…\n');
  await cluster.stop();
  return 0;
}

function describe(manifest: ClusterManifest, dataDir: string): string {
  const lines = [`ZooKeeper  ${manifest.zk.connect} (pid ${manifest.zk.pid})`];
  for (const service of manifest.services ?? []) {
    const where = service.env['RINGBLOCK_SPDK_SOCK'] ?? service.argv[service.argv.indexOf('--sock') + 1] ?? '';
    lines.push(`${service.name.padEnd(13)} ${service.url ? `${service.url}/metrics ` : ''}(pid ${service.pid}, SPDK socket ${where})`);
  }
  for (const node of manifest.nodes) lines.push(`${node.name.padEnd(10)} ${node.url} (pid ${node.pid}, data ${node.dataDir})`);
  lines.push(`cluster file ${dataDir}/cluster.json (token inside, for internal and admin routes)`);
  return `${lines.join('\n')}\n`;
}

async function down(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: common });
  const manifest = await readManifest(values['data-dir']);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const stop = async (pid: number, what: string) => {
    if (!pid || !alive(pid)) return;
    process.kill(pid, 'SIGTERM');
    for (let waited = 0; waited < 20_000 && alive(pid); waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    process.stdout.write(`stopped ${what} (pid ${pid})\n`);
  };
  await Promise.all(manifest.nodes.map((node) => stop(node.pid, node.name)));
  for (const service of [...(manifest.services ?? [])].reverse()) await stop(service.pid, service.name);
  await stop(manifest.zk.pid, 'ZooKeeper');
  for (const device of await releaseLoopDevices(values['data-dir'])) process.stdout.write(`detached ${device}\n`);
  return 0;
}

/** The node to talk to: --url, else the first node of the local cluster file. */
async function baseUrl(values: { url?: string | undefined; 'data-dir': string }): Promise<string> {
  if (values.url) return values.url.replace(/\/$/, '');
  const manifest = await readManifest(values['data-dir']);
  const node = manifest.nodes[0];
  if (!node) throw new Error('the cluster file lists no nodes');
  return node.url;
}

async function status(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...common, watch: { type: 'boolean', default: false } } });
  const url = await baseUrl(values);
  for (;;) {
    const response = await fetch(`${url}/cluster`, { signal: AbortSignal.timeout(5_000) });
    const text = renderStatus(await response.json());
    process.stdout.write(values.watch ? `\x1b[2J\x1b[H${text}` : text);
    if (!values.watch) return 0;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

async function put(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: common, allowPositionals: true });
  const [id, file] = positionals;
  if (!id || !file) throw new Error('usage: ringblock put ID FILE');
  const body = await readFile(file);
  const response = await fetch(`${await baseUrl(values)}/block/${encodeURIComponent(id)}?consistency=${values.consistency}`, { method: 'PUT', body, signal: AbortSignal.timeout(30_000) });
  process.stdout.write(`${response.status} ${await response.text()}\n`);
  return response.status === 201 ? 0 : 1;
}

async function get(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: common, allowPositionals: true });
  const [id, file] = positionals;
  if (!id) throw new Error('usage: ringblock get ID [FILE]');
  const response = await fetch(`${await baseUrl(values)}/block/${encodeURIComponent(id)}?consistency=${values.consistency}`, { signal: AbortSignal.timeout(30_000) });
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) {
    process.stderr.write(`${response.status} ${body.toString('utf8')}\n`);
    return 1;
  }
  if (file) {
    await writeFile(file, body);
    process.stdout.write(`wrote ${body.length} bytes to ${file} (ETag ${response.headers.get('etag')})\n`);
  } else {
    process.stdout.write(body);
  }
  return 0;
}

async function bench(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      duration: { type: 'string', default: '5s' },
      results: { type: 'string', default: 'bench/results' },
      'work-dir': { type: 'string', default: '.ringblock/bench' },
      megabytes: { type: 'string', default: '256' },
      'transfer-rate': { type: 'string', default: '1G' },
      'repair-rate': { type: 'string', default: '1G' },
      'engine-blocks': { type: 'string', default: '1000000' },
      readme: { type: 'string', default: 'README.md' },
      'cpu-prof': { type: 'boolean', default: false },
    },
  });
  const which = positionals[0] ?? 'all';
  const progress = (line: string) => process.stdout.write(`${line}\n`);
  const wholeNumber = (name: string, raw: string) => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number ≥ 1, got "${raw}"`);
    return value;
  };
  const megabytes = wholeNumber('megabytes', values.megabytes);
  const durationMs = parseDuration(values.duration);
  if (durationMs === undefined || durationMs < 500) throw new Error(`--duration must be at least 500ms, got "${values.duration}"`);
  const common = { resultsDir: values.results, workDir: values['work-dir'] };
  switch (which) {
    case 'all':
      await runAllBenchmarks({
        ...common, durationMs, megabytes, transferRate: values['transfer-rate'], repairRate: values['repair-rate'],
        engineBlocks: wholeNumber('engine-blocks', values['engine-blocks']), readme: values.readme === '' ? undefined : values.readme,
      }, progress);
      break;
    case 'cluster':
      await runClusterBench({ ...common, durationMs }, progress);
      break;
    case 'profile':
      await runProfileBench({ ...common, durationMs }, progress);
      break;
    case 'migration':
      await runMigrationBench({ ...common, megabytes, transferRate: values['transfer-rate'], cpuProfile: values['cpu-prof'] }, progress);
      break;
    case 'repair':
      await runRepairBench({ ...common, megabytes, repairRate: values['repair-rate'] }, progress);
      break;
    default:
      throw new Error(`unknown benchmark "${which}" (available: all, cluster, profile, migration, repair)`);
  }
  process.stdout.write(`results in ${values.results}/\n`);
  return 0;
}

/** Bound on waiting for a decommission (large nodes take long; the task goes on if this gives up). */
const DECOMMISSION_WAIT_MS = 6 * 3_600_000;

async function decommission(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { ...common, token: { type: 'string' } }, allowPositionals: true });
  const [name] = positionals;
  if (!name) throw new Error('usage: ringblock decommission NAME');
  const url = await baseUrl(values);
  const token = values.token ?? process.env.RINGBLOCK_TOKEN ?? (await readManifest(values['data-dir'])).token;
  const response = await fetch(`${url}/cluster/nodes/${encodeURIComponent(name)}/decommission`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
  const body = (await response.json()) as { task?: string; error?: string };
  if (response.status !== 202 || !body.task) throw new Error(`decommission of ${name} refused: ${response.status} ${body.error ?? ''}`);
  process.stdout.write(`decommissioning ${name} (task ${body.task})\n`);
  const deadline = Date.now() + DECOMMISSION_WAIT_MS;
  while (Date.now() < deadline) {
    const task = (await (await fetch(`${url}/tasks/${body.task}`, { signal: AbortSignal.timeout(10_000) })).json()) as { state: string; ringEpoch: number; migration: Parameters<typeof renderMigration>[0] };
    const lines = task.state === 'done' ? [`done: ${name} is out of the ring (epoch ${task.ringEpoch}); it can be stopped`] : renderMigration(task.migration ?? null);
    process.stdout.write(process.stdout.isTTY ? `\x1b[2K\r${lines.join(' | ')}` : `${lines.join('\n')}\n`);
    if (task.state === 'done') {
      process.stdout.write('\n');
      return 0;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  throw new Error(`gave up waiting for ${name}; the task ${body.task} goes on`);
}
