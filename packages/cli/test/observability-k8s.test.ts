// The Kubernetes manifests (k8s/) agree with the code: every overlay renders with `kubectl kustomize`,
// every reference inside a rendering resolves (config maps, secrets, volumes, service selectors and
// ports, service accounts), the peers' environment is one the node's own configuration parser accepts
// and reads, the probe and scrape paths are routes the node serves, and Grafana gets exactly the
// dashboard files. Not done here: validation against the Kubernetes OpenAPI schemas (that needs a
// schema package, which the workspace does not have) and applying to a real cluster.
import t from 'tap';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { OPENAPI_DOCUMENT, parseConfig, parseDuration, parseSize } from '@ringblock/node';
import { loadAgentConfig } from '@ringblock/spdk';
import { findFreePort } from '@ringblock/coord';
import { FINAL_READS_BUDGET_MS, parseVerifyArgs } from '../src/chaos/verify.js';
import { DASHBOARD_DIR, parseYamlSubset, recordConfigReads, repoRoot } from './support/prometheus.js';

const run = promisify(execFile);
const ROOT = repoRoot();
const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const RENDERINGS = ['k8s/base', 'k8s/overlays/file', 'k8s/overlays/spdk', 'k8s/chaos'];
const NAMESPACE = 'ringblock';
/** The one Secret the manifests expect to exist beforehand (k8s/README.md says how to create it). */
const EXTERNAL_SECRETS = new Set(['ringblock-token']);
/** DESIGN §9 names these; the node's configuration does not read them until the SPDK backing lands. */
/** Bound on one kubectl call. */
const KUBECTL_TIMEOUT_MS = 60_000;
const KUBECTL_OUTPUT_BYTES_MAX = 64 * 1024 * 1024;

/** A rendered object, read field by field as the checks need. */
type Json = Record<string, any>;

async function kubectlAvailable(): Promise<boolean> {
  return run(KUBECTL, ['version', '--client'], { timeout: KUBECTL_TIMEOUT_MS }).then(() => true, () => false);
}

/** Objects of a YAML stream, as kubectl itself reads them (offline: `label --local -o json`). */
async function kubectlObjects(yaml: string): Promise<Json[]> {
  const child = execFile(KUBECTL, ['label', '--local', '-f', '-', 'ringblock.test/read=1', '-o', 'json'], { timeout: KUBECTL_TIMEOUT_MS, maxBuffer: KUBECTL_OUTPUT_BYTES_MAX, env: { ...process.env, KUBECONFIG: '/dev/null' } });
  const output = new Promise<string>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`kubectl label --local failed: ${stderr}`))));
  });
  child.stdin!.end(yaml);
  // A stream of pretty-printed objects, each closing with "}" alone on a line.
  const objects = (await output).split(/^\}$/m).filter((part) => part.trim() !== '').map((part) => JSON.parse(`${part}}`) as Json);
  for (const object of objects) {
    delete object.metadata.labels['ringblock.test/read'];
    if (Object.keys(object.metadata.labels).length === 0) delete object.metadata.labels;
  }
  return objects;
}

async function render(dir: string): Promise<Json[]> {
  const { stdout } = await run(KUBECTL, ['kustomize', join(ROOT, dir)], { timeout: KUBECTL_TIMEOUT_MS, maxBuffer: KUBECTL_OUTPUT_BYTES_MAX, env: { ...process.env, KUBECONFIG: '/dev/null' } });
  return kubectlObjects(stdout);
}

const WORKLOAD_KINDS = new Set(['StatefulSet', 'Deployment', 'DaemonSet', 'Job']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

function find(objects: Json[], kind: string, name: string): Json | undefined {
  return objects.find((object) => object.kind === kind && object.metadata.name === name);
}

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

/** Every reference inside one rendering resolves; returns the problems found, one line each. */
function referenceProblems(objects: Json[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const object of objects) {
    const id = `${object.kind}/${object.metadata.name}`;
    if (seen.has(id)) problems.push(`${id} appears twice`);
    seen.add(id);
    if (!CLUSTER_SCOPED.has(object.kind) && object.metadata.namespace !== NAMESPACE) problems.push(`${id} is in namespace "${object.metadata.namespace}", not ${NAMESPACE}`);
  }
  const workloads = objects.filter((object) => WORKLOAD_KINDS.has(object.kind));
  for (const workload of workloads) {
    const id = `${workload.kind}/${workload.metadata.name}`;
    const pod = workload.spec.template.spec;
    const podLabels = workload.spec.template.metadata?.labels;
    if (workload.spec.selector && !matches(workload.spec.selector.matchLabels, podLabels)) problems.push(`${id}: selector does not match its pod labels`);
    if (pod.serviceAccountName && !find(objects, 'ServiceAccount', pod.serviceAccountName)) problems.push(`${id}: no ServiceAccount ${pod.serviceAccountName}`);
    const volumes = new Set<string>([...(pod.volumes ?? []).map((volume: Json) => volume.name), ...(workload.spec.volumeClaimTemplates ?? []).map((claim: Json) => claim.metadata.name)]);
    for (const volume of pod.volumes ?? []) {
      if (volume.configMap && !find(objects, 'ConfigMap', volume.configMap.name)) problems.push(`${id}: volume ${volume.name} names a missing ConfigMap ${volume.configMap.name}`);
      if (volume.secret && !find(objects, 'Secret', volume.secret.secretName) && !EXTERNAL_SECRETS.has(volume.secret.secretName)) problems.push(`${id}: volume ${volume.name} names a missing Secret`);
    }
    if (workload.kind === 'StatefulSet') {
      const service = find(objects, 'Service', workload.spec.serviceName);
      if (!service || service.spec.clusterIP !== 'None') problems.push(`${id}: serviceName ${workload.spec.serviceName} is not a headless Service of the rendering`);
    }
    for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
      const where = `${id} container ${container.name}`;
      const ports = new Set<string>((container.ports ?? []).flatMap((port: Json) => [port.name, String(port.containerPort)]));
      for (const mount of container.volumeMounts ?? []) if (!volumes.has(mount.name)) problems.push(`${where}: mounts unknown volume ${mount.name}`);
      for (const source of container.envFrom ?? []) {
        if (source.configMapRef && !find(objects, 'ConfigMap', source.configMapRef.name)) problems.push(`${where}: envFrom names a missing ConfigMap ${source.configMapRef.name}`);
      }
      const defined = new Set<string>();
      for (const variable of container.env ?? []) {
        const secret = variable.valueFrom?.secretKeyRef;
        if (secret && !find(objects, 'Secret', secret.name) && !EXTERNAL_SECRETS.has(secret.name)) problems.push(`${where}: ${variable.name} names a missing Secret ${secret.name}`);
        const configMap = variable.valueFrom?.configMapKeyRef;
        if (configMap && find(objects, 'ConfigMap', configMap.name)?.data?.[configMap.key] === undefined) problems.push(`${where}: ${variable.name} names a missing ConfigMap key`);
        for (const [, name] of String(variable.value ?? '').matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
          if (!defined.has(name!)) problems.push(`${where}: ${variable.name} uses $(${name}) before it is defined`);
        }
        defined.add(variable.name);
      }
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const port = container[probe]?.httpGet?.port ?? container[probe]?.tcpSocket?.port;
        if (port !== undefined && !ports.has(String(port))) problems.push(`${where}: ${probe} uses port ${port}, which the container does not declare`);
      }
    }
  }
  for (const service of objects.filter((object) => object.kind === 'Service')) {
    const backends = workloads.filter((workload) => matches(service.spec.selector ?? {}, workload.spec.template.metadata?.labels));
    if (backends.length === 0) {
      problems.push(`Service/${service.metadata.name}: its selector matches no pod template`);
      continue;
    }
    for (const port of service.spec.ports) {
      const declared = backends.some((workload) => workload.spec.template.spec.containers.some((container: Json) => (container.ports ?? []).some((candidate: Json) => candidate.name === port.targetPort || candidate.containerPort === port.targetPort)));
      if (!declared) problems.push(`Service/${service.metadata.name}: targetPort ${port.targetPort} is no container port of its pods`);
    }
  }
  for (const budget of objects.filter((object) => object.kind === 'PodDisruptionBudget')) {
    if (!workloads.some((workload) => matches(budget.spec.selector.matchLabels, workload.spec.template.metadata?.labels))) problems.push(`PodDisruptionBudget/${budget.metadata.name}: selects no pods`);
  }
  for (const binding of objects.filter((object) => object.kind === 'RoleBinding')) {
    if (!find(objects, binding.roleRef.kind, binding.roleRef.name)) problems.push(`RoleBinding/${binding.metadata.name}: no ${binding.roleRef.kind} ${binding.roleRef.name}`);
    for (const subject of binding.subjects) if (subject.kind === 'ServiceAccount' && !find(objects, 'ServiceAccount', subject.name)) problems.push(`RoleBinding/${binding.metadata.name}: no ServiceAccount ${subject.name}`);
  }
  return problems;
}

/** The blockstore container's environment as the kubelet would build it for pod `podName`. */
function peerEnvironment(objects: Json[], container: Json, podName: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) Object.assign(env, find(objects, 'ConfigMap', source.configMapRef.name)?.data);
  const fields: Record<string, string> = { 'metadata.name': podName, 'metadata.namespace': NAMESPACE, 'spec.nodeName': 'host-1', 'status.hostIP': '10.0.0.1' };
  for (const variable of container.env ?? []) {
    if (variable.valueFrom?.fieldRef) env[variable.name] = fields[variable.valueFrom.fieldRef.fieldPath]!;
    else if (variable.valueFrom?.secretKeyRef) env[variable.name] = 'a-cluster-token-for-the-test-0123456789';
    else env[variable.name] = String(variable.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_, name: string) => env[name] ?? `$(${name})`);
  }
  return env;
}

t.test('the YAML subset reader reads every Kubernetes object file as kubectl does', async (t) => {
  if (!(await kubectlAvailable())) return void t.pass('kubectl is not installed', { skip: `no ${KUBECTL}: cannot compare with kubectl's reading` });
  const files = (await listFiles(join(ROOT, 'k8s'))).filter((file) => /\.ya?ml$/.test(file));
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    const documents = parseYamlSubset(text, file) as Json[];
    if (!documents.every((document) => document.apiVersion && document.kind && document.metadata)) continue;
    t.same(documents, await kubectlObjects(text), `${file.slice(ROOT.length + 1)}: the same objects`);
  }
});

t.test('every kustomization renders and every reference in it resolves', async (t) => {
  if (!(await kubectlAvailable())) return void t.pass('kubectl is not installed', { skip: `no ${KUBECTL} (its built-in kustomize renders the overlays): rendering not checked` });
  for (const dir of RENDERINGS) {
    const objects = await render(dir);
    t.ok(objects.length > 0, `${dir} renders ${objects.length} objects`);
    t.same(referenceProblems(objects), [], `${dir}: every reference resolves`);
  }
});

t.test('the peers run with a configuration the node accepts, on the ports and paths it serves', async (t) => {
  if (!(await kubectlAvailable())) return void t.pass('kubectl is not installed', { skip: `no ${KUBECTL}: overlays not rendered` });
  const drainMs = Number(/const DRAIN_MS = ([\d_]+);/.exec(await readFile(join(ROOT, 'packages/node/src/node.ts'), 'utf8'))?.[1]?.replace(/_/g, ''));
  t.ok(drainMs > 0, `the node drains in-flight requests for ${drainMs} ms on SIGTERM`);
  for (const dir of ['k8s/overlays/file', 'k8s/overlays/spdk']) {
    const objects = await render(dir);
    const set = find(objects, 'StatefulSet', 'blockstore')!;
    t.ok(set, `${dir}: a blockstore StatefulSet`);
    const pod = set.spec.template.spec;
    const container = pod.containers.find((candidate: Json) => candidate.name === 'blockstore');
    const env = peerEnvironment(objects, container, 'blockstore-1');
    const { read, config, error } = recordConfigReads(parseConfig, env);
    t.notOk(error, `${dir}: the node's configuration parser accepts the peer's environment${error ? `: ${error.message}` : ''}`);
    if (!config) continue;
    t.equal(config.name, 'blockstore-1', `${dir}: the node name is the pod name`);
    t.equal(config.advertiseAddr, `blockstore-1.${set.spec.serviceName}.${NAMESPACE}.svc:${config.port}`, `${dir}: peers reach it through the headless service on its port`);
    for (const variable of Object.keys(env).filter((name) => name.startsWith('RINGBLOCK_'))) {
      t.ok(read.has(variable), `${dir}: the node reads ${variable}`);
    }
    const http = container.ports.find((port: Json) => port.name === 'http');
    t.equal(http.containerPort, config.port, `${dir}: the container port is RINGBLOCK_PORT`);
    t.equal(container.readinessProbe.httpGet.path, '/ready', `${dir}: readiness is /ready`);
    t.equal(container.livenessProbe.httpGet.path, '/live', `${dir}: liveness is /live`);
    const annotations = set.spec.template.metadata.annotations;
    t.equal(Number(annotations['prometheus.io/port']), config.port, `${dir}: Prometheus scrapes the node's port`);
    for (const path of [container.readinessProbe.httpGet.path, container.livenessProbe.httpGet.path, container.startupProbe.httpGet.path, annotations['prometheus.io/path']]) {
      t.ok(OPENAPI_DOCUMENT.paths[path as keyof typeof OPENAPI_DOCUMENT.paths], `${dir}: the node serves ${path}`);
    }
    const preStopSeconds = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
    t.ok(pod.terminationGracePeriodSeconds * 1000 >= preStopSeconds * 1000 + drainMs + 10_000, `${dir}: the grace period (${pod.terminationGracePeriodSeconds} s) covers preStop (${preStopSeconds} s), the drain and 10 s to deregister and close`);
    t.notOk(container.command ?? container.args, `${dir}: the peer uses the image's entry point (ringblock node)`);
    t.ok(container.resources.requests.memory && container.resources.limits.memory, `${dir}: memory requests and limits are set`);
    t.ok(env.OTEL_EXPORTER_OTLP_ENDPOINT?.startsWith('http://jaeger:'), `${dir}: traces go to the jaeger service`);
    t.ok(find(objects, 'Service', 'jaeger')?.spec.ports.some((port: Json) => port.port === Number(new URL(env.OTEL_EXPORTER_OTLP_ENDPOINT!).port)), `${dir}: the jaeger service listens on the OTLP port`);

    // ZooKeeper: every host of the connect string is a member of the ensemble's headless service.
    const zookeeper = find(objects, 'StatefulSet', 'zookeeper')!;
    for (const member of config.zk.split(',')) {
      const [host, port] = member.split(':');
      const match = /^zookeeper-(\d+)\.([a-z0-9-]+)$/.exec(host!);
      t.ok(match && Number(match[1]) < zookeeper.spec.replicas && match[2] === zookeeper.spec.serviceName, `${dir}: ZooKeeper member ${host} exists`);
      t.ok(zookeeper.spec.template.spec.containers[0].ports.some((candidate: Json) => candidate.containerPort === Number(port)), `${dir}: ZooKeeper listens on ${port}`);
    }
    t.ok(find(objects, 'PodDisruptionBudget', 'blockstore')?.spec.maxUnavailable === 1, `${dir}: at most one peer is evicted at a time`);

    if (dir.endsWith('/file')) {
      const claim = set.spec.volumeClaimTemplates?.find((candidate: Json) => candidate.metadata.name === 'data');
      const mount = container.volumeMounts.find((candidate: Json) => candidate.name === 'data');
      t.equal(config.backing, 'file', `${dir}: file backing`);
      t.equal(posix.dirname(config.device), mount?.mountPath, `${dir}: the device file is on the claimed volume`);
      t.ok(parseSize(claim.spec.resources.requests.storage)! > config.deviceSizeBytes, `${dir}: the claim is larger than the device`);
    } else {
      t.equal(config.backing, 'spdk', `${dir}: spdk backing`);
      t.notOk(set.spec.volumeClaimTemplates, `${dir}: no PersistentVolumeClaim: the device is an NVMe-oF namespace`);
      t.ok(container.securityContext.privileged, `${dir}: the peer may run the NVMe-oF initiator`);
      t.equal(find(objects, 'Namespace', NAMESPACE)?.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged', `${dir}: the namespace admits privileged pods`);
      const agent = find(objects, 'DaemonSet', 'storage-agent')!;
      const tgt = agent.spec.template.spec.containers.find((candidate: Json) => candidate.name === 'spdk-tgt');
      t.ok(tgt.resources.limits['hugepages-2Mi'], `${dir}: spdk_tgt gets hugepages`);
      const agentContainer = agent.spec.template.spec.containers.find((candidate: Json) => candidate.name === 'storage-agent');
      const usage = await run(process.execPath, [join(ROOT, 'packages/cli/dist/src/main.js'), 'help']).then((result) => result.stdout, () => '');
      t.ok(usage.includes(`  ${agentContainer.command.at(-1)} `) || usage.includes(`  ${agentContainer.command.at(-1)}\n`), `${dir}: \`ringblock ${agentContainer.command.at(-1)}\` is a command`);
      t.equal(agentContainer.command.slice(0, 2).join(' '), 'node packages/cli/dist/src/main.js', `${dir}: the agent runs the image's ringblock`);
      // The agent's environment: accepted by its parser, every variable read, probes on its port.
      const agentEnv = peerEnvironment(objects, agentContainer, 'storage-agent-x');
      const agentRead = recordConfigReads(loadAgentConfig, agentEnv);
      t.notOk(agentRead.error, `${dir}: the agent's configuration parser accepts its environment${agentRead.error ? `: ${agentRead.error.message}` : ''}`);
      for (const variable of Object.keys(agentEnv).filter((name) => name.startsWith('RINGBLOCK_'))) t.ok(agentRead.read.has(variable), `${dir}: the agent reads ${variable}`);
      if (agentRead.config) {
        t.match(agentRead.config, { host: 'host-1', nvmfAddr: '10.0.0.1', transport: 'RDMA', spdkSock: tgt.command[tgt.command.indexOf('--rpc-socket') + 1] }, `${dir}: one agent per host, listening on the host's address, on spdk_tgt's socket`);
        const agentPort = agentContainer.ports.find((port: Json) => port.name === agentContainer.readinessProbe.httpGet.port);
        t.equal(agentPort?.containerPort, agentRead.config.port, `${dir}: the agent's probes use its RINGBLOCK_AGENT_PORT`);
        t.equal(Number(agent.spec.template.metadata.annotations['prometheus.io/port']), agentRead.config.port, `${dir}: Prometheus scrapes the agent's port`);
        t.same([agentContainer.livenessProbe.httpGet.path, agentContainer.readinessProbe.httpGet.path], ['/live', '/ready'], `${dir}: agent liveness /live, readiness /ready`);
      }
      t.notOk(agentEnv.RINGBLOCK_TOKEN, `${dir}: the agent is not given the cluster token (it needs none)`);
    }
    const downGraceMs = parseDuration(env.RINGBLOCK_DOWN_GRACE ?? '60s')!;
    t.ok(downGraceMs >= 30_000, `${dir}: a restarted pod comes back within the down grace (${env.RINGBLOCK_DOWN_GRACE}), so it moves no data`);
  }
});

t.test('Grafana is provisioned with exactly the dashboard files and the Prometheus service', async (t) => {
  if (!(await kubectlAvailable())) return void t.pass('kubectl is not installed', { skip: `no ${KUBECTL}: overlays not rendered` });
  const files = (await readdir(join(ROOT, DASHBOARD_DIR))).filter((name) => name.endsWith('.json')).sort();
  const objects = await render('k8s/overlays/file');
  const grafana = find(objects, 'Deployment', 'grafana')!;
  const pod = grafana.spec.template.spec;
  const mountOf = (name: string) => pod.containers[0].volumeMounts.find((mount: Json) => mount.name === name)?.mountPath as string;
  const configMapOf = (name: string) => find(objects, 'ConfigMap', pod.volumes.find((volume: Json) => volume.name === name).configMap.name)!;
  const dashboards = configMapOf('dashboards');
  t.same(Object.keys(dashboards.data).sort(), files, 'the dashboards ConfigMap holds every file of the dashboard directory');
  for (const file of files) t.equal(dashboards.data[file], await readFile(join(ROOT, DASHBOARD_DIR, file), 'utf8'), `${file} is provisioned as it is in the repository`);
  const providers = parseYamlSubset(configMapOf('dashboard-providers').data['dashboards.yaml'])[0] as Json;
  t.equal(providers.providers[0].options.path, mountOf('dashboards'), 'the dashboard provider reads where the dashboards are mounted');
  t.equal(mountOf('dashboard-providers'), '/etc/grafana/provisioning/dashboards', 'providers are in Grafana provisioning');
  const datasources = parseYamlSubset(configMapOf('datasources').data['datasources.yaml'])[0] as Json;
  const prometheus = datasources.datasources.find((source: Json) => source.type === 'prometheus');
  const url = new URL(prometheus.url);
  t.ok(find(objects, 'Service', url.hostname)?.spec.ports.some((port: Json) => port.port === Number(url.port)), `the Prometheus data source (${prometheus.url}) is a service of the rendering`);
  t.ok(prometheus.isDefault, 'Prometheus is the default data source (the dashboards pick it)');
  const prometheusConfig = find(objects, 'ConfigMap', find(objects, 'Deployment', 'prometheus')!.spec.template.spec.volumes.find((volume: Json) => volume.name === 'config').configMap.name)!;
  t.equal(prometheusConfig.data['prometheus.yml'], await readFile(join(ROOT, 'k8s/observability/prometheus/prometheus.yml'), 'utf8'), 'Prometheus runs k8s/observability/prometheus/prometheus.yml (the file the Prometheus test runs)');
});

t.test('the chaos pod killer kills one ready pod per interval, never while one is down', async (t) => {
  const script = join(ROOT, 'k8s/chaos/kill-pods.sh');
  t.ok(existsSync(script), 'k8s/chaos/kill-pods.sh exists');
  const dir = await mkdtemp(join(tmpdir(), 'ringblock-kill-pods-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // A stand-in kubectl: 3 replicas, readiness from a file, deletions logged.
  await writeFile(join(dir, 'kubectl'), `#!/usr/bin/env bash
case "$*" in
  *spec.replicas*) echo 3 ;;
  *readyReplicas*) cat "${dir}/ready" ;;
  "get pods"*) printf 'blockstore-0\\nblockstore-1\\nblockstore-2\\n' ;;
  "delete pod"*) echo "$*" >> "${dir}/deleted" ;;
  *) echo "unexpected kubectl $*" >&2; exit 1 ;;
esac
`);
  await chmod(join(dir, 'kubectl'), 0o755);
  const killer = (ready: number) =>
    writeFile(join(dir, 'ready'), String(ready)).then(() =>
      run('bash', [script], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, DURATION: '3', INTERVAL: '1', MODE: 'kill' }, timeout: 20_000 }),
    );
  const degraded = await killer(2);
  t.match(degraded.stdout, /skip: 2\/3 ready/, 'with a pod not ready it skips');
  t.notOk(existsSync(join(dir, 'deleted')), 'and kills nothing');
  const healthy = await killer(3);
  const deleted = (await readFile(join(dir, 'deleted'), 'utf8')).trim().split('\n');
  t.ok(deleted.length >= 1 && deleted.length <= 3, `with every pod ready it kills one per interval (${deleted.length} in 3 s)`);
  t.ok(deleted.every((line) => /^delete pod blockstore-[0-2] --wait=false --grace-period=0 --force$/.test(line)), 'a blockstore pod, without grace (MODE=kill)');
  t.match(healthy.stdout, /done: \d+ pods killed/, 'and stops after DURATION');
});

/** A container's arguments as the kubelet expands them: `$(VAR)` from the container's env. */
function expandedArgs(container: Json): string[] {
  const env = Object.fromEntries((container.env ?? []).map((variable: Json) => [variable.name, String(variable.value)]));
  return (container.args ?? []).map((arg: string) => arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole));
}

/** The two chaos Jobs of a rendering: the pod killer's environment and the verifier's parsed arguments. */
function chaosJobs(objects: Json[]): { killer: Json; killerEnv: Record<string, string>; verifier: Json; verify: ReturnType<typeof parseVerifyArgs>; container: Json } {
  const killer = find(objects, 'Job', 'chaos-pod-killer')!;
  const killerEnv = Object.fromEntries(killer.spec.template.spec.containers[0].env.map((variable: Json) => [variable.name, String(variable.value)]));
  const verifier = find(objects, 'Job', 'chaos-verifier')!;
  const container = verifier.spec.template.spec.containers[0];
  return { killer, killerEnv, verifier, verify: parseVerifyArgs(expandedArgs(container)), container };
}

t.test('the chaos verifier Job runs `ringblock chaos-verify` with arguments the cli accepts, outlasting the pod killer', async (t) => {
  if (!(await kubectlAvailable())) return void t.pass('kubectl is not installed', { skip: `no ${KUBECTL}: k8s/chaos not rendered` });
  const objects = await render('k8s/chaos');
  const { killer, killerEnv, verifier, verify, container } = chaosJobs(objects);
  t.same(container.command, ['node', 'packages/cli/dist/src/main.js', 'chaos-verify'], 'the image\'s ringblock, command chaos-verify');
  const usage = await run(process.execPath, [join(ROOT, 'packages/cli/dist/src/main.js'), 'help']).then((result) => result.stdout);
  t.match(usage, /^  chaos-verify --url/m, '`ringblock chaos-verify` is a command');
  t.notOk(find(objects, 'ConfigMap', 'chaos-scripts')?.data['verify.mjs'], 'no hand-rolled verifier script is shipped any more');
  t.notOk(expandedArgs(container).some((arg) => arg.includes('$(')), 'every $(VAR) of its arguments is in its env');
  const service = find(await render('k8s/base'), 'Service', 'blockstore');
  const url = new URL(verify.urls[0]!);
  t.equal(verify.urls.length, 1, 'one URL');
  t.ok(url.hostname === 'blockstore' && service?.spec.ports.some((port: Json) => port.port === Number(url.port)), `it writes through the blockstore Service (${verify.urls[0]})`);
  t.equal(verify.finalReadsVia, 'members', 'final reads through every member (their addresses from /cluster)');
  t.ok(verify.durationMs >= (Number(killerEnv.DURATION) + Number(killerEnv.INTERVAL)) * 1000, `the verifier writes (${verify.durationMs / 1000}s) for as long as the killer kills (${killerEnv.DURATION}s) and one interval more`);
  t.ok(verifier.spec.activeDeadlineSeconds * 1000 >= verify.durationMs + verify.settleTimeoutMs + FINAL_READS_BUDGET_MS, `its deadline (${verifier.spec.activeDeadlineSeconds}s) covers the writes, the settle wait and the final reads`);
  t.ok(killer.spec.activeDeadlineSeconds >= Number(killerEnv.DURATION) + Number(killerEnv.INTERVAL), 'the killer\'s deadline covers its duration');
  t.equal(verifier.spec.backoffLimit, 0, 'a failed verification is not retried over (the Job fails)');
  t.ok(container.securityContext.readOnlyRootFilesystem && !verify.historyFile, 'read-only root: the history stays in memory');
});

t.test('scripts/chaos-k8s: clear errors without kubectl or a cluster; renders the Jobs as asked', async (t) => {
  const script = join(ROOT, 'scripts/chaos-k8s');
  const chaosK8s = (args: string[], env: Record<string, string> = {}) =>
    run(script, args, { env: { ...process.env, ...env }, timeout: KUBECTL_TIMEOUT_MS }).then(
      (result) => ({ code: 0, stdout: result.stdout, stderr: result.stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '', stderr: error.stderr ?? '' }),
    );
  const noKubectl = await chaosK8s([], { KUBECTL: '/nonexistent/kubectl' });
  t.equal(noKubectl.code, 2, 'without kubectl: exit 2');
  t.match(noKubectl.stderr, /^chaos-k8s: kubectl is not installed/m, 'saying so');
  const badUsage = await chaosK8s(['--duration', 'soon']);
  t.equal(badUsage.code, 2, 'a bad --duration: exit 2');
  t.match(badUsage.stderr, /--duration must be whole seconds/);
  if (!(await kubectlAvailable())) return void t.pass('kubectl is not installed', { skip: `no ${KUBECTL}: cluster checks and rendering not run` });

  // kubectl pointed at a loopback port where nothing listens: no cluster. (A token, so that kubectl
  // does not ask for a user name on stdin.)
  const dir = await mkdtemp(join(tmpdir(), 'ringblock-chaos-k8s-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, `apiVersion: v1
kind: Config
clusters:
  - name: nowhere
    cluster:
      server: https://127.0.0.1:${await findFreePort()}
contexts:
  - name: nowhere
    context:
      cluster: nowhere
      user: nobody
users:
  - name: nobody
    user: {token: not-a-token}
current-context: nowhere
`);
  const noCluster = await chaosK8s(['--duration', '5', '--interval', '1'], { KUBECONFIG: kubeconfig });
  t.equal(noCluster.code, 2, 'with no cluster answering: exit 2');
  t.match(noCluster.stderr, /^chaos-k8s: no Kubernetes cluster answers kubectl \(context "nowhere"\)/m, 'saying so, with the context');
  t.notMatch(noCluster.stdout, /created|configured/, 'and nothing applied');

  const rendered = await chaosK8s(['--render', '--namespace', 'chaos-test', '--duration', '120', '--interval', '15', '--mode', 'graceful', '--image', 'registry.example:5000/ringblock:0.2.0'], { KUBECONFIG: kubeconfig });
  t.equal(rendered.code, 0, `--render renders without a cluster${rendered.stderr ? `: ${rendered.stderr}` : ''}`);
  const objects = await kubectlObjects(rendered.stdout);
  t.ok(objects.every((object) => object.metadata.namespace === 'chaos-test'), 'everything in the namespace asked for');
  const { killer, killerEnv, verify, container } = chaosJobs(objects);
  t.same(killerEnv, { DURATION: '120', INTERVAL: '15', MODE: 'graceful' }, 'the killer kills every 15 s for 120 s, gracefully');
  t.equal(verify.durationMs, 150_000, 'the verifier writes 30 s longer');
  t.equal(container.image, 'registry.example:5000/ringblock:0.2.0', 'from the image asked for');
  t.ok(killer.spec.activeDeadlineSeconds >= 120 + 15, 'the killer\'s deadline follows the duration');
  t.same(referenceProblems(objects).filter((problem) => !problem.includes('not ringblock')), [], 'every reference resolves');

  // The whole flow against a stand-in kubectl that answers as a cluster would: the verifier's log and
  // its container's exit code decide; the lost writes are printed; the Jobs are deleted at the end.
  const stub = join(dir, 'kubectl-stub');
  await writeFile(stub, `#!/usr/bin/env bash
echo "$*" >> "${dir}/calls"
case "$*" in
  *"logs -f job/chaos-pod-killer"*) printf '2026-01-01T00:00:00Z kill blockstore-1\\ndone: 1 pods killed\\n' ;;
  *"logs -f job/chaos-verifier"*) cat "${dir}/verifier.log" ;;
  *"get pods -l job-name=chaos-verifier"*) printf 'chaos-verifier-abcde' ;;
  *"get pod/chaos-verifier-abcde"*) cat "${dir}/exit-code" ;;
  *) ;;
esac
`);
  await chmod(stub, 0o755);
  const lostLog = [
    'verify: 8 clients over 48 keys (chaos-1-x-*) through http://blockstore:3000 for 150s',
    'violations: 1 (lost-write 1)',
    '  lost-write chaos-1-x-7: the final read returned absent, which an acknowledged write started after it answered should have replaced',
    '    #12 workload put quorum via blockstore:3000 [10..12 ms] → 201 version 0000000100000000-blockstore-0 write 5',
    '    #99 final get all via blockstore-2 [900..901 ms] → 404',
    'history: undefined',
  ].join('\n');
  const flow = async (log: string, exitCode: string) => {
    await writeFile(join(dir, 'verifier.log'), `${log}\n`);
    await writeFile(join(dir, 'exit-code'), exitCode);
    await rm(join(dir, 'calls'), { force: true });
    const result = await chaosK8s(['--duration', '120', '--interval', '15'], { KUBECTL: stub });
    return { ...result, calls: (await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n') };
  };
  const lost = await flow(lostLog, '1');
  t.equal(lost.code, 1, 'a verifier that found a lost write: exit 1');
  t.match(lost.stdout, /^\[chaos-pod-killer\] .* kill blockstore-1$/m, "the killer's log, prefixed");
  t.match(lost.stdout, /^\[chaos-verifier\] violations: 1/m, "the verifier's log, prefixed");
  t.match(lost.stdout, /^chaos-k8s: pod killer: done: 1 pods killed$/m, 'how many pods were killed');
  t.match(lost.stdout, /^chaos-k8s: lost writes[^\n]*\n  lost-write chaos-1-x-7: [^\n]*\n    #12 [^\n]*\n    #99 [^\n]*404$/m, 'each lost write with the operations that prove it');
  t.ok(lost.calls.some((call) => /^apply -k /.test(call)), 'the Jobs were applied');
  t.match(lost.calls.at(-1), /^delete -k .* --wait=false/, 'and deleted at the end');
  const clean = await flow('violations: 0', '0');
  t.equal(clean.code, 0, 'a verifier with no violation: exit 0');
  t.match(clean.stdout, /^chaos-k8s: nothing lost$/m, 'saying nothing was lost');
  const crashed = await flow('violations: 0', '137');
  t.equal(crashed.code, 1, 'a verifier container that did not exit 0 (killed, out of memory): exit 1');
});

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((entry) => (entry.isDirectory() ? listFiles(join(dir, entry.name)) : Promise.resolve([join(dir, entry.name)]))));
  return nested.flat().sort();
}
