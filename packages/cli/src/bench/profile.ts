// Reading V8 CPU profiles (`node --cpu-prof`, the .cpuprofile JSON): self time per function and per
// part of the system (the HTTP layer, replication, the engine, metrics, GC, …), restricted to the
// window a benchmark case ran in, rendered as Markdown. Pure: the profiling run is profile-bench.ts.

/** The parts of a .cpuprofile this reads (Chrome DevTools Profiler.Profile). */
export interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; hitCount?: number }[];
  /** Microseconds on the monotonic clock (CLOCK_MONOTONIC on Linux: process.hrtime's). */
  startTime: number;
  endTime: number;
  samples?: number[];
  /** Microseconds between consecutive samples (the first from startTime). */
  timeDeltas?: number[];
}

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

export interface Share {
  name: string;
  /** Of the busy samples (idle excluded). */
  share: number;
}

export interface FunctionShare extends Share {
  category: string;
}

export interface ProfileSummary {
  /** Samples inside the window, over every profile. */
  samples: number;
  /** Share of those samples the processes were not idle. */
  busyShare: number;
  categories: Share[];
  functions: FunctionShare[];
}

const IDLE = 'idle';

/** Rules in order: the first that matches names the category. */
const URL_CATEGORIES: [test: (url: string) => boolean, name: string][] = [
  [(url) => url.includes('/packages/engine/'), 'engine'],
  [(url) => url.includes('/packages/node/dist/src/replication/'), 'replication protocol'],
  [(url) => url.includes('/packages/node/dist/src/http/'), 'HTTP layer (router, server, bodies)'],
  [(url) => url.includes('/packages/node/dist/src/metrics') || url.includes('/node_modules/prom-client/') || url.includes('/node_modules/.pnpm/prom-client'), 'metrics'],
  [(url) => url.includes('/packages/node/'), 'coordination and routes'],
  [(url) => url.includes('/packages/ring/'), 'ring'],
  [(url) => url.includes('/packages/coord/') || url.includes('node-zookeeper-client'), 'ZooKeeper client'],
  [(url) => url.includes('undici'), 'undici (HTTP client)'],
  [(url) => url.includes('pino') || url.includes('sonic-boom'), 'logging'],
  [(url) => url.includes('@opentelemetry'), 'tracing'],
  [(url) => /^node:(_http_|internal\/http)/.test(url), 'node:http'],
  [(url) => /^node:(net|stream|internal\/(streams?|stream_base_commons|net))/.test(url), 'sockets and streams'],
  [(url) => /^node:(internal\/)?fs/.test(url), 'node:fs'],
  [(url) => /^node:internal\/(timers|process\/task_queues|async_hooks)/.test(url), 'timers and task queues'],
  [(url) => url.startsWith('node:'), 'node: other'],
];

export function categoryOf(frame: CallFrame): string {
  switch (frame.functionName) {
    case '(idle)':
      return IDLE;
    case '(garbage collector)':
      return 'garbage collection';
    case '(program)':
      return 'native (V8, libuv, system calls)';
  }
  for (const [test, name] of URL_CATEGORIES) if (test(frame.url)) return name;
  // Built-ins (no script): Buffer copies, writev, JSON, RegExp — called from JS.
  return frame.url === '' ? 'V8 built-ins' : 'other';
}

/** `name file:line`, with the path cut to what names the module. */
export function functionLabel(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  const url = frame.url.replace(/^file:\/\//, '');
  const packageAt = url.lastIndexOf('/packages/');
  const modulesAt = url.lastIndexOf('/node_modules/');
  const short = packageAt >= 0 && packageAt > modulesAt ? url.slice(packageAt + '/packages/'.length).replace('/dist/src/', '/') : modulesAt >= 0 ? url.slice(modulesAt + '/node_modules/'.length).replace(/^\.pnpm\/[^/]+\/node_modules\//, '') : url;
  return `${name} ${short}:${frame.lineNumber + 1}`;
}

/** Samples of `profile` per node id, counting only those inside [fromUs, toUs] (all without a window or sample list). */
export function samplesByNode(profile: CpuProfile, window?: { fromUs: number; toUs: number }): Map<number, number> {
  const counts = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  if (!samples || !timeDeltas || samples.length !== timeDeltas.length) {
    for (const node of profile.nodes) if (node.hitCount) counts.set(node.id, node.hitCount);
    return counts;
  }
  let at = profile.startTime;
  for (let index = 0; index < samples.length; index++) {
    at += timeDeltas[index]!;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    counts.set(samples[index]!, (counts.get(samples[index]!) ?? 0) + 1);
  }
  return counts;
}

/** Self time of every function and category over `profiles` (e.g. one per node), in the window. */
export function summarizeProfiles(profiles: readonly CpuProfile[], window?: { fromUs: number; toUs: number }, top = 20): ProfileSummary {
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, { count: number; category: string }>();
  let total = 0;
  let idle = 0;
  for (const profile of profiles) {
    const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
    for (const [id, count] of samplesByNode(profile, window)) {
      const frame = frames.get(id);
      if (!frame || frame.functionName === '(root)') continue;
      total += count;
      const category = categoryOf(frame);
      if (category === IDLE) {
        idle += count;
        continue;
      }
      byCategory.set(category, (byCategory.get(category) ?? 0) + count);
      const label = functionLabel(frame);
      const entry = byFunction.get(label) ?? { count: 0, category };
      entry.count += count;
      byFunction.set(label, entry);
    }
  }
  const busy = total - idle;
  const share = (count: number) => (busy === 0 ? 0 : count / busy);
  return {
    samples: total,
    busyShare: total === 0 ? 0 : busy / total,
    categories: [...byCategory].sort((a, b) => b[1] - a[1]).map(([name, count]) => ({ name, share: share(count) })),
    functions: [...byFunction].sort((a, b) => b[1].count - a[1].count).slice(0, top).map(([name, entry]) => ({ name, category: entry.category, share: share(entry.count) })),
  };
}

export interface ProfiledCase {
  title: string;
  opsPerSecond: number;
  summary: ProfileSummary;
}

const percent = (share: number) => `${(share * 100).toFixed(1)}%`;
const cell = (text: string) => text.replace(/\|/g, '\\|');

/** One section per case: where the busy CPU time went, by part and by function. */
export function renderProfileMarkdown(header: string, cases: readonly ProfiledCase[]): string {
  const lines = [header, ''];
  for (const { title, opsPerSecond, summary } of cases) {
    lines.push(`## ${title}`, '', `${opsPerSecond.toFixed(0)} ops/s while profiled; ${summary.samples} samples over the nodes, ${percent(summary.busyShare)} busy. Shares below are of the busy samples (self time).`, '');
    lines.push('| part | self time |', '|---|---|', ...summary.categories.map((category) => `| ${cell(category.name)} | ${percent(category.share)} |`), '');
    lines.push('| function | part | self time |', '|---|---|---|', ...summary.functions.map((fn) => `| \`${cell(fn.name)}\` | ${cell(fn.category)} | ${percent(fn.share)} |`), '');
  }
  return lines.join('\n');
}
