// JSON-RPC 2.0 client for SPDK's Unix socket (RPC.md §1). Framing: requests are written as compact JSON
// values (SPDK parses a stream of values, §1.2); replies are read as one line each and matched by id,
// since handlers finish asynchronously and replies come out of order. Many calls in flight, bounded;
// every call has its own timeout; the socket is never half-closed (SPDK drops replies after EOF).
// A dropped connection fails the calls in flight with SPDK_CONNECTION_LOST; the next call reconnects.
import net from 'node:net';
import type { Logger } from 'pino';
import { SpdkRpcError, type SpdkTransportErrorCode } from './errors.js';
import { LineSplitter, LineTooLongError } from './json/line-splitter.js';
import { isJsonObject, parseJson, type JsonObject, type JsonValue } from './json/parse.js';
import { stringifyJson } from './json/stringify.js';
import { SPDK_REPLY_MAX_BYTES, SPDK_REQUEST_BUFFER_BYTES } from './limits.js';

export interface SpdkCallOptions {
  /** Overrides the client's callTimeoutMs for this call (e.g. lvstore creation on a big device). */
  readonly timeoutMs?: number;
}

/** What the typed wrappers need: one JSON-RPC call. `params` undefined means the member is omitted. */
export interface SpdkRpcCaller {
  call(method: string, params?: object, options?: SpdkCallOptions): Promise<JsonValue>;
}

export interface SpdkRpcClientOptions {
  /** SPDK's RPC socket, usually /var/tmp/spdk.sock. */
  readonly socketPath: string;
  /** Per-call limit from the call until its reply, queueing and connecting included. Default 30 s. */
  readonly callTimeoutMs?: number;
  /** Limit on connecting the socket. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Calls sent and not yet answered, at most. Default 32. */
  readonly inFlightMax?: number;
  /** Calls waiting for an in-flight slot, at most; beyond, a call fails with SPDK_OVERLOADED. Default 1024. */
  readonly queuedMax?: number;
  /** Opens the socket; injectable so tests can swap the transport. Default net.createConnection. */
  readonly connect?: (socketPath: string) => net.Socket;
  readonly logger?: Logger;
}

export const SPDK_CALL_TIMEOUT_MS_DEFAULT = 30_000;
export const SPDK_CONNECT_TIMEOUT_MS_DEFAULT = 5_000;
export const SPDK_IN_FLIGHT_MAX_DEFAULT = 32;
export const SPDK_QUEUED_MAX_DEFAULT = 1024;

interface PendingCall {
  readonly id: number;
  readonly method: string;
  readonly request: string;
  readonly resolve: (result: JsonValue) => void;
  readonly reject: (error: SpdkRpcError) => void;
  timer?: NodeJS.Timeout;
  /** The socket the request was written to; undefined while queued or connecting. */
  socket?: net.Socket;
  settled: boolean;
}

export class SpdkRpcClient implements SpdkRpcCaller {
  readonly socketPath: string;
  private readonly callTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly inFlightMax: number;
  private readonly queuedMax: number;
  private readonly connectSocket: (socketPath: string) => net.Socket;
  private readonly logger: Logger | undefined;
  private nextId = 1;
  /** Admitted calls (connecting or sent), by id. */
  private readonly inFlight = new Map<number, PendingCall>();
  /** Calls waiting for an in-flight slot, oldest first. */
  private readonly queue: PendingCall[] = [];
  private socketPromise: Promise<net.Socket> | undefined;
  private currentSocket: net.Socket | undefined;
  private closed = false;

  constructor(options: SpdkRpcClientOptions) {
    this.socketPath = options.socketPath;
    this.callTimeoutMs = positiveInteger('callTimeoutMs', options.callTimeoutMs ?? SPDK_CALL_TIMEOUT_MS_DEFAULT);
    this.connectTimeoutMs = positiveInteger('connectTimeoutMs', options.connectTimeoutMs ?? SPDK_CONNECT_TIMEOUT_MS_DEFAULT);
    this.inFlightMax = positiveInteger('inFlightMax', options.inFlightMax ?? SPDK_IN_FLIGHT_MAX_DEFAULT);
    this.queuedMax = positiveInteger('queuedMax', options.queuedMax ?? SPDK_QUEUED_MAX_DEFAULT, 0);
    this.connectSocket = options.connect ?? ((socketPath) => net.createConnection({ path: socketPath }));
    this.logger = options.logger;
    if (this.socketPath.length === 0) throw new RangeError('socketPath must not be empty');
  }

  /** Calls sent (or connecting) and not yet settled. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Calls waiting for an in-flight slot. */
  get queuedCount(): number {
    return this.queue.length;
  }

  call(method: string, params?: object, options: SpdkCallOptions = {}): Promise<JsonValue> {
    if (this.closed) return Promise.reject(new SpdkRpcError('SPDK_CLOSED', 'the SPDK RPC client is closed', method));
    const id = this.nextId++;
    const request = `${stringifyJson(params === undefined ? { jsonrpc: '2.0', method, id } : { jsonrpc: '2.0', method, id, params })}\n`;
    if (Buffer.byteLength(request) > SPDK_REQUEST_BUFFER_BYTES) {
      return Promise.reject(new SpdkRpcError('SPDK_REQUEST_TOO_LARGE', `request larger than SPDK's ${SPDK_REQUEST_BUFFER_BYTES}-byte receive buffer`, method));
    }
    const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) return Promise.reject(new RangeError(`timeoutMs must be an integer ≥ 1, got ${timeoutMs}`));
    return new Promise<JsonValue>((resolve, reject) => {
      const call: PendingCall = { id, method, request, resolve, reject, settled: false };
      call.timer = setTimeout(() => this.fail(call, 'SPDK_TIMEOUT', `no reply within ${timeoutMs} ms`), timeoutMs);
      if (this.inFlight.size < this.inFlightMax) this.admit(call);
      else if (this.queue.length < this.queuedMax) this.queue.push(call);
      else this.fail(call, 'SPDK_OVERLOADED', `${this.inFlight.size} calls in flight and ${this.queue.length} queued`);
    });
  }

  /** Fails every pending call with SPDK_CLOSED and closes the socket (a full close, never a half-close). */
  async close(): Promise<void> {
    this.closed = true;
    for (const call of [...this.queue, ...this.inFlight.values()]) this.fail(call, 'SPDK_CLOSED', 'the SPDK RPC client was closed');
    const socket = this.currentSocket;
    if (socket === undefined || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }

  private admit(call: PendingCall): void {
    this.inFlight.set(call.id, call);
    this.socket().then(
      (socket) => {
        if (call.settled) return;
        if (socket.destroyed) return this.fail(call, 'SPDK_CONNECTION_LOST', 'the connection closed before the request was sent');
        call.socket = socket;
        socket.write(call.request);
      },
      (error: unknown) => this.fail(call, 'SPDK_UNREACHABLE', `cannot connect to ${this.socketPath}: ${errorText(error)}`, error),
    );
  }

  /** The open socket, connecting if there is none. Concurrent callers share one attempt. */
  private socket(): Promise<net.Socket> {
    this.socketPromise ??= this.openSocket().catch((error: unknown) => {
      this.socketPromise = undefined;
      throw error;
    });
    return this.socketPromise;
  }

  private openSocket(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = this.connectSocket(this.socketPath);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      const timer = setTimeout(() => fail(new Error(`connect timed out after ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
      socket.once('error', fail);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        this.attach(socket);
        resolve(socket);
      });
    });
  }

  private attach(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.currentSocket = socket;
    this.logger?.debug({ socketPath: this.socketPath }, 'spdk rpc connected');
    const lines = new LineSplitter(SPDK_REPLY_MAX_BYTES);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const line of lines.push(chunk)) if (!socket.destroyed) this.onReplyLine(socket, line);
      } catch (error) {
        if (!(error instanceof LineTooLongError)) throw error;
        this.protocolFailure(socket, error.message);
      }
    });
    socket.on('error', (error) => this.logger?.warn({ err: error, socketPath: this.socketPath }, 'spdk rpc socket error'));
    socket.on('close', () => this.onSocketClosed(socket));
  }

  /** The next call connects anew instead of using `socket`. */
  private forget(socket: net.Socket): void {
    if (this.currentSocket !== socket) return;
    this.currentSocket = undefined;
    this.socketPromise = undefined;
  }

  private onSocketClosed(socket: net.Socket): void {
    this.forget(socket);
    const lost = [...this.inFlight.values()].filter((call) => call.socket === socket);
    if (lost.length > 0) this.logger?.warn({ socketPath: this.socketPath, callsLost: lost.length }, 'spdk rpc connection lost with calls in flight');
    for (const call of lost) this.fail(call, 'SPDK_CONNECTION_LOST', 'the connection to SPDK dropped before the reply');
  }

  private onReplyLine(socket: net.Socket, line: string): void {
    if (line.trim().length === 0) return;
    let reply: JsonValue;
    try {
      reply = parseJson(line, { duplicateKeys: 'collect' }).value;
    } catch (error) {
      return this.protocolFailure(socket, `unparseable reply: ${errorText(error)}`);
    }
    const parsed = readReply(reply);
    if (typeof parsed === 'string') return this.protocolFailure(socket, parsed);
    if (parsed.id === null) {
      // Only an envelope or parse error is sent without an id; it cannot be matched to a call.
      return this.protocolFailure(socket, `SPDK answered error ${parsed.error?.code} "${parsed.error?.message}" without an id`);
    }
    const call = this.inFlight.get(parsed.id);
    if (call === undefined || call.socket !== socket) {
      this.logger?.debug({ id: parsed.id }, 'spdk rpc reply for a call no longer waiting (timed out)');
      return;
    }
    if (parsed.error !== undefined) return this.settle(call, new SpdkRpcError(parsed.error.code, parsed.error.message, call.method));
    this.settle(call, parsed.result as JsonValue);
  }

  /** The reply stream can no longer be trusted: fail what was sent on it and reset the connection. */
  private protocolFailure(socket: net.Socket, reason: string): void {
    this.logger?.error({ socketPath: this.socketPath, reason }, 'spdk rpc bad reply; resetting the connection');
    for (const call of this.inFlight.values()) if (call.socket === socket) this.fail(call, 'SPDK_BAD_REPLY', reason);
    this.forget(socket);
    socket.destroy();
  }

  private fail(call: PendingCall, code: SpdkTransportErrorCode, message: string, cause?: unknown): void {
    this.settle(call, new SpdkRpcError(code, message, call.method, { cause }));
  }

  private settle(call: PendingCall, outcome: JsonValue | SpdkRpcError): void {
    if (call.settled) return;
    call.settled = true;
    clearTimeout(call.timer);
    if (!this.inFlight.delete(call.id)) {
      const queued = this.queue.indexOf(call);
      if (queued >= 0) this.queue.splice(queued, 1);
    }
    if (outcome instanceof SpdkRpcError) call.reject(outcome);
    else call.resolve(outcome);
    this.pump();
  }

  /** Moves queued calls into free in-flight slots. */
  private pump(): void {
    while (!this.closed && this.inFlight.size < this.inFlightMax && this.queue.length > 0) this.admit(this.queue.shift()!);
  }
}

interface Reply {
  readonly id: number | null;
  readonly result?: JsonValue;
  readonly error?: { readonly code: number; readonly message: string };
}

/** Checks a reply's shape (RPC.md §1.3–1.4); returns the reason as a string when it is not one. */
function readReply(reply: JsonValue): Reply | string {
  if (!isJsonObject(reply)) return 'reply is not a JSON object';
  const { id } = reply;
  if (id !== null && typeof id !== 'number') return `reply id ${stringifyJson(id)} is not one we send`;
  const hasResult = Object.prototype.hasOwnProperty.call(reply, 'result');
  if (hasResult === (reply.error !== undefined)) return 'reply must carry exactly one of result and error';
  if (hasResult) return { id, result: reply.result };
  const error = readErrorObject(reply.error);
  return error === undefined ? 'malformed error object' : { id, error };
}

function readErrorObject(error: JsonValue | undefined): Reply['error'] {
  if (!isJsonObject(error)) return undefined;
  const { code, message } = error as JsonObject;
  return typeof code === 'number' && Number.isInteger(code) && typeof message === 'string' ? { code, message } : undefined;
}

function positiveInteger(name: string, value: number, minimum = 1): number {
  if (!Number.isSafeInteger(value) || value < minimum) throw new RangeError(`${name} must be an integer ≥ ${minimum}, got ${value}`);
  return value;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
