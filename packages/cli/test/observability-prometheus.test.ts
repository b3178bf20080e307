// Every query of every Grafana dashboard panel, evaluated by a real Prometheus (Debian's package) that
// scrapes a real 3-node cluster under load: each must return series, and a failure names the panel.
// This is what keeps the dashboards honest (DESIGN §10: panels query only metrics the nodes export).
// The cluster runs on spdk-sim (`--backing spdk-sim`): its storage agent is scraped too, as the spdk
// overlay's DaemonSet pod, so the storage dashboard's queries meet real volume states and iostat.
// Prometheus runs the Kubernetes configuration itself (k8s/observability/prometheus/prometheus.yml),
// with pod discovery replaced by the labels it would attach, so its relabelling is exercised too.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SpdkApi, SpdkRpcClient, SpdkSimControl, type VolumeRecord } from '@ringblock/spdk';
import type { LocalCluster } from '../src/local-cluster.js';
import { startCluster, request } from './support/cluster.js';
import {
  kubernetesConfigForLocalPods,
  loadDashboards,
  promtoolCheckConfig,
  repoRoot,
  metricNames,
  parseYamlSubset,
  prometheusAvailable,
  PROMETHEUS_BINARY,
  queryPanels,
  scopeOf,
  startPrometheus,
  substituteVariables,
  type DiscoveredPod,
  type PrometheusServer,
  type Sample,
  type ScopeLabel,
} from './support/prometheus.js';

const NODE_COUNT = 3;
const SCRAPE_INTERVAL_SECONDS = 1;
/** Concurrent client loops of the load. */
const LOAD_WORKERS = 8;
/** Bounds of the load: it stops at whichever comes first (or when the test stops it). */
const LOAD_OPERATIONS_MAX = 50_000;
const LOAD_DURATION_MS_MAX = 60_000;
/** Keys the load writes (reused, so reads find them and the device stays small). */
const LOAD_KEYS = 200;
/** How long the load runs before the panels are read, so rate windows and quantiles see it. */
const LOAD_WARMUP_MS = 8_000;
/** Bound on waiting until every node has been scraped under load. */
const SCRAPED_TIMEOUT_MS = 20_000;
/** Bound on waiting until every panel query answers with series (rate windows must fill first). */
const PANELS_TIMEOUT_MS = 30_000;
const RETRY_MS = 1_000;
/** The local cluster's storage agent host (LocalCluster runs one, host "local"). */
const AGENT_HOST = 'local';
/**
 * spdk-sim sees no I/O (peers write the lvol files directly), so its iostat moves only through the
 * sim's own method sim_add_iostat: this often, each volume's lvol gets a few reads and writes.
 */
const IOSTAT_EVERY_MS = 500;
const IOSTAT_ROUNDS_MAX = 240;
/** What one round adds to each lvol: 8 reads and 4 writes of 4 KiB, 100 µs each (at 2 GHz ticks). */
const IOSTAT_ROUND = { bytes_read: 8 * 4096, num_read_ops: 8, read_latency_ticks: 8 * 200_000, bytes_written: 4 * 4096, num_write_ops: 4, write_latency_ticks: 4 * 200_000 };

interface PanelQuery {
  name: string;
  expr: string;
  metrics: string[];
  /** The label the dashboard is filtered by: `node` (peers) or `host` (storage agents). */
  scope: ScopeLabel;
}

/** What each scope label must show: every node, or every storage agent host. */
type Expected = Record<ScopeLabel, string[]> & { volumes: string[] };

interface Verdict {
  ok: boolean;
  why: string;
}

t.test('every dashboard panel query returns series from a real Prometheus scraping a cluster under load', async (t) => {
  if (!prometheusAvailable()) {
    t.fail(`Prometheus is not installed at ${PROMETHEUS_BINARY}: run scripts/setup (it installs Debian's prometheus package)`);
    return;
  }
  const dashboards = await loadDashboards();
  const queries: PanelQuery[] = dashboards.flatMap((dashboard) =>
    queryPanels(dashboard).flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        name: `${dashboard.file} › "${panel.title}" (panel ${panel.id}, query ${target.refId})`,
        expr: substituteVariables(target.expr),
        metrics: metricNames(target.expr),
        scope: scopeOf(dashboard) ?? 'node',
      })),
    ),
  );
  t.ok(queries.length > 0, `${queries.length} panel queries in ${dashboards.length} dashboards`);

  const starting = Date.now();
  const cluster = await startCluster(t, { nodes: NODE_COUNT, deviceSize: '64M', backing: 'spdk-sim' });
  t.comment(`3 peers on spdk-sim volumes, provisioned by a storage agent, ready after ${Date.now() - starting} ms`);
  const urls = cluster.nodes.map((node) => node.spec.url);
  const nodeNames = cluster.nodes.map((node) => node.spec.name).sort();
  const agentUrl = cluster.services.find((service) => service.spec.name === 'storage-agent')!.spec.url;
  const expected: Expected = { node: nodeNames, host: [AGENT_HOST], volumes: nodeNames };
  const config = await kubernetesConfig(urls, cluster.nodes.map((node) => node.spec.name), agentUrl);
  const check = await promtoolCheckConfig(config);
  t.equal(check.code, 0, `promtool accepts the Kubernetes configuration (discovery swapped for static groups): ${check.output.trim()}`);
  const prometheus = await startPrometheus(t, { config });

  const load = startLoad(urls);
  t.teardown(() => load.stop());
  const iostat = await startIostat(cluster);
  t.teardown(() => iostat.stop());
  const scraping = Date.now();
  await waitScraped(prometheus, nodeNames);
  t.comment(`every node and the storage agent scraped under load after ${Date.now() - scraping} ms`);
  await new Promise((resolve) => setTimeout(resolve, LOAD_WARMUP_MS));

  const evaluating = Date.now();
  const verdicts = await evaluateUntilAllPass(prometheus, queries, expected);
  t.comment(`panel queries evaluated in ${Date.now() - evaluating} ms`);
  const rounds = await iostat.stop();
  t.ok(rounds > 0, `spdk-sim's iostat moved (${rounds} rounds of sim_add_iostat on each lvol)`);
  const done = await load.stop();
  t.comment(`load: ${done.operations} requests (${done.unexpected} unexpected answers) while Prometheus scraped every ${SCRAPE_INTERVAL_SECONDS}s`);
  t.equal(done.unexpected, 0, 'the load got only the answers it expected (201, 200, 204, 404, 400)');

  for (const query of queries) {
    const verdict = verdicts.get(query.name)!;
    t.ok(verdict.ok, `${query.name}: ${verdict.why}`, verdict.ok ? {} : { expr: query.expr });
  }

  // Each metric a panel reads is exported by every node (peers' dashboards) or every storage agent
  // (the storage dashboard), not just present in some answer.
  const used = new Map(queries.flatMap((query) => query.metrics.map((metric) => [metric, query.scope] as const)));
  for (const [metric, scope] of [...used].sort()) {
    const exporters = (await prometheus.labelValues(scope, metric)).sort();
    t.same(exporters, expected[scope], `${metric} is exported by every ${scope === 'node' ? 'node' : 'storage agent'}`);
  }

  // The dashboards' scope variable: label_values(ringblock_ring_epoch, node) or label_values(ringblock_spdk_up, host).
  for (const dashboard of dashboards) {
    const scope = scopeOf(dashboard) ?? 'node';
    const definition = dashboard.templating.list.find((candidate) => candidate.name === scope)?.definition ?? '';
    const match = /^label_values\((\w+), (\w+)\)$/.exec(definition);
    t.ok(match, `${dashboard.file}: the ${scope} variable is label_values(metric, label), got "${definition}"`);
    if (match) t.same((await prometheus.labelValues(match[2]!, match[1]!)).sort(), expected[scope], `${dashboard.file}: the ${scope} variable lists every ${scope}`);
    const volume = dashboard.templating.list.find((candidate) => candidate.name === 'volume');
    if (!volume) continue;
    const volumeMatch = /^label_values\((\w+\{[^}]*\}), volume\)$/.exec(volume.definition ?? '');
    t.ok(volumeMatch, `${dashboard.file}: the volume variable is label_values(selector, volume), got "${volume.definition}"`);
    if (volumeMatch) t.same((await prometheus.labelValues('volume', substituteVariables(volumeMatch[1]!))).sort(), expected.volumes, `${dashboard.file}: the volume variable lists every peer's volume`);
  }

  // The relabelling rules: annotated pods scraped at their annotated port and path, labelled `pod`;
  // the pods without the annotation (or with scrape "false") are not.
  const pods = (await prometheus.query('count by (pod) (ringblock_ring_epoch)')).map((sample) => sample.metric.pod).sort();
  t.same(pods, nodeNames.map((name) => `blockstore-${name}`).sort(), 'only the annotated pods are scraped, each labelled with its pod name');
  const agentPods = (await prometheus.query('count by (pod, app) (ringblock_spdk_up)')).map((sample) => `${sample.metric.pod} ${sample.metric.app}`);
  t.same(agentPods, [`storage-agent-${AGENT_HOST} storage-agent`], "the spdk overlay's storage agent pod is scraped through its annotations, labelled with pod and app");

  const requestRate = await prometheus.query('sum(rate(ringblock_requests_total{op="put"}[10s]))');
  t.ok(Number(requestRate[0]?.value[1]) > 0, 'the request rate panel sees the load (PUTs per second > 0)');
  const volumeReads = await prometheus.query('sum by (volume) (rate(ringblock_spdk_bdev_read_ops{volume!=""}[10s]))');
  t.same(volumeReads.filter((sample) => Number(sample.value[1]) > 0).map((sample) => sample.metric.volume).sort(), expected.volumes, 'the volume I/O panels see reads on every volume');
  const attached = await prometheus.query('sum(ringblock_volume_state{state="attached"})');
  t.equal(Number(attached[0]?.value[1]), NODE_COUNT, 'the FSM panels see every volume attached');
  await reportResourceUse(t, prometheus, done.operations);
});

/**
 * k8s/observability/prometheus/prometheus.yml, discovering each local node as an annotated pod, the
 * storage agent as a pod of the spdk overlay's DaemonSet (its annotations and labels as written there,
 * the port the local agent listens on), plus two pods that must be ignored.
 */
async function kubernetesConfig(urls: string[], names: string[], agentUrl: string): Promise<string> {
  const text = await readFile(join(repoRoot(), 'k8s/observability/prometheus/prometheus.yml'), 'utf8');
  const labels = { 'app.kubernetes.io/name': 'blockstore' };
  const annotated = urls.map((url, index) => ({
    name: `blockstore-${names[index]!}`,
    ip: '127.0.0.1',
    // Discovery reports some container port; the prometheus.io/port annotation must win.
    address: '127.0.0.1:1',
    annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': new URL(url).port, 'prometheus.io/path': '/metrics' },
    labels,
  }));
  const ignored: DiscoveredPod[] = [
    { name: 'not-annotated', ip: '127.0.0.1', address: new URL(urls[0]!).host, annotations: {}, labels },
    { name: 'scrape-false', ip: '127.0.0.1', address: new URL(urls[0]!).host, annotations: { 'prometheus.io/scrape': 'false', 'prometheus.io/port': new URL(urls[0]!).port }, labels },
  ];
  const daemonSets = parseYamlSubset(await readFile(join(repoRoot(), 'k8s/overlays/spdk/storage-agent.yaml'), 'utf8')) as { kind: string; spec: { template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> } } } }[];
  const template = daemonSets.find((object) => object.kind === 'DaemonSet')!.spec.template.metadata;
  const agent: DiscoveredPod = {
    name: `storage-agent-${AGENT_HOST}`,
    ip: '127.0.0.1',
    // spdk_tgt's container declares no port: discovery reports the bare pod address.
    address: '127.0.0.1',
    annotations: { ...template.annotations, 'prometheus.io/port': new URL(agentUrl).port },
    labels: template.labels,
  };
  return kubernetesConfigForLocalPods(text, [...annotated, agent, ...ignored], SCRAPE_INTERVAL_SECONDS);
}

/** Evaluates every query, re-trying the failing ones until all pass or the bound is reached. */
async function evaluateUntilAllPass(prometheus: PrometheusServer, queries: PanelQuery[], expected: Expected): Promise<Map<string, Verdict>> {
  const verdicts = new Map<string, Verdict>();
  const deadline = Date.now() + PANELS_TIMEOUT_MS;
  let pending = queries;
  for (;;) {
    for (const query of pending) verdicts.set(query.name, await evaluate(prometheus, query, expected));
    pending = pending.filter((query) => !verdicts.get(query.name)!.ok);
    if (pending.length === 0 || Date.now() > deadline) return verdicts;
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

async function evaluate(prometheus: PrometheusServer, query: PanelQuery, expected: Expected): Promise<Verdict> {
  const unresolved = /\$\{?\w+/.exec(query.expr);
  if (unresolved) return { ok: false, why: `uses the Grafana variable ${unresolved[0]}, which the test does not know how to substitute` };
  let result: Sample[];
  try {
    result = await prometheus.query(query.expr);
  } catch (error) {
    return { ok: false, why: `Prometheus rejected it: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (result.length === 0) return { ok: false, why: `returned no series (reads ${query.metrics.join(', ')})` };
  // A per-node (per-volume) panel must show every node (volume), not just the first one scraped.
  for (const [label, names] of [['node', expected.node], ['volume', expected.volumes]] as const) {
    const seen = new Set(result.map((sample) => sample.metric[label]).filter((value) => value !== undefined && value !== ''));
    const missing = seen.size === 0 ? [] : names.filter((name) => !seen.has(name));
    if (missing.length > 0) return { ok: false, why: `has no series for ${label} ${missing.join(', ')}` };
  }
  return { ok: true, why: `${result.length} series` };
}

/** Until every node was scraped with PUTs counted, and the storage agent with SPDK up. */
async function waitScraped(prometheus: PrometheusServer, nodeNames: string[]): Promise<void> {
  const deadline = Date.now() + SCRAPED_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    const targets = (await prometheus.targets()).filter((target) => target.scrapePool === 'kubernetes-pods');
    const puts = await prometheus.query('sum by (node) (ringblock_requests_total{op="put"})');
    const nodes = puts.map((sample) => sample.metric.node).sort();
    const spdkUp = (await prometheus.query('ringblock_spdk_up == 1')).length;
    if (targets.length === nodeNames.length + 1 && targets.every((target) => target.health === 'up') && nodes.join() === nodeNames.join() && spdkUp === 1) return;
    last = `targets ${targets.map((target) => `${target.scrapeUrl}=${target.health}${target.lastError ? ` (${target.lastError})` : ''}`).join(', ')}; PUTs counted on ${nodes.join(', ') || 'no node'}; agents with SPDK up: ${spdkUp}`;
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS / 2));
  }
  throw new Error(`Prometheus did not scrape every node under load within ${SCRAPED_TIMEOUT_MS} ms: ${last}`);
}

/**
 * A bounded client load through every node: PUT, GET, HEAD and DELETE of a reused key space, plus the
 * client errors a dashboard shows (a GET of a block never written: 404; a short body: 400).
 */
function startLoad(urls: string[]): { stop(): Promise<{ operations: number; unexpected: number }> } {
  let running = true;
  let operations = 0;
  let unexpected = 0;
  const started = Date.now();
  const expect = async (reply: Promise<{ status: number }>, statuses: number[]) => {
    operations++;
    const status = await reply.then((answer) => answer.status, () => 0);
    if (!statuses.includes(status)) unexpected++;
  };
  const worker = async (index: number) => {
    for (let turn = 0; running && operations < LOAD_OPERATIONS_MAX && Date.now() - started < LOAD_DURATION_MS_MAX; turn++) {
      const url = urls[(index + turn) % urls.length]!;
      const key = `${url}/block/load-${(index * 7919 + turn) % LOAD_KEYS}`;
      await expect(request(key, { method: 'PUT', body: randomBytes(4096) }), [201]);
      await expect(request(key), [200, 404]);
      await expect(request(key, { method: 'HEAD' }), [200, 404]);
      if (turn % 5 === 0) {
        await expect(request(key, { method: 'DELETE' }), [204]);
        await expect(request(`${url}/block/never-written-${index}-${turn}`), [404]);
        await expect(request(`${url}/block/short-${index}`, { method: 'PUT', body: randomBytes(100) }), [400]);
      }
    }
  };
  const loop = Promise.all(Array.from({ length: LOAD_WORKERS }, (_, index) => worker(index)));
  let stopped: Promise<{ operations: number; unexpected: number }> | undefined;
  return {
    stop() {
      running = false;
      stopped ??= loop.then(() => ({ operations, unexpected }));
      return stopped;
    },
  };
}

/**
 * Makes each volume's lvol show I/O in spdk-sim's iostat (see IOSTAT_ROUND), every IOSTAT_EVERY_MS
 * until stopped or IOSTAT_ROUNDS_MAX rounds; `stop` resolves with the rounds done.
 */
async function startIostat(cluster: LocalCluster): Promise<{ stop(): Promise<number> }> {
  const rpc = new SpdkRpcClient({ socketPath: cluster.spdkSock, callTimeoutMs: 5_000 });
  const api = new SpdkApi(rpc);
  const control = new SpdkSimControl(rpc);
  const { volumes } = (await request(`${cluster.nodes[0]!.spec.url}/volumes`)).json<{ volumes: VolumeRecord[] }>();
  const bdevs = await Promise.all(volumes.map(async (volume) => (await api.bdevGetBdevs({ name: volume.lvol!.uuid }))[0]!.name));
  let running = true;
  let rounds = 0;
  const loop = (async () => {
    for (; running && rounds < IOSTAT_ROUNDS_MAX; rounds++) {
      await Promise.all(bdevs.map((name) => control.simAddIostat({ name, ...IOSTAT_ROUND })));
      await new Promise((resolve) => setTimeout(resolve, IOSTAT_EVERY_MS));
    }
  })();
  let stopped: Promise<number> | undefined;
  return {
    stop() {
      running = false;
      stopped ??= loop.finally(() => rpc.close()).then(() => rounds);
      return stopped;
    },
  };
}

/** What the nodes used under this load, measured through the same metrics (sizes the k8s requests). */
async function reportResourceUse(t: Test, prometheus: PrometheusServer, operations: number): Promise<void> {
  const value = async (expr: string) => Number((await prometheus.query(expr))[0]?.value[1] ?? NaN);
  const rssBytes = await value('max(max_over_time(ringblock_process_resident_memory_bytes[5m]))');
  const cpuCores = await value('max(max_over_time(rate(ringblock_process_cpu_seconds_total[5s])[5m:1s]))');
  const heapBytes = await value('max(max_over_time(ringblock_nodejs_heap_size_used_bytes[5m]))');
  t.comment(`measured per node under ${operations} requests: RSS max ${(rssBytes / 2 ** 20).toFixed(0)} MiB, heap used max ${(heapBytes / 2 ** 20).toFixed(0)} MiB, CPU max ${cpuCores.toFixed(2)} cores`);
}
