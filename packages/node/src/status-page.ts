// GET /: a live status page. One self-contained HTML document (inline CSS and script, nothing
// loaded from elsewhere) whose script polls this node's /cluster, /health and, when the ring or the
// migration changed, /cluster/ring, and redraws the members, the ring, the migration and repair.
// The rendering is the pure helpers of status-page-view.ts; this file holds the page's plumbing.
// A Content-Security-Policy pins the inline script and style by hash and allows same-origin fetches only.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Route } from './http/router.js';
import { PAGE_HELPERS } from './status-page-view.js';

/** Between the end of one poll and the start of the next. */
const POLL_INTERVAL_MS = 1_000;
/** Bound on each fetch of a poll; beyond it the page says the node is unreachable and tries again. */
const FETCH_TIMEOUT_MS = 2_500;

const STYLE = `
:root { color-scheme: light dark; font: 14px/1.45 system-ui, sans-serif; }
body { margin: 0 auto; max-width: 76rem; padding: 1rem 1.25rem; }
h1 { font-size: 1.3rem; margin: 0; } h2 { font-size: 1.05rem; border-bottom: 1px solid #8884; padding-bottom: .2rem; }
#banner { background: #b91c1c; color: #fff; padding: .5rem .75rem; border-radius: 4px; }
body[data-reachable="false"] main { opacity: .5; }
table { border-collapse: collapse; } th, td { padding: .2rem .6rem; text-align: left; border-bottom: 1px solid #8883; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.state.live { color: #15803d; } .state.down { color: #dc2626; font-weight: 600; }
.note { color: #888; font-size: .85em; }
.swatch { width: .8em; height: .8em; vertical-align: -.05em; }
progress { width: 6rem; vertical-align: middle; }
#ring-body { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: center; }
svg.ring { width: 320px; height: 320px; }
svg.ring .track { fill: none; stroke: #8883; stroke-width: 22; }
svg.ring path.token { fill: none; stroke-width: 22; }
svg.ring path.moving { fill: none; stroke: currentColor; stroke-width: 8; }
svg.ring text { text-anchor: middle; fill: currentColor; } svg.ring .epoch { font-size: 18px; font-weight: 600; }
.legend { list-style: none; padding: 0; } .legend li { margin: .2rem 0; }
.moving-key { display: inline-block; width: .9em; height: .35em; background: currentColor; vertical-align: middle; }
`;

// The page's plumbing; the helpers it calls (membersHtml, ringSvgHtml, …) are PAGE_HELPERS' source.
const MAIN = `
const POLL_INTERVAL_MS = ${POLL_INTERVAL_MS};
const FETCH_TIMEOUT_MS = ${FETCH_TIMEOUT_MS};
const page = { ring: null, drawn: { ring: null, names: '', html: '' }, shown: new Map(), polls: 0 };

function show(id, html) {
  if (page.shown.get(id) === html) return;
  page.shown.set(id, html);
  document.getElementById(id).innerHTML = html;
}

async function getJson(path) {
  const response = await fetch(path, { cache: 'no-store', headers: { accept: 'application/json' }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  const body = await response.json().catch(() => null);
  return { ok: response.ok && body !== null, status: response.status, body };
}

/** The ring held matches the epoch and the migration /cluster reports (else it is fetched again). */
function ringIsCurrent(ring, cluster) {
  if (!ring || ring.epoch !== cluster.epoch) return false;
  return (ring.migration ? ring.migration.epoch : null) === (cluster.migration ? cluster.migration.epoch : null);
}

async function load() {
  const [cluster, health] = await Promise.all([getJson('/cluster'), getJson('/health')]);
  if (!cluster.ok) throw Object.assign(new Error('/cluster answered ' + cluster.status), { httpStatus: cluster.status });
  if (!ringIsCurrent(page.ring, cluster.body)) {
    const ring = await getJson('/cluster/ring');
    if (ring.ok) page.ring = ring.body; // 503 before the first ring: keep what was drawn, ask again next poll
  }
  return { cluster: cluster.body, health: health.ok ? health.body : null, ring: page.ring };
}

function ringHtml(ring, colours) {
  const names = [...colours.keys()].join(' ');
  if (page.drawn.ring !== ring || page.drawn.names !== names) page.drawn = { ring, names, html: ringSvgHtml(ring, colours) };
  return page.drawn.html;
}

function render({ cluster, health, ring }) {
  const members = Array.isArray(cluster.members) ? cluster.members : [];
  const colours = nodeColours([...members.map((member) => member.name), ...(ring && Array.isArray(ring.nodes) ? ring.nodes.map((node) => node.name) : [])]);
  document.title = 'ringblock · ' + cluster.cluster;
  document.getElementById('cluster-name').textContent = cluster.cluster;
  document.getElementById('served-by').textContent = 'served by ' + (health ? health.node : '?') + ' · updated ' + new Date().toLocaleTimeString();
  show('members-body', membersHtml(cluster, colours));
  show('ring-body', ring ? ringHtml(ring, colours) : '<p>No committed ring is known yet.</p>');
  show('migration-body', migrationHtml(cluster.migration ?? null));
  show('repair-body', health ? healingHtml(health) : '<p>/health did not answer.</p>');
}

function setProblem(problem) {
  const banner = document.getElementById('banner');
  banner.hidden = problem === null;
  banner.textContent = problem ?? '';
  document.body.dataset.reachable = problem === null ? 'true' : 'false';
}

function describe(error) {
  if (error && error.httpStatus) return 'this node answered HTTP ' + error.httpStatus + ' on /cluster; retrying';
  const why = error && error.name === 'TimeoutError' ? 'no answer within ' + FETCH_TIMEOUT_MS / 1000 + ' s' : String(error && error.message);
  return 'this node is unreachable (' + why + '); retrying every ' + POLL_INTERVAL_MS / 1000 + ' s';
}

async function poll() {
  let snapshot;
  try {
    snapshot = await load();
  } catch (error) {
    return setProblem(describe(error));
  }
  setProblem(null);
  render(snapshot);
}

function loop() {
  poll()
    .catch((error) => reportError(error))
    .finally(() => {
      page.polls++;
      document.body.dataset.polls = String(page.polls);
      setTimeout(loop, POLL_INTERVAL_MS);
    });
}
loop();
`;

const SCRIPT = `'use strict';\n${PAGE_HELPERS.map(String).join('\n\n')}\n${MAIN}`;
assert.ok(!/<\/script/i.test(SCRIPT), 'the inline script cannot close its own element');

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ringblock</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-reachable="unknown" data-polls="0">
<header>
<h1>ringblock <span id="cluster-name"></span></h1>
<p id="served-by" class="note">loading…</p>
<p id="banner" role="alert" hidden></p>
</header>
<main>
<section id="members"><h2>Members</h2><div id="members-body"></div></section>
<section id="ring"><h2>Ring</h2><div id="ring-body"></div></section>
<section id="migration"><h2>Migration</h2><div id="migration-body"></div></section>
<section id="repair"><h2>Repair and healing (this node)</h2><div id="repair-body"></div></section>
</main>
<noscript>This page draws itself with JavaScript; the same data is at /cluster, /cluster/ring and /health.</noscript>
<script>${SCRIPT}</script>
</body>
</html>
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
const BODY = Buffer.from(HTML, 'utf8');

/** The page's HTML (for tests of the page without a node). */
export function statusPageHtml(): string {
  return HTML;
}

export function statusPageRoutes(): Route[] {
  return [
    {
      name: 'status_page',
      pattern: /^\/$/,
      methods: {
        GET: ({ res }) => {
          res.writeHead(200, {
            'content-type': 'text/html; charset=utf-8',
            'content-length': BODY.length,
            'cache-control': 'no-store',
            'content-security-policy': CONTENT_SECURITY_POLICY,
            'x-content-type-options': 'nosniff',
            'referrer-policy': 'no-referrer',
          });
          res.end(BODY);
        },
      },
    },
  ];
}
