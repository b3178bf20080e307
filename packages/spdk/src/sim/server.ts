// spdk-sim's Unix-socket JSON-RPC server, framed as SPDK frames it (RPC.md §1.1–1.3): a streaming JSON
// parser over each connection's bytes (not newlines), requests dispatched in order and answered as
// they finish (out of order), one compact line per reply. A parse error answers -32700 and closes; a
// request outgrowing the 256 KiB receive buffer drops the connection; after the client's EOF later
// replies are dropped. At most 64 connections are served; more wait unanswered.
import net from 'node:net';
import type { Logger } from 'pino';
import { JSONRPC_ERROR } from '../errno.js';
import { parseJson, type JsonParseResult, type JsonValue } from '../json/parse.js';
import { stringifyJson } from '../json/stringify.js';
import { JsonValueSplitter } from '../json/value-splitter.js';
import { SPDK_CONNECTIONS_MAX, SPDK_REQUEST_BUFFER_BYTES } from '../limits.js';
import type { ConnectionControl, Dispatcher } from './dispatch.js';
import { readEnvelope } from './envelope.js';

/** [ver] v26.05+ executes batch arrays; earlier versions answer any array with one E(-32600). */
export type BatchMode = 'execute' | 'reject';

export interface SimRpcServerOptions {
  readonly dispatcher: Dispatcher;
  readonly batches?: BatchMode;
  readonly logger?: Logger;
}

type Reply = Record<string, unknown>;

function errorReply(id: JsonValue, code: number, message: string): Reply {
  return { jsonrpc: '2.0', id, error: { code, message } };
}

export class SimRpcServer {
  private readonly server = net.createServer((socket) => this.onConnection(socket));
  private readonly active = new Set<SimConnection>();
  /** Connections beyond SPDK_CONNECTIONS_MAX, not read until a slot frees. */
  private readonly waiting: net.Socket[] = [];

  constructor(readonly options: SimRpcServerOptions) {}

  listen(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Closes every connection without replies (sim_drop_connection all, or shutdown). */
  dropAll(): void {
    for (const connection of [...this.active]) connection.drop();
    for (const socket of this.waiting.splice(0)) socket.destroy();
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropAll();
    await closed;
  }

  get connectionCount(): number {
    return this.active.size;
  }

  private onConnection(socket: net.Socket): void {
    socket.on('error', (error) => this.options.logger?.debug({ err: error }, 'spdk-sim connection error'));
    if (this.active.size < SPDK_CONNECTIONS_MAX) return this.activate(socket);
    this.waiting.push(socket);
    socket.once('close', () => {
      const index = this.waiting.indexOf(socket);
      if (index >= 0) this.waiting.splice(index, 1);
    });
  }

  private activate(socket: net.Socket): void {
    const connection = new SimConnection(socket, this.options, this);
    this.active.add(connection);
    socket.once('close', () => {
      this.active.delete(connection);
      const next = this.waiting.shift();
      if (next !== undefined && !next.destroyed) this.activate(next);
    });
  }
}

class SimConnection implements ConnectionControl {
  private readonly splitter = new JsonValueSplitter(SPDK_REQUEST_BUFFER_BYTES);
  /** No more replies: parse error sent, dropped, or the client sent EOF. */
  private closed = false;
  /** No more requests read (a parse error was found). */
  private inputClosed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly options: SimRpcServerOptions,
    private readonly server: SimRpcServer,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // SPDK marks the connection closed on EOF and drops replies that complete later (RPC.md §1.2).
    socket.on('end', () => {
      this.closed = true;
    });
  }

  drop(): void {
    this.closed = true;
    this.socket.destroy();
  }

  dropAll(): void {
    this.server.dropAll();
  }

  private onData(chunk: Buffer): void {
    if (this.closed || this.inputClosed) return;
    for (const item of this.splitter.push(chunk)) {
      if (item.kind === 'overflow') return this.drop();
      if (item.kind === 'syntax_error') return this.parseError();
      let parsed: JsonParseResult;
      try {
        parsed = parseJson(item.text);
      } catch {
        return this.parseError();
      }
      this.handle(parsed);
      if (this.closed || this.inputClosed) return;
    }
  }

  /**
   * E(-32700,"Parse error") with a null id, then the connection is closed. Replies of the requests
   * before it that complete at once go out first (SPDK queued them already); later ones are dropped.
   */
  private parseError(): void {
    this.inputClosed = true;
    setImmediate(() => {
      if (this.closed) return;
      this.closed = true;
      this.socket.end(`${stringifyJson(errorReply(null, JSONRPC_ERROR.PARSE_ERROR, 'Parse error'))}\n`);
    });
  }

  private handle(parsed: JsonParseResult): void {
    const { value } = parsed;
    if (!Array.isArray(value)) {
      void this.answer(value, parsed).then((reply) => this.send(reply));
      return;
    }
    if (value.length === 0 || this.options.batches === 'reject') {
      this.send(errorReply(null, JSONRPC_ERROR.INVALID_REQUEST, 'Invalid request'));
      return;
    }
    void Promise.all(value.map((element) => this.answer(element, parsed))).then((replies) => {
      const sent = replies.filter((reply): reply is Reply => reply !== undefined);
      if (sent.length > 0) this.send(sent);
    });
  }

  /** The reply to one request, or undefined (successful notification, or the connection was dropped). */
  private async answer(value: JsonValue, parsed: JsonParseResult): Promise<Reply | undefined> {
    const request = readEnvelope(value, parsed.objectsWithDuplicateKeys);
    if (request === undefined) return errorReply(null, JSONRPC_ERROR.INVALID_REQUEST, 'Invalid request');
    const outcome = await this.options.dispatcher.call(request, parsed, this);
    if (outcome.kind === 'dropped') return undefined;
    if (outcome.kind === 'error') return errorReply(request.notification ? null : request.id, outcome.error.code, outcome.error.message);
    return request.notification ? undefined : { jsonrpc: '2.0', id: request.id, result: outcome.value };
  }

  private send(reply: Reply | Reply[] | undefined): void {
    if (reply === undefined || this.closed || this.socket.destroyed) return;
    this.socket.write(`${stringifyJson(reply)}\n`);
  }
}
