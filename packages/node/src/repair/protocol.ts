// What peers say to each other for anti-entropy (all POST bodies and answers are JSON; positions are
// decimal strings, hashes 16 hex digits each, concatenated). Parsing is pure and strict: a body that
// does not fit is refused whole (400), and every list has a bound.
//
//   POST /internal/merkle        {depth, queries: [{start, end, level, tree?, indexes?}], catchUp?}
//        → {results: [{tree, records, hashes} | {missing: true}]}
//      A query without `tree` builds the range's tree afresh (kept briefly under the returned id); a
//      query with `tree` reads that build (drilling down). Hashes: the nodes `indexes` at `level`
//      (all nodes of the level when absent).
//   POST /internal/repair/push   {from, start, end, transferId, resumeAfter?, catchUp?}
//        → {done, records, applied, bytes, lastPosition}
//      The peer streams its records of the arc to `from` through POST /internal/transfer (newer wins
//      there), for a bounded time; `done: false` means "ask again after lastPosition".
//   `catchUp: true` marks a migration sender's comparison before it streams a range (migration/plan.ts):
//      served while a migration runs, when anti-entropy's own rounds are refused.
//   POST /internal/repair/purge  {from, start, end, tombstones: [{id, version}]}  → {purged}
//   POST /internal/repair/tasks  {task, createdAt, createdBy}  → 202: run a round for a full repair
//   GET  /internal/repair/tasks/{id} → this node's part of the task
import type { Arc } from '@ringblock/ring';
import { parsePosition, positionText } from '../transfer/protocol.js';
import { versionFromText, versionToText } from '../version.js';
import { checkDepth, hashesFromHex, TREE_DEPTH_MAX } from './merkle.js';
import type { TaskStart } from './progress.js';

export const MERKLE_PATH = '/internal/merkle';
export const PUSH_PATH = '/internal/repair/push';
export const PURGE_PATH = '/internal/repair/purge';
export const TASKS_PATH = '/internal/repair/tasks';

/** Ranges in one merkle request at most. */
export const QUERIES_PER_REQUEST_MAX = 64;
/** Hashes in one merkle answer at most (16 hex digits each: 32 KiB). */
export const HASHES_PER_REQUEST_MAX = 2048;
/** Tombstones in one purge request at most. */
export const PURGE_BATCH_MAX = 512;
/** Bytes of a JSON request body at most. */
export const REQUEST_BYTES_MAX = 256 * 1024;

const TREE_ID = /^[0-9a-f]{16}$/;
const TRANSFER_ID = /^[0-9a-f]{32}$/;
const TASK_ID = /^[0-9a-f-]{36}$/;
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const BLOCK_ID = /^[A-Za-z0-9._~:-]{1,255}$/;

export class BadMessage extends Error {
  override readonly name = 'BadMessage';
}

export interface MerkleQuery {
  arc: Arc;
  level: number;
  /** A build to read (drill-down); absent: build afresh. */
  tree?: string;
  /** Ascending node indexes at `level`; absent: every node of the level. */
  indexes?: number[];
}

export interface MerkleRequest {
  depth: number;
  queries: MerkleQuery[];
  /** A migration sender's catch-up (served during a migration). */
  catchUp?: boolean;
}

export type MerkleResult = { tree: string; records: number; hashes: bigint[] } | { missing: true };

export interface PushRequest {
  from: string;
  arc: Arc;
  transferId: string;
  resumeAfter?: bigint;
  /** A migration sender's catch-up (served during a migration). */
  catchUp?: boolean;
}

export interface PushAnswer {
  done: boolean;
  records: number;
  applied: number;
  bytes: number;
  lastPosition: bigint | undefined;
}

export interface PurgeRequest {
  from: string;
  arc: Arc;
  tombstones: { id: string; version: Buffer }[];
}

// ---- encoding (what the sender puts on the wire) ----

export function arcJson(arc: Arc): { start: string; end: string } {
  return { start: arc.start.toString(10), end: arc.end.toString(10) };
}

export function merkleRequestJson(request: MerkleRequest): unknown {
  return {
    depth: request.depth,
    queries: request.queries.map((query) => ({
      ...arcJson(query.arc),
      level: query.level,
      ...(query.tree === undefined ? {} : { tree: query.tree }),
      ...(query.indexes === undefined ? {} : { indexes: query.indexes }),
    })),
    ...catchUpJson(request),
  };
}

export function pushRequestJson(request: PushRequest): unknown {
  return { from: request.from, ...arcJson(request.arc), transferId: request.transferId, resumeAfter: positionText(request.resumeAfter), ...catchUpJson(request) };
}

function catchUpJson(request: { catchUp?: boolean }): { catchUp?: true } {
  return request.catchUp === true ? { catchUp: true } : {};
}

export function pushAnswerJson(answer: PushAnswer): unknown {
  return { ...answer, lastPosition: positionText(answer.lastPosition) };
}

export function purgeRequestJson(request: PurgeRequest): unknown {
  return { from: request.from, ...arcJson(request.arc), tombstones: request.tombstones.map(({ id, version }) => ({ id, version: versionToText(version) })) };
}

// ---- parsing (what the receiver accepts) ----

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadMessage(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function integer(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new BadMessage(`${what} must be an integer from ${min} to ${max}`);
  return value;
}

function matching(value: unknown, pattern: RegExp, what: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw new BadMessage(`${what} is missing or malformed`);
  return value;
}

function position(value: unknown, what: string): bigint {
  const parsed = parsePosition(value);
  if (parsed === undefined || parsed === 'invalid') throw new BadMessage(`${what} must be an unsigned 64-bit integer in decimal`);
  return parsed;
}

export function parseArc(body: Record<string, unknown>): Arc {
  return { start: position(body['start'], 'start'), end: position(body['end'], 'end') };
}

function parseIndexes(value: unknown, level: number): number[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > HASHES_PER_REQUEST_MAX) throw new BadMessage(`indexes must be a list of at most ${HASHES_PER_REQUEST_MAX} node indexes`);
  let previous = -1;
  return value.map((index: unknown) => {
    const checked = integer(index, 'a node index', 0, (1 << level) - 1);
    if (checked <= previous) throw new BadMessage('indexes must ascend');
    previous = checked;
    return checked;
  });
}

export function parseMerkleRequest(value: unknown): MerkleRequest {
  const body = object(value, 'the merkle request');
  const depth = integer(body['depth'], 'depth', 1, TREE_DEPTH_MAX);
  const queries = body['queries'];
  if (!Array.isArray(queries) || queries.length === 0 || queries.length > QUERIES_PER_REQUEST_MAX) {
    throw new BadMessage(`queries must be a list of 1 to ${QUERIES_PER_REQUEST_MAX} ranges`);
  }
  let hashes = 0;
  const parsed = queries.map((raw: unknown): MerkleQuery => {
    const query = object(raw, 'a query');
    const level = integer(query['level'], 'level', 0, depth);
    const indexes = parseIndexes(query['indexes'], level);
    hashes += indexes?.length ?? 1 << level;
    const tree = query['tree'] === undefined ? undefined : matching(query['tree'], TREE_ID, 'tree');
    return { arc: parseArc(query), level, ...(tree === undefined ? {} : { tree }), ...(indexes === undefined ? {} : { indexes }) };
  });
  if (hashes > HASHES_PER_REQUEST_MAX) throw new BadMessage(`a merkle request asks for at most ${HASHES_PER_REQUEST_MAX} hashes, this one for ${hashes}`);
  return { depth, queries: parsed, ...parseCatchUp(body) };
}

/** The answer to `request`, checked against it (one result per query, the right number of hashes). */
export function parseMerkleAnswer(value: unknown, request: MerkleRequest): MerkleResult[] {
  checkDepth(request.depth);
  const results = object(value, 'the merkle answer')['results'];
  if (!Array.isArray(results) || results.length !== request.queries.length) throw new BadMessage('the merkle answer has one result per query');
  return results.map((raw: unknown, at): MerkleResult => {
    const result = object(raw, 'a merkle result');
    if (result['missing'] === true) return { missing: true };
    const query = request.queries[at]!;
    const count = query.indexes?.length ?? 1 << query.level;
    const hashes = hashesFromHex(result['hashes'], count);
    if (!hashes) throw new BadMessage(`a merkle result carries ${count} hashes`);
    return { tree: matching(result['tree'], TREE_ID, 'tree'), records: integer(result['records'], 'records', 0, Number.MAX_SAFE_INTEGER), hashes };
  });
}

export function parsePushRequest(value: unknown): PushRequest {
  const body = object(value, 'the push request');
  const arc = parseArc(body);
  const resumeAfter = parsePosition(body['resumeAfter']);
  if (resumeAfter === 'invalid') throw new BadMessage('resumeAfter must be a position or null');
  return {
    from: matching(body['from'], NODE_NAME, 'from'),
    arc,
    transferId: matching(body['transferId'], TRANSFER_ID, 'transferId'),
    ...(resumeAfter === undefined ? {} : { resumeAfter }),
    ...parseCatchUp(body),
  };
}

function parseCatchUp(body: Record<string, unknown>): { catchUp?: true } {
  const value = body['catchUp'];
  if (value === undefined || value === false) return {};
  if (value !== true) throw new BadMessage('catchUp must be true, false or absent');
  return { catchUp: true };
}

export function parsePushAnswer(value: unknown): PushAnswer {
  const body = object(value, 'the push answer');
  const lastPosition = parsePosition(body['lastPosition']);
  if (lastPosition === 'invalid') throw new BadMessage('lastPosition must be a position or null');
  const count = (name: string) => integer(body[name], name, 0, Number.MAX_SAFE_INTEGER);
  return { done: body['done'] === true, records: count('records'), applied: count('applied'), bytes: count('bytes'), lastPosition };
}

export function parsePurgeRequest(value: unknown): PurgeRequest {
  const body = object(value, 'the purge request');
  const tombstones = body['tombstones'];
  if (!Array.isArray(tombstones) || tombstones.length > PURGE_BATCH_MAX) throw new BadMessage(`tombstones must be a list of at most ${PURGE_BATCH_MAX}`);
  return {
    from: matching(body['from'], NODE_NAME, 'from'),
    arc: parseArc(body),
    tombstones: tombstones.map((raw: unknown) => {
      const entry = object(raw, 'a tombstone');
      const version = versionFromText(String(entry['version']));
      if (!version) throw new BadMessage('a tombstone carries a version in text form');
      return { id: matching(entry['id'], BLOCK_ID, 'id'), version };
    }),
  };
}

export function parseTaskStart(value: unknown): TaskStart {
  const body = object(value, 'the task');
  return {
    task: matching(body['task'], TASK_ID, 'task'),
    createdAt: integer(body['createdAt'], 'createdAt', 0, Number.MAX_SAFE_INTEGER),
    createdBy: matching(body['createdBy'], NODE_NAME, 'createdBy'),
  };
}

export function isTaskId(text: string): boolean {
  return TASK_ID.test(text);
}
