// `ringblock bench` (or `bench all`): every benchmark, one after the other, with progress lines
// prefixed by the step — ring lookups and balance, the engine against a write+fdatasync loop
// (with reopen time and memory per block), the cluster against a bare node:http server (with the
// replication protocols and the TypeScript client compared), a CPU profile of the hot paths,
// migration 3→4 and repair. Then
// bench/results/summary.md gathers the headline figures of every results file, and the README's
// benchmark table (between its bench markers) is replaced by that summary.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runClusterBench } from './cluster-bench.js';
import { runMigrationBench } from './migration-bench.js';
import { runProfileBench } from './profile-bench.js';
import { runRepairBench } from './repair-bench.js';
import { renderSummary } from './summary.js';

const REPO = resolve(fileURLToPath(new URL('../../../../../', import.meta.url)));
export const README_MARKERS = { start: '<!-- bench:summary:start -->', end: '<!-- bench:summary:end -->' };

export interface AllBenchOptions {
  resultsDir: string;
  workDir: string;
  durationMs: number;
  megabytes: number;
  transferRate: string;
  repairRate: string;
  /** Blocks for the engine's reopen and memory figures. */
  engineBlocks: number;
  /** README.md whose bench table is replaced; undefined leaves it alone. */
  readme: string | undefined;
}

interface Step {
  name: string;
  run: (progress: (line: string) => void) => Promise<void>;
}

export async function runAllBenchmarks(options: AllBenchOptions, progress: (line: string) => void): Promise<void> {
  const steps: Step[] = [
    { name: 'ring', run: (log) => runScript(join(REPO, 'packages/ring/dist/bench/ring-balance.js'), [options.resultsDir], {}, log) },
    { name: 'engine', run: (log) => runScript(join(REPO, 'packages/engine/dist/bench/run.js'), [], { RINGBLOCK_BENCH_BLOCKS: String(options.engineBlocks), RINGBLOCK_BENCH_RESULTS: options.resultsDir }, log) },
    { name: 'cluster', run: async (log) => void (await runClusterBench({ resultsDir: options.resultsDir, workDir: options.workDir, durationMs: options.durationMs }, log)) },
    { name: 'profile', run: async (log) => void (await runProfileBench({ resultsDir: options.resultsDir, workDir: options.workDir, durationMs: options.durationMs }, log)) },
    { name: 'migration', run: (log) => runMigrationBench({ resultsDir: options.resultsDir, workDir: options.workDir, megabytes: options.megabytes, transferRate: options.transferRate }, log) },
    { name: 'repair', run: (log) => runRepairBench({ resultsDir: options.resultsDir, workDir: options.workDir, megabytes: options.megabytes, repairRate: options.repairRate }, log) },
  ];
  const started = performance.now();
  for (const [index, step] of steps.entries()) {
    const prefix = `[${index + 1}/${steps.length} ${step.name} ${elapsed(started)}]`;
    progress(`${prefix} starting`);
    await step.run((line) => progress(`${prefix} ${line}`));
  }
  const summary = await renderSummary(options.resultsDir);
  await writeFile(join(options.resultsDir, 'summary.md'), summary);
  progress(`summary in ${join(options.resultsDir, 'summary.md')} after ${elapsed(started)}`);
  if (options.readme) {
    await replaceBetweenMarkers(options.readme, summary);
    progress(`${options.readme}: benchmark table replaced`);
  }
}

function elapsed(startedMs: number): string {
  const seconds = Math.round((performance.now() - startedMs) / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}

/** Runs a benchmark script in its own Node process, its output lines passed to `log`. */
function runScript(script: string, args: string[], env: Record<string, string>, log: (line: string) => void): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) log(line);
      });
    }
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolvePromise() : reject(new Error(`${script} exited with ${signal ?? code}`))));
  });
}

/** Replaces what lies between the README's bench markers; a README without them is refused. */
export async function replaceBetweenMarkers(path: string, content: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  const start = text.indexOf(README_MARKERS.start);
  const end = text.indexOf(README_MARKERS.end);
  if (start < 0 || end < start) throw new Error(`${path} has no ${README_MARKERS.start} … ${README_MARKERS.end} block to replace`);
  await writeFile(path, `${text.slice(0, start + README_MARKERS.start.length)}\n${content.trim()}\n${text.slice(end)}`);
}
