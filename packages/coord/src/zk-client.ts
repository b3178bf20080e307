// A typed, promise-based ZooKeeper client over node-zookeeper-client.
//
// Pitfalls of the library handled here:
// - Requests issued while disconnected wait in its queue with no bound: every call here has
//   operationTimeoutMs and rejects with OPERATION_TIMEOUT (the request may still be applied later,
//   the same ambiguity as CONNECTION_LOSS).
// - It has no read timeout: a frozen server or a silent network leaves it "connected" for ever. A
//   heartbeat (a cheap `exists`) every third of the session timeout drops the socket when a
//   heartbeat stays unanswered for two thirds of it, so the library reconnects (as ZooKeeper's Java
//   client does), and gives the lease anchor used for fencing (`lastAnsweredSentAt`).
// - After session expiry the library is closed for good and its queued requests never settle: the
//   client rejects them with SESSION_EXPIRED and emits 'expired'; the owner builds a new client.
// - Its Transaction turns version 0 into "any version" (see zk-ops.ts).
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import zookeeper from 'node-zookeeper-client';
import type { Logger } from 'pino';
import { monotonicNow, type Clock } from './clock.js';
import { CoordError, fromZkError, isCoordError } from './errors.js';
import { digestAcl, digestAuthInfo, OPEN_ACL, type ZkAclEntry, type ZkAuth } from './zk-acl.js';
import { addTransactionOps, createModeNumber, toLibraryAcl, toStat, transactionOutcome } from './zk-library.js';
import { jsonBytes, sessionIdHex, type ZkCreateMode, type ZkOp, type ZkOpResult, type ZkStat } from './zk-ops.js';
import { RearmedWatch, type Watch, type WatchOptions } from './zk-watch.js';

export interface ZkConnectOptions {
  /** Requested session timeout; the server clamps it (see `sessionTimeoutMs` for the negotiated one). */
  readonly sessionTimeoutMs: number;
  /** Bound on establishing the session. */
  readonly connectTimeoutMs: number;
  /** Bound on each request (default: sessionTimeoutMs). */
  readonly operationTimeoutMs?: number;
  /** Digest credentials: added to the session, and znodes are created readable/writable only by this user. */
  readonly auth?: ZkAuth;
  /** Path prefix for every path (must exist); appended to the connect string. */
  readonly chroot?: string;
  /** ACL for creates that give none (default: the digest ACL of `auth`, else open). */
  readonly defaultAcl?: readonly ZkAclEntry[];
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Attach to an existing session instead of creating one (tests use it to expire a session). */
  readonly session?: ZkSessionCredentials;
}

export interface ZkSessionCredentials {
  readonly id: Buffer;
  readonly password: Buffer;
}

export type ZkState = 'connecting' | 'connected' | 'disconnected' | 'expired' | 'auth_failed' | 'closed';

export interface ZkNodeData {
  readonly data: Buffer;
  readonly version: number;
  readonly stat: ZkStat;
}

export interface ZkJson<T> {
  readonly value: T;
  readonly version: number;
  readonly stat: ZkStat;
}

export interface ZkCreateOptions {
  readonly mode?: ZkCreateMode;
  readonly acl?: readonly ZkAclEntry[];
}

/** A read-time parser/validator for JSON znodes; throw to reject (reported as BAD_DATA). */
export type JsonParser<T> = (value: unknown) => T;

/** Called when a watch fires (once per registration). */
export type ZkWatcher = () => void;

export interface ZkClientEvents {
  state: [ZkState];
  connected: [];
  disconnected: [];
  expired: [];
  closed: [];
}

/** Bounded wait for the library to close its socket on close(). */
const CLOSE_WAIT_MS_MAX = 2_000;
const HEARTBEATS_PER_SESSION_TIMEOUT = 3;
/** While reconnecting, a connection is checked this often (a share of the session timeout, 250 ms at least). */
const HANDSHAKE_CHECKS_PER_SESSION_TIMEOUT = 6;
const HANDSHAKE_CHECK_MS_MIN = 250;

interface PendingCall {
  reject(error: CoordError): void;
}

export class ZkClient extends EventEmitter<ZkClientEvents> {
  private readonly lib: zookeeper.Client;
  private readonly clock: Clock;
  private readonly defaultAcl: readonly ZkAclEntry[];
  private readonly operationTimeoutMs: number;
  private readonly pending = new Set<PendingCall>();
  private readonly watches = new Set<Watch>();
  private stateValue: ZkState = 'connecting';
  private lastAnsweredSentAtMs = Number.NEGATIVE_INFINITY;
  private leaseLapsedAtMs = Number.NEGATIVE_INFINITY;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatSentAtMs: number | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly connectString: string,
    private readonly options: ZkConnectOptions,
  ) {
    super();
    this.clock = options.clock ?? monotonicNow;
    this.operationTimeoutMs = options.operationTimeoutMs ?? options.sessionTimeoutMs;
    this.defaultAcl = options.defaultAcl ?? (options.auth ? digestAcl(options.auth) : OPEN_ACL);
    const chroot = options.chroot ? `/${options.chroot.replace(/^\/+|\/+$/g, '')}` : '';
    this.lib = zookeeper.createClient(`${connectString}${chroot}`, {
      sessionTimeout: options.sessionTimeoutMs,
      spinDelay: Math.min(1000, Math.max(50, Math.floor(options.connectTimeoutMs / 4))),
      retries: 0,
      ...(options.session ? { sessionId: options.session.id, sessionPassword: options.session.password } : {}),
    });
    if (options.auth) this.lib.addAuthInfo('digest', digestAuthInfo(options.auth));
    this.lib.on('connected', () => this.onConnected());
    this.lib.on('disconnected', () => this.onDisconnected());
    this.lib.on('expired', () => this.onDead('expired'));
    this.lib.on('authenticationFailed', () => this.onDead('auth_failed'));
  }

  /** Connects and resolves once the session is established; CONNECT_TIMEOUT after connectTimeoutMs. */
  static async connect(connectString: string, options: ZkConnectOptions): Promise<ZkClient> {
    validateConnectOptions(options);
    const client = new ZkClient(connectString, options);
    await client.open();
    return client;
  }

  get state(): ZkState {
    return this.stateValue;
  }

  /** The session id as ZooKeeper prints it (`0x…`). */
  get sessionId(): string {
    return sessionIdHex(this.lib.getSessionId());
  }

  /** The session timeout the server granted. */
  get sessionTimeoutMs(): number {
    return this.lib.getSessionTimeout();
  }

  /** Id and password of the session (another client given them attaches to the same session). */
  sessionCredentials(): ZkSessionCredentials {
    return { id: this.lib.getSessionId(), password: this.lib.getSessionPassword() };
  }

  /**
   * The session lease, on `clock`: the send time of the latest request the server answered plus the
   * session timeout. The server heard from this session no earlier than that send time, so it cannot
   * have expired the session before leaseUntil. -Infinity before the first answer.
   */
  get leaseUntil(): number {
    return this.lastAnsweredSentAtMs + this.sessionTimeoutMs;
  }

  /**
   * When the lease last lapsed (an answer arrived after leaseUntil had passed: the session may have
   * been expired meanwhile, and anything learned before is suspect); -Infinity if it never did.
   */
  get leaseLapsedAt(): number {
    return this.leaseLapsedAtMs;
  }

  async create(path: string, data: Buffer | null, options: ZkCreateOptions = {}): Promise<string> {
    const acl = toLibraryAcl(options.acl ?? this.defaultAcl);
    const mode = createModeNumber(options.mode ?? 'persistent');
    return this.call<string>('create', path, (done) => this.lib.create(path, data, acl, mode, done));
  }

  /** Creates `path` and its missing parents (persistent, with `acl`); existing ones are left as they are. */
  async mkdirp(path: string, options: { readonly acl?: readonly ZkAclEntry[] } = {}): Promise<void> {
    let current = '';
    for (const part of path.split('/').filter((segment) => segment.length > 0)) {
      current += `/${part}`;
      try {
        await this.create(current, null, { acl: options.acl });
      } catch (error) {
        if (!isCoordError(error, 'NODE_EXISTS')) throw error;
      }
    }
  }

  async get(path: string, watcher?: ZkWatcher): Promise<ZkNodeData> {
    return this.call<ZkNodeData>('get', path, (done) =>
      this.lib.getData(path, watcher, (error, data, stat) => done(error, error ? undefined : { data: data ?? Buffer.alloc(0), version: stat.version, stat: toStat(stat) })),
    );
  }

  /**
   * Like `get`, but a missing znode gives undefined, and then `watcher` (if any) is armed for its
   * creation, so a watch on a path that does not exist yet still fires.
   */
  async getIfExists(path: string, watcher?: ZkWatcher): Promise<ZkNodeData | undefined> {
    for (;;) {
      try {
        return await this.get(path, watcher);
      } catch (error) {
        if (!isCoordError(error, 'NO_NODE')) throw error;
      }
      if ((await this.exists(path, watcher)) === undefined) return undefined;
      // Created between the two calls: read it.
    }
  }

  /** Version-checked write (expectedVersion -1: any version). */
  async set(path: string, data: Buffer, expectedVersion: number): Promise<ZkStat> {
    return this.call<ZkStat>('set', path, (done) => this.lib.setData(path, data, expectedVersion, (error, stat) => done(error, error ? undefined : toStat(stat))));
  }

  async exists(path: string, watcher?: ZkWatcher): Promise<ZkStat | undefined> {
    return this.call<ZkStat | undefined>('exists', path, (done) => this.lib.exists(path, watcher, (error, stat) => done(error, stat ? toStat(stat) : undefined)));
  }

  async children(path: string, watcher?: ZkWatcher): Promise<string[]> {
    return this.call<string[]>('children', path, (done) => this.lib.getChildren(path, watcher, (error, children) => done(error, children)));
  }

  async remove(path: string, version = -1): Promise<void> {
    return this.call<void>('remove', path, (done) => this.lib.remove(path, version, (error) => done(error, undefined)));
  }

  /** An atomic multi-op: `commit` applies all ops or none (rejecting with the failing op's code and `opIndex`). */
  transaction(ops: readonly ZkOp[]): { commit(): Promise<ZkOpResult[]> } {
    return {
      commit: () =>
        this.call<ZkOpResult[]>('transaction', ops[0]?.path ?? '/', (done) => {
          const tx = this.lib.transaction();
          addTransactionOps(tx, ops, this.defaultAcl);
          tx.commit((error, results) => {
            const outcome = transactionOutcome(ops, error, results);
            if (outcome instanceof CoordError) done(outcome, undefined);
            else done(null, outcome);
          });
        }),
    };
  }

  async getJson<T>(path: string, parse: JsonParser<T>, watcher?: ZkWatcher): Promise<ZkJson<T>> {
    const node = await this.get(path, watcher);
    return { value: decodeJson(path, node.data, parse), version: node.version, stat: node.stat };
  }

  async createJson(path: string, value: unknown, options: ZkCreateOptions = {}): Promise<string> {
    return this.create(path, jsonBytes(value), options);
  }

  async setJson(path: string, value: unknown, expectedVersion: number): Promise<ZkStat> {
    return this.set(path, jsonBytes(value), expectedVersion);
  }

  /**
   * Keeps a watch on a znode's data: `onChange` gets the current content at once and after every
   * change (undefined while the znode does not exist). Rejects if the first read fails.
   */
  async watchData(path: string, onChange: (node: ZkNodeData | undefined) => void, options?: WatchOptions): Promise<Watch> {
    let lastKey: string | undefined;
    return this.watch(
      (watcher) => this.getIfExists(path, watcher),
      (node) => {
        const key = node ? `${node.stat.czxid}:${node.stat.mzxid}` : 'none';
        if (key === lastKey) return;
        lastKey = key;
        onChange(node);
      },
      options,
    );
  }

  /** Keeps a watch on a znode's children: `onChange` gets the sorted names at once and after every change. */
  async watchChildren(path: string, onChange: (children: readonly string[]) => void, options?: WatchOptions): Promise<Watch> {
    let lastKey: string | undefined;
    return this.watch(
      async (watcher) => {
        try {
          return (await this.children(path, watcher)).sort();
        } catch (error) {
          if (!isCoordError(error, 'NO_NODE')) throw error;
          // The parent is missing: watch for its creation (or read again if it appeared meanwhile).
          return (await this.exists(path, watcher)) ? this.children(path, watcher).then((names) => names.sort()) : [];
        }
      },
      (children) => {
        const key = children.join('/');
        if (key === lastKey) return;
        lastKey = key;
        onChange(children);
      },
      options,
    );
  }

  /** A re-armed watch around any read (the building block of watchData/watchChildren). */
  async watch<T>(read: (watcher: ZkWatcher) => Promise<T>, deliver: (value: T) => void, options?: WatchOptions): Promise<Watch> {
    if (this.isDead()) throw this.deadError('watch', '/');
    for (const closed of [...this.watches].filter((watch) => watch.closed)) this.watches.delete(closed);
    const watch = new RearmedWatch(this, read, deliver, options);
    this.watches.add(watch);
    try {
      await watch.start();
    } catch (error) {
      this.watches.delete(watch);
      throw error;
    }
    return watch;
  }

  /** Closes the session (its ephemeral znodes go at once), stops watches, rejects pending calls with CLOSED. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    const wasConnected = this.stateValue === 'connected';
    this.setState('closed');
    this.stopHeartbeat();
    this.stopHandshakeWatchdog();
    for (const watch of this.watches) watch.close();
    this.watches.clear();
    this.rejectPending(new CoordError('CLOSED', 'the ZooKeeper client was closed'));
    if (!wasConnected) {
      // Not connected (or dead): nothing to wait for; the library stops reconnecting.
      this.closeLibrary();
      return;
    }
    const socketClosed = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_WAIT_MS_MAX);
      this.lib.once('disconnected', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.closeLibrary();
    await socketClosed;
  }

  private isDead(): boolean {
    return this.stateValue === 'closed' || this.stateValue === 'expired' || this.stateValue === 'auth_failed';
  }

  private deadError(operation: string, path: string): CoordError {
    const code = this.stateValue === 'expired' ? 'SESSION_EXPIRED' : this.stateValue === 'auth_failed' ? 'AUTH_FAILED' : 'CLOSED';
    return new CoordError(code, `${operation} ${path}: the ZooKeeper client is ${this.stateValue}`, { path });
  }

  private async open(): Promise<void> {
    const outcome = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new CoordError('CONNECT_TIMEOUT', `no ZooKeeper session with ${this.connectString} within ${this.options.connectTimeoutMs} ms`));
      }, this.options.connectTimeoutMs);
      const onState = (state: ZkState): void => {
        if (state === 'connecting' || state === 'disconnected') return;
        cleanup();
        if (state === 'connected') resolve();
        else reject(this.deadError('connect', this.connectString));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('state', onState);
      };
      this.on('state', onState);
    });
    this.lib.connect();
    try {
      await outcome;
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** Runs one library call with the operation timeout; records the lease anchor when the server answers. */
  private call<T>(operation: string, path: string, start: (done: (error: unknown, value: T | undefined) => void) => void): Promise<T> {
    if (this.isDead()) return Promise.reject(this.deadError(operation, path));
    const sentAtMs = this.clock();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const entry: PendingCall = { reject: (error) => finish(error, undefined) };
      const timer = setTimeout(
        () => finish(new CoordError('OPERATION_TIMEOUT', `${operation} ${path}: no answer within ${this.operationTimeoutMs} ms (state ${this.stateValue})`, { path }), undefined),
        this.operationTimeoutMs,
      );
      const finish = (error: unknown, value: T | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.pending.delete(entry);
        if (!error) {
          this.noteAnswered(sentAtMs);
          resolve(value as T);
          return;
        }
        const coordError = fromZkError(error, operation, path);
        // API errors (NO_NODE, BAD_VERSION...: codes <= -100) are answers; connection loss and timeouts are not.
        const zkCode = coordError.details.zkCode;
        if (zkCode !== undefined && zkCode <= -100 && coordError.code !== 'SESSION_EXPIRED') this.noteAnswered(sentAtMs);
        reject(coordError);
      };
      this.pending.add(entry);
      try {
        start((error, value) => finish(error, value));
      } catch (error) {
        // The library validates arguments with assert (bad path, data too large).
        finish(new CoordError('BAD_ARGUMENT', `${operation} ${path}: ${error instanceof Error ? error.message : String(error)}`, { path, cause: error }), undefined);
      }
    });
  }

  private noteAnswered(sentAtMs: number): void {
    const leaseUntil = this.leaseUntil;
    if (leaseUntil > Number.NEGATIVE_INFINITY && this.clock() >= leaseUntil) this.leaseLapsedAtMs = leaseUntil;
    if (sentAtMs > this.lastAnsweredSentAtMs) this.lastAnsweredSentAtMs = sentAtMs;
  }

  private rejectPending(error: CoordError): void {
    for (const entry of [...this.pending]) entry.reject(error);
  }

  private setState(state: ZkState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.emit('state', state);
    if (state === 'connected' || state === 'disconnected' || state === 'expired' || state === 'closed') this.emit(state);
  }

  private onConnected(): void {
    if (this.isDead()) return;
    this.stopHandshakeWatchdog();
    this.setState('connected');
    this.startHeartbeat();
  }

  private onDisconnected(): void {
    if (this.isDead()) return;
    this.stopHeartbeat();
    this.startHandshakeWatchdog();
    this.setState('disconnected');
  }

  private onDead(state: 'expired' | 'auth_failed'): void {
    if (this.isDead()) return;
    this.stopHeartbeat();
    this.stopHandshakeWatchdog();
    this.setState(state);
    for (const watch of this.watches) watch.close();
    this.watches.clear();
    this.rejectPending(this.deadError('request', this.connectString));
    this.closeLibrary();
  }

  private closeLibrary(): void {
    try {
      this.lib.close();
    } catch {
      // The library throws when closed before its first socket exists; nothing is left to close.
    }
  }

  /**
   * node-zookeeper-client stops its connect timer once the TCP connection is up and then waits for
   * the session handshake's answer without a bound: a server that accepted the connection and never
   * answered (seen after a ZooKeeper restart, from a server still starting) held one node's
   * reconnection until its session had expired and the membership watchdog gave up on it, 16 s
   * later. So while reconnecting, a connection that is up and still unanswered at two checks in a
   * row is destroyed; the library then tries again, with the same session.
   */
  private startHandshakeWatchdog(): void {
    this.stopHandshakeWatchdog();
    let suspect: unknown;
    const periodMs = Math.max(HANDSHAKE_CHECK_MS_MIN, Math.floor(this.sessionTimeoutMs / HANDSHAKE_CHECKS_PER_SESSION_TIMEOUT));
    this.handshakeTimer = setInterval(() => {
      const socket = librarySocket(this.lib);
      if (socket === undefined || socket.destroyed || socket.connecting) {
        suspect = undefined;
        return;
      }
      if (socket === suspect) socket.destroy();
      else suspect = socket;
    }, periodMs);
    this.handshakeTimer.unref();
  }

  private stopHandshakeWatchdog(): void {
    clearInterval(this.handshakeTimer);
    this.handshakeTimer = undefined;
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    const intervalMs = Math.max(1, Math.floor(this.sessionTimeoutMs / HEARTBEATS_PER_SESSION_TIMEOUT));
    this.heartbeatTimer = setInterval(() => this.heartbeat(intervalMs), intervalMs);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.heartbeatSentAtMs = undefined;
  }

  private heartbeat(intervalMs: number): void {
    const now = this.clock();
    if (this.heartbeatSentAtMs !== undefined) {
      if (now - this.heartbeatSentAtMs >= 2 * intervalMs) {
        this.options.logger?.warn({ zk: this.connectString, silentMs: Math.round(now - this.heartbeatSentAtMs) }, 'ZooKeeper does not answer; dropping the connection to reconnect');
        this.heartbeatSentAtMs = undefined;
        this.lib.connectionManager.socket?.destroy();
      }
      return;
    }
    const sentAtMs = now;
    this.heartbeatSentAtMs = sentAtMs;
    this.exists('/').then(
      () => this.heartbeatSentAtMs === sentAtMs && (this.heartbeatSentAtMs = undefined),
      () => this.heartbeatSentAtMs === sentAtMs && (this.heartbeatSentAtMs = undefined),
    );
  }
}

function validateConnectOptions(options: ZkConnectOptions): void {
  for (const key of ['sessionTimeoutMs', 'connectTimeoutMs'] as const) {
    const value = options[key];
    if (!Number.isFinite(value) || value <= 0) throw new CoordError('BAD_ARGUMENT', `${key} must be a positive number of milliseconds, got ${String(value)}`);
  }
}

/** Parses znode data as JSON and validates it with `parse`; BAD_DATA when either fails. */
export function decodeJson<T>(path: string, data: Buffer, parse: JsonParser<T>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString('utf8'));
  } catch (error) {
    throw new CoordError('BAD_DATA', `${path} does not hold JSON: ${(error as Error).message}`, { path, cause: error });
  }
  try {
    return parse(raw);
  } catch (error) {
    if (error instanceof CoordError) throw error;
    throw new CoordError('BAD_DATA', `${path}: ${error instanceof Error ? error.message : String(error)}`, { path, cause: error });
  }
}

/** What the handshake watchdog needs of a net.Socket. */
type LibrarySocket = Pick<Socket, 'destroyed' | 'connecting' | 'destroy'>;

/** The library's current socket (not part of its typed API: read defensively). */
function librarySocket(lib: unknown): LibrarySocket | undefined {
  const socket = (lib as { connectionManager?: { socket?: unknown } }).connectionManager?.socket;
  if (typeof socket !== 'object' || socket === null || typeof (socket as { destroy?: unknown }).destroy !== 'function') return undefined;
  return socket as LibrarySocket;
}
