// docker/Dockerfile and docker/compose.yaml agree with the code: the files the build copies exist, the
// entry point is the compiled `ringblock node`, the port, data directory and environment are what the
// node's configuration reads, and the compose stack wires peers, ZooKeeper, a storage agent on
// spdk-sim, Prometheus, Grafana (with the dashboards of k8s/observability/dashboards) and Jaeger by
// names that exist. There is no Docker
// engine on these machines, so nothing here builds the image or starts the stack; the HEALTHCHECK
// command itself is run against a real node by observability-live.test.ts.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { parseConfig, type NodeConfig } from '@ringblock/node';
import { loadAgentConfig } from '@ringblock/spdk';
import { DASHBOARD_DIR, parseYamlSubset, promtoolCheckConfig, recordConfigReads, repoRoot } from './support/prometheus.js';

const run = promisify(execFile);
const ROOT = repoRoot();
const DOCKER_DIR = join(ROOT, 'docker');
const PEERS = ['peer-1', 'peer-2', 'peer-3'];

interface DockerInstruction {
  stage: number;
  keyword: string;
  args: string;
}

/** Instructions of a Dockerfile (continuation lines joined, comments dropped), with their stage. */
function dockerInstructions(text: string): DockerInstruction[] {
  const instructions: DockerInstruction[] = [];
  let stage = -1;
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) && pending === '') continue;
    pending += pending === '' ? line.trim() : ` ${line.trim()}`;
    if (pending.endsWith('\\')) {
      pending = pending.slice(0, -1).trimEnd();
      continue;
    }
    if (pending !== '') {
      const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(pending)!;
      if (keyword!.toUpperCase() === 'FROM') stage++;
      instructions.push({ stage, keyword: keyword!.toUpperCase(), args: args! });
    }
    pending = '';
  }
  return instructions;
}

function envOf(instructions: DockerInstruction[], stage: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const instruction of instructions.filter((candidate) => candidate.stage === stage && candidate.keyword === 'ENV')) {
    for (const [, key, value] of instruction.args.matchAll(/(\w+)=(\S+)/g)) env[key!] = value!;
  }
  return env;
}

/** Compose's `${NAME:-default}` interpolation, with nothing set in the environment. */
function interpolate(value: unknown): string {
  return String(value).replace(/\$\{(\w+):-([^}]*)\}/g, (_, _name: string, fallback: string) => fallback);
}

t.test('the Dockerfile builds the workspace and runs `ringblock node` as the node reads it', async (t) => {
  const text = await readFile(join(DOCKER_DIR, 'Dockerfile'), 'utf8');
  const instructions = dockerInstructions(text);
  const froms = instructions.filter((instruction) => instruction.keyword === 'FROM').map((instruction) => instruction.args);
  t.same(froms, ['node:20-slim AS build', 'node:20-slim'], 'two stages on node:20-slim: build, then a runtime without the toolchain');
  const final = froms.length - 1;

  const packageManager = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { packageManager: string }).packageManager;
  t.match(text, new RegExp(`npm install -g [^\\n]*${packageManager.replace('.', '\\.')}\\b`), `the build installs ${packageManager}, the workspace's package manager`);
  t.match(text, /pnpm fetch[\s\S]*pnpm install --offline --frozen-lockfile[\s\S]*pnpm exec tsc -b/, 'dependencies come from the lockfile, then the whole workspace is compiled');

  const ignored = (await readFile(join(DOCKER_DIR, 'Dockerfile.dockerignore'), 'utf8')).split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const ignoredRoot = new Set(ignored.filter((pattern) => !pattern.includes('*')));
  for (const copy of instructions.filter((instruction) => instruction.keyword === 'COPY' && !instruction.args.startsWith('--from'))) {
    const sources = copy.args.split(/\s+/).slice(0, -1);
    for (const source of sources) {
      t.ok(existsSync(join(ROOT, source)), `COPY ${source}: exists in the build context (the repository root)`);
      t.notOk(ignoredRoot.has(source.split('/')[0]!), `COPY ${source}: not excluded by Dockerfile.dockerignore`);
    }
  }
  t.ok(existsSync(join(ROOT, 'packages/tsconfig.base.json')), 'the packages\' shared tsconfig is inside the copied packages/');

  const entrypoint = JSON.parse(instructions.find((instruction) => instruction.stage === final && instruction.keyword === 'ENTRYPOINT')!.args) as string[];
  t.same(entrypoint, ['node', 'packages/cli/dist/src/main.js', 'node'], 'the entry point is `ringblock node`');
  const workdir = instructions.filter((instruction) => instruction.stage === final && instruction.keyword === 'WORKDIR').at(-1)!.args;
  const copiesPackages = instructions.some((instruction) => instruction.stage === final && instruction.keyword === 'COPY' && /\s\.\/packages$/.test(instruction.args));
  t.ok(copiesPackages, `the runtime stage copies the compiled packages to ${workdir}/packages`);
  const bin = (JSON.parse(await readFile(join(ROOT, 'packages/cli/package.json'), 'utf8')) as { bin: Record<string, string> }).bin.ringblock;
  t.equal(posix.join('packages/cli', bin!), entrypoint[1], 'the entry point is the cli package\'s `ringblock` bin, as tsc emits it');
  const usage = await run(process.execPath, [join(ROOT, entrypoint[1]!), 'help']).then((result) => result.stdout);
  t.match(usage, /^\s+node\s/m, '`node` is a ringblock command');

  const user = instructions.filter((instruction) => instruction.stage === final && instruction.keyword === 'USER').at(-1)?.args;
  t.ok(user && user !== 'root' && user !== '0', `the runtime runs as a non-root user (${user})`);

  const env = envOf(instructions, final);
  const { read, config, error } = recordConfigReads(parseConfig, { ...env, RINGBLOCK_TOKEN: 'a-cluster-token-for-the-test-0123456789' });
  t.notOk(error, `the node accepts the image's environment${error ? `: ${error.message}` : ''}`);
  for (const name of Object.keys(env).filter((key) => key.startsWith('RINGBLOCK_'))) t.ok(read.has(name), `the node reads ${name}`);
  const exposed = instructions.filter((instruction) => instruction.stage === final && instruction.keyword === 'EXPOSE').map((instruction) => Number(instruction.args));
  t.same(exposed, [config!.port], `EXPOSE is the node's port (${config!.port})`);
  const volume = instructions.find((instruction) => instruction.stage === final && instruction.keyword === 'VOLUME')?.args;
  t.equal(volume, config!.dataDir, 'the data directory is a volume');
  t.equal(posix.dirname(config!.device), config!.dataDir, 'the device file lives in the data volume');
  t.match(text, new RegExp(`chown node:node ${config!.dataDir}`), 'the non-root user owns the data directory');

  const healthcheck = instructions.find((instruction) => instruction.stage === final && instruction.keyword === 'HEALTHCHECK')!;
  t.ok(healthcheck, 'a HEALTHCHECK');
  t.match(healthcheck.args, /CMD \["node", "-e", ".*\/ready.*"\]$/, 'the health check asks /ready with Node.js (the slim image has no curl)');
});

t.test('the compose stack wires every service by names and paths that exist', async (t) => {
  const compose = parseYamlSubset(await readFile(join(DOCKER_DIR, 'compose.yaml'), 'utf8'), 'docker/compose.yaml')[0] as { services: Record<string, Record<string, any>>; volumes: Record<string, unknown> };
  const services = compose.services;
  t.same(Object.keys(services).sort(), ['grafana', 'jaeger', 'peer-1', 'peer-2', 'peer-3', 'prometheus', 'spdk-sim', 'storage-agent', 'zookeeper'], 'ZooKeeper, three peers, spdk-sim and a storage agent, Prometheus, Grafana and Jaeger');
  const imageEnv = envOf(dockerInstructions(await readFile(join(DOCKER_DIR, 'Dockerfile'), 'utf8')), 1);

  const builds = PEERS.filter((peer) => services[peer]!.build);
  t.equal(builds.length, 1, 'one peer builds the image, the others reuse it');
  const build = services[builds[0]!]!.build as { context: string; dockerfile: string };
  t.ok(existsSync(join(DOCKER_DIR, build.context, build.dockerfile)), `the build context (${build.context}) holds ${build.dockerfile}`);
  t.equal(join(DOCKER_DIR, build.context), ROOT.replace(/\/$/, ''), 'the build context is the repository root');

  const hostPorts = new Set<string>();
  const configs: NodeConfig[] = [];
  for (const peer of PEERS) {
    const service = services[peer]!;
    t.equal(service.image, services[builds[0]!]!.image, `${peer} runs the built image`);
    const env = Object.fromEntries(Object.entries(service.environment as Record<string, unknown>).map(([key, value]) => [key, interpolate(value)]));
    const { read, config, error } = recordConfigReads(parseConfig, { ...imageEnv, ...env });
    t.notOk(error, `${peer}: the node accepts its environment${error ? `: ${error.message}` : ''}`);
    if (!config) continue;
    configs.push(config);
    for (const name of Object.keys(env).filter((key) => key.startsWith('RINGBLOCK_'))) t.ok(read.has(name), `${peer}: the node reads ${name}`);
    t.equal(config.name, peer, `${peer}: the node name is the service name`);
    t.equal(config.advertiseAddr, `${peer}:${config.port}`, `${peer}: peers reach it by service name on its port`);
    const [zkHost, zkPort] = config.zk.split(':');
    t.ok(services[zkHost!], `${peer}: ZooKeeper (${config.zk}) is a service`);
    t.equal(zkPort, '2181', `${peer}: on ZooKeeper's client port`);
    t.ok(service.depends_on?.zookeeper, `${peer}: starts after ZooKeeper`);
    const [hostAddress, hostPort, containerPort] = String(service.ports[0]).split(':');
    t.equal(Number(containerPort), config.port, `${peer}: the published port is the node's port`);
    t.equal(hostAddress, '127.0.0.1', `${peer}: published on loopback only`);
    hostPorts.add(hostPort!);
    t.ok((service.volumes as string[]).some((volume) => volume.endsWith(`:${config.dataDir}`) && compose.volumes[volume.split(':')[0]!] !== undefined), `${peer}: its data directory (${config.dataDir}) is a named volume`);
    const otlp = new URL(env.OTEL_EXPORTER_OTLP_ENDPOINT!);
    t.ok(services[otlp.hostname], `${peer}: traces go to the ${otlp.hostname} service`);
  }
  t.equal(hostPorts.size, PEERS.length, 'each peer on its own host port');
  t.equal(new Set(configs.map((config) => config.token)).size, 1, 'every peer has the same cluster token');

  for (const [name, service] of Object.entries(services)) {
    for (const volume of (service.volumes ?? []) as string[]) {
      const source = volume.split(':')[0]!;
      if (source.startsWith('.')) t.ok(existsSync(join(DOCKER_DIR, source)), `${name}: mounts ${source}, which exists`);
      else t.ok(compose.volumes[source] !== undefined, `${name}: volume ${source} is declared`);
    }
    const dependencies = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
    for (const dependency of dependencies) t.ok(services[dependency], `${name}: depends on ${dependency}, a service`);
  }

  // Grafana: the same provisioning files and dashboards as Kubernetes.
  const grafanaMounts = new Map((services.grafana!.volumes as string[]).map((volume) => [volume.split(':')[1]!, volume.split(':')[0]!]));
  const providers = parseYamlSubset(await readFile(join(ROOT, 'k8s/observability/grafana/dashboards.yaml'), 'utf8'))[0] as { providers: { options: { path: string } }[] };
  const dashboardPath = providers.providers[0]!.options.path;
  t.equal(join(DOCKER_DIR, grafanaMounts.get(dashboardPath) ?? ''), join(ROOT, DASHBOARD_DIR), `Grafana reads the dashboards at ${dashboardPath} from ${DASHBOARD_DIR}, the one source of truth`);
  t.ok([...grafanaMounts.keys()].some((target) => target.startsWith('/etc/grafana/provisioning/dashboards/')), 'the dashboard provider is provisioned');
  const datasourceMount = [...grafanaMounts.entries()].find(([target]) => target.startsWith('/etc/grafana/provisioning/datasources/'));
  t.equal(datasourceMount?.[1], '../k8s/observability/grafana/datasources.yaml', 'the data sources are the Kubernetes ones');
  const datasources = parseYamlSubset(await readFile(join(ROOT, 'k8s/observability/grafana/datasources.yaml'), 'utf8'))[0] as { datasources: { type: string; url: string }[] };
  for (const source of datasources.datasources) t.ok(services[new URL(source.url).hostname], `the ${source.type} data source (${source.url}) is a compose service`);

  // Prometheus scrapes every peer at its node port.
  const prometheusMount = (services.prometheus!.volumes as string[]).find((volume) => volume.includes('/etc/prometheus/prometheus.yml'))!;
  const prometheusText = await readFile(join(DOCKER_DIR, prometheusMount.split(':')[0]!), 'utf8');
  const prometheusConfig = parseYamlSubset(prometheusText)[0] as { scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
  const targets = prometheusConfig.scrape_configs.find((job) => job.job_name === 'ringblock')!.static_configs.flatMap((group) => group.targets).sort();
  t.same(targets, configs.map((config) => `${config.name}:${config.port}`).sort(), 'Prometheus scrapes every peer at its node port');

  // The storage agent: on the image's ringblock, on spdk-sim's socket in a shared volume, scraped at its port.
  const usage = await run(process.execPath, [join(ROOT, 'packages/cli/dist/src/main.js'), 'help']).then((result) => result.stdout);
  for (const name of ['spdk-sim', 'storage-agent']) {
    const service = services[name]!;
    t.equal(service.image, services[builds[0]!]!.image, `${name} runs the built image`);
    t.same((service.entrypoint as string[]).slice(0, 2), ['node', 'packages/cli/dist/src/main.js'], `${name}: the image's ringblock`);
    t.match(usage, new RegExp(`^  ${(service.entrypoint as string[])[2]}\\b`, 'm'), `${name}: \`ringblock ${(service.entrypoint as string[])[2]}\` is a command`);
  }
  const simArgs = services['spdk-sim']!.command as string[];
  const agentEnv = Object.fromEntries(Object.entries(services['storage-agent']!.environment as Record<string, unknown>).map(([key, value]) => [key, interpolate(value)]));
  const agentRead = recordConfigReads(loadAgentConfig, agentEnv);
  t.notOk(agentRead.error, `storage-agent: the agent accepts its environment${agentRead.error ? `: ${agentRead.error.message}` : ''}`);
  for (const name of Object.keys(agentEnv).filter((key) => key.startsWith('RINGBLOCK_'))) t.ok(agentRead.read.has(name), `storage-agent: the agent reads ${name}`);
  if (agentRead.config) {
    const socket = agentRead.config.spdkSock;
    t.equal(simArgs[simArgs.indexOf('--sock') + 1], socket, `the agent talks to spdk-sim's socket (${socket})`);
    const volumeAt = (name: string) => (services[name]!.volumes as string[]).find((volume) => socket.startsWith(`${volume.split(':')[1]!}/`));
    t.ok(volumeAt('spdk-sim') && volumeAt('spdk-sim') === volumeAt('storage-agent'), 'through one volume both mount');
    t.ok(services['storage-agent']!.depends_on?.['spdk-sim']?.condition === 'service_healthy' && /accessSync\('([^']+)'\)/.exec(services['spdk-sim']!.healthcheck.test.at(-1))?.[1] === socket, 'the agent starts once the socket exists (spdk-sim is healthy then)');
    t.ok(services[agentRead.config.zk.split(':')[0]!], `storage-agent: ZooKeeper (${agentRead.config.zk}) is a service`);
    const agentTargets = prometheusConfig.scrape_configs.find((job) => job.job_name === 'storage-agent')?.static_configs.flatMap((group) => group.targets);
    t.same(agentTargets, [`storage-agent:${agentRead.config.port}`], 'Prometheus scrapes the agent at its RINGBLOCK_AGENT_PORT');
    t.match(services['storage-agent']!.healthcheck.test.at(-1), new RegExp(`127\\.0\\.0\\.1:${agentRead.config.port}/ready`), 'its health check asks /ready on that port');
  }
  const check = await promtoolCheckConfig(prometheusText);
  t.equal(check.code, 0, `promtool accepts docker/prometheus.yml: ${check.output.trim()}`);

  const composeCli = await run('docker', ['compose', 'version']).then(() => true, () => false);
  if (composeCli) {
    const rendered = await run('docker', ['compose', '-f', join(DOCKER_DIR, 'compose.yaml'), 'config', '--quiet']).then(() => '', (error: Error) => error.message);
    t.equal(rendered, '', 'docker compose accepts the file');
  } else {
    t.pass('docker compose is not installed', { skip: 'no `docker compose` plugin: the file is checked by the reads above only' });
  }
});
