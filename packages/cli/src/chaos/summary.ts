// The summary of a chaos run: operations by kind and outcome, faults by kind (and the kinds skipped,
// with why), failures by status and code, and the checker's violations with the operations involved.
import type { CheckResult } from './checker.js';
import { acknowledged, FAULT_KINDS, type FaultEvent, type FaultKind, type Operation, type OperationKind } from './history.js';

export interface ChaosSummary {
  seed: number;
  durationMs: number;
  nodes: number;
  clients: number;
  keys: number;
  replicationFactor: number;
  historyFile: string | undefined;
  /** Stopped by a signal before the end: no healing and no final reads. */
  interrupted: boolean;
  /** The workload reached the bound on recorded operations and stopped early. */
  truncated: boolean;
  operations: { total: number } & Record<OperationKind, { ok: number; failed: number }>;
  faults: Record<FaultKind, number>;
  skipped: { kind: FaultKind; reason: string }[];
  /** Failed operations by "<status> <code>" ("no answer TIMEOUT" when none came). */
  failures: Record<string, number>;
  /** The nemesis or the healing could not do something (not a safety violation by itself). */
  problems: string[];
  check: CheckResult;
}

export interface SummaryInput {
  run: Pick<ChaosSummary, 'seed' | 'durationMs' | 'nodes' | 'clients' | 'keys' | 'replicationFactor' | 'historyFile' | 'interrupted' | 'truncated' | 'skipped' | 'problems'>;
  operations: readonly Operation[];
  faults: readonly FaultEvent[];
  check: CheckResult;
}

export function summarize(input: SummaryInput): ChaosSummary {
  const operations = { total: 0, put: { ok: 0, failed: 0 }, get: { ok: 0, failed: 0 }, delete: { ok: 0, failed: 0 } };
  const failures: Record<string, number> = {};
  for (const op of input.operations) {
    operations.total++;
    if (acknowledged(op)) {
      operations[op.kind].ok++;
      continue;
    }
    operations[op.kind].failed++;
    const reason = `${op.status ?? 'no answer'} ${op.code ?? ''}`.trim();
    failures[reason] = (failures[reason] ?? 0) + 1;
  }
  const faults = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  for (const fault of input.faults) faults[fault.kind]++;
  return { ...input.run, operations, faults, failures, check: input.check };
}

export function violationTotal(summary: ChaosSummary): number {
  return Object.values(summary.check.counts).reduce((sum, count) => sum + count, 0);
}

/** The exit code of a run: 1 on violations or when the cluster could not be faulted or healed as planned, 130 when interrupted. */
export function exitCode(summary: ChaosSummary): number {
  if (violationTotal(summary) > 0 || summary.problems.length > 0) return 1;
  return summary.interrupted ? 130 : 0;
}

/** The summary for a person: a few lines, then each violation kept with its operations. */
export function renderSummary(summary: ChaosSummary): string {
  const { operations: ops } = summary;
  const lines = [
    `chaos run: seed ${summary.seed}, ${summary.durationMs / 1000}s, ${summary.nodes} nodes, ${summary.clients} clients, ${summary.keys} keys, RF ${summary.replicationFactor}${summary.interrupted ? ' (INTERRUPTED)' : ''}${summary.truncated ? ' (history bound reached)' : ''}`,
    `operations: ${ops.total} — put ${ops.put.ok} ok / ${ops.put.failed} failed, get ${ops.get.ok} ok / ${ops.get.failed} failed, delete ${ops.delete.ok} ok / ${ops.delete.failed} failed`,
    `faults: ${Object.entries(summary.faults).map(([kind, count]) => `${kind} ${count}`).join(', ')}`,
    ...summary.skipped.map((skip) => `skipped ${skip.kind}: ${skip.reason}`),
    `failures: ${formatCounts(summary.failures) || 'none'}`,
    ...summary.problems.map((problem) => `problem: ${problem}`),
    `checked ${summary.check.keys} keys, ${summary.check.finalReads} final reads`,
    `violations: ${violationTotal(summary)}${violationTotal(summary) ? ` (${formatCounts(summary.check.counts)})` : ''}`,
  ];
  for (const violation of summary.check.violations) {
    lines.push(`  ${violation.kind} ${violation.key}: ${violation.message}`);
    for (const op of violation.operations) {
      const outcome = `${op.status ?? 'no answer'}${op.code ? ` ${op.code}` : ''}`;
      lines.push(`    #${op.id} ${op.phase} ${op.kind} ${op.level} via ${op.node} [${op.startMs}..${op.endMs} ms] → ${outcome}${op.version ? ` version ${op.version}` : ''}${op.writeId !== undefined ? ` write ${op.writeId}` : ''}`);
    }
  }
  if (summary.historyFile) lines.push(`history: ${summary.historyFile}`);
  return `${lines.join('\n')}\n`;
}

function formatCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([what, count]) => `${what} ${count}`)
    .join(', ');
}
