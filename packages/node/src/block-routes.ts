// The public block API (DESIGN §2): PUT/GET/HEAD/DELETE /block/{id} with a consistency level per
// request, coordinated on this node whatever the block's owners are.
import type { IncomingMessage } from 'node:http';
import { isConsistency, type Consistency } from './consistency.js';
import type { Coordinator } from './coordinator.js';
import { HttpError, sendJson } from './http/errors.js';
import { readExactBody } from './http/body.js';
import { parseBlockId } from './http/ids.js';
import type { Route, RequestContext } from './http/router.js';
import { versionToText } from './version.js';
import { HEADER_EPOCH } from './peers.js';

export const BLOCK_SIZE = 4096;

export interface BlockRouteOptions {
  coordinator: Coordinator;
  bodyTimeoutMs: number;
  /** The ring epoch answers carry (`X-Ringblock-Epoch`), so ring-aware clients notice a change. */
  epoch: () => number;
}

export function blockRoutes(options: BlockRouteOptions): Route[] {
  const { coordinator } = options;
  const read = async ({ req, res, query, params, span, trace }: RequestContext, withBody: boolean) => {
    const id = parseBlockId(params[0]!);
    const level = consistencyOf(req, query);
    span?.setAttributes({ 'ringblock.block.id': id, 'ringblock.consistency': level });
    const block = await coordinator.read(id, level, trace);
    if (!block) throw new HttpError(404, 'NOT_FOUND', `block "${id}" does not exist`);
    const etag = `"${versionToText(block.version)}"`;
    const epoch = String(options.epoch());
    if (matchesEtag(req.headers['if-none-match'], etag)) {
      res.writeHead(304, { etag, [HEADER_EPOCH]: epoch });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BLOCK_SIZE, etag, [HEADER_EPOCH]: epoch });
    res.end(withBody ? block.data : undefined);
  };
  return [
    {
      name: 'block',
      pattern: /^\/block\/([^/]*)$/,
      traced: '/block/{id}',
      methods: {
        GET: (context) => read(context, true),
        HEAD: (context) => read(context, false),
        PUT: async ({ req, res, query, params, span, trace }) => {
          const id = parseBlockId(params[0]!);
          const level = consistencyOf(req, query);
          span?.setAttributes({ 'ringblock.block.id': id, 'ringblock.consistency': level });
          const data = await readExactBody(req, BLOCK_SIZE, options.bodyTimeoutMs);
          const version = await coordinator.write(id, data, level, trace);
          sendJson(res, 201, { id, version: versionToText(version) }, { etag: `"${versionToText(version)}"`, [HEADER_EPOCH]: String(options.epoch()) });
        },
        DELETE: async ({ req, res, query, params, span, trace }) => {
          const id = parseBlockId(params[0]!);
          const level = consistencyOf(req, query);
          span?.setAttributes({ 'ringblock.block.id': id, 'ringblock.consistency': level });
          const version = await coordinator.write(id, undefined, level, trace);
          res.writeHead(204, { etag: `"${versionToText(version)}"`, [HEADER_EPOCH]: String(options.epoch()) });
          res.end();
        },
      },
    },
  ];
}

/** `?consistency=` wins over `X-Consistency`; default quorum. */
export function consistencyOf(req: IncomingMessage, query: URLSearchParams): Consistency {
  const raw = query.get('consistency') ?? headerValue(req, 'x-consistency') ?? 'quorum';
  if (!isConsistency(raw)) throw new HttpError(400, 'BAD_REQUEST', `consistency must be one, quorum or all, got "${raw}"`);
  return raw;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.trim() === '*' || header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}
