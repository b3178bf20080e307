// A small route table: a path pattern, the handlers per method, and whether the cluster token is
// required. Unknown paths are 404, known paths with another method 405 with `Allow`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Context, Span } from '@opentelemetry/api';
import { HttpError } from './errors.js';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** The query string's parameters (the path is matched raw, see server.ts). */
  query: URLSearchParams;
  /** Capture groups of the route pattern, still percent-encoded. */
  params: readonly string[];
  /** Set only when tracing is on and the route is traced: the request's server span and its context. */
  span?: Span | undefined;
  trace?: Context | undefined;
}

export type Handler = (context: RequestContext) => Promise<void> | void;

export interface Route {
  /** Matched against the raw (percent-encoded) path. */
  pattern: RegExp;
  methods: Readonly<Record<string, Handler>>;
  /** Internal and admin routes need `Authorization: Bearer <cluster token>` (true: every method; a list: those methods). */
  requiresToken?: boolean | readonly string[];
  /** Name used in metrics (never a block id). */
  name: string;
  /** Traced routes get a server span named `<METHOD> <traced>`, e.g. `PUT /block/{id}` (the http.route). */
  traced?: string;
}

export interface RouteMatch {
  route: Route;
  handler: Handler;
  params: string[];
}

export class Router {
  private readonly tokenDigest: Buffer;

  constructor(private readonly routes: readonly Route[], token: string) {
    this.tokenDigest = digest(token);
  }

  match(method: string, path: string): RouteMatch {
    for (const route of this.routes) {
      const found = route.pattern.exec(path);
      if (!found) continue;
      // HEAD is GET without the body (RFC 9110 §9.3.2; node:http leaves the body out).
      const handler = route.methods[method] ?? (method === 'HEAD' ? route.methods['GET'] : undefined);
      if (!handler) {
        const methods = Object.keys(route.methods);
        const allow = (methods.includes('GET') && !methods.includes('HEAD') ? [...methods, 'HEAD'] : methods).join(', ');
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}; allowed: ${allow}`, {}, { allow });
      }
      return { route, handler, params: found.slice(1) };
    }
    throw new HttpError(404, 'NOT_FOUND', `no route for ${path}`);
  }

  /** Constant-time comparison of digests, so neither content nor length of the token leaks. */
  authorize(req: IncomingMessage): void {
    const header = req.headers.authorization ?? '';
    // The scheme is case-insensitive (RFC 9110 §11.1).
    const match = /^bearer +(\S+) *$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]!), this.tokenDigest)) {
      throw new HttpError(401, 'UNAUTHORIZED', 'this route needs the cluster token (Authorization: Bearer <token>)', {}, { 'www-authenticate': 'Bearer' });
    }
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
