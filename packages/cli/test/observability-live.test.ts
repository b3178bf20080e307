// The deployment files against real processes: the paths Kubernetes probes and Prometheus scrapes
// answer on a real node, and the Docker HEALTHCHECK command works as written. (The chaos verifier
// Job's command, `ringblock chaos-verify`, runs against a real cluster in chaos-verify.test.ts.)
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findFreePort } from '@ringblock/coord';
import { request, startCluster } from './support/cluster.js';
import { parseYamlSubset, repoRoot } from './support/prometheus.js';

const run = promisify(execFile);
const ROOT = repoRoot();

t.test('probes, scrape path and health check against a real cluster', async (t) => {
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
});
