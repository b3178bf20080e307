// Anti-entropy and safe tombstone purging (DESIGN §5): Merkle trees per ring range (merkle.ts), the
// pairing and purge rule (plan.ts), the peer protocol (protocol.ts, client.ts, responder.ts, routes.ts)
// and the driver each node runs (repairer.ts). `createRepairer` is what the node wires in.
import type { Route } from '../http/router.js';
import { Repairer, type RepairerOptions, type RepairStatus } from './repairer.js';
import { repairRoutes } from './routes.js';
import type { TaskStatus } from './progress.js';

export { Repairer, type CatchUpResult, type RepairerOptions, type RepairStatus } from './repairer.js';
export { repairRoutes, type RepairRouteOptions } from './routes.js';
export { DEFAULT_REPAIR_LIMITS, type Increment, type RepairContext, type RepairCounters, type RepairLimits, type RepairStore, type RepairView } from './types.js';
export {
  bucketOf, bucketsArc, bucketStart, buildTree, coalesceBuckets, DEFAULT_TREE_DEPTH, descendants, hashesFromHex, hashesToHex, MerkleBuilder, MerkleTree,
  TREE_DEPTH_MAX, type Hash64, type MerkleRecord,
} from './merkle.js';
export { CandidateCollector, pastGrace, planRanges, RangeRound, versionTimeMs, type PlannedRange, type PurgeCandidate } from './plan.js';
export { aggregateTask, type TaskPartJson, type TaskStatus } from './progress.js';

export interface CreateRepairerOptions extends RepairerOptions {
  /** Longest time for a repair request body (the node's RINGBLOCK_REQUEST_TIMEOUT). */
  bodyTimeoutMs: number;
  /** A peer routes by a newer ring epoch than ours. */
  onNewerEpoch?: (epoch: number) => void;
}

/** What the node holds: lifecycle, routes, status and the events to forward. */
export interface RepairService {
  start(): void;
  stop(): Promise<void>;
  routes(): Route[];
  status(): RepairStatus;
  /** Starts a full repair (every live ring node runs a round); returns the task id. */
  repairAll(): string;
  /** The task gathered from every ring node, or undefined when none knows it (for GET /tasks/{id}). */
  taskStatus(id: string): Promise<TaskStatus | undefined>;
  /** Forward membership 'ring' events (after the view adopted the ring). */
  onRingChanged(): void;
  /** Forward membership 'members' events (after the view's live set was updated). */
  onMembersChanged(): void;
  readonly repairer: Repairer;
}

export function createRepairer(options: CreateRepairerOptions): RepairService {
  const repairer = new Repairer(options);
  const routeOptions = { epoch: () => options.view.currentEpoch(), bodyTimeoutMs: options.bodyTimeoutMs, ...(options.onNewerEpoch ? { onNewerEpoch: options.onNewerEpoch } : {}) };
  return {
    repairer,
    start: () => repairer.start(),
    stop: () => repairer.stop(),
    routes: () => repairRoutes(repairer, routeOptions),
    status: () => repairer.status(),
    repairAll: () => repairer.repairAll(),
    taskStatus: (id) => repairer.taskStatus(id),
    onRingChanged: () => repairer.onRingChanged(),
    onMembersChanged: () => repairer.onMembersChanged(),
  };
}
