// Test support: a real Prometheus server (Debian's `prometheus` package) on 127.0.0.1 and a free port,
// with its data in a temp directory, scraping the given targets on a short interval, killed in the
// test's teardown. Queries go through its HTTP API, as Grafana's would.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { findFreePort } from '@ringblock/coord';

export const PROMETHEUS_BINARY = process.env.PROMETHEUS_BINARY ?? '/usr/bin/prometheus';
export const PROMTOOL_BINARY = process.env.PROMTOOL_BINARY ?? '/usr/bin/promtool';

/** Bound on waiting for /-/ready after the start. */
const START_TIMEOUT_MS = 30_000;
/** Bound on waiting for the process to end after SIGTERM, before SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;
const POLL_MS = 100;
/** Bound on one API call. */
const QUERY_TIMEOUT_MS = 10_000;
const LOG_TAIL_CHARS = 2_000;

export interface PrometheusOptions {
  /** The whole prometheus.yml. */
  config: string;
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusServer {
  url: string;
  /** Instant query through /api/v1/query; rejects with Prometheus' own error text. */
  query(expr: string): Promise<Sample[]>;
  /** Values of a label through /api/v1/label/<name>/values, optionally restricted by series selectors. */
  labelValues(label: string, match?: string): Promise<string[]>;
  /** Scrape targets with their health, through /api/v1/targets. */
  targets(): Promise<{ scrapePool: string; scrapeUrl: string; health: string; lastError: string }[]>;
}

/** A local stand-in for a pod that Kubernetes service discovery would find. */
export interface DiscoveredPod {
  name: string;
  ip: string;
  /** The address discovery reports before relabelling (a container port, not necessarily the metrics one). */
  address: string;
  annotations: Record<string, string>;
  labels: Record<string, string>;
}

/**
 * The Kubernetes Prometheus configuration (k8s/observability/prometheus/prometheus.yml) made to run
 * here: its `kubernetes_sd_configs` block becomes static target groups carrying the `__meta_kubernetes_*`
 * labels that pod discovery would attach, so its relabelling rules decide, for real, what is scraped
 * and where; the intervals become `intervalSeconds`. Everything else is the file as deployed.
 */
export function kubernetesConfigForLocalPods(text: string, pods: readonly DiscoveredPod[], intervalSeconds: number): string {
  const discovery = /^( +)kubernetes_sd_configs:\n\1 +- role: pod\n\1 +namespaces:\n\1 +own_namespace: true\n/m;
  const match = discovery.exec(text);
  if (!match) throw new Error('k8s prometheus.yml: no `kubernetes_sd_configs: [{role: pod, namespaces: {own_namespace: true}}]` block where the test expects it');
  const indent = match[1]!;
  const meta = (key: string) => key.replace(/[^A-Za-z0-9_]/g, '_');
  const groups = pods.map((pod) => {
    const labels: Record<string, string> = {
      __meta_kubernetes_pod_name: pod.name,
      __meta_kubernetes_pod_ip: pod.ip,
      ...Object.fromEntries(Object.entries(pod.annotations).map(([key, value]) => [`__meta_kubernetes_pod_annotation_${meta(key)}`, value])),
      ...Object.fromEntries(Object.entries(pod.labels).map(([key, value]) => [`__meta_kubernetes_pod_label_${meta(key)}`, value])),
    };
    return `${indent}  - targets: ['${pod.address}']\n${indent}    labels: ${JSON.stringify(labels)}\n`;
  });
  let result = text.replace(discovery, `${indent}static_configs:\n${groups.join('')}`);
  for (const key of ['scrape_interval', 'scrape_timeout', 'evaluation_interval']) {
    const line = new RegExp(`^(  ${key}: )\\S+$`, 'm');
    if (!line.test(result)) throw new Error(`k8s prometheus.yml: no global ${key}`);
    result = result.replace(line, `$1${intervalSeconds}s`);
  }
  return result;
}

export function prometheusAvailable(): boolean {
  return existsSync(PROMETHEUS_BINARY);
}

export async function startPrometheus(t: Test, options: PrometheusOptions): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'ringblock-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  const logFile = join(dir, 'prometheus.log');
  await writeFile(configFile, options.config);
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(PROMETHEUS_BINARY, [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ], { stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  const exited = once(child, 'exit').then(() => undefined, () => undefined);
  let running = true;
  void exited.then(() => (running = false));
  t.teardown(async () => {
    if (running) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!running) throw new Error(`prometheus exited before it was ready: ${await logTail(logFile)}`);
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then((reply) => reply.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`prometheus was not ready within ${START_TIMEOUT_MS} ms: ${await logTail(logFile)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return {
    url,
    query: async (expr) => (await api<{ resultType: string; result: Sample[] }>(url, '/api/v1/query', { query: expr })).result,
    labelValues: (label, match) => api<string[]>(url, `/api/v1/label/${encodeURIComponent(label)}/values`, match ? { 'match[]': match } : {}),
    targets: async () => (await api<{ activeTargets: { scrapePool: string; scrapeUrl: string; health: string; lastError: string }[] }>(url, '/api/v1/targets', {})).activeTargets,
  };
}

async function api<T>(base: string, path: string, params: Record<string, string>): Promise<T> {
  const reply = await fetch(`${base}${path}?${new URLSearchParams(params).toString()}`, { signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) });
  const body = (await reply.json()) as { status: string; data: T; error?: string; errorType?: string };
  if (body.status !== 'success') throw new Error(`${body.errorType ?? 'error'}: ${body.error ?? `HTTP ${reply.status}`}`);
  return body.data;
}

async function logTail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.slice(-LOG_TAIL_CHARS);
}

/** The checkout's root (the directory holding pnpm-workspace.yaml), found from this file. */
export function repoRoot(): string {
  let dir = fileURLToPath(new URL('.', import.meta.url));
  for (let depth = 0; depth < REPO_ROOT_DEPTH_MAX; depth++) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('no pnpm-workspace.yaml above the test support directory');
}
const REPO_ROOT_DEPTH_MAX = 8;

/** The one source of truth of the Grafana dashboards (Kubernetes and docker compose provision these). */
export const DASHBOARD_DIR = 'k8s/observability/dashboards';

export interface DashboardTarget {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource?: { type: string; uid: string };
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  file: string;
  panels: DashboardPanel[];
  templating: { list: { name: string; type: string; query?: unknown; definition?: string; allValue?: string; includeAll?: boolean }[] };
}

export async function loadDashboards(): Promise<Dashboard[]> {
  const dir = join(repoRoot(), DASHBOARD_DIR);
  const files = (await readdir(dir)).filter((name) => name.endsWith('.json')).sort();
  return Promise.all(files.map(async (file) => ({ ...(JSON.parse(await readFile(join(dir, file), 'utf8')) as Omit<Dashboard, 'file'>), file })));
}

/** Every panel with queries, rows flattened (a collapsed row keeps its panels inside). */
export function queryPanels(dashboard: Dashboard): DashboardPanel[] {
  return dashboard.panels.flatMap((panel) => (panel.type === 'row' ? panel.panels ?? [] : [panel])).filter((panel) => (panel.targets ?? []).length > 0);
}

/**
 * Grafana's variables replaced by concrete values, as Grafana would before sending a query: the
 * `node`, `host` and `volume` variables by their "All" value, the interval variables by windows that
 * hold several scrapes.
 */
export const GRAFANA_SUBSTITUTES: Readonly<Record<string, string>> = {
  $__rate_interval: '10s',
  $__interval: '2s',
  $__range: '5m',
  $node: '.+',
  $host: '.+',
  $volume: '.+',
};

/**
 * The variable a dashboard is filtered by: `node` on the peers' dashboards, `host` on the storage
 * agents' one (their series carry `host`, not `node`).
 */
export const SCOPE_VARIABLES = ['node', 'host'] as const;
export type ScopeLabel = (typeof SCOPE_VARIABLES)[number];

export function scopeOf(dashboard: Dashboard): ScopeLabel | undefined {
  return SCOPE_VARIABLES.find((name) => dashboard.templating.list.some((variable) => variable.name === name));
}

export function substituteVariables(expr: string): string {
  let result = expr;
  for (const [variable, value] of Object.entries(GRAFANA_SUBSTITUTES).sort((a, b) => b[0].length - a[0].length)) result = result.split(variable).join(value);
  return result;
}

/** Metric names a query reads: the ringblock_ identifiers (histogram series by their full name). */
export function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\bringblock_[a-z0-9_]+/g) ?? [])];
}

/** `promtool check config` on a configuration text; resolves with its exit code and output. */
export async function promtoolCheckConfig(config: string): Promise<{ code: number | null; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ringblock-promtool-'));
  try {
    const file = join(dir, 'prometheus.yml');
    await writeFile(file, config);
    const child = spawn(PROMTOOL_BINARY, ['check', 'config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, output };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- Deployment files -------------------------------------------------------------------------
// The k8s/ and docker/ files are YAML, and the workspace has no YAML parser (none is added for
// tests). `parseYamlSubset` reads the subset those files are written in: block mappings and
// sequences, plain and quoted scalars, one-line flow collections, `|`/`|-` block scalars, comments and
// `---` documents. It throws on anything else, naming the line; the k8s test checks that it reads
// every Kubernetes object file exactly as kubectl does.

interface YamlLine {
  indent: number;
  text: string;
  /** Index in the document's raw lines. */
  raw: number;
}

export function parseYamlSubset(text: string, source = 'yaml'): unknown[] {
  const documents: string[][] = [[]];
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    if (/^---\s*$/.test(line)) documents.push([]);
    else documents.at(-1)!.push(line);
  }
  return documents.map((raw) => new YamlReader(raw, source).document()).filter((document) => document !== undefined);
}

class YamlReader {
  private readonly lines: YamlLine[] = [];
  private at = 0;

  constructor(private readonly raw: string[], private readonly source: string) {
    raw.forEach((line, index) => {
      const text = stripComment(line).trimEnd();
      if (text.trim() === '') return;
      if (line.includes('\t') && /^\s*\t/.test(line)) throw this.error(index, 'tab indentation');
      this.lines.push({ indent: text.length - text.trimStart().length, text: text.trimStart(), raw: index });
    });
  }

  document(): unknown {
    if (this.lines.length === 0) return undefined;
    const value = this.node(this.lines[0]!.indent);
    if (this.at < this.lines.length) throw this.error(this.lines[this.at]!.raw, 'unexpected indentation');
    return value;
  }

  private node(indent: number): unknown {
    const line = this.lines[this.at]!;
    return isSequenceItem(line.text) ? this.sequence(indent) : this.mapping(indent);
  }

  private sequence(indent: number): unknown[] {
    const items: unknown[] = [];
    while (this.at < this.lines.length && this.lines[this.at]!.indent === indent && isSequenceItem(this.lines[this.at]!.text)) {
      const line = this.lines[this.at]!;
      const rest = line.text.slice(1).trimStart();
      if (rest === '') {
        this.at++;
        const next = this.lines[this.at];
        items.push(next && next.indent > indent ? this.node(next.indent) : null);
      } else if (keyOf(rest) !== undefined) {
        // `- key: value` opens a mapping whose keys line up with `key`.
        this.lines[this.at] = { indent: indent + (line.text.length - rest.length), text: rest, raw: line.raw };
        items.push(this.mapping(this.lines[this.at]!.indent));
      } else {
        this.at++;
        items.push(this.scalar(rest, line.raw));
      }
    }
    return items;
  }

  private mapping(indent: number): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    while (this.at < this.lines.length && this.lines[this.at]!.indent === indent && !isSequenceItem(this.lines[this.at]!.text)) {
      const line = this.lines[this.at]!;
      const key = keyOf(line.text);
      if (key === undefined) throw this.error(line.raw, `expected "key: value", got "${line.text}"`);
      if (Object.hasOwn(result, key.key)) throw this.error(line.raw, `duplicate key "${key.key}"`);
      this.at++;
      const next = this.lines[this.at];
      if (key.rest === '') {
        if (next && next.indent > indent) result[key.key] = this.node(next.indent);
        else if (next && next.indent === indent && isSequenceItem(next.text)) result[key.key] = this.sequence(indent);
        else result[key.key] = null;
      } else if (/^[|>][-+]?$/.test(key.rest)) {
        result[key.key] = this.blockScalar(line.raw, indent, key.rest);
      } else {
        result[key.key] = this.scalar(key.rest, line.raw);
      }
    }
    return result;
  }

  /** `|`, `|-`, `>`: the raw lines more indented than the key (blank lines included). */
  private blockScalar(keyRaw: number, indent: number, style: string): string {
    const body: string[] = [];
    let end = keyRaw + 1;
    for (; end < this.raw.length; end++) {
      const line = this.raw[end]!;
      if (line.trim() !== '' && line.length - line.trimStart().length <= indent) break;
      body.push(line);
    }
    while (body.length > 0 && body.at(-1)!.trim() === '') body.pop();
    const blockIndent = Math.min(...body.filter((line) => line.trim() !== '').map((line) => line.length - line.trimStart().length));
    const lines = body.map((line) => line.slice(blockIndent));
    while (this.at < this.lines.length && this.lines[this.at]!.raw < keyRaw + 1 + body.length) this.at++;
    const text = style.startsWith('>') ? lines.join(' ') : lines.join('\n');
    return style.endsWith('-') ? text : `${text}\n`;
  }

  private scalar(text: string, raw: number): unknown {
    const flow = new FlowReader(text, () => this.error(raw, `cannot read "${text}"`));
    const value = flow.value();
    flow.end();
    return value;
  }

  private error(raw: number, why: string): Error {
    return new Error(`${this.source}: line ${raw + 1} of its document: ${why} (outside the YAML subset the tests read)`);
  }
}

class FlowReader {
  private at = 0;
  constructor(private readonly text: string, private readonly fail: () => Error) {}

  value(inFlow = false): unknown {
    this.space();
    const char = this.text[this.at];
    if (char === '[') return this.list();
    if (char === '{') return this.map();
    if (char === '"') return this.double();
    if (char === "'") return this.single();
    return plainScalar(this.plain(inFlow));
  }

  end(): void {
    this.space();
    if (this.at !== this.text.length) throw this.fail();
  }

  private list(): unknown[] {
    const items: unknown[] = [];
    this.at++;
    for (;;) {
      this.space();
      if (this.text[this.at] === ']') return this.at++, items;
      items.push(this.value(true));
      this.space();
      if (this.text[this.at] === ',') this.at++;
      else if (this.text[this.at] !== ']') throw this.fail();
    }
  }

  private map(): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    this.at++;
    for (;;) {
      this.space();
      if (this.text[this.at] === '}') return this.at++, result;
      const key = String(this.text[this.at] === '"' ? this.double() : this.text[this.at] === "'" ? this.single() : this.plain(true, true));
      this.space();
      if (this.text[this.at] !== ':') throw this.fail();
      this.at++;
      result[key] = this.value(true);
      this.space();
      if (this.text[this.at] === ',') this.at++;
      else if (this.text[this.at] !== '}') throw this.fail();
    }
  }

  private double(): string {
    const match = /^"(?:[^"\\]|\\.)*"/.exec(this.text.slice(this.at));
    if (!match) throw this.fail();
    this.at += match[0].length;
    return JSON.parse(match[0]) as string;
  }

  private single(): string {
    const match = /^'(?:[^']|'')*'/.exec(this.text.slice(this.at));
    if (!match) throw this.fail();
    this.at += match[0].length;
    return match[0].slice(1, -1).replace(/''/g, "'");
  }

  private plain(inFlow: boolean, isKey = false): string {
    const start = this.at;
    while (this.at < this.text.length) {
      const char = this.text[this.at]!;
      if (inFlow && (char === ',' || char === ']' || char === '}')) break;
      if (isKey && char === ':') break;
      this.at++;
    }
    return this.text.slice(start, this.at).trim();
  }

  private space(): void {
    while (this.text[this.at] === ' ') this.at++;
  }
}

function isSequenceItem(text: string): boolean {
  return text === '-' || text.startsWith('- ');
}

/** `key: rest` (plain or quoted key, then a colon and a space or the end of the line). */
function keyOf(text: string): { key: string; rest: string } | undefined {
  const match = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'#\[\]{},][^:#]*?)\s*:(?: +(.*)|$)/.exec(text);
  if (!match) return undefined;
  const rawKey = match[1]!;
  const key = rawKey.startsWith('"') ? (JSON.parse(rawKey) as string) : rawKey.startsWith("'") ? rawKey.slice(1, -1).replace(/''/g, "'") : rawKey;
  return { key, rest: (match[2] ?? '').trim() };
}

/** A plain scalar's value under YAML's core schema (the forms these files use). */
function plainScalar(text: string): unknown {
  if (text === '' || text === '~' || text === 'null') return null;
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return text;
}

/** A line without its comment: `#` at the start or after a space, outside quotes. */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let index = 0; index < line.length; index++) {
    const char = line[index]!;
    if (quote) {
      if (char === '\\' && quote === '"') index++;
      else if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") {
      const before = line.slice(0, index).trimEnd();
      if (before === '' || /[:\-\[{,]$/.test(before)) quote = char;
    } else if (char === '#' && (index === 0 || line[index - 1] === ' ')) {
      return line.slice(0, index);
    }
  }
  return line;
}

/**
 * Which RINGBLOCK_* variables the node's configuration parser reads: it is given the environment
 * through a proxy that records every key looked up. Returns the parsed configuration (or the error).
 */
export function recordConfigReads<T>(parse: (env: Record<string, string | undefined>) => T, env: Record<string, string>): { read: Set<string>; config?: T; error?: Error } {
  const read = new Set<string>();
  const proxy = new Proxy(env, {
    get(target, key) {
      if (typeof key === 'string') read.add(key);
      return typeof key === 'string' ? target[key] : undefined;
    },
  });
  try {
    return { read, config: parse(proxy) };
  } catch (error) {
    return { read, error: error instanceof Error ? error : new Error(String(error)) };
  }
}
