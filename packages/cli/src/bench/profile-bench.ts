// `ringblock bench profile`: where a node's CPU goes on the hot paths. For PUT quorum, GET quorum and
// GET one at 64 concurrent, a fresh 3-node cluster runs under `node --cpu-prof`; the load runs as in
// the cluster bench, and only the samples taken while it ran are counted (V8's sample times and
// process.hrtime share the monotonic clock). Writes bench/results/profile.md (self time by part of
// the system and by function, summed over the three nodes) and keeps the .cpuprofile files in the
// work directory for a flame graph (Chrome DevTools, speedscope).
import { readdir, readFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { KEYS, loadCase, withCluster, type Op } from './cluster-bench.js';
import { runLoad } from './load.js';
import { renderProfileMarkdown, summarizeProfiles, type CpuProfile, type ProfiledCase } from './profile.js';
import { randomBytes } from 'node:crypto';

const CONCURRENCY = 64;
const CASES: { op: Op; level: string }[] = [
  { op: 'put', level: 'quorum' },
  { op: 'get', level: 'quorum' },
  { op: 'get', level: 'one' },
];

export interface ProfileBenchOptions {
  resultsDir: string;
  workDir: string;
  durationMs: number;
}

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

export async function runProfileBench(options: ProfileBenchOptions, progress: (line: string) => void): Promise<ProfiledCase[]> {
  const profiled: ProfiledCase[] = [];
  const body = randomBytes(4096);
  for (const { op, level } of CASES) {
    const title = `${op.toUpperCase()} ${level} ×${CONCURRENCY}`;
    const profileDir = join(options.workDir, 'profiles', `${op}-${level}`);
    await rm(profileDir, { recursive: true, force: true });
    await mkdir(profileDir, { recursive: true });
    let window = { fromUs: 0, toUs: 0 };
    let opsPerSecond = 0;
    progress(`${title}: cluster under --cpu-prof, load for ${options.durationMs / 1000}s…`);
    await withCluster(options.workDir, {}, async (urls) => {
      const spec = loadCase(op, level, CONCURRENCY, options.durationMs, body, `?consistency=${level}`);
      const fromUs = monotonicUs();
      const result = await runLoad(urls, spec);
      window = { fromUs, toUs: monotonicUs() };
      opsPerSecond = result.opsPerSecond;
    }, 3, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
    // The peers wrote their profiles on exit (the cluster stopped with SIGTERM, a clean exit).
    const files = (await readdir(profileDir)).filter((name) => name.endsWith('.cpuprofile'));
    if (files.length === 0) throw new Error(`no .cpuprofile was written in ${profileDir}`);
    const profiles = await Promise.all(files.map(async (name) => JSON.parse(await readFile(join(profileDir, name), 'utf8')) as CpuProfile));
    const summary = summarizeProfiles(profiles, window);
    progress(`  ${opsPerSecond.toFixed(0)} ops/s; busiest parts: ${summary.categories.slice(0, 4).map((part) => `${part.name} ${(part.share * 100).toFixed(0)}%`).join(', ')}`);
    profiled.push({ title, opsPerSecond, summary });
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}, Node ${process.version}`;
  const header = [
    '# Where a node spends its CPU',
    '',
    `3 peers, RF 3, durable file devices, ${KEYS} keys, ${CONCURRENCY} concurrent requests spread over the nodes, ${options.durationMs / 1000} s per case, each on a fresh cluster under \`node --cpu-prof\` (sampling slows it a little: the ops/s here are not the benchmark's). Self time summed over the three nodes, only samples taken while the load ran. Machine: ${machine}. Produced by \`ringblock bench profile\` on ${new Date().toISOString()}; the .cpuprofile files stay in \`${join(options.workDir, 'profiles')}\` for a flame graph.`,
  ].join('\n');
  await mkdir(options.resultsDir, { recursive: true });
  await writeFile(join(options.resultsDir, 'profile.md'), renderProfileMarkdown(header, profiled));
  return profiled;
}
