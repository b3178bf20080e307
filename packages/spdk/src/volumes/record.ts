// The volume record of `volumes/<name>` (DESIGN §3, §8) and what can be derived from it without I/O:
// parsing (strict: a record that does not fit is refused, never half-used), the deterministic NQN of
// a volume's subsystem, and the status of a volume task from the audit trail.
import { isValidNqn } from '../nqn.js';
import {
  INITIAL_VOLUME_STATE, operationOf, VOLUME_EVENT_TYPES, VOLUME_STATES,
  type VolumeFsmState, type VolumeObservation, type VolumeOperation, type VolumeState, type VolumeTransitionRecord,
} from '../volume-fsm.js';

/** A volume is named after the peer it backs (a pod name): DNS-label-like, so its NQN stays short. */
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** The volume name rule as a JSON Schema / OpenAPI pattern. */
export const VOLUME_NAME_PATTERN = VOLUME_NAME.source;
/** Agent host names: the same rule. */
const HOST_NAME = VOLUME_NAME;
/** Prefix of every subsystem NQN the agent creates (reverse domain of the project). */
export const VOLUME_NQN_PREFIX = 'nqn.2026-12.io.ringblock:vol:';
/** Bounds on a volume's size (MiB): the engine needs room for its superblocks and one group at least. */
export const VOLUME_SIZE_MIB_MIN = 16;
export const VOLUME_SIZE_MIB_MAX = 64 * 1024 * 1024;

export type VolumeTransport = 'RDMA' | 'TCP';

export interface VolumeExport {
  readonly nqn: string;
  readonly trtype: VolumeTransport;
  readonly traddr: string;
  readonly trsvcid: string;
  readonly nsid: number;
}

/** A reconcile asked for through the API; the agent answers it in the same record. */
export interface ReconcileRequest {
  readonly id: string;
  readonly requestedAt: number;
  readonly answeredAt?: number;
  readonly outcome?: 'reconciled' | 'unreachable';
  readonly observed?: VolumeObservation;
}

export interface VolumeRecord {
  readonly name: string;
  /** The storage agent (host) that provisions it. */
  readonly host: string;
  /** Desired size. */
  readonly sizeMib: number;
  readonly fsm: VolumeFsmState;
  /** The lvol once created: its UUID and `<lvstore>/<name>` alias. */
  readonly lvol?: { readonly uuid: string; readonly alias: string; readonly sizeMib: number };
  /** Where it is exported once attached. */
  readonly export?: VolumeExport;
  /** spdk-sim only: the sparse file holding the lvol's data (what the peer attaches). */
  readonly simFile?: string;
  /** Snapshots taken (names), newest last. */
  readonly snapshots?: readonly string[];
  readonly reconcile?: ReconcileRequest;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export class VolumeRecordError extends Error {
  override readonly name = 'VolumeRecordError';
  readonly code = 'BAD_VOLUME';
}

export function isValidVolumeName(name: string): boolean {
  return VOLUME_NAME.test(name);
}

export function checkVolumeName(name: string): string {
  if (!isValidVolumeName(name)) throw new VolumeRecordError(`volume name "${name}" must be 1-63 characters of [A-Za-z0-9._-], starting with a letter or digit`);
  return name;
}

export function checkSizeMib(sizeMib: unknown): number {
  if (typeof sizeMib !== 'number' || !Number.isSafeInteger(sizeMib) || sizeMib < VOLUME_SIZE_MIB_MIN || sizeMib > VOLUME_SIZE_MIB_MAX) {
    throw new VolumeRecordError(`a volume size must be a whole number of MiB from ${VOLUME_SIZE_MIB_MIN} to ${VOLUME_SIZE_MIB_MAX}, got ${String(sizeMib)}`);
  }
  return sizeMib;
}

/** The subsystem NQN of a volume: the same on every agent and after every restart. */
export function volumeNqn(name: string): string {
  const nqn = `${VOLUME_NQN_PREFIX}${checkVolumeName(name)}`;
  if (!isValidNqn(nqn)) throw new VolumeRecordError(`"${nqn}" is not a valid NQN`);
  return nqn;
}

/** A new record: pending, nothing provisioned yet. */
export function newVolumeRecord(input: { name: string; host: string; sizeMib: number }, nowMs: number): VolumeRecord {
  checkVolumeName(input.name);
  if (!HOST_NAME.test(input.host)) throw new VolumeRecordError(`host "${input.host}" must be 1-63 characters of [A-Za-z0-9._-]`);
  return { name: input.name, host: input.host, sizeMib: checkSizeMib(input.sizeMib), fsm: INITIAL_VOLUME_STATE, createdAt: nowMs, updatedAt: nowMs };
}

function fail(what: string): never {
  throw new VolumeRecordError(`volume record: ${what}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : fail(`${field} must be a string`);
}

function finite(value: unknown, field: string): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fail(`${field} must be a number`);
}

function parseFsm(value: unknown): VolumeFsmState {
  if (!isObject(value)) fail('fsm must be an object');
  const state = value['state'];
  if (typeof state !== 'string' || !(VOLUME_STATES as readonly string[]).includes(state)) fail(`unknown state ${String(state)}`);
  const attempt = value['attempt'];
  if (typeof attempt !== 'number' || !Number.isSafeInteger(attempt) || attempt < 0) fail('fsm.attempt must be a whole number');
  const args = value['args'];
  if (args !== undefined && !isObject(args)) fail('fsm.args must be an object');
  const returnTo = value['returnTo'];
  if (returnTo !== undefined && returnTo !== 'available' && returnTo !== 'attached') fail('fsm.returnTo must be available or attached');
  return {
    state: state as VolumeState,
    attempt,
    ...(value['retryAtMs'] === undefined ? {} : { retryAtMs: finite(value['retryAtMs'], 'fsm.retryAtMs') }),
    ...(returnTo === undefined ? {} : { returnTo }),
    ...(args === undefined ? {} : { args: { ...(args['sizeMib'] === undefined ? {} : { sizeMib: checkSizeMib(args['sizeMib']) }), ...(args['snapshotName'] === undefined ? {} : { snapshotName: checkVolumeName(String(args['snapshotName'])) }) } }),
    ...(value['lastError'] === undefined ? {} : { lastError: optionalString(value['lastError'], 'fsm.lastError')! }),
  };
}

/** Parses a record read from ZooKeeper; throws VolumeRecordError when it does not fit. */
export function parseVolumeRecord(value: unknown): VolumeRecord {
  if (!isObject(value)) fail('not an object');
  const name = typeof value['name'] === 'string' ? checkVolumeName(value['name']) : fail('name missing');
  const host = typeof value['host'] === 'string' && HOST_NAME.test(value['host']) ? value['host'] : fail('host missing or invalid');
  const record: VolumeRecord = {
    name,
    host,
    sizeMib: checkSizeMib(value['sizeMib']),
    fsm: parseFsm(value['fsm']),
    createdAt: finite(value['createdAt'], 'createdAt'),
    updatedAt: finite(value['updatedAt'], 'updatedAt'),
  };
  const lvol = value['lvol'];
  const exported = value['export'];
  const reconcile = value['reconcile'];
  const snapshots = value['snapshots'];
  return {
    ...record,
    ...(isObject(lvol) ? { lvol: { uuid: String(lvol['uuid']), alias: String(lvol['alias']), sizeMib: finite(lvol['sizeMib'], 'lvol.sizeMib') } } : {}),
    ...(isObject(exported) ? { export: parseExport(exported) } : {}),
    ...(typeof value['simFile'] === 'string' ? { simFile: value['simFile'] } : {}),
    ...(Array.isArray(snapshots) ? { snapshots: snapshots.map((snapshot) => checkVolumeName(String(snapshot))) } : {}),
    ...(isObject(reconcile) ? { reconcile: parseReconcile(reconcile) } : {}),
  };
}

function parseExport(value: Record<string, unknown>): VolumeExport {
  const nqn = String(value['nqn']);
  if (!isValidNqn(nqn)) fail(`export.nqn "${nqn}" is not a valid NQN`);
  const trtype = value['trtype'];
  if (trtype !== 'RDMA' && trtype !== 'TCP') fail('export.trtype must be RDMA or TCP');
  const nsid = value['nsid'];
  if (typeof nsid !== 'number' || !Number.isSafeInteger(nsid) || nsid < 1) fail('export.nsid must be a positive whole number');
  return { nqn, trtype, traddr: String(value['traddr']), trsvcid: String(value['trsvcid']), nsid };
}

function parseReconcile(value: Record<string, unknown>): ReconcileRequest {
  const outcome = value['outcome'];
  if (outcome !== undefined && outcome !== 'reconciled' && outcome !== 'unreachable') fail('reconcile.outcome is unknown');
  const observed = value['observed'];
  if (observed !== undefined && !['absent', 'exists', 'attached', 'unreachable'].includes(String(observed))) fail('reconcile.observed is unknown');
  return {
    id: typeof value['id'] === 'string' ? value['id'] : fail('reconcile.id missing'),
    requestedAt: finite(value['requestedAt'], 'reconcile.requestedAt'),
    ...(value['answeredAt'] === undefined ? {} : { answeredAt: finite(value['answeredAt'], 'reconcile.answeredAt') }),
    ...(outcome === undefined ? {} : { outcome }),
    ...(observed === undefined ? {} : { observed: observed as VolumeObservation }),
  };
}

/** Parses one audit-trail entry. */
export function parseTransitionRecord(value: unknown): VolumeTransitionRecord {
  if (!isObject(value)) fail('event: not an object');
  const { from, to, event } = value;
  if (!(VOLUME_STATES as readonly unknown[]).includes(from) || !(VOLUME_STATES as readonly unknown[]).includes(to)) fail('event: unknown state');
  if (!(VOLUME_EVENT_TYPES as readonly unknown[]).includes(event)) fail('event: unknown event type');
  return {
    from: from as VolumeState,
    to: to as VolumeState,
    event: event as VolumeTransitionRecord['event'],
    atMs: finite(value['atMs'], 'event.atMs'),
    attempt: finite(value['attempt'], 'event.attempt'),
    ...(typeof value['error'] === 'string' ? { error: value['error'] } : {}),
  };
}

/** One entry of the trail with its sequence number (the znode's sequential suffix). */
export interface VolumeEventEntry {
  readonly seq: number;
  readonly record: VolumeTransitionRecord;
}

/** A volume task: the operation a request started, identified by the event that started it. */
export interface VolumeTaskStatus {
  readonly id: string;
  readonly kind: 'volume';
  readonly volume: string;
  readonly operation: VolumeOperation;
  readonly state: 'running' | 'done' | 'failed';
  readonly attempts: number;
  readonly volumeState: VolumeState;
  readonly error?: string;
}

const TASK_ID = /^vol-([A-Za-z0-9][A-Za-z0-9._-]{0,62})-(\d{1,10})$/;

export function volumeTaskId(volume: string, seq: number): string {
  return `vol-${volume}-${seq}`;
}

export function parseVolumeTaskId(id: string): { volume: string; seq: number } | undefined {
  const match = TASK_ID.exec(id);
  return match ? { volume: match[1]!, seq: Number(match[2]) } : undefined;
}

/**
 * Where the operation started by event `seq` stands: running while the volume is in that operation's
 * in-progress or *_failed state, done once it left them for another state, failed on `error`.
 * Undefined when the trail no longer holds the starting event (capped) or it started no operation.
 */
export function volumeTaskStatus(id: string, events: readonly VolumeEventEntry[], current: VolumeState): VolumeTaskStatus | undefined {
  const parsed = parseVolumeTaskId(id);
  if (!parsed) return undefined;
  const startIndex = events.findIndex((entry) => entry.seq === parsed.seq);
  if (startIndex < 0) return undefined;
  const start = events[startIndex]!.record;
  const operation = operationOf(start.to);
  if (!operation) return undefined;
  let attempts = start.attempt;
  for (const { record } of events.slice(startIndex + 1)) {
    if (operationOf(record.from) !== operation) break;
    attempts = Math.max(attempts, record.attempt);
    if (operationOf(record.to) === operation) continue;
    const failed = record.to === 'error';
    return { id, kind: 'volume', volume: parsed.volume, operation, state: failed ? 'failed' : 'done', attempts, volumeState: current, ...(record.error ? { error: record.error } : {}) };
  }
  return { id, kind: 'volume', volume: parsed.volume, operation, state: 'running', attempts, volumeState: current };
}
