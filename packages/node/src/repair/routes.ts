// HTTP routes of anti-entropy. Internal ones (peers; token and ring epoch checked — an older sender
// epoch is answered 409 with ours, a newer one makes us refresh; a purge needs the same epoch):
//   POST /internal/merkle, POST /internal/repair/push, POST /internal/repair/purge,
//   POST /internal/repair/tasks, GET /internal/repair/tasks/{id}       (shapes in protocol.ts)
// Admin and status:
//   POST /cluster/repair (token) → 202 {task, status: "/repairs/<id>"}: a full repair as a task
//   GET  /repairs/{id} → the task gathered from every ring node (progress.ts)
import { checkSenderEpoch } from '../http/epoch.js';
import type { IncomingMessage } from 'node:http';
import { readJsonBody } from '../http/json-body.js';
import { HttpError, sendJson } from '../http/errors.js';
import type { Route } from '../http/router.js';
import { hashesToHex } from './merkle.js';
import {
  BadMessage, isTaskId, MERKLE_PATH, parseMerkleRequest, parsePurgeRequest, parsePushRequest, parseTaskStart, PURGE_PATH, PUSH_PATH,
  pushAnswerJson, REQUEST_BYTES_MAX, TASKS_PATH,
} from './protocol.js';
import type { Repairer } from './repairer.js';

export interface RepairRouteOptions {
  /** The ring epoch this node routes by. */
  epoch: () => number;
  /** A peer routes by a newer epoch than ours: re-read the ring. */
  onNewerEpoch?: (epoch: number) => void;
  /** Longest time for a request body. */
  bodyTimeoutMs: number;
}

const exact = (path: string) => new RegExp(`^${path.replace(/\//g, '\\/')}$`);

export function repairRoutes(repairer: Repairer, options: RepairRouteOptions): Route[] {
  const { responder } = repairer;
  /** The parsed body of an internal call, once its epoch is acceptable. */
  const internalBody = async <T>(req: IncomingMessage, parse: (value: unknown) => T, sameEpoch = false): Promise<T> => {
    checkEpoch(req, options, sameEpoch);
    return parseBody(await readRepairBody(req, options.bodyTimeoutMs), parse);
  };
  return [
    {
      name: 'internal_merkle',
      pattern: exact(MERKLE_PATH),
      requiresToken: true,
      methods: {
        POST: async ({ req, res }) => {
          const results = await responder.merkle(await internalBody(req, parseMerkleRequest));
          sendJson(res, 200, { results: results.map((result) => ('missing' in result ? result : { ...result, hashes: hashesToHex(result.hashes) })) });
        },
      },
    },
    {
      name: 'internal_repair_push',
      pattern: exact(PUSH_PATH),
      requiresToken: true,
      methods: {
        POST: async ({ req, res }) => {
          const request = await internalBody(req, parsePushRequest);
          // The requester gave up (or went away): stop streaming to it.
          const gone = new AbortController();
          res.on('close', () => gone.abort());
          sendJson(res, 200, pushAnswerJson(await responder.push(request, gone.signal)));
        },
      },
    },
    {
      name: 'internal_repair_purge',
      pattern: exact(PURGE_PATH),
      requiresToken: true,
      methods: {
        POST: async ({ req, res }) => {
          const purged = await responder.purge(await internalBody(req, parsePurgeRequest, true));
          sendJson(res, 200, { purged });
        },
      },
    },
    {
      name: 'internal_repair_tasks',
      pattern: exact(TASKS_PATH),
      requiresToken: true,
      methods: {
        POST: async ({ req, res }) => {
          const part = repairer.acceptTask(await internalBody(req, parseTaskStart));
          sendJson(res, 202, part.json());
        },
      },
    },
    {
      name: 'internal_repair_task',
      pattern: /^\/internal\/repair\/tasks\/([^/]+)$/,
      requiresToken: true,
      methods: {
        GET: ({ req, res, params }) => {
          checkEpoch(req, options, false);
          const part = repairer.localTaskPart(params[0]!);
          if (!part) throw new HttpError(404, 'NOT_FOUND', `no part of repair task ${params[0]!} here`);
          sendJson(res, 200, part);
        },
      },
    },
    {
      name: 'cluster_repair',
      pattern: /^\/cluster\/repair$/,
      requiresToken: true,
      methods: {
        POST: ({ res }) => {
          const task = repairer.repairAll();
          sendJson(res, 202, { task, kind: 'repair', status: `/repairs/${task}` }, { location: `/repairs/${task}` });
        },
      },
    },
    {
      name: 'repairs',
      pattern: /^\/repairs\/([^/]+)$/,
      methods: {
        GET: async ({ res, params }) => {
          const id = params[0]!;
          const status = isTaskId(id) ? await repairer.taskStatus(id) : undefined;
          if (!status) throw new HttpError(404, 'NOT_FOUND', `no repair task ${id}`);
          sendJson(res, 200, status);
        },
      },
    },
  ];
}

/** Same rule as the replica and transfer routes; `same` refuses a newer sender epoch too. */
function checkEpoch(req: IncomingMessage, options: Pick<RepairRouteOptions, 'epoch' | 'onNewerEpoch'>, same: boolean): void {
  checkSenderEpoch(req, options, same);
}

function parseBody<T>(value: unknown, parse: (value: unknown) => T): T {
  try {
    return parse(value);
  } catch (error) {
    if (error instanceof BadMessage) throw new HttpError(400, 'BAD_REQUEST', error.message);
    throw error;
  }
}

/** A JSON body of at most REQUEST_BYTES_MAX bytes. */
function readRepairBody(req: IncomingMessage, timeoutMs: number): Promise<unknown> {
  return readJsonBody(req, { bytesMax: REQUEST_BYTES_MAX, timeoutMs, what: 'a repair request' });
}
