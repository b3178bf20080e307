// A benchmark chart as a standalone SVG (no library, no script): for every case a group of bars,
// one per series it has (e.g. the cluster beside its baseline), throughput on top and latency quantiles
// below (p50 as the bar, p99 as a tick above it). Pure: figures in, SVG text out.

export interface ChartSeries {
  name: string;
  color: string;
}

export interface ChartValue {
  series: string;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export interface ChartGroup {
  label: string;
  values: readonly ChartValue[];
}

const BAR_WIDTH = 14;
const BAR_GAP = 3;
const GROUP_GAP = 18;
const PANEL_HEIGHT = 180;
const MARGIN = { left: 64, right: 16, top: 66, bottom: 140 };
const PANEL_GAP = 56;
/** Groups drawn at most (a chart nobody can read is no chart). */
const GROUPS_MAX = 64;

export function renderBenchChart(title: string, series: readonly ChartSeries[], groups: readonly ChartGroup[]): string {
  if (groups.length > GROUPS_MAX) throw new RangeError(`at most ${GROUPS_MAX} groups in a chart, got ${groups.length}`);
  const barsPerGroup = Math.max(1, ...groups.map((group) => group.values.length));
  const groupWidth = barsPerGroup * (BAR_WIDTH + BAR_GAP) - BAR_GAP;
  const plotWidth = Math.max(1, groups.length) * (groupWidth + GROUP_GAP);
  const width = MARGIN.left + plotWidth + MARGIN.right;
  const height = MARGIN.top + 2 * PANEL_HEIGHT + PANEL_GAP + MARGIN.bottom;
  const values = groups.flatMap((group) => group.values);
  const opsMax = niceCeiling(Math.max(1, ...values.map((value) => value.opsPerSecond)));
  const latencyMax = niceCeiling(Math.max(0.001, ...values.map((value) => value.p99Ms)));
  const throughputTop = MARGIN.top;
  const latencyTop = MARGIN.top + PANEL_HEIGHT + PANEL_GAP;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    ...legend(series, MARGIN.left, 36),
    ...axis('ops/s', opsMax, throughputTop, plotWidth),
    ...axis('latency ms (bar p50, tick p99)', latencyMax, latencyTop, plotWidth),
  ];
  groups.forEach((group, groupIndex) => {
    const groupX = MARGIN.left + GROUP_GAP / 2 + groupIndex * (groupWidth + GROUP_GAP);
    // The group's bars side by side, in the order of the legend.
    const drawn = series.filter((entry) => group.values.some((value) => value.series === entry.name));
    drawn.forEach((entry, barIndex) => {
      const value = group.values.find((candidate) => candidate.series === entry.name)!;
      const x = groupX + barIndex * (BAR_WIDTH + BAR_GAP);
      const opsHeight = (value.opsPerSecond / opsMax) * PANEL_HEIGHT;
      parts.push(`<rect x="${x}" y="${fixed(throughputTop + PANEL_HEIGHT - opsHeight)}" width="${BAR_WIDTH}" height="${fixed(opsHeight)}" fill="${entry.color}"><title>${escapeXml(`${group.label} · ${entry.name}: ${Math.round(value.opsPerSecond)} ops/s`)}</title></rect>`);
      const p50Height = (value.p50Ms / latencyMax) * PANEL_HEIGHT;
      const p99Y = latencyTop + PANEL_HEIGHT - (value.p99Ms / latencyMax) * PANEL_HEIGHT;
      parts.push(`<rect x="${x}" y="${fixed(latencyTop + PANEL_HEIGHT - p50Height)}" width="${BAR_WIDTH}" height="${fixed(p50Height)}" fill="${entry.color}" fill-opacity="0.6"><title>${escapeXml(`${group.label} · ${entry.name}: p50 ${value.p50Ms.toFixed(2)} ms, p99 ${value.p99Ms.toFixed(2)} ms`)}</title></rect>`);
      parts.push(`<line x1="${x}" x2="${x + BAR_WIDTH}" y1="${fixed(p99Y)}" y2="${fixed(p99Y)}" stroke="${entry.color}" stroke-width="2"/>`);
    });
    const labelX = groupX + groupWidth / 2;
    const labelY = latencyTop + PANEL_HEIGHT + 12;
    parts.push(`<text x="${fixed(labelX)}" y="${labelY}" text-anchor="end" transform="rotate(-40 ${fixed(labelX)} ${labelY})">${escapeXml(group.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function legend(series: readonly ChartSeries[], x: number, y: number): string[] {
  return series.flatMap((entry, index) => {
    const at = x + index * 170;
    return [`<rect x="${at}" y="${y - 9}" width="10" height="10" fill="${entry.color}"/>`, `<text x="${at + 14}" y="${y}">${escapeXml(entry.name)}</text>`];
  });
}

/** A panel's frame: the y axis with 4 gridlines labelled 0…max, and its title. */
function axis(label: string, max: number, top: number, plotWidth: number): string[] {
  const lines = [`<text x="${MARGIN.left}" y="${top - 8}" fill="#444">${escapeXml(label)}</text>`];
  for (let step = 0; step <= 4; step++) {
    const y = top + PANEL_HEIGHT - (step / 4) * PANEL_HEIGHT;
    lines.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${y}" y2="${y}" stroke="#dddddd"/>`);
    lines.push(`<text x="${MARGIN.left - 6}" y="${y + 4}" text-anchor="end" fill="#444">${formatTick((step / 4) * max)}</text>`);
  }
  return lines;
}

/** The smallest 1, 2 or 5 × 10^n at or above `value`. */
export function niceCeiling(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const factor of [1, 2, 5, 10]) if (factor * power >= value) return factor * power;
  return 10 * power;
}

function formatTick(value: number): string {
  if (value >= 1000) return `${Number((value / 1000).toFixed(1))}k`;
  return String(Number(value.toPrecision(3)));
}

function fixed(value: number): string {
  return value.toFixed(1);
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (char) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[char]!);
}
