// The user surface: PUT/GET/HEAD/DELETE of 4 KiB blocks with a consistency level, typed errors,
// bounded retries with backoff for the calls that may be retried (retry.ts), a time budget per call,
// and optionally ring-aware routing (each request straight to one of the block's owners).
import { setTimeout as sleep } from 'node:timers/promises';
import { loadHasher, type Hasher } from '@ringblock/ring';
import { discardBody, epochOf, EPOCH_HEADER, readBody, serverError, versionOf, badResponse } from './answers.js';
import { ArgumentError, RingblockError, TransportError } from './errors.js';
import {
  BLOCK_SIZE,
  CONNECTIONS_PER_NODE_MAX,
  DEFAULTS,
  DURATION_MS_MAX,
  IN_FLIGHT_MAX,
  RETRIES_MAX,
  RING_ANSWER_BYTES_MAX,
  SEED_NODES_MAX,
} from './limits.js';
import { backoffMs, classifyFailure, mayRetry, type Method, type RetryPolicy } from './retry.js';
import { RingTracker } from './ring-tracker.js';
import type { RingView } from './ring-view.js';
import { Router } from './router.js';
import { attemptSignal, NodePools, transportError, type Answer, type AttemptRequest, type DispatcherFactory } from './transport.js';
import { checkBlock, checkBlockId, checkConsistency, integerOption, nodeOrigin, type Consistency } from './validate.js';

export interface ClientOptions {
  /** Seed nodes: URLs (`http://127.0.0.1:3000`) or `host:port`. At least one. */
  readonly nodes: readonly string[];
  /** Default level of every call; `quorum` unless set. */
  readonly consistency?: Consistency;
  /** Send each request straight to an owner of the block, from the ring read off any node. */
  readonly ringAware?: boolean;
  /** Connections per node pool (undici `connections`). */
  readonly connectionsPerNode?: number;
  /** Budget of a whole call, retries and backoff included. */
  readonly timeoutMs?: number;
  /** Budget of one attempt (capped by what is left of the call's). */
  readonly attemptTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** Attempts after the first, for calls that may be retried (0 disables retries). */
  readonly retries?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** How long a node that refused a connection is avoided. */
  readonly nodeDownMs?: number;
  /** Ring-aware: at most one ring fetch per this interval. */
  readonly ringRefreshIntervalMinMs?: number;
  /** Ring-aware: refresh in the background once the ring is this old. */
  readonly ringMaxAgeMs?: number;
  /** Calls in flight at once; more fail with OVERLOADED. */
  readonly inFlightMax?: number;
  /** Makes each node's dispatcher (default: an undici Pool). */
  readonly dispatcherFactory?: DispatcherFactory;
  /** Randomness for backoff jitter, in [0, 1); `Math.random` unless set. */
  readonly random?: () => number;
  /** Milliseconds clock; `Date.now` unless set. */
  readonly now?: () => number;
}

export interface CallOptions {
  readonly consistency?: Consistency;
  /** This call's budget, retries included (default: the client's `timeoutMs`). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface PutOptions extends CallOptions {
  /**
   * Also retry after failures that may have stored the block (timeouts, `503 UNAVAILABLE`, …). Sound
   * only when this client is the id's sole writer: a retry stores the same bytes under a newer
   * version, which would override another writer's put made in between.
   */
  readonly retry?: boolean;
}

export interface Block {
  /** Exactly 4096 bytes. */
  readonly data: Buffer;
  /** The version (ETag without quotes). */
  readonly version: string;
}

export interface Written {
  /** The version the write was stored under; a DELETE's answer may carry none. */
  readonly version: string | undefined;
}

export interface ClientStats {
  /** Calls made (put/get/head/delete). */
  calls: number;
  /** Attempts sent, retries included. */
  attempts: number;
  retries: number;
  /** Attempts sent to one of the block's owners (ring-aware mode). */
  ownerAttempts: number;
  ringRefreshes: number;
  ringRefreshFailures: number;
  /** Epoch of the ring routed by, or null (plain mode, or no ring fetched yet). */
  ringEpoch: number | null;
}

interface Settings extends RetryPolicy {
  readonly consistency: Consistency;
  readonly timeoutMs: number;
  readonly attemptTimeoutMs: number;
  readonly inFlightMax: number;
}

/** What one call asks: the request parts and how to turn a success answer into its result. */
interface CallPlan<T> {
  readonly method: Method;
  readonly id: string;
  readonly body?: Uint8Array;
  readonly retryUnsafe: boolean;
  readonly options: CallOptions | undefined;
  readonly onSuccess: (answer: Answer, origin: string) => Promise<T>;
  /** Statuses that are not errors for this call besides 2xx (404 for reads), and their result. */
  readonly onNotFound?: () => T;
}

const QUERY_BY_LEVEL: Readonly<Record<Consistency, string>> = { one: '?consistency=one', quorum: '?consistency=quorum', all: '?consistency=all' };

export class RingblockClient {
  readonly #settings: Settings;
  readonly #seeds: readonly string[];
  readonly #pools: NodePools;
  readonly #router: Router;
  readonly #ring: RingTracker | undefined;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #stats = { calls: 0, attempts: 0, retries: 0, ownerAttempts: 0 };
  #inFlight = 0;
  #closed = false;

  private constructor(options: ClientOptions, hasher: Hasher | undefined) {
    this.#seeds = seedOrigins(options.nodes);
    this.#settings = settingsOf(options);
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    const attemptTimeoutMs = this.#settings.attemptTimeoutMs;
    const connectTimeoutMs = integerOption('connectTimeoutMs', options.connectTimeoutMs, Math.min(DEFAULTS.connectTimeoutMs, attemptTimeoutMs), 1, DURATION_MS_MAX);
    const connectionsPerNode = integerOption('connectionsPerNode', options.connectionsPerNode, DEFAULTS.connectionsPerNode, 1, CONNECTIONS_PER_NODE_MAX);
    this.#pools = new NodePools({ connectionsPerNode, connectTimeoutMs, attemptTimeoutMs }, options.dispatcherFactory);
    this.#router = new Router(this.#seeds, integerOption('nodeDownMs', options.nodeDownMs, DEFAULTS.nodeDownMs, 0, DURATION_MS_MAX), this.#now);
    this.#ring =
      hasher &&
      new RingTracker({
        hasher,
        fetchRing: (origin) => this.#fetchRing(origin),
        seeds: this.#seeds,
        minIntervalMs: integerOption('ringRefreshIntervalMinMs', options.ringRefreshIntervalMinMs, DEFAULTS.ringRefreshIntervalMinMs, 0, DURATION_MS_MAX),
        maxAgeMs: integerOption('ringMaxAgeMs', options.ringMaxAgeMs, DEFAULTS.ringMaxAgeMs, 1, DURATION_MS_MAX),
        now: this.#now,
        onView: (view) => this.#forgetOldNodes(view),
      });
  }

  /**
   * Validates the options and, in ring-aware mode, loads the hash function and fetches the ring
   * once. A failed first fetch does not fail creation: calls go the plain way until a ring is known.
   */
  static async create(options: ClientOptions): Promise<RingblockClient> {
    const client = new RingblockClient(options, options.ringAware ? await loadHasher() : undefined);
    await client.#ring?.refresh();
    return client;
  }

  /** Stores `data` (exactly 4096 bytes) under `id`. */
  async put(id: string, data: Uint8Array, options?: PutOptions): Promise<{ readonly version: string }> {
    const body = checkBlock(data);
    return this.#call({
      method: 'PUT',
      id: checkBlockId(id),
      body,
      retryUnsafe: options?.retry === true,
      options,
      onSuccess: async (answer, origin) => {
        const fromHeader = versionOf(answer);
        const version = fromHeader ?? (await versionFromBody(answer, origin));
        if (fromHeader !== undefined) await discardBody(answer);
        if (version === undefined) throw badResponse(origin, 'a PUT answer carries no version');
        return { version };
      },
    });
  }

  /** The block, or undefined when it does not exist (never written, or deleted). */
  async get(id: string, options?: CallOptions): Promise<Block | undefined> {
    return this.#read('GET', id, options, async (answer, origin) => {
      const data = await readBody(answer, origin, BLOCK_SIZE, true);
      return { data, version: requiredVersion(answer, origin) };
    });
  }

  /** The block's version, or undefined when it does not exist. */
  async head(id: string, options?: CallOptions): Promise<{ readonly version: string } | undefined> {
    return this.#read('HEAD', id, options, async (answer, origin) => {
      await discardBody(answer);
      return { version: requiredVersion(answer, origin) };
    });
  }

  /** Deletes the block (writes a tombstone); succeeds whether or not it existed. */
  async delete(id: string, options?: CallOptions): Promise<Written> {
    return this.#call({
      method: 'DELETE',
      id: checkBlockId(id),
      retryUnsafe: false,
      options,
      onSuccess: async (answer) => {
        await discardBody(answer);
        return { version: versionOf(answer) };
      },
    });
  }

  /**
   * The names of the owners of `id` in preference order, by the ring this client routes by; undefined
   * in plain mode or before a ring is known.
   */
  owners(id: string): string[] | undefined {
    return this.#ring?.view?.ring.owners(checkBlockId(id)).map((node) => node.name);
  }

  /** Fetches the ring now (ring-aware mode; subject to the refresh rate bound). */
  async refreshRing(): Promise<void> {
    await this.#ring?.refresh();
  }

  stats(): ClientStats {
    return {
      ...this.#stats,
      ringRefreshes: this.#ring?.stats.refreshes ?? 0,
      ringRefreshFailures: this.#ring?.stats.refreshFailures ?? 0,
      ringEpoch: this.#ring?.epoch ?? null,
    };
  }

  /** Closes every connection once in-flight requests finish; later calls fail with CLOSED. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#pools.close();
  }

  #read<T>(method: 'GET' | 'HEAD', id: string, options: CallOptions | undefined, onSuccess: CallPlan<T>['onSuccess']): Promise<T | undefined> {
    return this.#call<T | undefined>({ method, id: checkBlockId(id), retryUnsafe: false, options, onSuccess, onNotFound: () => undefined });
  }

  async #call<T>(plan: CallPlan<T>): Promise<T> {
    const level = checkConsistency(plan.options?.consistency ?? this.#settings.consistency);
    const timeoutMs = integerOption('timeoutMs', plan.options?.timeoutMs, this.#settings.timeoutMs, 1, DURATION_MS_MAX);
    if (this.#closed) throw new TransportError('CLOSED', 'the client is closed', undefined, 'no');
    if (this.#inFlight >= this.#settings.inFlightMax) {
      throw new TransportError('OVERLOADED', `${this.#settings.inFlightMax} calls are in flight already`, undefined, 'no');
    }
    this.#inFlight++;
    this.#stats.calls++;
    this.#ring?.refreshIfOld();
    try {
      return await this.#attempts(plan, level, this.#now() + timeoutMs);
    } finally {
      this.#inFlight--;
    }
  }

  /** Attempts until one succeeds, a failure may not be retried, or retries or time run out. */
  async #attempts<T>(plan: CallPlan<T>, level: Consistency, deadlineMs: number): Promise<T> {
    const tried: string[] = [];
    for (;;) {
      const view = this.#ring?.view;
      const route = this.#router.route(plan.id, tried, view);
      tried.push(route.origin);
      this.#stats.attempts++;
      if (route.owner) this.#stats.ownerAttempts++;
      try {
        return await this.#attempt(plan, route.origin, level, view, deadlineMs);
      } catch (error) {
        const failure = classifyFailure(error);
        if (failure.nodeDown) this.#router.markDown(route.origin);
        const waitMs = backoffMs(this.#settings, tried.length, this.#random);
        const retry = tried.length <= this.#settings.retries && mayRetry(plan.method, failure, plan.retryUnsafe) && this.#now() + waitMs < deadlineMs;
        if (failure.ringSuspect && this.#ring) {
          // A 409 means the ring is stale for sure: wait for the new one before retrying by it.
          const refreshed = this.#ring.refresh();
          if (retry && isStaleEpoch(error)) await untilOrTimeout(refreshed, deadlineMs - this.#now());
        }
        if (!retry) throw withAttempts(error, tried.length);
        this.#stats.retries++;
        await this.#backoff(waitMs, plan.options?.signal, route.origin, tried.length);
      }
    }
  }

  async #attempt<T>(plan: CallPlan<T>, origin: string, level: Consistency, view: RingView | undefined, deadlineMs: number): Promise<T> {
    const remainingMs = deadlineMs - this.#now();
    if (remainingMs <= 0) throw new TransportError('TIMEOUT', `the call ran out of its time budget before reaching ${origin}`, origin, 'no');
    const { signal, dispose } = attemptSignal(Math.min(this.#settings.attemptTimeoutMs, remainingMs), plan.options?.signal);
    try {
      const request: AttemptRequest = {
        method: plan.method,
        path: `/block/${plan.id}${QUERY_BY_LEVEL[level]}`,
        // Ring-aware requests say which ring routed them, so a node on a newer one can answer 409.
        ...(view === undefined ? {} : { headers: { [EPOCH_HEADER]: String(view.epoch) } }),
        ...(plan.body === undefined ? {} : { body: plan.body }),
      };
      const answer = await this.#pools.send(origin, request, signal);
      this.#ring?.noteEpoch(epochOf(answer));
      try {
        if (answer.status >= 200 && answer.status < 300) return await plan.onSuccess(answer, origin);
        if (answer.status === 404 && plan.onNotFound) {
          await discardBody(answer);
          return plan.onNotFound();
        }
        throw await serverError(answer, origin);
      } catch (error) {
        if (!answer.body.destroyed) answer.body.destroy();
        throw error instanceof RingblockError ? error : transportError(error, origin, signal);
      }
    } finally {
      dispose();
    }
  }

  async #backoff(waitMs: number, signal: AbortSignal | undefined, origin: string, attempts: number): Promise<void> {
    try {
      await sleep(waitMs, undefined, signal ? { signal } : undefined);
    } catch (error) {
      throw withAttempts(new TransportError('ABORTED', 'the call was cancelled by the caller', origin, 'maybe', { cause: error }), attempts);
    }
  }

  async #fetchRing(origin: string): Promise<unknown> {
    const { signal, dispose } = attemptSignal(this.#settings.attemptTimeoutMs, undefined);
    try {
      const answer = await this.#pools.send(origin, { method: 'GET', path: '/cluster/ring' }, signal);
      if (answer.status !== 200) throw await serverError(answer, origin);
      const text = (await readBody(answer, origin, RING_ANSWER_BYTES_MAX).catch((error: unknown) => {
        throw transportError(error, origin, signal);
      })).toString('utf8');
      return JSON.parse(text) as unknown;
    } finally {
      dispose();
    }
  }

  /** Keeps pools and down marks only for the seeds and the nodes of the current ring. */
  #forgetOldNodes(view: RingView): void {
    const keep = new Set([...this.#seeds, ...view.originOf.values()]);
    this.#pools.retain(keep);
    this.#router.retain(keep);
  }
}

function settingsOf(options: ClientOptions): Settings {
  const timeoutMs = integerOption('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs, 1, DURATION_MS_MAX);
  const backoffBaseMs = integerOption('backoffBaseMs', options.backoffBaseMs, DEFAULTS.backoffBaseMs, 0, DURATION_MS_MAX);
  return {
    consistency: checkConsistency(options.consistency ?? DEFAULTS.consistency),
    timeoutMs,
    attemptTimeoutMs: integerOption('attemptTimeoutMs', options.attemptTimeoutMs, Math.min(DEFAULTS.attemptTimeoutMs, timeoutMs), 1, DURATION_MS_MAX),
    retries: integerOption('retries', options.retries, DEFAULTS.retries, 0, RETRIES_MAX),
    backoffBaseMs,
    backoffMaxMs: integerOption('backoffMaxMs', options.backoffMaxMs, Math.max(DEFAULTS.backoffMaxMs, backoffBaseMs), backoffBaseMs, DURATION_MS_MAX),
    inFlightMax: integerOption('inFlightMax', options.inFlightMax, DEFAULTS.inFlightMax, 1, IN_FLIGHT_MAX),
  };
}

function seedOrigins(nodes: unknown): readonly string[] {
  if (!Array.isArray(nodes) || nodes.length === 0 || nodes.length > SEED_NODES_MAX) {
    throw new ArgumentError('BAD_OPTION', `nodes must list 1..${SEED_NODES_MAX} node URLs`);
  }
  return Object.freeze([...new Set(nodes.map((node) => nodeOrigin(String(node))))]);
}

function requiredVersion(answer: Answer, origin: string): string {
  const version = versionOf(answer);
  if (version === undefined) throw badResponse(origin, `a ${answer.status} answer carries no ETag`);
  return version;
}

async function versionFromBody(answer: Answer, origin: string): Promise<string | undefined> {
  try {
    const value = JSON.parse((await readBody(answer, origin, 64 * 1024)).toString('utf8')) as { version?: unknown };
    return typeof value.version === 'string' && value.version !== '' ? value.version : undefined;
  } catch {
    return undefined;
  }
}

function isStaleEpoch(error: unknown): boolean {
  return error instanceof RingblockError && error.code === 'STALE_EPOCH';
}

function withAttempts(error: unknown, attempts: number): unknown {
  if (error instanceof RingblockError) error.attempts = attempts;
  return error;
}

async function untilOrTimeout(promise: Promise<void>, timeoutMs: number): Promise<void> {
  if (timeoutMs <= 0) return;
  const controller = new AbortController();
  await Promise.race([promise, sleep(timeoutMs, undefined, { signal: controller.signal }).catch(() => undefined)]);
  controller.abort();
}
