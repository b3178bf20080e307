// Replica routes other peers call (token required): write a version under last-writer-wins, read
// the newest record. Every call carries the sender's ring epoch: an older one is answered 409 with
// ours so the sender refreshes; a newer one makes us refresh.
import { HttpError } from './http/errors.js';
import { checkSenderEpoch } from './http/epoch.js';
import { readExactBody } from './http/body.js';
import { parseBlockId } from './http/ids.js';
import type { RequestContext, Route } from './http/router.js';
import { HEADER_RESULT, HEADER_TOMBSTONE, HEADER_VERSION } from './peers.js';
import { ReplicaError, type Replica } from './store.js';
import { versionFromText, versionToText, type HybridClock } from './version.js';
import { BLOCK_SIZE } from './block-routes.js';

export interface InternalRouteOptions {
  local: Replica;
  clock: HybridClock;
  epoch: () => number;
  /** A peer routes by a newer epoch than ours: re-read the ring. */
  onNewerEpoch: (epoch: number) => void;
  bodyTimeoutMs: number;
}

export function internalRoutes(options: InternalRouteOptions): Route[] {
  const write = async ({ req, res, params, span, trace }: RequestContext, withData: boolean) => {
    const id = parseBlockId(params[0]!);
    span?.setAttribute('ringblock.block.id', id);
    checkSenderEpoch(req, options);
    const version = versionFromText(String(req.headers[HEADER_VERSION] ?? ''));
    if (!version) throw new HttpError(400, 'BAD_REQUEST', `internal writes carry a valid ${HEADER_VERSION}`);
    const data = withData ? await readExactBody(req, BLOCK_SIZE, options.bodyTimeoutMs) : undefined;
    options.clock.observe(version);
    const outcome = await options.local.write(id, version, data, trace).catch(asHttpError);
    res.writeHead(200, { [HEADER_RESULT]: outcome.result, ...(outcome.current ? { [HEADER_VERSION]: versionToText(outcome.current) } : {}), 'content-length': 0 });
    res.end();
  };
  return [
    {
      name: 'internal_block',
      pattern: /^\/internal\/block\/([^/]*)$/,
      requiresToken: true,
      traced: '/internal/block/{id}',
      methods: {
        PUT: (context) => write(context, true),
        DELETE: (context) => write(context, false),
        GET: async ({ req, res, params, span, trace }) => {
          const id = parseBlockId(params[0]!);
          span?.setAttribute('ringblock.block.id', id);
          checkSenderEpoch(req, options);
          const block = await options.local.read(id, trace).catch(asHttpError);
          if (!block) throw new HttpError(404, 'NOT_FOUND', `no record of block "${id}" here`);
          res.writeHead(200, {
            'content-type': 'application/octet-stream',
            'content-length': block.data ? block.data.length : 0,
            [HEADER_VERSION]: versionToText(block.version),
            [HEADER_TOMBSTONE]: block.tombstone ? '1' : '0',
          });
          res.end(block.data);
        },
      },
    },
  ];
}

/** Local replica failures as the statuses peers map back (see Peers.failure). */
export function asHttpError(error: unknown): never {
  if (error instanceof ReplicaError) {
    if (error.code === 'DEVICE_FULL') throw new HttpError(507, 'INSUFFICIENT_STORAGE', error.message);
    if (error.code === 'CHECKSUM_MISMATCH') throw new HttpError(422, 'CHECKSUM_MISMATCH', error.message);
  }
  throw error;
}
