// The node:http server with its limits: header and request timeouts, a bound on connections and on
// header size, and a dispatcher that turns every thrown HttpError into its JSON answer. A request
// whose body was not read gets `Connection: close` and a lingering close: what the client still
// sends is read and dropped (never kept) for a bounded time, so it sees the answer instead of a
// reset that would discard it, and memory does not grow with what it sends.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Tracer } from '@opentelemetry/api';
import { HttpError, rawErrorAnswer, sendError } from './errors.js';
import type { Route, Router } from './router.js';
import { endRequestSpan, failRequestSpan, startRequestSpan, type RequestSpan } from '../tracing.js';

/** The status counted for a request whose client closed the connection before it was answered (nginx's). */
const CLIENT_CLOSED_STATUS = 499;
/** How long a refused request's remaining body is read and dropped before the socket is destroyed. */
const LINGER_MS = 2_000;

export interface HttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
  /** Idle keep-alive; longer than the peers' pool keep-alive (4 s) so they close first. */
  keepAliveTimeoutMs?: number;
}

export interface RequestObserver {
  /** Called once per finished request with the route name (never the raw path), status and seconds. */
  (route: string, method: string, status: number, seconds: number): void;
}

/** Tracing on: server spans for the traced routes, named after this node. */
export interface ServerTracing {
  tracer: Tracer;
  node: string;
}

export interface HttpServer {
  server: Server;
  listen(port: number, host: string): Promise<number>;
  /** Stops accepting, lets in-flight requests finish for at most `drainMs`, then closes the rest. */
  close(drainMs: number): Promise<void>;
  inFlight(): number;
  /**
   * Serves a request that asked to upgrade to a protocol this node does not speak (`curl --http2`
   * sends `Upgrade: h2c`, a WebSocket probe `Upgrade: websocket`) as the HTTP/1.1 request it also
   * is: a server may ignore Upgrade (RFC 9110 §7.8). For the server's `upgrade` listener.
   */
  serveIgnoringUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** Connection options that only mean something together with an upgrade. */
const UPGRADE_CONNECTION_TOKENS = new Set(['upgrade', 'http2-settings']);

/**
 * Node hands every request carrying `Connection: Upgrade` to the `upgrade` listener with its
 * parser detached (Node 20 cannot be told which to keep). So the request head is rebuilt without
 * its upgrade headers (the raw names and values, latin1 as parsed), put back in front of the
 * bytes that followed it, and the socket is given to the server as a new connection: its parser
 * reads the request again and the router answers it like any other.
 */
function requestHeadWithoutUpgrade(req: IncomingMessage): Buffer {
  const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion === '1.0' ? '1.0' : '1.1'}`];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    const value = req.rawHeaders[i + 1]!;
    const lower = name.toLowerCase();
    if (lower === 'upgrade' || lower === 'http2-settings') continue;
    if (lower === 'connection') {
      const kept = value.split(',').map((token) => token.trim()).filter((token) => token !== '' && !UPGRADE_CONNECTION_TOKENS.has(token.toLowerCase()));
      if (kept.length > 0) lines.push(`${name}: ${kept.join(', ')}`);
      continue;
    }
    lines.push(`${name}: ${value}`);
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** With `tls` (PEM certificate and key) the server speaks HTTPS only, with the same limits. */
export function createHttpServer(router: Router, limits: HttpLimits, observe: RequestObserver, logError: (error: unknown) => void, tracing?: ServerTracing, tls?: { cert: Buffer; key: Buffer }): HttpServer {
  const make = (options: ServerOptions, listener: RequestListener): Server => (tls ? createTlsServer({ ...options, ...tls }, listener) : createServer(options, listener));
  let closing = false;
  const active = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  /** Per connection, the request being answered (at most one: node:http answers a connection's requests in order). */
  const answering = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
  const server = make(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs ?? 10_000,
      maxHeaderSize: 16 * 1024,
      // How often the header/request timeouts are enforced (Node's default, 30 s, lets a slow client linger).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, limits.headersTimeoutMs / 2)),
    },
    (req, res) => {
      active.add(res);
      answering.set(req.socket, { req, res });
      // While draining, every answer closes its connection, so keep-alive clients move elsewhere.
      if (closing) res.setHeader('connection', 'close');
      const started = process.hrtime.bigint();
      let routeName = 'unknown';
      let traced: RequestSpan | undefined;
      res.on('close', () => {
        active.delete(res);
        if (answering.get(req.socket)?.res === res) answering.delete(req.socket);
        // A client that went away before any answer was sent: 499 (client closed request), not the default 200.
        observe(routeName, req.method ?? 'GET', res.headersSent ? res.statusCode : CLIENT_CLOSED_STATUS, Number(process.hrtime.bigint() - started) / 1e9);
        if (traced) endRequestSpan(traced, res.statusCode, res.writableFinished);
      });
      const matched = (route: Route): RequestSpan | undefined => {
        routeName = route.name;
        if (tracing && route.traced !== undefined) traced = startRequestSpan(tracing.tracer, tracing.node, req.method ?? 'GET', route.traced, req.headers);
        return traced;
      };
      dispatch(router, req, res, matched, logError);
    },
  );
  server.maxConnections = limits.maxConnections;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const answer = rawErrorAnswer(status, 'BAD_REQUEST', `malformed or too slow request (${error.code ?? 'parse error'})`);
    const refuse = () => (socket.writable ? socket.end(answer) : socket.destroy());
    // The malformed bytes came after a complete request still being answered (pipelined, or a body
    // longer than its Content-Length): that answer goes out first, or its client would read this
    // 400 as the answer to a request that succeeded. Bounded by the request timeout.
    const busy = answering.get(socket);
    if (!busy?.req.complete) return refuse();
    const timer = setTimeout(() => socket.destroy(), limits.requestTimeoutMs).unref();
    busy.res.once('close', () => {
      clearTimeout(timer);
      refuse();
    });
  });

  return {
    server,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : port);
        });
      }),
    close: async (drainMs) => {
      closing = true;
      for (const res of active) if (!res.headersSent) res.setHeader('connection', 'close');
      // Resolves once every connection has closed: idle ones now, busy ones after their answer.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([closed.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), drainMs)))]);
      clearTimeout(timer);
      if (!drained) {
        for (const socket of sockets) socket.destroy();
        await closed;
      }
    },
    inFlight: () => active.size,
    serveIgnoringUpgrade: (req, socket, head) => {
      socket.unshift(Buffer.concat([requestHeadWithoutUpgrade(req), head]));
      server.emit(tls ? 'secureConnection' : 'connection', socket);
    },
  };
}

function dispatch(router: Router, req: IncomingMessage, res: ServerResponse, matched: (route: Route) => RequestSpan | undefined, logError: (error: unknown) => void): void {
  let traced: RequestSpan | undefined;
  const run = async () => {
    // Routes match the raw path: URL parsing would resolve dot segments (`/block/..` → `/`).
    const target = req.url ?? '/';
    const query = target.indexOf('?');
    const path = query === -1 ? target : target.slice(0, query);
    // Only the query is parsed (URLSearchParams, not a whole URL: a fifth of the cost); a fragment
    // a client sent anyway is not part of it, as URL parsing would have it.
    const fragment = query === -1 ? -1 : target.indexOf('#', query);
    const params = new URLSearchParams(query === -1 ? '' : target.slice(query + 1, fragment === -1 ? undefined : fragment));
    const match = router.match(req.method ?? 'GET', path);
    traced = matched(match.route);
    const guard = match.route.requiresToken;
    if (guard === true || (Array.isArray(guard) && guard.includes(req.method ?? ''))) router.authorize(req);
    await match.handler({ req, res, query: params, params: match.params, span: traced?.span, trace: traced?.context });
  };
  run().catch((error: unknown) => {
    const httpError = error instanceof HttpError ? error : new HttpError(500, 'INTERNAL', 'internal error');
    if (!(error instanceof HttpError)) logError(error);
    if (traced) failRequestSpan(traced, httpError.code, httpError.message, error instanceof HttpError ? undefined : error);
    if (!req.complete) {
      if (!res.headersSent) res.setHeader('connection', 'close');
      lingerThenClose(req);
    }
    sendError(res, httpError);
  });
}

/**
 * After the answer, node:http would destroy the socket as soon as it is written; with body bytes
 * still arriving that becomes a reset, and the client may never read the answer. Instead: half-close
 * (the answer and a FIN go out), drop whatever still arrives, and destroy once the client closes or
 * LINGER_MS has passed.
 */
function lingerThenClose(req: IncomingMessage): void {
  const socket = req.socket;
  socket.destroySoon = () => socket.end();
  socket.once('end', () => socket.destroy());
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  req.on('data', () => undefined);
  req.resume();
}
