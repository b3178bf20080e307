// What `ringblock bench` writes besides the raw figures: the SVG chart (bars proportional to the
// figures, labels escaped, well-formed), the summary (each headline figure judged against its goal,
// missing benchmarks named) and the README block it replaces (only between its markers).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { README_MARKERS, replaceBetweenMarkers } from '../src/bench/all.js';
import { niceCeiling, renderBenchChart } from '../src/bench/svg-chart.js';
import { renderSummary } from '../src/bench/summary.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ringblock-bench-report-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Every opened element is closed in order (the chart has no text content with markup in it). */
function wellFormed(svg: string): boolean {
  const stack: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([a-z]+)([^>]*?)(\/?)>/g)) {
    const [, closing, name, , selfClosing] = match;
    if (selfClosing) continue;
    if (closing) {
      if (stack.pop() !== name) return false;
    } else stack.push(name!);
  }
  return stack.length === 0;
}

t.test('the chart draws bars proportional to the figures, with escaped labels', async (t) => {
  const svg = renderBenchChart('a <title> & more', [{ name: 'cluster', color: '#111111' }, { name: 'base"line', color: '#222222' }], [
    { label: 'PUT <quorum> ×64', values: [{ series: 'cluster', opsPerSecond: 1000, p50Ms: 2, p99Ms: 8 }, { series: 'base"line', opsPerSecond: 500, p50Ms: 1, p99Ms: 4 }] },
  ]);
  t.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  t.ok(wellFormed(svg), 'every element closed in order');
  t.notMatch(svg, /<quorum>|<title> &/, 'no raw markup from labels');
  t.match(svg, /PUT &lt;quorum&gt; ×64/);
  t.match(svg, /base&quot;line/);
  const heights = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="14" height="([\d.]+)" fill="#(111111|222222)">/g)].map((match) => ({ height: Number(match[1]), color: match[2] }));
  t.equal(heights.length, 2, 'one throughput bar per series');
  t.equal(heights[0]!.height / heights[1]!.height, 2, '1000 ops/s is drawn twice as high as 500');
  t.throws(() => renderBenchChart('x', [], Array.from({ length: 65 }, (_, index) => ({ label: String(index), values: [] }))), RangeError, 'bounded in groups');
});

t.test('axis maxima are 1, 2 or 5 × 10^n at or above the largest figure', async (t) => {
  t.same([0.004, 1, 3, 19, 20, 21, 499, 501, 9_999].map(niceCeiling), [0.005, 1, 5, 20, 20, 50, 500, 1_000, 10_000]);
});

t.test('the summary judges each headline figure against its goal and names what was not run', async (t) => {
  const dir = await tempDir(t);
  const load = (opsPerSecond: number, p99Ms: number) => ({ opsPerSecond, p99Ms });
  await writeFile(join(dir, 'cluster.json'), JSON.stringify({
    date: '2026-12-03T10:00:00.000Z',
    rows: [
      { case: 'PUT quorum', concurrency: 64, cluster: load(7_000, 12), baseline: load(10_000, 3), ratio: 0.7 },
      { case: 'GET one', concurrency: 64, cluster: { ...load(5_000, 9), serverCpuUsPerOp: 49, clientCpuUsPerOp: 35 }, baseline: { ...load(10_000, 3), serverCpuUsPerOp: 15, clientCpuUsPerOp: 23 }, ratio: 0.5 },
    ],
    protocols: [{ case: 'PUT quorum', binary: load(4_000, 20), http: load(2_000, 40) }],
    clients: [{ case: 'GET quorum', plain: load(1_000, 20), ringAware: load(1_500, 15) }],
  }));
  await writeFile(join(dir, 'migration.json'), JSON.stringify({ date: '2026-12-03T11:00:00.000Z', megabytesStored: 256, throughputMBps: 20, movedOverMinimum: 1.01, p99Ratio: 3, seconds: 12 }));
  const summary = await renderSummary(dir);
  t.match(summary, /\| cluster 2026-12-03 \| PUT quorum, 64 concurrent \| 7,000 ops\/s, p99 12\.0 ms \| 70% of bare node:http \(10,000 ops\/s\) \| ≥ 60%, p99 ≤ 15 ms \| met \|/);
  t.match(summary, /GET one, 64 concurrent .* 50% of bare .* ≥ 80%, p99 ≤ 15 ms \| \*\*not met\*\* \|/);
  t.match(summary, /50% of bare node:http \(10,000 ops\/s; CPU 49 µs\/op over the nodes \+ 35 in the load generator vs 15 \+ 23 in the load generator\)/);
  t.match(summary, /PUT quorum, binary replication \| 4,000 ops\/s \| 2\.00× HTTP replication/);
  t.match(summary, /GET quorum, ring-aware \| 1,500 ops\/s \| 1\.50× the plain client .* met \|/);
  t.match(summary, /3→4 with 256 MiB, limits raised \| 20\.0 MB\/s.*\*\*not met\*\*/);
  t.match(summary, /bytes moved \| 1\.01× .* met \|/);
  t.match(summary, /Not run yet: engine, ring, repair\./);
});

t.test('the README block is replaced between its markers only, and a README without them is refused', async (t) => {
  const dir = await tempDir(t);
  const readme = join(dir, 'README.md');
  await writeFile(readme, `# title\n\nbefore\n${README_MARKERS.start}\nold table\n${README_MARKERS.end}\nafter\n`);
  await replaceBetweenMarkers(readme, '| new | table |\n');
  t.equal(await readFile(readme, 'utf8'), `# title\n\nbefore\n${README_MARKERS.start}\n| new | table |\n${README_MARKERS.end}\nafter\n`);
  await writeFile(readme, 'no markers here\n');
  await t.rejects(replaceBetweenMarkers(readme, 'x'), /has no <!-- bench:summary:start -->/);
  t.equal(await readFile(readme, 'utf8'), 'no markers here\n', 'left as it was');
});

t.test('CPU profiles: self time by part and function, only inside the measured window', async (t) => {
  const { categoryOf, functionLabel, renderProfileMarkdown, summarizeProfiles } = await import('../src/bench/profile.js');
  const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });
  const repo = 'file:///work/repo/packages';
  const profile = {
    startTime: 1_000,
    endTime: 2_000,
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('get', `${repo}/engine/dist/src/engine.js`, 9) },
      { id: 4, callFrame: frame('match', `${repo}/node/dist/src/http/router.js`, 41) },
      { id: 5, callFrame: frame('(garbage collector)') },
      { id: 6, callFrame: frame('writevGeneric', 'node:internal/stream_base_commons', 120) },
      { id: 7, callFrame: frame('observe', 'file:///work/repo/node_modules/.pnpm/prom-client@15.1.3/node_modules/prom-client/lib/histogram.js', 99) },
    ],
    // One sample every 100 µs from 1,100 to 2,000: 9 before the window (1,100..1,900 → ids below), 1 after.
    samples: [3, 3, 4, 2, 2, 5, 6, 7, 3, 4],
    timeDeltas: [100, 100, 100, 100, 100, 100, 100, 100, 100, 100],
  };
  const all = summarizeProfiles([profile]);
  t.equal(all.samples, 10, 'every sample without a window');
  t.equal(all.busyShare, 0.8, 'two of ten idle');
  t.same(all.categories.map((part) => [part.name, part.share]), [
    ['engine', 3 / 8],
    ['HTTP layer (router, server, bodies)', 2 / 8],
    ['garbage collection', 1 / 8],
    ['sockets and streams', 1 / 8],
    ['metrics', 1 / 8],
  ], 'shares of the busy samples, largest first');
  t.equal(all.functions[0]!.name, 'get engine/engine.js:10', 'labels name the module and the 1-based line');
  const windowed = summarizeProfiles([profile, profile], { fromUs: 1_250, toUs: 1_850 });
  // Samples at 1,300 (4), 1,400 (2), 1,500 (2), 1,600 (5), 1,700 (6), 1,800 (7), twice over.
  t.equal(windowed.samples, 12, 'only samples inside the window, over both profiles');
  t.equal(windowed.busyShare, 8 / 12);
  t.notOk(windowed.categories.some((part) => part.name === 'engine'), 'the engine samples fell outside the window');
  t.equal(categoryOf(frame('(program)')), 'native (V8, libuv, system calls)');
  t.equal(categoryOf(frame('writev')), 'V8 built-ins', 'a frame without a script is a built-in');
  t.equal(categoryOf(frame('x', `${repo}/node/dist/src/replication/link.js`)), 'replication protocol');
  t.equal(categoryOf(frame('x', `${repo}/node/dist/src/coordinator.js`)), 'coordination and routes');
  t.equal(functionLabel(frame('observe', 'file:///r/node_modules/.pnpm/prom-client@15.1.3/node_modules/prom-client/lib/histogram.js', 4)), 'observe prom-client/lib/histogram.js:5');
  const markdown = renderProfileMarkdown('# Profile', [{ title: 'GET one ×64', opsPerSecond: 1234.4, summary: windowed }]);
  t.match(markdown, /## GET one ×64\n\n1234 ops\/s while profiled; 12 samples over the nodes, 66\.7% busy/);
  t.match(markdown, /\| HTTP layer \(router, server, bodies\) \| 25\.0% \|/);
  t.match(markdown, /\| `observe prom-client\/lib\/histogram\.js:100` \| metrics \| 25\.0% \|/);
});
