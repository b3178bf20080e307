// `ringblock repair [--url URL | --data-dir .ringblock] [--token T] [--watch] [--task ID]`: starts a
// full anti-entropy repair (POST /cluster/repair: every live ring node compares its ranges with the
// other owners and streams what differs) and, with --watch, follows GET /repairs/{id} with a progress
// bar until it ends. --task follows a repair already started instead of starting one.
import { parseArgs } from 'node:util';
import { readManifest } from './local-cluster.js';
import { progressBar } from './status.js';

/** How often --watch asks for progress. */
const POLL_MS = 1_000;
/** Bound on following a repair (it goes on if this gives up). */
const WATCH_MAX_MS = 24 * 3_600_000;
const CALL_TIMEOUT_MS = 15_000;

export interface RepairTaskJson {
  id: string;
  state: 'running' | 'done' | 'failed';
  progress: { rangesTotal: number; rangesDone: number; rangesRepaired: number; failures: number; blocksRepaired: number; ratio: number };
  nodes: { node: string; state: string; rangesTotal: number; rangesDone: number; failures: number; blocksRepaired: number }[];
}

/** One progress line: bar, ranges compared, ranges that differed, blocks streamed, failures. */
export function renderRepairLine(task: RepairTaskJson): string {
  const { progress } = task;
  return `${progressBar(progress.ratio)}  ${progress.rangesDone}/${progress.rangesTotal} range comparisons  ${progress.rangesRepaired} repaired  ${progress.blocksRepaired} blocks  ${progress.failures} failed  (${task.state})`;
}

/** The final report: the line, then one line per node. */
export function renderRepairReport(task: RepairTaskJson): string {
  const lines = [`repair ${task.id}: ${task.state}`, renderRepairLine(task)];
  for (const node of task.nodes) {
    lines.push(`  ${node.node.padEnd(14)}${node.state.padEnd(9)}${`${node.rangesDone}/${node.rangesTotal}`.padEnd(12)}${String(node.blocksRepaired).padStart(8)} blocks  ${node.failures} failed`);
  }
  return `${lines.join('\n')}\n`;
}

export async function repair(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string', default: '.ringblock' },
      url: { type: 'string' },
      token: { type: 'string' },
      watch: { type: 'boolean', default: false },
      task: { type: 'string' },
    },
  });
  const manifest = values.url && (values.token ?? process.env['RINGBLOCK_TOKEN']) ? undefined : await readManifest(values['data-dir']);
  const url = (values.url ?? manifest?.nodes[0]?.url ?? '').replace(/\/$/, '');
  if (!url) throw new Error('no node to ask: give --url or a --data-dir with a cluster file');
  const id = values.task ?? (await start(url, values.token ?? process.env['RINGBLOCK_TOKEN'] ?? manifest!.token));
  if (!values.watch) {
    process.stdout.write(`repair ${id} started; follow it with: ringblock repair --watch --task ${id}  (or GET ${url}/repairs/${id})\n`);
    return 0;
  }
  return watch(url, id);
}

async function start(url: string, token: string): Promise<string> {
  const response = await fetch(`${url}/cluster/repair`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  const body = (await response.json()) as { task?: string; error?: string };
  if (response.status !== 202 || !body.task) throw new Error(`the repair was refused: ${response.status} ${body.error ?? ''}`);
  return body.task;
}

async function watch(url: string, id: string): Promise<number> {
  const deadline = Date.now() + WATCH_MAX_MS;
  let shown = '';
  while (Date.now() < deadline) {
    const response = await fetch(`${url}/repairs/${id}`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
    if (response.status !== 200) throw new Error(`no repair ${id} at ${url}: ${response.status} ${await response.text()}`);
    const task = (await response.json()) as RepairTaskJson;
    if (task.state !== 'running') {
      process.stdout.write(`${process.stdout.isTTY ? '\x1b[2K\r' : ''}${renderRepairReport(task)}`);
      return task.state === 'done' ? 0 : 1;
    }
    const line = renderRepairLine(task);
    if (process.stdout.isTTY) process.stdout.write(`\x1b[2K\r${line}`);
    else if (line !== shown) process.stdout.write(`${line}\n`);
    shown = line;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`gave up following repair ${id}; it goes on`);
}
