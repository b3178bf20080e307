// The deployment files against real processes: the paths Kubernetes probes and Prometheus scrapes
// answer on a real node, the Docker HEALTHCHECK command works as written, and the chaos verifier Job's
// script finds nothing lost when a node is killed under its writes (and does find a loss when a server
// returns other bytes than it acknowledged).
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { findFreePort } from '@ringblock/coord';
import { request, startCluster } from './support/cluster.js';
import { parseYamlSubset, repoRoot } from './support/prometheus.js';

const run = promisify(execFile);
const ROOT = repoRoot();
const VERIFIER = join(ROOT, 'k8s/chaos/verify.mjs');
/** Bound on one verifier run (its own DURATION plus reading back). */
const VERIFIER_TIMEOUT_MS = 60_000;

interface VerifierRun {
  code: number | null;
  stdout: string;
}

function runVerifier(env: Record<string, string>, whileRunning?: () => Promise<void>): Promise<VerifierRun> {
  const child = spawn(process.execPath, [VERIFIER], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), VERIFIER_TIMEOUT_MS);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return Promise.all([exited, whileRunning?.()]).then(([code]) => {
    clearTimeout(timer);
    return { code, stdout };
  });
}

t.test('probes, scrape path, health check and the chaos verifier against a real cluster', async (t) => {
  const cluster = await startCluster(t, { nodes: 3, deviceSize: '64M' });
  const node = cluster.node('node-1');

  // The paths k8s/base/blockstore.yaml probes and scrapes.
  const manifests = parseYamlSubset(await readFile(join(ROOT, 'k8s/base/blockstore.yaml'), 'utf8')) as Record<string, any>[];
  const set = manifests.find((object) => object.kind === 'StatefulSet')!;
  const container = set.spec.template.spec.containers[0];
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    const path = container[probe].httpGet.path as string;
    t.equal((await request(`${node.spec.url}${path}`)).status, 200, `${probe} ${path} answers 200 on a ready node`);
  }
  const scrape = await request(`${node.spec.url}${set.spec.template.metadata.annotations['prometheus.io/path']}`);
  t.equal(scrape.status, 200, 'the prometheus.io/path answers 200');
  t.match(scrape.headers.get('content-type') ?? '', /^text\/plain/, 'in the Prometheus text format');
  t.match(scrape.body.toString(), /^ringblock_requests_total\{/m, 'with the ringblock metrics');

  // The Docker HEALTHCHECK, run as Docker would run it (exec form), against the node and against nothing.
  const dockerfile = await readFile(join(ROOT, 'docker/Dockerfile'), 'utf8');
  const healthcheck = JSON.parse(/^HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
  t.equal(healthcheck[0], 'node', 'the health check runs node');
  const port = new URL(node.spec.url).port;
  const healthy = await run(process.execPath, healthcheck.slice(1), { env: { ...process.env, RINGBLOCK_PORT: port }, timeout: 10_000 }).then(() => 0, (error: { code?: number }) => error.code ?? -1);
  t.equal(healthy, 0, 'the health check passes on a ready node');
  const nowhere = await findFreePort();
  const unhealthy = await run(process.execPath, healthcheck.slice(1), { env: { ...process.env, RINGBLOCK_PORT: String(nowhere) }, timeout: 10_000 }).then(() => 0, (error: { code?: number }) => error.code ?? -1);
  t.equal(unhealthy, 1, 'and fails where no node listens');

  // The chaos verifier Job's script, with node-3 killed (SIGKILL) while it writes through node-1.
  const verified = await runVerifier({ RINGBLOCK_URL: node.spec.url, DURATION: '4', CONCURRENCY: '4', KEYS: '64', READ_ATTEMPTS: '10' }, async () => {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    cluster.node('node-3').signal('SIGKILL');
  });
  t.equal(verified.code, 0, `the verifier finds nothing lost with a node killed under its writes:\n${verified.stdout}`);
  t.match(verified.stdout, /^lost: 0, unreadable: 0$/m, 'and says so');
  const summary = JSON.parse(/^\{.*\}$/m.exec(verified.stdout)![0]) as { writesAcknowledged: number; keysChecked: number };
  t.ok(summary.writesAcknowledged > 0 && summary.keysChecked > 0, `${summary.writesAcknowledged} acknowledged writes, ${summary.keysChecked} keys read back`);
});

t.test('the chaos verifier reports a loss when reads return other bytes than were acknowledged', async (t) => {
  // A server that acknowledges every write and forgets it.
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'PUT') res.writeHead(201).end();
      else res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(randomBytes(4096));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address() as { port: number };
  const verified = await runVerifier({ RINGBLOCK_URL: `http://127.0.0.1:${address.port}`, DURATION: '1', CONCURRENCY: '2', KEYS: '8' });
  t.equal(verified.code, 1, 'the verifier exits 1');
  t.match(verified.stdout, /^lost: 8, unreadable: 0$/m, 'counting every key as lost');
});
