// Crash consistency with real process death: a child process (fixtures/crash-writer) writes puts,
// overwrites, deletes, purges and evictions at 64 in flight over a small key space, logging each
// op before it is submitted and each answer after it settled; the parent SIGKILLs it at a seeded
// random moment (also during start-up and recovery), reopens the device and checks every
// acknowledged write is there and every stored byte was written (support/model.ts). Each seed runs
// several kill/reopen rounds on one device, so recovery of recovered state is tested too. Seeds run
// on files and, when losetup works, on a loop device.
// More seeds: RINGBLOCK_CRASH_SEEDS=500 RINGBLOCK_CRASH_LOOP_SEEDS=50.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';
import { deviceBytesForGroups, Engine } from '../src/index.js';
import { loopDevice, tempDir } from './support/devices.js';
import type { ModelState } from './support/model.js';
import { parseLog, rng, verifyRecovered } from './support/model.js';

const SEEDS = Number(process.env['RINGBLOCK_CRASH_SEEDS'] ?? 50);
const LOOP_SEEDS = Number(process.env['RINGBLOCK_CRASH_LOOP_SEEDS'] ?? 4);
const ROUNDS = 3;
const PARALLEL_SEEDS = 3;
const WRITER = fileURLToPath(new URL('./fixtures/crash-writer.js', import.meta.url));
const DEVICE_BYTES = deviceBytesForGroups(10);

interface SeedOutcome {
  problems: string[];
  acked: number;
  unacked: number;
}

/**
 * Runs the writer and SIGKILLs it: `killAfterOpenMs` after it reported the store open, or, when
 * `killAfterSpawnMs` is given, that long after spawning (during start-up and recovery).
 */
async function killedRun(args: { log: string }, kill: { afterOpenMs: number } | { afterSpawnMs: number }): Promise<string | undefined> {
  writeFileSync(args.log, '');
  const child = spawn(process.execPath, [WRITER, JSON.stringify(args)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let timer: NodeJS.Timeout | undefined;
  if ('afterSpawnMs' in kill) {
    timer = setTimeout(() => child.kill('SIGKILL'), kill.afterSpawnMs);
  } else {
    const poll = setInterval(() => {
      if (!readFileSync(args.log, 'utf8').startsWith('# opened')) return;
      clearInterval(poll);
      timer = setTimeout(() => child.kill('SIGKILL'), kill.afterOpenMs);
    }, 5);
    void exited.then(() => clearInterval(poll));
  }
  const { code, signal } = await exited;
  clearTimeout(timer);
  return signal === 'SIGKILL' ? undefined : `writer exited by itself (code ${code}, signal ${signal}): ${stderr.slice(0, 2000)}`;
}

async function runSeed(device: string, dir: string, seed: number): Promise<SeedOutcome> {
  const random = rng(seed);
  // Every fifth seed writes over a key space wider than the initially allocated groups.
  const ids = Array.from({ length: seed % 5 === 0 ? 1500 : 48 }, (_, i) => `key-${i}`);
  await Engine.format(device, { sizeBytes: DEVICE_BYTES, force: true });
  let state: ModelState = new Map();
  const outcome: SeedOutcome = { problems: [], acked: 0, unacked: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const log = join(dir, `seed-${seed}-round-${round}.log`);
    const args = { device, log, seed: seed * 100 + round, ids, versionBase: (round + 1) * 1e9, opBase: round * 1e7, concurrency: 64, create: false, sizeBytes: DEVICE_BYTES };
    // Mostly while writing; one kill in six lands during start-up or recovery.
    const kill = random() < 1 / 6 ? { afterSpawnMs: Math.floor(random() * 300) } : { afterOpenMs: Math.floor(random() * 300) };
    const failure = await killedRun(args, kill);
    if (failure !== undefined) outcome.problems.push(`seed ${seed} round ${round}: ${failure}`);
    const events = parseLog(readFileSync(log, 'utf8'));
    const engine = await Engine.open(device);
    try {
      const verdict = await verifyRecovered(engine, events, state, ids);
      const scrub = await engine.scrub();
      outcome.problems.push(...verdict.problems.map((problem) => `seed ${seed} round ${round}: ${problem}`));
      if (scrub.corruptTotal > 0) outcome.problems.push(`seed ${seed} round ${round}: scrub found ${scrub.corruptTotal} corrupt blocks`);
      outcome.acked += verdict.acked;
      outcome.unacked += verdict.unacked;
      state = verdict.state;
    } finally {
      await engine.close();
    }
  }
  return outcome;
}

async function runSeeds(t: Test, seeds: number[], deviceFor: (seed: number) => string, dir: string, parallel: number): Promise<void> {
  const problems: string[] = [];
  let acked = 0;
  let unacked = 0;
  const queue = [...seeds];
  const worker = async (): Promise<void> => {
    for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) {
      const outcome = await runSeed(deviceFor(seed), dir, seed).catch((error: Error) => ({ problems: [`seed ${seed}: ${error.stack}`], acked: 0, unacked: 0 }));
      problems.push(...outcome.problems);
      acked += outcome.acked;
      unacked += outcome.unacked;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  t.comment(`${seeds.length} seeds × ${ROUNDS} SIGKILL rounds: ${acked} ops answered before the kills, ${unacked} in flight at the kills`);
  t.same(problems, [], 'every acknowledged write survives each SIGKILL; nothing unwritten appears; no checksum errors');
  if (seeds.length > 0) t.ok(acked > seeds.length * ROUNDS * 20, 'the writer got real work done before the kills');
}

// Longer than tap's 30 s default when the file runs on its own (`node file.js`).
t.setTimeout(600_000);

t.test(`SIGKILL crash rounds on regular files (${SEEDS} seeds)`, async (t) => {
  const dir = tempDir(t);
  t.comment(`backing: regular files in ${dir}`);
  const seeds = Array.from({ length: SEEDS }, (_, i) => i + 1);
  await runSeeds(t, seeds, (seed) => join(dir, `device-${seed}`), dir, PARALLEL_SEEDS);
});

t.test(`SIGKILL crash rounds on a loop device (${LOOP_SEEDS} seeds)`, async (t) => {
  const dir = tempDir(t);
  const loop = loopDevice(t, dir, 'loop-backing', DEVICE_BYTES);
  if (loop === undefined) {
    t.comment('backing: none — losetup is not usable here, loop-device seeds skipped');
    t.pass('skipped: losetup unavailable', { skip: true });
    return;
  }
  t.comment(`backing: loop device ${loop.device} over ${loop.file}`);
  const seeds = Array.from({ length: LOOP_SEEDS }, (_, i) => 1000 + i);
  await runSeeds(t, seeds, () => loop.device, dir, 1);
});
