// `ringblock chaos`: a local chaos run (./runner.ts) from the command line, or `--check FILE` to check
// a recorded history again. Exit code 1 when the checker found violations, 130 when interrupted.
import { parseArgs } from 'node:util';
import { parseDuration } from '@ringblock/node';
import { checkHistory } from './checker.js';
import { FAULT_KINDS, readHistory, type FaultKind } from './history.js';
import { runChaos } from './runner.js';
import type { Route } from './control.js';
import { exitCode, renderSummary, summarize } from './summary.js';

export { runChaos, type ChaosOptions } from './runner.js';
export { checkHistory, type Violation, type ViolationKind } from './checker.js';
export type { ChaosSummary } from './summary.js';

export const CHAOS_USAGE = `  chaos [--seed N] [--duration 90s] [--nodes 3] [--clients 8] [--keys 48] [--faults ${FAULT_KINDS.join(',')}]
        [--route ready|any] [--data-dir .ringblock] [--history FILE] [--keep-data] | chaos --check HISTORY.jsonl
                           a local chaos run with a history checker; exit 1 on violations
`;

export async function chaos(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seed: { type: 'string' },
      duration: { type: 'string', default: '90s' },
      nodes: { type: 'string', default: '3' },
      clients: { type: 'string', default: '8' },
      keys: { type: 'string', default: '48' },
      faults: { type: 'string', default: FAULT_KINDS.join(',') },
      'data-dir': { type: 'string', default: '.ringblock' },
      history: { type: 'string' },
      'keep-data': { type: 'boolean', default: false },
      route: { type: 'string', default: 'ready' },
      check: { type: 'string' },
    },
  });
  if (values.check !== undefined) return recheck(values.check);
  const durationMs = parseDuration(values.duration);
  if (durationMs === undefined) throw new Error(`--duration must be a duration such as 90s or 20m, got "${values.duration}"`);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  const summary = await runChaos({
    seed,
    durationMs,
    nodes: Number(values.nodes),
    clients: Number(values.clients),
    keys: Number(values.keys),
    faults: parseFaults(values.faults),
    dataDir: values['data-dir'],
    ...(values.history !== undefined ? { historyFile: values.history } : {}),
    keepData: values['keep-data'],
    route: parseRoute(values.route),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(renderSummary(summary));
  return exitCode(summary);
}

function parseRoute(text: string): Route {
  if (text !== 'ready' && text !== 'any') throw new Error(`--route must be "ready" or "any", got "${text}"`);
  return text;
}

function parseFaults(text: string): FaultKind[] {
  const kinds = text.split(',').map((kind) => kind.trim()).filter((kind) => kind !== '' && kind !== 'none');
  for (const kind of kinds) if (!(FAULT_KINDS as readonly string[]).includes(kind)) throw new Error(`--faults: unknown kind "${kind}" (known: ${FAULT_KINDS.join(', ')}, or none)`);
  return kinds as FaultKind[];
}

async function recheck(file: string): Promise<number> {
  const { header, operations, faults } = await readHistory(file);
  if (!header) throw new Error(`${file} has no run header line`);
  const check = checkHistory(operations, { replicationFactor: header.replicationFactor });
  const run = { seed: header.seed, durationMs: header.durationMs, nodes: header.nodes, clients: header.clients, keys: header.keys, replicationFactor: header.replicationFactor, historyFile: file, interrupted: false, truncated: false, skipped: [], problems: [] };
  const summary = summarize({ run, operations, faults, check });
  process.stdout.write(renderSummary(summary));
  return exitCode(summary);
}
