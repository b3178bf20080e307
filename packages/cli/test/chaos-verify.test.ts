// `ringblock chaos-verify` (what the Kubernetes chaos verifier Job runs, scripts/chaos-k8s): the chaos
// runner's workload and checker against a cluster it did not start. Against a real local cluster with a
// node SIGKILLed and restarted under its writes (the fault coming from outside, as a pod killer's
// would) it finds no violation, and its history is one `ringblock chaos --check` reads; the same
// history with one final read turned into an older write is caught as a lost write; and against a
// server that acknowledges writes and forgets them, the command itself reports the losses and exits 1.
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acknowledged, type HistoryLine, type Operation } from '../src/chaos/history.js';
import { compareVersionText } from '../src/chaos/versions.js';
import { startCluster } from './support/cluster.js';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
/** Bound on one command run (its duration, the settle wait and the final reads). */
const RUN_TIMEOUT_MS = 120_000;

interface Run {
  /** Resolves when a line of output matches (rejects when the process ends first). */
  line(pattern: RegExp): Promise<string>;
  done: Promise<{ code: number | null; output: string }>;
}

/** `ringblock <args>` as a child process, SIGKILLed if it outlives RUN_TIMEOUT_MS. */
function ringblock(args: string[]): Run {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of [...waiters]) {
      const found = output.split('\n').find((line) => waiter.pattern.test(line));
      if (found !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(found);
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const done = once(child, 'close').then(([code]) => {
    clearTimeout(timer);
    return { code: code as number | null, output };
  });
  return {
    line: (pattern) => Promise.race([new Promise<string>((resolve) => waiters.push({ pattern, resolve })), done.then(({ output: all }) => Promise.reject(new Error(`ended without a line matching ${pattern}:\n${all}`)))]),
    done,
  };
}

async function readLines(file: string): Promise<HistoryLine[]> {
  return (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as HistoryLine);
}

/**
 * The history with one final read changed to return an older acknowledged PUT of its key (its write
 * id and version) than the newest acknowledged write, which is a PUT: a lost write. Undefined when no
 * key has two acknowledged PUTs.
 */
function withLostWrite(lines: HistoryLine[]): { lines: HistoryLine[]; key: string } | undefined {
  const operations = lines.filter((line): line is Operation => line.type === 'op');
  const keys = [...new Set(operations.map((op) => op.key))];
  for (const key of keys) {
    const acked = operations.filter((op) => op.key === key && op.kind !== 'get' && acknowledged(op) && op.version !== undefined).sort((a, b) => compareVersionText(a.version!, b.version!));
    const newest = acked.at(-1);
    const older = acked.find((op) => op.kind === 'put' && op !== newest);
    const final = operations.find((op) => op.key === key && op.phase === 'final' && op.status === 200);
    if (!newest || newest.kind !== 'put' || !older || !final || final.startMs <= newest.endMs) continue;
    const changed = lines.map((line) => (line === final ? { ...final, writeId: older.writeId!, version: older.version! } : line));
    return { lines: changed, key };
  }
  return undefined;
}

t.test('against a real cluster with a node killed and restarted under its writes: no violations', async (t) => {
  const cluster = await startCluster(t, { nodes: 3 });
  const dir = await mkdtemp(join(tmpdir(), 'ringblock-chaos-verify-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const historyFile = join(dir, 'history.jsonl');
  const [one, two, three] = cluster.nodes;
  const run = ringblock(['chaos-verify', '--url', one!.spec.url, '--url', two!.spec.url, '--duration', '8s', '--clients', '4', '--keys', '24', '--seed', '11', '--final-reads', 'members', '--settle-timeout', '60s', '--history', historyFile]);
  await run.line(/^verify: /);
  await three!.kill();
  three!.start();
  await three!.waitReady();
  const { code, output } = await run.done;
  t.equal(code, 0, `exit 0:\n${output}`);
  t.match(output, /^violations: 0$/m, 'no violations');
  t.match(output, /^checked 24 keys, \d+ final reads$/m, 'every key checked');
  const lines = await readLines(historyFile);
  const operations = lines.filter((line): line is Operation => line.type === 'op');
  t.match(lines[0], { type: 'run', seed: 11, nodes: 3, clients: 4, keys: 24, replicationFactor: 3 }, 'the history starts with the run header');
  t.ok(operations.filter((op) => op.kind === 'put' && acknowledged(op)).length > 20, 'the workload wrote through the targets');
  t.same([...new Set(operations.filter((op) => op.phase === 'final').map((op) => op.node))].sort(), ['node-1', 'node-2', 'node-3'], 'final reads through every member');
  t.ok(operations.every((op) => /^chaos-11-[a-z0-9]+-\d+$/.test(op.key)), 'keys of its own (seed and start time), not those of an earlier run');

  const recheck = await ringblock(['chaos', '--check', historyFile]).done;
  t.equal(recheck.code, 0, '`ringblock chaos --check` reads the history and agrees');
  t.match(recheck.output, /^violations: 0$/m);

  const lost = withLostWrite(lines);
  if (!lost) return void t.fail('no key with two acknowledged PUTs and a later final read in this run');
  const lostFile = join(dir, 'lost.jsonl');
  await writeFile(lostFile, `${lost.lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
  const caught = await ringblock(['chaos', '--check', lostFile]).done;
  t.equal(caught.code, 1, 'a final read of an older acknowledged write fails the check');
  t.match(caught.output, new RegExp(`^  lost-write ${lost.key}: `, 'm'), `and is reported as a lost write of ${lost.key}`);
});

t.test('against a server that acknowledges writes and forgets them: losses reported, exit 1', async (t) => {
  let clock = 0x10000000;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const version = `${(clock++).toString(16).padStart(12, '0')}0000-forgetful`;
      if (req.url === '/cluster') {
        const addr = `127.0.0.1:${(server.address() as { port: number }).port}`;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ replicationFactor: 3, members: [{ name: 'forgetful', addr, state: 'live', inRing: true }], migration: null }));
      } else if (req.method === 'PUT') res.writeHead(201, { etag: `"${version}"` }).end();
      else if (req.method === 'DELETE') res.writeHead(204, { etag: `"${version}"` }).end();
      else res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"NOT_FOUND"}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const { code, output } = await ringblock(['chaos-verify', '--url', url, '--duration', '2s', '--clients', '2', '--keys', '8', '--settle-timeout', '5s']).done;
  t.equal(code, 1, 'exit 1');
  t.match(output, /^violations: \d+ \(.*lost-write \d+/m, 'the summary counts lost writes');
  t.match(output, /^  lost-write chaos-\d+-[a-z0-9]+-\d+: /m, 'and names them with the operations that prove it');
});
