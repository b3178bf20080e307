// The status page's rendering helpers, run the way the browser runs them: from their source in the
// page's script, in an empty context (so a helper reaching outside PAGE_HELPERS fails here).
import t from 'tap';
import vm from 'node:vm';
import { statusPageHtml } from '../src/status-page.js';
import type { ClusterJson, RingJson } from '../src/status-page-view.js';

interface Helpers {
  membersHtml(cluster: ClusterJson, colours: Map<string, string>): string;
  ringSvgHtml(ring: RingJson, colours: Map<string, string>): string;
  nodeColours(names: string[]): Map<string, string>;
}

function pageHelpers(): Helpers {
  const script = /<script>([\s\S]*)<\/script>/.exec(statusPageHtml())![1]!;
  new vm.Script(script); // the whole script parses
  const context = vm.createContext({});
  vm.runInContext(`${script.slice(0, script.indexOf('const POLL_INTERVAL_MS'))}\nthis.helpers = { membersHtml, ringSvgHtml, nodeColours };`, context);
  return (context as { helpers: Helpers }).helpers;
}

const hostile = '<img src=x onerror=alert(1)>"\'&';

t.test('names from the cluster are escaped in text and attributes', async (t) => {
  const { membersHtml, ringSvgHtml, nodeColours } = pageHelpers();
  const colours = nodeColours([hostile, 'node-1']);
  const cluster: ClusterJson = { cluster: hostile, epoch: 1, replicationFactor: 2, vnodes: 1, migration: null, members: [{ name: hostile, addr: hostile, zone: hostile, state: hostile, inRing: true, ownershipShare: 1 }] };
  const ring: RingJson = { epoch: 1, nodes: [{ name: hostile }], tokens: [{ token: '5', node: hostile }], migration: { epoch: 2, rangesTotal: 1, ranges: [{ start: '1', end: '5', from: [hostile], to: [hostile] }] } };
  for (const html of [membersHtml(cluster, colours), ringSvgHtml(ring, colours)]) {
    t.notMatch(html, /<img|"'&<|onerror=alert\(1\)>/, 'no raw markup from a name');
    t.match(html, '&#60;img src=x onerror=alert(1)&#62;&#34;&#39;&#38;');
  }
});

t.test('one arc per token, coloured by node; shares of replicas sum to 100%', async (t) => {
  const { membersHtml, ringSvgHtml, nodeColours } = pageHelpers();
  const tokens = ['100', '6148914691236517205', '12297829382473034410', '18446744073709551615'].map((token, index) => ({ token, node: `node-${(index % 2) + 1}` }));
  const colours = nodeColours(['node-2', 'node-1']);
  const svg = ringSvgHtml({ epoch: 7, nodes: [{ name: 'node-1' }, { name: 'node-2' }], tokens, migration: null }, colours);
  t.equal(svg.match(/<path class="token"/g)?.length, 4);
  t.equal(svg.match(/data-node="node-1"[^>]*stroke="hsl\(0 /g)?.length, 2, 'node-1 keeps its colour');
  t.match(svg, 'data-ring-epoch="7"');
  t.notMatch(svg, /NaN/);
  const members = membersHtml({ cluster: 'c', epoch: 7, replicationFactor: 2, vnodes: 2, migration: null, members: [{ name: 'node-1', addr: 'a', state: 'live', inRing: true, ownershipShare: 1 }, { name: 'node-2', addr: 'b', state: 'down', inRing: true, ownershipShare: 1 }] }, colours);
  t.same([...members.matchAll(/data-field="replica-share">([\d.]+)%/g)].map((match) => match[1]), ['50.0', '50.0']);
  t.match(members, '<tr data-member="node-2" data-state="down"');
});
