// The receiving side of the binary replication protocol: the HTTP server's `upgrade` listener. An
// upgrade to REPLICATION_PROTOCOL at REPLICATION_PATH with the cluster token becomes a session that
// serves replica writes and reads exactly as the /internal/block routes do (same epoch check, same
// last-writer-wins through the local replica, same metrics and server spans), many at once.
// Bounded: requests in flight per session (reading pauses beyond), answers buffered unsent
// (reading pauses until the socket drains), sessions at once; a protocol error closes the session.
import type { IncomingMessage } from 'node:http';
import type { Context } from '@opentelemetry/api';
import type { Duplex } from 'node:stream';
import { HttpError, rawErrorAnswer } from '../http/errors.js';
import { senderEpochVerdict } from '../http/epoch.js';
import { isValidId } from '../http/ids.js';
import type { RequestObserver, ServerTracing } from '../http/server.js';
import { ReplicaError, type Replica } from '../store.js';
import { endRequestSpan, failRequestSpan, startRequestSpan } from '../tracing.js';
import { isVersionBytes, type HybridClock } from '../version.js';
import { FrameWriter } from './frame-writer.js';
import { decodeRequest, encodeAnswer, FAILURE_STATUS, FrameReader, REPLICATION_PATH, REPLICATION_PROTOCOL, type ReplicaAnswer, type ReplicaRequest } from './frames.js';

/** Requests of one session being served at once; reading pauses beyond this. */
const SESSION_IN_FLIGHT_MAX = 1024;
/** Sessions at once (each peer opens one); more are refused with 503. */
const SESSIONS_MAX = 1024;
/** The route name metrics know internal replica calls by (the same as the HTTP route's). */
const ROUTE = 'internal_block';
const TRACED_ROUTE = '/internal/block/{id}';

export interface ReplicationServerOptions {
  local: Replica;
  clock: HybridClock;
  epoch: () => number;
  /** A peer routes by a newer epoch than ours: re-read the ring. */
  onNewerEpoch: (epoch: number) => void;
  /** Throws an HttpError (401) unless the request carries the cluster token. */
  authorize: (req: IncomingMessage) => void;
  observe: RequestObserver;
  tracing?: ServerTracing | undefined;
  logError: (error: unknown) => void;
  /** Upgrade requests to any other path: served as plain HTTP requests (HttpServer.serveIgnoringUpgrade). */
  plainRequest?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

export class ReplicationServer {
  private readonly sessions = new Set<Session>();
  private closing = false;

  constructor(private readonly options: ReplicationServerOptions) {}

  /** The HTTP server's `upgrade` listener: every upgrade request comes here, whatever its path. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.options.plainRequest && upgradePath(req) !== REPLICATION_PATH) return this.options.plainRequest(req, socket, head);
    const refusal = this.refusal(req);
    if (refusal) return refuse(socket, refusal);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${REPLICATION_PROTOCOL}\r\n\r\n`);
    const session = new Session(socket, this.options, () => this.sessions.delete(session));
    this.sessions.add(session);
    session.start(head);
  };

  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Stops reading new requests, lets those being served answer, then ends every session; after
   * `drainMs` the rest are destroyed. Callers see their connection close and fail over (hints).
   */
  async close(drainMs: number): Promise<void> {
    this.closing = true;
    const closed = [...this.sessions].map((session) => session.drain());
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([Promise.all(closed).then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), drainMs)))]);
    clearTimeout(timer);
    if (!drained) for (const session of this.sessions) session.destroy();
    await Promise.all(closed);
  }

  private refusal(req: IncomingMessage): HttpError | undefined {
    const path = upgradePath(req);
    if (path !== REPLICATION_PATH) return new HttpError(404, 'NOT_FOUND', `no upgrade at ${path}`);
    if (String(req.headers.upgrade ?? '').toLowerCase() !== REPLICATION_PROTOCOL) return new HttpError(400, 'BAD_REQUEST', `${REPLICATION_PATH} upgrades to ${REPLICATION_PROTOCOL} only`);
    try {
      this.options.authorize(req);
    } catch (error) {
      return error instanceof HttpError ? error : new HttpError(401, 'UNAUTHORIZED', 'this route needs the cluster token');
    }
    if (this.closing) return new HttpError(503, 'UNAVAILABLE', 'this node is shutting down');
    if (this.sessions.size >= SESSIONS_MAX) return new HttpError(503, 'UNAVAILABLE', `${SESSIONS_MAX} replication sessions are open already`);
    return undefined;
  }
}

function upgradePath(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!;
}

/** An upgrade refused: its JSON error answer, and the connection closed. */
function refuse(socket: Duplex, error: HttpError): void {
  socket.end(rawErrorAnswer(error.status, error.code, error.message, error.headers));
  socket.on('error', () => undefined);
}

class Session {
  private readonly writer: FrameWriter;
  private inFlight = 0;
  private draining = false;
  private readonly closed: Promise<void>;
  private readonly reader = new FrameReader((kind, requestId, body) => this.received(decodeRequest(kind, requestId, body)));

  constructor(private readonly socket: Duplex, private readonly options: ReplicationServerOptions, onClosed: () => void) {
    this.writer = new FrameWriter(socket);
    this.closed = new Promise((resolve) => socket.once('close', () => {
      onClosed();
      resolve();
    }));
  }

  start(head: Buffer): void {
    this.socket.on('error', () => undefined);
    // The sender closed its side (an idle link, or it is stopping): it reads no more answers, and
    // an upgraded socket allows half-open connections, which would keep this session forever.
    this.socket.on('end', () => this.socket.destroy());
    this.socket.on('data', (chunk: Buffer) => this.push(chunk));
    this.socket.on('drain', () => this.flowControl());
    if (head.length > 0) this.push(head);
  }

  /** Ends the session once what is being served has answered; what arrives meanwhile is refused. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.socket.isPaused()) this.socket.resume();
    this.endIfIdle();
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private push(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch (error) {
      // A broken frame: nothing after it on this connection can be read.
      this.options.logError(error);
      this.socket.destroy();
    }
  }

  private received(request: ReplicaRequest): void {
    if (this.socket.writableEnded) return;
    if (this.draining) {
      this.writer.send(encodeAnswer({ kind: 'failed', requestId: request.requestId, code: 'SHUTTING_DOWN', epoch: this.options.epoch(), message: 'this node is shutting down' }));
      return;
    }
    this.inFlight++;
    this.flowControl();
    void this.serve(request).then((answer) => {
      this.inFlight--;
      if (this.socket.writableEnded || this.socket.destroyed) return;
      this.writer.send(encodeAnswer(answer));
      this.endIfIdle();
      this.flowControl();
    });
  }

  private endIfIdle(): void {
    // After the batched answers: end() runs once the corked writes were handed to the socket.
    if (!this.draining || this.inFlight > 0) return;
    setImmediate(() => {
      if (!this.socket.writableEnded) this.socket.end();
    });
  }

  /** Reads while few requests are in flight and the answers leave as fast as they are made. */
  private flowControl(): void {
    if (this.draining) return;
    const busy = this.inFlight >= SESSION_IN_FLIGHT_MAX || this.socket.writableNeedDrain;
    if (busy && !this.socket.isPaused()) this.socket.pause();
    else if (!busy && this.socket.isPaused()) this.socket.resume();
  }

  /** One request served, with its metric and (when the sender traced it) its server span. */
  private async serve(request: ReplicaRequest): Promise<ReplicaAnswer> {
    const started = process.hrtime.bigint();
    const method = request.kind === 'read' ? 'GET' : request.data ? 'PUT' : 'DELETE';
    const tracing = this.options.tracing;
    const traced = tracing && request.traceparent ? startRequestSpan(tracing.tracer, tracing.node, method, TRACED_ROUTE, { traceparent: request.traceparent }) : undefined;
    traced?.span.setAttribute('ringblock.block.id', request.blockId);
    const answer = await this.answer(request, traced?.context);
    const status = answer.kind === 'failed' ? FAILURE_STATUS[answer.code] : answer.kind === 'missing' ? 404 : 200;
    this.options.observe(ROUTE, method, status, Number(process.hrtime.bigint() - started) / 1e9);
    if (traced) {
      if (answer.kind === 'failed') failRequestSpan(traced, answer.code, answer.message);
      endRequestSpan(traced, status, true);
    }
    return answer;
  }

  private async answer(request: ReplicaRequest, trace: Context | undefined): Promise<ReplicaAnswer> {
    const { requestId } = request;
    const failed = (code: Extract<ReplicaAnswer, { kind: 'failed' }>['code'], message: string): ReplicaAnswer => ({ kind: 'failed', requestId, code, epoch: this.options.epoch(), message });
    const { stale } = senderEpochVerdict(request.epoch, this.options);
    if (stale) return failed('STALE_EPOCH', stale);
    if (!isValidId(request.blockId)) return failed('BAD_REQUEST', 'the block id is not valid');
    try {
      if (request.kind === 'read') {
        const block = await this.options.local.read(request.blockId, trace);
        return block ? { kind: 'found', requestId, version: block.version, tombstone: block.tombstone, data: block.data } : { kind: 'missing', requestId };
      }
      if (!isVersionBytes(request.version)) return failed('BAD_REQUEST', 'the version is not valid');
      this.options.clock.observe(request.version);
      const outcome = await this.options.local.write(request.blockId, request.version, request.data, trace);
      return { kind: 'written', requestId, result: outcome.result, current: outcome.current };
    } catch (error) {
      if (error instanceof ReplicaError && (error.code === 'DEVICE_FULL' || error.code === 'CHECKSUM_MISMATCH')) return failed(error.code, error.message);
      this.options.logError(error);
      return failed('INTERNAL', 'internal error');
    }
  }
}
