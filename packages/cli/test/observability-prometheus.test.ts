// Every query of every Grafana dashboard panel, evaluated by a real Prometheus (Debian's package) that
// scrapes a real 3-node cluster under load: each must return series, and a failure names the panel.
// This is what keeps the dashboards honest (DESIGN §10: panels query only metrics the nodes export).
// Prometheus runs the Kubernetes configuration itself (k8s/observability/prometheus/prometheus.yml),
// with pod discovery replaced by the labels it would attach, so its relabelling is exercised too.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startCluster, request } from './support/cluster.js';
import {
  kubernetesConfigForLocalPods,
  loadDashboards,
  promtoolCheckConfig,
  repoRoot,
  metricNames,
  prometheusAvailable,
  PROMETHEUS_BINARY,
  queryPanels,
  startPrometheus,
  substituteVariables,
  type DiscoveredPod,
  type PrometheusServer,
  type Sample,
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

interface PanelQuery {
  name: string;
  expr: string;
  metrics: string[];
}

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
      })),
    ),
  );
  t.ok(queries.length > 0, `${queries.length} panel queries in ${dashboards.length} dashboards`);

  const cluster = await startCluster(t, { nodes: NODE_COUNT, deviceSize: '64M' });
  const urls = cluster.nodes.map((node) => node.spec.url);
  const nodeNames = cluster.nodes.map((node) => node.spec.name).sort();
  const config = await kubernetesConfig(urls, cluster.nodes.map((node) => node.spec.name));
  const check = await promtoolCheckConfig(config);
  t.equal(check.code, 0, `promtool accepts the Kubernetes configuration (discovery swapped for static groups): ${check.output.trim()}`);
  const prometheus = await startPrometheus(t, { config });

  const load = startLoad(urls);
  t.teardown(() => load.stop());
  const scraping = Date.now();
  await waitScraped(prometheus, nodeNames);
  t.comment(`every node scraped under load after ${Date.now() - scraping} ms`);
  await new Promise((resolve) => setTimeout(resolve, LOAD_WARMUP_MS));

  const evaluating = Date.now();
  const verdicts = await evaluateUntilAllPass(prometheus, queries, nodeNames);
  t.comment(`panel queries evaluated in ${Date.now() - evaluating} ms`);
  const done = await load.stop();
  t.comment(`load: ${done.operations} requests (${done.unexpected} unexpected answers) while Prometheus scraped every ${SCRAPE_INTERVAL_SECONDS}s`);
  t.equal(done.unexpected, 0, 'the load got only the answers it expected (201, 200, 204, 404, 400)');

  for (const query of queries) {
    const verdict = verdicts.get(query.name)!;
    t.ok(verdict.ok, `${query.name}: ${verdict.why}`, verdict.ok ? {} : { expr: query.expr });
  }

  // Each metric a panel reads is exported by every node (not just present in some answer).
  const used = [...new Set(queries.flatMap((query) => query.metrics))].sort();
  for (const metric of used) {
    const nodes = (await prometheus.labelValues('node', metric)).sort();
    t.same(nodes, nodeNames, `${metric} is exported by every node`);
  }

  // The dashboards' `node` variable: label_values(ringblock_ring_epoch, node).
  for (const dashboard of dashboards) {
    const variable = dashboard.templating.list.find((candidate) => candidate.name === 'node');
    const definition = variable?.definition ?? '';
    const match = /^label_values\((\w+), (\w+)\)$/.exec(definition);
    t.ok(match, `${dashboard.file}: the node variable is label_values(metric, label), got "${definition}"`);
    if (match) t.same((await prometheus.labelValues(match[2]!, match[1]!)).sort(), nodeNames, `${dashboard.file}: the node variable lists every node`);
  }

  // The relabelling rules: annotated pods scraped at their annotated port and path, labelled `pod`;
  // the pods without the annotation (or with scrape "false") are not.
  const pods = (await prometheus.query('count by (pod) (ringblock_ring_epoch)')).map((sample) => sample.metric.pod).sort();
  t.same(pods, nodeNames.map((name) => `blockstore-${name}`).sort(), 'only the annotated pods are scraped, each labelled with its pod name');

  const requestRate = await prometheus.query('sum(rate(ringblock_requests_total{op="put"}[10s]))');
  t.ok(Number(requestRate[0]?.value[1]) > 0, 'the request rate panel sees the load (PUTs per second > 0)');
  await reportResourceUse(t, prometheus, done.operations);
});

/** k8s/observability/prometheus/prometheus.yml, discovering each local node as an annotated pod, plus two that must be ignored. */
async function kubernetesConfig(urls: string[], names: string[]): Promise<string> {
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
  return kubernetesConfigForLocalPods(text, [...annotated, ...ignored], SCRAPE_INTERVAL_SECONDS);
}

/** Evaluates every query, re-trying the failing ones until all pass or the bound is reached. */
async function evaluateUntilAllPass(prometheus: PrometheusServer, queries: PanelQuery[], nodeNames: string[]): Promise<Map<string, Verdict>> {
  const verdicts = new Map<string, Verdict>();
  const deadline = Date.now() + PANELS_TIMEOUT_MS;
  let pending = queries;
  for (;;) {
    for (const query of pending) verdicts.set(query.name, await evaluate(prometheus, query, nodeNames));
    pending = pending.filter((query) => !verdicts.get(query.name)!.ok);
    if (pending.length === 0 || Date.now() > deadline) return verdicts;
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

async function evaluate(prometheus: PrometheusServer, query: PanelQuery, nodeNames: string[]): Promise<Verdict> {
  const unresolved = /\$\{?\w+/.exec(query.expr);
  if (unresolved) return { ok: false, why: `uses the Grafana variable ${unresolved[0]}, which the test does not know how to substitute` };
  let result: Sample[];
  try {
    result = await prometheus.query(query.expr);
  } catch (error) {
    return { ok: false, why: `Prometheus rejected it: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (result.length === 0) return { ok: false, why: `returned no series (reads ${query.metrics.join(', ')})` };
  // A per-node panel must show every node, not just the first one scraped.
  const perNode = result.filter((sample) => sample.metric.node !== undefined);
  if (perNode.length > 0) {
    const seen = [...new Set(perNode.map((sample) => sample.metric.node!))].sort();
    const missing = nodeNames.filter((name) => !seen.includes(name));
    if (missing.length > 0) return { ok: false, why: `has no series for ${missing.join(', ')}` };
  }
  return { ok: true, why: `${result.length} series` };
}

async function waitScraped(prometheus: PrometheusServer, nodeNames: string[]): Promise<void> {
  const deadline = Date.now() + SCRAPED_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    const targets = (await prometheus.targets()).filter((target) => target.scrapePool === 'kubernetes-pods');
    const puts = await prometheus.query('sum by (node) (ringblock_requests_total{op="put"})');
    const nodes = puts.map((sample) => sample.metric.node).sort();
    if (targets.length === nodeNames.length && targets.every((target) => target.health === 'up') && nodes.join() === nodeNames.join()) return;
    last = `targets ${targets.map((target) => `${target.scrapeUrl}=${target.health}${target.lastError ? ` (${target.lastError})` : ''}`).join(', ')}; PUTs counted on ${nodes.join(', ') || 'no node'}`;
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

/** What the nodes used under this load, measured through the same metrics (sizes the k8s requests). */
async function reportResourceUse(t: Test, prometheus: PrometheusServer, operations: number): Promise<void> {
  const value = async (expr: string) => Number((await prometheus.query(expr))[0]?.value[1] ?? NaN);
  const rssBytes = await value('max(max_over_time(ringblock_process_resident_memory_bytes[5m]))');
  const cpuCores = await value('max(max_over_time(rate(ringblock_process_cpu_seconds_total[5s])[5m:1s]))');
  const heapBytes = await value('max(max_over_time(ringblock_nodejs_heap_size_used_bytes[5m]))');
  t.comment(`measured per node under ${operations} requests: RSS max ${(rssBytes / 2 ** 20).toFixed(0)} MiB, heap used max ${(heapBytes / 2 ** 20).toFixed(0)} MiB, CPU max ${cpuCores.toFixed(2)} cores`);
}
