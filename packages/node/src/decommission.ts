// Decommission (DESIGN §2, §6): `POST /cluster/nodes/{name}/decommission` records the request in
// ZooKeeper (`decommissioned/<name>` and a task `tasks/<id>`, in one transaction); the ring policy
// then plans a ring without that node, and the migration streams its ranges to their new owners
// before the ring is committed without it. The marker is removed once the node is out of the ring
// and gone, so the name can join again later. `GET /tasks/{id}` reports the task from any node.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { clusterPaths, isCoordError, jsonBytes, retryTransient, type ClusterMembership, type RetryTransientOptions, type Watch, type ZkClient } from '@ringblock/coord';
import { HttpError, sendJson } from './http/errors.js';
import type { Route } from './http/router.js';
import type { MigrationStatus } from './migration/protocol.js';
import { migrationSummary } from './status-routes.js';

export interface TaskRecord {
  id: string;
  kind: 'decommission';
  node: string;
  createdAt: number;
}

const TASK_ID = /^[0-9a-f-]{36}$/;

/** Whether `id` has the shape of a task id (a UUID): what may be passed on to peers. */
export function isTaskId(id: string): boolean {
  return TASK_ID.test(id);
}
const NODE_NAME = /^[A-Za-z0-9._~:-]{1,255}$/;

export class Decommissions {
  private readonly paths;
  private names: ReadonlySet<string> = new Set();
  private watch: Watch | undefined;
  private watchedClient: ZkClient | undefined;
  /** When each decommissioned name was first seen out of the ring and not live (local clock). */
  private readonly goneSince = new Map<string, number>();
  private cleanUpTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly membership: ClusterMembership,
    cluster: string,
    private readonly log: Logger,
    private readonly onChange: () => void,
  ) {
    this.paths = clusterPaths(cluster);
  }

  /** Bounded retries of the ZooKeeper reads when ZooKeeper restarts while the node starts. */
  async start(retry: Omit<RetryTransientOptions, 'onRetry'>): Promise<void> {
    await retryTransient(async () => {
      const client = this.client();
      await client.mkdirp(this.paths.decommissioned);
      await client.mkdirp(this.paths.tasks);
      await this.rewatch();
    }, { ...retry, onRetry: (error) => this.log.warn({ err: error }, 'reading decommissions failed; retrying') });
    this.membership.on('state', this.onState);
    this.membership.on('members', this.cleanUp);
    this.membership.on('ring', this.cleanUp);
  }

  stop(): void {
    this.membership.off('state', this.onState);
    this.membership.off('members', this.cleanUp);
    this.membership.off('ring', this.cleanUp);
    this.watch?.close();
    clearTimeout(this.cleanUpTimer);
  }

  /** Nodes being decommissioned: the ring policy leaves them out. */
  excluded(): ReadonlySet<string> {
    return this.names;
  }

  /** Starts (or, when already requested, finds) the decommission of `name`; returns its task. */
  async request(name: string): Promise<{ task: TaskRecord; created: boolean }> {
    const ring = this.membership.committedRing();
    if (!ring?.nodes.some((node) => node.name === name)) throw new HttpError(404, 'NOT_FOUND', `node "${name}" is not in the ring`);
    if (ring.nodes.length === 1) throw new HttpError(409, 'CONFLICT', `node "${name}" is the last node of the ring; it cannot be decommissioned`);
    const client = this.client();
    const task: TaskRecord = { id: randomUUID(), kind: 'decommission', node: name, createdAt: Date.now() };
    try {
      await client
        .transaction([
          { op: 'create', path: `${this.paths.tasks}/${task.id}`, data: jsonBytes(task) },
          { op: 'create', path: `${this.paths.decommissioned}/${name}`, data: jsonBytes({ taskId: task.id }) },
        ])
        .commit();
      this.log.info({ node: name, task: task.id }, 'decommission requested');
      return { task, created: true };
    } catch (error) {
      if (!isCoordError(error, 'NODE_EXISTS')) throw error;
      const marker = await client.get(`${this.paths.decommissioned}/${name}`);
      const existing = await this.task((JSON.parse(marker.data.toString('utf8')) as { taskId: string }).taskId);
      if (!existing) throw error;
      return { task: existing, created: false };
    }
  }

  async task(id: string): Promise<TaskRecord | undefined> {
    if (!TASK_ID.test(id)) return undefined;
    const node = await this.client().getIfExists(`${this.paths.tasks}/${id}`);
    return node ? (JSON.parse(node.data.toString('utf8')) as TaskRecord) : undefined;
  }

  private client(): ZkClient {
    const client = this.membership.client;
    if (!client) throw new HttpError(503, 'UNAVAILABLE', 'no ZooKeeper session', { required: 0, acked: 0 });
    return client;
  }

  private readonly onState = (event: { state: string }): void => {
    if (event.state === 'reregistered') void this.rewatch().catch((error: unknown) => this.log.warn({ err: error }, 'watching decommissions failed'));
  };

  private async rewatch(): Promise<void> {
    const client = this.client();
    if (client === this.watchedClient) return;
    this.watch?.close();
    this.watch = await client.watchChildren(this.paths.decommissioned, (names) => {
      this.names = new Set(names);
      this.onChange();
      this.cleanUp();
    });
    // Only once watching: a failed attempt must leave the next one to try again.
    this.watchedClient = client;
  }

  /**
   * A decommissioned node that left the ring and has been gone for the down grace no longer needs
   * its marker. The wait matters: a member list seen a moment late (or a node stopping slowly) must
   * not let the ring policy add the node straight back.
   */
  private readonly cleanUp = (): void => {
    const ring = this.membership.committedRing();
    const live = this.membership.liveMembers();
    const now = Date.now();
    for (const name of this.goneSince.keys()) if (!this.names.has(name) || live.has(name)) this.goneSince.delete(name);
    for (const name of this.names) {
      if (ring?.nodes.some((node) => node.name === name) || live.has(name)) continue;
      const since = this.goneSince.get(name) ?? now;
      this.goneSince.set(name, since);
      if (now - since < this.membership.config.downGraceMs) {
        this.cleanUpTimer ??= setTimeout(() => {
          this.cleanUpTimer = undefined;
          this.cleanUp();
        }, this.membership.config.downGraceMs).unref();
        continue;
      }
      this.client()
        .remove(`${this.paths.decommissioned}/${name}`)
        .then(
          () => this.log.info({ node: name }, 'decommission finished; the name may join again'),
          (error: unknown) => {
            if (!isCoordError(error, 'NO_NODE')) this.log.warn({ err: error, node: name }, 'removing a decommission marker failed');
          },
        );
    }
  };
}

export function decommissionRoutes(decommissions: Decommissions, membership: ClusterMembership, migration: () => MigrationStatus, otherTask: (id: string) => Promise<unknown> = async () => undefined): Route[] {
  return [
    {
      name: 'decommission',
      pattern: /^\/cluster\/nodes\/([^/]+)\/decommission$/,
      requiresToken: true,
      methods: {
        POST: async ({ res, params }) => {
          const name = decodedName(params[0]!);
          if (!NODE_NAME.test(name)) throw new HttpError(400, 'BAD_REQUEST', `"${name}" is not a node name`);
          const { task, created } = await decommissions.request(name);
          sendJson(res, 202, { task: task.id, node: name, created, status: `/tasks/${task.id}` }, { location: `/tasks/${task.id}` });
        },
      },
    },
    {
      name: 'tasks',
      pattern: /^\/tasks\/([^/]+)$/,
      methods: {
        GET: async ({ res, params }) => {
          const task = await decommissions.task(params[0]!);
          if (!task) {
            // Volume tasks live in their trail, repair tasks on the nodes that run them (GET /repairs/{id} gathers them).
            const other = await otherTask(params[0]!);
            if (!other) throw new HttpError(404, 'NOT_FOUND', `no task ${params[0]}`);
            return sendJson(res, 200, other);
          }
          const inRing = membership.committedRing()?.nodes.some((node) => node.name === task.node) ?? false;
          const status = migration();
          sendJson(res, 200, {
            ...task,
            state: inRing ? 'running' : 'done',
            ringEpoch: membership.committedRing()?.epoch ?? 0,
            migration: inRing ? migrationSummary(status) : null,
          });
        },
      },
    },
  ];
}

/** The path's node name, percent-decoded; not valid percent-encoding is the client's mistake (400). */
function decodedName(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', `"${raw.slice(0, 64)}" is not valid percent-encoding`);
  }
}
