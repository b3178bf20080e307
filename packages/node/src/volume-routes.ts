// The volume API of DESIGN §2 on every node, over the records in ZooKeeper (the storage agent of the
// volume's host does the work):
//   GET    /volumes                      → {volumes: [record…]}
//   GET    /volumes/{name}               → record
//   GET    /volumes/{name}/events        → Server-Sent Events: `state` (the record) at once, then one
//                                          `transition` per trail entry, `done` on a terminal state;
//                                          Last-Event-ID (or ?after=N) replays the entries after N first
//   POST   /volumes/{name}/resize        {sizeMib}   (token) → 202 {task}
//   POST   /volumes/{name}/snapshots     {name}      (token) → 202 {task}
//   POST   /volumes/{name}/reconcile                 (token) → 202 {task, observed}; 503 when SPDK or
//                                          the agent cannot answer (the state stays)
//   DELETE /volumes/{name}                           (token) → 202 {task}; 409 while attached
// A request the volume state machine refuses is 409 INVALID_TRANSITION at once, with nothing changed.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  isTerminalVolumeState, parseVolumeTaskId, VolumeRecordError, VolumeStoreError, VolumeTransitionError, volumeTaskId, volumeTaskStatus,
  checkSizeMib, checkVolumeName, type VolumeEvent, type VolumeRecord, type VolumeStore,
} from '@ringblock/spdk';
import { HttpError, sendJson } from './http/errors.js';
import { readJsonBody } from './http/json-body.js';
import type { Route } from './http/router.js';

/** Open event streams at most (each holds a ZooKeeper watch). */
const STREAMS_MAX = 256;
/** A stream ends after this long (the client reconnects; the first event is the current state). */
const STREAM_MAX_MS = 3_600_000;
/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
const BODY_BYTES_MAX = 4096;

export interface VolumeRoutesOptions {
  /** The store, or undefined while ZooKeeper is not connected (503). */
  store: () => VolumeStore | undefined;
  bodyTimeoutMs: number;
  /** How long a reconcile waits for the agent's answer. */
  reconcileWaitMs?: number;
  now?: () => number;
}

function storeOf(options: VolumeRoutesOptions): VolumeStore {
  const store = options.store();
  if (!store) throw new HttpError(503, 'UNAVAILABLE', 'ZooKeeper is not connected: volume records cannot be read');
  return store;
}

function volumeName(raw: string): string {
  return validated(() => checkVolumeName(decodeURIComponent(raw)));
}

/** A record check's refusal as a 400 with its message (`rename` adapts the message to the field). */
function validated<T>(check: () => T, rename: (message: string) => string = (message) => message): T {
  try {
    return check();
  } catch (error) {
    throw new HttpError(400, 'BAD_REQUEST', rename((error as Error).message));
  }
}

/** Volume errors as HTTP answers with stable codes. */
function asHttp(error: unknown): never {
  if (error instanceof VolumeTransitionError) {
    if (error.code === 'BACKEND_UNREACHABLE') throw new HttpError(503, 'SPDK_UNREACHABLE', error.message, { state: error.state });
    throw new HttpError(409, 'INVALID_TRANSITION', error.message, { state: error.state, event: error.event });
  }
  if (error instanceof VolumeStoreError && error.code === 'NOT_FOUND') throw new HttpError(404, 'NOT_FOUND', error.message);
  if (error instanceof VolumeStoreError) throw new HttpError(503, 'UNAVAILABLE', error.message);
  if (error instanceof VolumeRecordError) throw new HttpError(400, 'BAD_REQUEST', error.message);
  throw error;
}

async function found(store: VolumeStore, name: string): Promise<VolumeRecord> {
  const volume = await store.get(name);
  if (!volume) throw new HttpError(404, 'NOT_FOUND', `no volume named ${name}`);
  return volume.record;
}

/** Applies a request to the state machine; answers 202 with the task it started. */
async function request(options: VolumeRoutesOptions, res: ServerResponse, name: string, event: VolumeEvent): Promise<void> {
  const store = storeOf(options);
  const applied = await store.apply(name, event, (options.now ?? Date.now)()).catch(asHttp);
  if (!applied || applied.seq === undefined) throw new HttpError(409, 'INVALID_TRANSITION', `volume ${name}: ${event.type} changed nothing`);
  const task = volumeTaskId(name, applied.seq);
  sendJson(res, 202, { task, volume: name, state: applied.record.fsm.state, status: `/tasks/${task}` }, { location: `/tasks/${task}` });
}

/** Resolves when `accept` holds for the record, or undefined after `ms`. */
function awaitRecord(store: VolumeStore, name: string, accept: (record: VolumeRecord) => boolean, ms: number): Promise<VolumeRecord | undefined> {
  return new Promise((resolve) => {
    let watch: { close(): void } | undefined;
    let settled = false;
    const finish = (record: VolumeRecord | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      watch?.close();
      resolve(record);
    };
    const timer = setTimeout(() => finish(undefined), ms);
    store.watch(name, (volume) => volume && accept(volume.record) && finish(volume.record)).then(
      (opened) => (settled ? opened.close() : (watch = opened)),
      () => finish(undefined),
    );
  });
}

let openStreams = 0;

function streamEvents(store: VolumeStore, name: string, res: ServerResponse, first: VolumeRecord, afterSeq: number | undefined): void {
  if (openStreams >= STREAMS_MAX) throw new HttpError(503, 'UNAVAILABLE', `more than ${STREAMS_MAX} event streams are open`);
  openStreams++;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  const send = (event: string, data: unknown, id?: number) => res.write(`event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
  send('state', first);
  let lastSeq = -1;
  let closed = false;
  let watch: { close(): void } | undefined;
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const lifetime = setTimeout(() => close(), STREAM_MAX_MS);
  const close = () => {
    if (closed) return;
    closed = true;
    openStreams--;
    clearInterval(heartbeat);
    clearTimeout(lifetime);
    watch?.close();
    res.end();
  };
  res.on('close', close);
  // Entries already in the trail are history: the stream shows what happens from now on, unless the
  // client says where it stopped (Last-Event-ID, or ?after=N): then it gets the entries since first.
  let catchingUp = store.events(name, afterSeq ?? -1).then((entries) => {
    if (afterSeq === undefined) {
      lastSeq = entries.at(-1)?.seq ?? -1;
      return;
    }
    lastSeq = afterSeq;
    for (const entry of entries) {
      lastSeq = entry.seq;
      send('transition', entry.record, entry.seq);
    }
  });
  const onChange = (record: VolumeRecord | undefined) => {
    catchingUp = catchingUp.then(async () => {
      if (closed) return;
      for (const entry of await store.events(name, lastSeq)) {
        lastSeq = entry.seq;
        send('transition', entry.record, entry.seq);
      }
      if (!record) {
        send('done', { volume: name, state: 'removed' });
        close();
      } else if (isTerminalVolumeState(record.fsm.state)) {
        send('done', { volume: name, state: record.fsm.state });
        close();
      }
    }).catch(() => close());
  };
  if (isTerminalVolumeState(first.fsm.state)) {
    void catchingUp.then(() => {
      send('done', { volume: name, state: first.fsm.state });
      close();
    });
    return;
  }
  store.watch(name, (volume) => onChange(volume?.record)).then((opened) => (closed ? opened.close() : (watch = opened)), () => close());
}

export function volumeRoutes(options: VolumeRoutesOptions): Route[] {
  const reconcileWaitMs = options.reconcileWaitMs ?? 10_000;
  const now = options.now ?? Date.now;
  const body = async (req: Parameters<typeof readJsonBody>[0]) => {
    const value = await readJsonBody(req, { bytesMax: BODY_BYTES_MAX, timeoutMs: options.bodyTimeoutMs, what: 'a volume request', emptyIsObject: true });
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'BAD_REQUEST', 'the body must be a JSON object');
    return value as Record<string, unknown>;
  };
  return [
    {
      name: 'volumes',
      pattern: /^\/volumes$/,
      methods: { GET: async ({ res }) => sendJson(res, 200, { volumes: await storeOf(options).list() }) },
    },
    {
      name: 'volume',
      pattern: /^\/volumes\/([^/]+)$/,
      requiresToken: ['DELETE'],
      methods: {
        GET: async ({ res, params }) => sendJson(res, 200, await found(storeOf(options), volumeName(params[0]!))),
        DELETE: async ({ res, params }) => request(options, res, volumeName(params[0]!), { type: 'delete' }),
      },
    },
    {
      name: 'volume_events',
      pattern: /^\/volumes\/([^/]+)\/events$/,
      methods: {
        GET: async ({ req, res, params, query }) => {
          const store = storeOf(options);
          const name = volumeName(params[0]!);
          const resume = (req.headers['last-event-id'] as string | undefined) ?? query.get('after') ?? undefined;
          if (resume !== undefined && !/^-?\d{1,10}$/.test(resume)) throw new HttpError(400, 'BAD_REQUEST', `Last-Event-ID / after must be an event id, got "${resume}"`);
          streamEvents(store, name, res, await found(store, name), resume === undefined ? undefined : Number(resume));
        },
      },
    },
    {
      name: 'volume_resize',
      pattern: /^\/volumes\/([^/]+)\/resize$/,
      requiresToken: true,
      methods: {
        POST: async ({ req, res, params }) => {
          const name = volumeName(params[0]!);
          const asked = (await body(req))['sizeMib'];
          const sizeMib = validated(() => checkSizeMib(asked));
          const current = await found(storeOf(options), name);
          if (sizeMib <= current.sizeMib) throw new HttpError(400, 'BAD_REQUEST', `a volume only grows: ${name} is ${current.sizeMib} MiB, asked ${sizeMib} MiB`);
          await request(options, res, name, { type: 'resize', sizeMib });
        },
      },
    },
    {
      name: 'volume_snapshots',
      pattern: /^\/volumes\/([^/]+)\/snapshots$/,
      requiresToken: true,
      methods: {
        POST: async ({ req, res, params }) => {
          const name = volumeName(params[0]!);
          const snapshot = (await body(req))['name'];
          if (typeof snapshot !== 'string') throw new HttpError(400, 'BAD_REQUEST', 'a snapshot needs {"name": "..."}');
          const snapshotName = validated(() => checkVolumeName(snapshot), (message) => message.replace('volume name', 'snapshot name'));
          await request(options, res, name, { type: 'snapshot', snapshotName });
        },
      },
    },
    {
      name: 'volume_reconcile',
      pattern: /^\/volumes\/([^/]+)\/reconcile$/,
      requiresToken: true,
      methods: {
        POST: async ({ res, params }) => {
          const store = storeOf(options);
          const name = volumeName(params[0]!);
          const id = randomUUID();
          await store.update(name, () => ({ reconcile: { id, requestedAt: now() } }), now()).catch(asHttp);
          const answered = await awaitRecord(store, name, (record) => record.reconcile?.id === id && record.reconcile.outcome !== undefined, reconcileWaitMs);
          if (!answered) throw new HttpError(503, 'AGENT_UNAVAILABLE', `the storage agent of volume ${name} did not answer within ${reconcileWaitMs} ms (is it running?)`);
          if (answered.reconcile?.outcome === 'unreachable') throw new HttpError(503, 'SPDK_UNREACHABLE', `SPDK is unreachable: volume ${name} stays ${answered.fsm.state}`, { state: answered.fsm.state });
          const last = (await store.events(name)).filter((entry) => entry.record.event === 'reconcile').at(-1);
          const task = last ? volumeTaskId(name, last.seq) : undefined;
          sendJson(res, 202, { ...(task ? { task, status: `/tasks/${task}` } : {}), volume: name, observed: answered.reconcile?.observed, state: answered.fsm.state });
        },
      },
    },
  ];
}

/** GET /tasks/{id} for volume tasks (`vol-<name>-<seq>`), or undefined for other ids. */
export async function volumeTask(store: VolumeStore | undefined, id: string): Promise<unknown> {
  const parsed = parseVolumeTaskId(id);
  if (!parsed || !store) return undefined;
  // The trail first, then the record: both change in one transaction, so the record read second is
  // at least as new as the trail (the other order could report a finished task on an older state).
  const events = await store.events(parsed.volume).catch(() => undefined);
  if (!events) return undefined;
  const volume = await store.get(parsed.volume).catch(() => undefined);
  if (!volume) return undefined;
  const status = volumeTaskStatus(id, events, volume.record.fsm.state);
  if (status) return status;
  // A reconcile is not an operation: done once it is recorded.
  const entry = events.find((candidate) => candidate.seq === parsed.seq);
  return entry ? { id, kind: 'volume', volume: parsed.volume, operation: 'reconcile', state: 'done', volumeState: volume.record.fsm.state } : undefined;
}
