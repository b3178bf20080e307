// The Grafana dashboards (k8s/observability/dashboards/*.json, the one source of truth) are well
// formed: unique uids and panel ids, panels on the 24-column grid without overlaps, every query on the
// dashboard's Prometheus data source variable, only variables that are defined, and only ringblock_
// metrics (what the nodes and storage agents export; observability-prometheus.test.ts proves each
// returns series).
import t from 'tap';
import { loadDashboards, metricNames, queryPanels, scopeOf, type DashboardPanel } from './support/prometheus.js';

const GRID_COLUMNS = 24;
/** Grafana's own variables that the queries may use. */
const BUILT_IN_VARIABLES = new Set(['__rate_interval', '__interval', '__range']);
/** What the issue asks the dashboards to show, as words a panel title or description carries. */
const REQUIRED_SUBJECTS: readonly [string, RegExp][] = [
  ['request rate', /request rate/i],
  ['errors', /error/i],
  ['latency quantiles by op', /latency by operation/i],
  ['members up/down', /members/i],
  ['ring epoch', /ring epoch/i],
  ['storage per node', /blocks stored|bytes stored/i],
  ['ownership', /ownership share/i],
  ['migration progress', /migration|moved/i],
  ['repair', /repair/i],
  ['engine sync latency', /sync latency/i],
  ['SPDK device health', /device health/i],
  ['SPDK iostat', /iostat/i],
  ['volume FSM states', /FSM state/i],
  ['storage agent reconcile and errors', /reconcile/i],
  ['storage agent errors', /agent errors/i],
];

function overlaps(a: DashboardPanel, b: DashboardPanel): boolean {
  const ga = a.gridPos;
  const gb = b.gridPos;
  return ga.x < gb.x + gb.w && gb.x < ga.x + ga.w && ga.y < gb.y + gb.h && gb.y < ga.y + ga.h;
}

t.test('every dashboard is well formed', async (t) => {
  const dashboards = await loadDashboards();
  t.ok(dashboards.length >= 3, `${dashboards.length} dashboards`);
  t.equal(new Set(dashboards.map((dashboard) => dashboard.uid)).size, dashboards.length, 'uids are unique');
  for (const dashboard of dashboards) {
    const where = dashboard.file;
    t.match(dashboard.uid, /^[a-z0-9-]{1,40}$/, `${where}: a short uid`);
    t.equal(`${dashboard.uid}.json`, dashboard.file, `${where}: named after its uid`);
    const variables = dashboard.templating.list;
    const datasource = variables.find((variable) => variable.name === 'datasource');
    t.equal(datasource?.type, 'datasource', `${where}: a data source variable`);
    t.equal(datasource?.query, 'prometheus', `${where}: of Prometheus data sources`);
    const scope = scopeOf(dashboard);
    t.ok(scope && variables.find((variable) => variable.name === scope)?.includeAll, `${where}: a node (peers) or host (storage agents) variable with "All"`);
    const defined = new Set([...variables.map((variable) => variable.name), ...BUILT_IN_VARIABLES]);

    const all = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
    t.equal(new Set(all.map((panel) => panel.id)).size, all.length, `${where}: panel ids are unique`);
    for (const panel of all) {
      t.ok(panel.gridPos.x >= 0 && panel.gridPos.w > 0 && panel.gridPos.x + panel.gridPos.w <= GRID_COLUMNS, `${where} "${panel.title}": inside the grid`);
    }
    for (const [index, panel] of all.entries()) {
      const clash = all.slice(index + 1).find((other) => overlaps(panel, other));
      t.notOk(clash, `${where} "${panel.title}": overlaps no other panel${clash ? ` (overlaps "${clash.title}")` : ''}`);
    }
    for (const panel of queryPanels(dashboard)) {
      const name = `${where} "${panel.title}"`;
      t.ok(panel.description, `${name}: says what it shows`);
      t.equal(panel.datasource?.uid, '${datasource}', `${name}: on the data source variable`);
      const targets = panel.targets!;
      t.equal(new Set(targets.map((target) => target.refId)).size, targets.length, `${name}: query refIds are unique`);
      for (const target of targets) {
        t.equal(target.datasource?.uid, '${datasource}', `${name} ${target.refId}: on the data source variable`);
        const used = [...target.expr.matchAll(/\$\{?(\w+)\}?/g)].map((match) => match[1]!);
        t.same(used.filter((variable) => !defined.has(variable)), [], `${name} ${target.refId}: uses only defined variables`);
        const names = metricNames(target.expr);
        t.ok(names.length > 0, `${name} ${target.refId}: reads ringblock_ metrics (${names.join(', ')})`);
        const bare = target.expr.replace(/"[^"]*"/g, '""').replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '').replace(/\{[^}]*\}/g, '').replace(/\[[^\]]*\]/g, '');
        const foreign = [...bare.matchAll(/\b([a-z_:][a-z0-9_:]*)\b(?!\s*\()/gi)].map((match) => match[1]!).filter((word) => !word.startsWith('ringblock_') && !/^(and|or|unless|bool|offset|le|inf|nan)$/i.test(word) && !/^\d/.test(word));
        t.same(foreign, [], `${name} ${target.refId}: no metric outside ringblock_`);
      }
    }
  }
});

t.test('the dashboards cover what the issue asks for (of the metrics that exist)', async (t) => {
  const dashboards = await loadDashboards();
  const texts = dashboards.flatMap((dashboard) => queryPanels(dashboard).map((panel) => `${panel.title} ${panel.description ?? ''}`));
  for (const [subject, pattern] of REQUIRED_SUBJECTS) t.ok(texts.some((text) => pattern.test(text)), `a panel shows ${subject}`);
});
