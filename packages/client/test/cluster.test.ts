// End to end against a real local cluster (real ZooKeeper, three real node processes), started with
// the CLI (`ringblock up --detach`) rather than imported from it, so the client does not depend on the
// cli package. Round trips at every level in both modes, identical answers from both, ring-aware
// requests landing on each block's first owner (counted by the nodes' own /metrics), and typed
// errors carrying the node's code once a node is gone.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { CONSISTENCY_LEVELS, RingblockClient, TransportError, UnavailableError, ArgumentError } from '../src/index.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const CLI = join(REPO, 'packages/cli/dist/src/main.js');

interface Manifest {
  nodes: { name: string; url: string; pid: number }[];
}

async function cli(args: string[]): Promise<void> {
  await run(process.execPath, [CLI, ...args], { cwd: REPO, timeout: 120_000, env: { ...process.env, RINGBLOCK_LOG_LEVEL: 'warn' } });
}

/** `ringblock_requests_total{op="put",status="201"}` of one node. */
async function putsCounted(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith('ringblock_requests_total{') && candidate.includes('op="put"') && candidate.includes('status="201"'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

t.test('a real 3-node cluster through the client, plain and ring-aware', async (t) => {
  if (!existsSync(CLI)) await run('pnpm', ['exec', 'tsc', '-b', 'packages/cli'], { cwd: REPO, timeout: 300_000 });
  const dataDir = await mkdtemp(join(tmpdir(), 'ringblock-client-'));
  t.teardown(async () => {
    await cli(['down', '--data-dir', dataDir]).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });
  await cli(['up', '--nodes', '3', '--base-port', '0', '--data-dir', dataDir, '--device-size', '64M', '--detach']);
  const manifest = JSON.parse(await readFile(join(dataDir, 'cluster.json'), 'utf8')) as Manifest;
  const urls = manifest.nodes.map((node) => node.url);

  const plain = await RingblockClient.create({ nodes: urls });
  const aware = await RingblockClient.create({ nodes: [urls[0]!], ringAware: true });
  t.teardown(() => Promise.all([plain.close(), aware.close()]));
  t.type(aware.stats().ringEpoch, 'number', 'the ring-aware client read the ring from one node');
  t.same(aware.owners('any')?.length, 3, 'RF 3 over 3 nodes');

  await t.test('round trips at every level, both modes, identical answers', async (t) => {
    // Each level is paired with the one that overlaps it (W + R > RF), so a read sees the write even
    // through another coordinator: one with all, quorum with quorum, all with one.
    const overlapping = { one: 'all', quorum: 'quorum', all: 'one' } as const;
    for (const consistency of CONSISTENCY_LEVELS) {
      const read = { consistency: overlapping[consistency] };
      for (const [writer, reader] of [
        [plain, aware],
        [aware, plain],
      ] as const) {
        const id = `rt-${consistency}-${writer === plain ? 'plain' : 'aware'}`;
        const data = randomBytes(4096);
        const { version } = await writer.put(id, data, { consistency });
        const fromReader = await reader.get(id, read);
        const fromWriter = await writer.get(id, read);
        t.ok(fromReader?.data.equals(data), `${id}: bytes read back`);
        t.same(fromReader, fromWriter, `${id}: both modes answer the same`);
        t.equal(fromReader?.version, version);
        t.same(await reader.head(id, read), { version });
        t.type((await reader.delete(id, { consistency })).version, 'string');
        t.equal(await writer.get(id, { consistency: overlapping[consistency] }), undefined, `${id}: gone after delete`);
        t.equal(await writer.head(id, { consistency: overlapping[consistency] }), undefined);
      }
    }
    await t.rejects(aware.put('short', randomBytes(4095)), { constructor: ArgumentError, code: 'BLOCK_SIZE' });
    await t.rejects(plain.get('bad id'), { constructor: ArgumentError, code: 'BAD_ID' });
  });

  await t.test('ring-aware PUTs land on each block’s first owner (by the nodes’ metrics)', async (t) => {
    const ids = Array.from({ length: 30 }, (_, index) => `owner-${index}`);
    const expected = new Map(manifest.nodes.map((node) => [node.name, 0]));
    for (const id of ids) {
      const first = aware.owners(id)![0]!;
      expected.set(first, expected.get(first)! + 1);
    }
    const before = await Promise.all(urls.map(putsCounted));
    for (const id of ids) await aware.put(id, randomBytes(4096));
    const after = await Promise.all(urls.map(putsCounted));
    const counted = new Map(manifest.nodes.map((node, index) => [node.name, after[index]! - before[index]!]));
    t.same(counted, expected, 'each node coordinated exactly the PUTs of the blocks it is first owner of');
    t.ok([...expected.values()].filter((count) => count > 0).length >= 2, 'the blocks are spread over the nodes');
    const stats = aware.stats();
    t.equal(stats.ownerAttempts, stats.attempts, 'every attempt went to an owner');
  });

  await t.test('a node gone: ring-aware requests move to the next owner; `all` fails with UNAVAILABLE', async (t) => {
    const gone = manifest.nodes[2]!;
    const ids = Array.from({ length: 12 }, (_, index) => `failover-${index}`);
    for (const id of ids) await aware.put(id, randomBytes(4096), { consistency: 'all' });
    process.kill(gone.pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 200));

    const theirs = ids.filter((id) => aware.owners(id)![0] === gone.name);
    t.ok(theirs.length > 0, 'some blocks had the gone node as first owner');
    for (const id of ids) t.ok(await aware.get(id, { consistency: 'quorum' }), `${id} still readable at quorum`);

    const put = (await aware.put('after-loss', randomBytes(4096), { consistency: 'all' }).catch((error: unknown) => error)) as UnavailableError;
    t.type(put, UnavailableError, 'the node’s 503 arrives as a typed error');
    t.match(put, { code: 'UNAVAILABLE', status: 503, required: 3, attempts: 1 }, 'a PUT that may have been applied is not retried');
    t.ok(put.acked < 3);

    const get = (await plain.get(ids[0]!, { consistency: 'all', timeoutMs: 10_000 }).catch((error: unknown) => error)) as Error;
    t.ok(get instanceof UnavailableError || get instanceof TransportError, `a GET at all fails (${get.name})`);
    t.match(get, { attempts: 3 }, 'a GET is retried, at most retries + 1 = 3 attempts');
  });
});
