// The status page (GET /) in headless Chromium against a real 3-node cluster: every member shown
// live, the ring drawn with every token of /cluster/ring coloured by node, ownership shares that add
// up, a SIGKILLed node shown down by the page's own refresh (no reload), an unreachable node said so
// while the page keeps trying, and no console or page errors. The page only talks to its node.
import t from 'tap';
import { chromium } from 'playwright-core';
import { request, startCluster } from './support/cluster.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Bound on every wait for the page: launch, load, and each change it must show. */
const PAGE_TIMEOUT_MS = 30_000;
/** What Chromium logs for a fetch of a stopped node (only expected while node-1 is down). */
const NETWORK_FAILURE = /Failed to load resource|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE/;

interface ClusterJson {
  replicationFactor: number;
  members: { name: string; ownershipShare: number }[];
}

interface RingJson {
  epoch: number;
  tokens: { token: string; node: string }[];
}

interface Row {
  name: string;
  state: string;
  inRing: string;
  share: number;
  replicaShare: number;
}

t.test('the status page in Chromium', async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: PAGE_TIMEOUT_MS });
  t.teardown(() => browser.close());
  // RF 2 on 3 nodes: each holds a replica of about 2/3 of the hash space (at RF 3 every node holds all of it).
  const cluster = await startCluster(t, { env: { RINGBLOCK_REPLICATION_FACTOR: '2' } });
  const url = cluster.node('node-1').spec.url;

  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  const requested: string[] = [];
  page.on('request', (sent) => requested.push(sent.url()));
  let navigations = 0;
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations++;
  });
  const rows = () =>
    page.locator('tr[data-member]').evaluateAll((elements) =>
      elements.map((row) => ({
        name: row.getAttribute('data-member'),
        state: row.getAttribute('data-state'),
        inRing: row.getAttribute('data-in-ring'),
        share: parseFloat(row.querySelector('[data-field="share"]').textContent),
        replicaShare: parseFloat(row.querySelector('[data-field="replica-share"]').textContent),
      })),
    ) as Promise<Row[]>;

  const response = await page.goto(`${url}/`);
  t.equal(response?.status(), 200, 'GET / answers 200');
  t.match(response?.headers()['content-type'], /^text\/html; charset=utf-8$/);

  await t.test('a row per member, all live and in the ring', async (t) => {
    // Locator waits, not string predicates: the page's CSP forbids eval, and the test keeps it on.
    await page.locator('tr[data-member][data-state="live"]').nth(2).waitFor();
    const shown = await rows();
    t.same(shown.map((row) => [row.name, row.state, row.inRing]), [['node-1', 'live', 'true'], ['node-2', 'live', 'true'], ['node-3', 'live', 'true']]);
    t.match(await page.locator('#served-by').textContent(), /served by node-1/);
    t.equal(await page.locator('#banner').isHidden(), true, 'no unreachable banner');
  });

  await t.test('the ring: every token of /cluster/ring, in order, coloured by its node', async (t) => {
    const ring = (await request(`${url}/cluster/ring`)).json<RingJson>();
    const svg = page.locator(`svg[data-ring-epoch="${ring.epoch}"]`);
    await svg.waitFor();
    const drawn = (await svg.locator('path.token').evaluateAll((paths) => paths.map((path) => ({ token: path.getAttribute('data-token'), node: path.getAttribute('data-node'), stroke: path.getAttribute('stroke') })))) as { token: string; node: string; stroke: string }[];
    t.equal(drawn.length, ring.tokens.length, `${ring.tokens.length} token arcs`);
    t.same(drawn.map(({ token, node }) => ({ token, node })), ring.tokens, 'the same tokens and nodes, in ring order');
    t.same([...new Set(drawn.map((arc) => arc.node))].sort(), ['node-1', 'node-2', 'node-3'], 'every node has tokens drawn');
    for (const name of ['node-1', 'node-2', 'node-3']) {
      const strokes = new Set(drawn.filter((arc) => arc.node === name).map((arc) => arc.stroke));
      t.equal(strokes.size, 1, `${name}'s tokens share one colour`);
    }
    t.equal(new Set(drawn.map((arc) => arc.stroke)).size, 3, 'three distinct colours');
    t.equal(await page.locator('[data-legend-node]').count(), 3, 'a legend entry per node');
    t.equal(await svg.locator('path.moving').count(), 0, 'no migration ranges while none runs');
    t.equal(await page.locator('[data-migration-phase="none"]').count(), 1, 'no migration shown');
  });

  await t.test('ownership shares as /cluster gives them, adding up', async (t) => {
    const status = (await request(`${url}/cluster`)).json<ClusterJson>();
    const shown = await rows();
    for (const member of status.members) {
      const row = shown.find((candidate) => candidate.name === member.name);
      // "holds" is ownershipShare (share of the hash space the node keeps a replica of), to 0.1%.
      t.ok(Math.abs(row!.share - member.ownershipShare * 100) <= 0.051, `${member.name} holds ${row!.share}% (${member.ownershipShare})`);
    }
    const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
    t.ok(Math.abs(sum(shown.map((row) => row.share)) - status.replicationFactor * 100) <= 0.2, 'holds sums to RF × 100% (every position has RF replicas)');
    t.ok(Math.abs(sum(shown.map((row) => row.replicaShare)) - 100) <= 0.2, 'of replicas sums to 100%');
    t.ok(shown.every((row) => row.share > 0 && row.share < 100), 'at RF 2 on 3 nodes nobody holds everything');
  });

  await t.test('node-3 SIGKILLed: the live refresh shows it down, without a reload', async (t) => {
    await page.evaluate('window.__loadedBeforeKill = true');
    await cluster.node('node-3').kill();
    await page.waitForSelector('tr[data-member="node-3"][data-state="down"]');
    const shown = await rows();
    t.same(shown.map((row) => [row.name, row.state, row.inRing]), [['node-1', 'live', 'true'], ['node-2', 'live', 'true'], ['node-3', 'down', 'true']], 'down, and still in the ring inside the down grace');
    t.equal(await page.evaluate('window.__loadedBeforeKill === true'), true, 'the same document: no reload');
    t.equal(navigations, 1, 'one navigation only');
    t.same(problems, [], 'no console errors or page errors');
  });

  await t.test('node-1 stopped: the page says it is unreachable and keeps trying until it is back', async (t) => {
    await cluster.node('node-1').kill();
    const banner = page.locator('#banner');
    await banner.waitFor({ state: 'visible' });
    t.match(await banner.textContent(), /this node is unreachable/);
    t.equal(await page.locator('body').getAttribute('data-reachable'), 'false');
    const polls = Number(await page.locator('body').getAttribute('data-polls'));
    await page.locator(`body[data-polls="${polls + 2}"]`).waitFor({ state: 'attached' });
    t.pass('polls go on while the node is unreachable');
    cluster.node('node-1').start();
    await cluster.node('node-1').waitReady();
    await banner.waitFor({ state: 'hidden' });
    await page.waitForSelector('tr[data-member="node-1"][data-state="live"]');
    t.equal(await page.locator('body').getAttribute('data-reachable'), 'true');
    t.equal(navigations, 1, 'still the same document');
    t.same(problems.filter((problem) => !NETWORK_FAILURE.test(problem)), [], 'only failed fetches were logged meanwhile');
  });

  t.same(requested.filter((sent) => !sent.startsWith(`${url}/`)), [], 'the page fetched nothing but its own node');
  t.ok(requested.some((sent) => sent === `${url}/cluster`) && requested.some((sent) => sent === `${url}/health`) && requested.some((sent) => sent === `${url}/cluster/ring`), 'it polls /cluster and /health and fetched /cluster/ring');
});
