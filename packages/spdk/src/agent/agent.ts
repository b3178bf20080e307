// The storage agent (DESIGN §8): reconciles the volume records of its host (`volumes/<name>` with
// `host` = this agent) with what SPDK holds. One worker per volume (runs never overlap, triggers
// coalesce), woken by record changes, by retry timers and by a periodic pass that also heals what
// drifts without a record change (an SPDK restart drops every export: attached volumes are
// re-exported). Every operation is idempotent (backend.ts), so an agent killed mid-operation resumes
// by running the operation of the recorded in-progress state again.
import type { Logger } from 'pino';
import { CoalescedTask, CoordError, isCoordError, jsonBytes, type ClusterPaths, type Watch, type ZkClient } from '@ringblock/coord';
import { isSpdkTransportError } from '../errors.js';
import { DEFAULT_RETRY_POLICY, operationOf, VOLUME_OPERATIONS, VolumeTransitionError, type RetryPolicy, type VolumeEvent, type VolumeObservation, type VolumeOperation } from '../volume-fsm.js';
import { isValidVolumeName, VOLUME_SIZE_MIB_MIN, type VolumeRecord } from '../volumes/record.js';
import { VolumeStore, type AppliedChange } from '../volumes/store.js';
import { isRetryableBackendError, type SpdkVolumeBackend } from './backend.js';

export type RecordWithoutLvolPolicy = 'error' | 'delete' | 'ignore';
export type LvolWithoutRecordPolicy = 'ignore' | 'import';

export interface StorageAgentOptions {
  /** This agent's host name: it serves the records whose `host` is this. */
  host: string;
  client: ZkClient;
  paths: Pick<ClusterPaths, 'volumes' | 'agents'>;
  backend: SpdkVolumeBackend;
  log: Logger;
  policy?: RetryPolicy;
  /** At start-up, a record whose lvol SPDK does not hold. */
  recordWithoutLvol?: RecordWithoutLvolPolicy;
  /** At start-up, an lvol of our lvstore that no record names. */
  lvolWithoutRecord?: LvolWithoutRecordPolicy;
  /** Pause between healing passes over every volume. */
  passIntervalMs?: number;
  /** How long to wait for a previous agent's registration of this host to expire (its session). */
  registerWaitMs?: number;
  now?: () => number;
}

/** Volumes served at once (workers and watches). */
const VOLUMES_SERVED_MAX = 4_096;
/** Steps one worker run takes at most (each is one state transition); more wait for the next trigger. */
const STEPS_PER_RUN_MAX = 16;
const PASS_INTERVAL_MS_DEFAULT = 5_000;
/** A crashed agent's session lasts its timeout (10 s in run.ts); wait a little longer than that. */
const REGISTER_WAIT_MS_DEFAULT = 30_000;

export interface AgentStatus {
  host: string;
  spdk: 'up' | 'unreachable' | 'starting';
  lastError?: string;
  volumes: { name: string; state: string }[];
  passes: number;
}

/** What the agent did since it started (its /metrics counters). */
export interface AgentCounters {
  /** Healing passes over every volume. */
  passes: number;
  /** SPDK operations of volume workers, by how they ended. */
  operations: Record<VolumeOperation, { succeeded: number; failed: number }>;
  /** Reconcile requests answered, by outcome. */
  reconciles: { reconciled: number; unreachable: number };
  /** Attached volumes found unexported (SPDK restarted) and exported again. */
  reexports: number;
  /** Calls to SPDK that failed (preparing, volume operations, re-exports). */
  spdkErrors: number;
}

export class StorageAgent {
  readonly store: VolumeStore;
  private readonly workers = new Map<string, { task: CoalescedTask; watch?: Watch; retryTimer?: NodeJS.Timeout }>();
  private readonly states = new Map<string, string>();
  private namesWatch: Watch | undefined;
  private passTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly log: Logger;
  private spdk: AgentStatus['spdk'] = 'starting';
  private lastError: string | undefined;
  private prepared = false;
  private readonly counters: AgentCounters = {
    passes: 0,
    operations: Object.fromEntries(VOLUME_OPERATIONS.map((operation) => [operation, { succeeded: 0, failed: 0 }])) as AgentCounters['operations'],
    reconciles: { reconciled: 0, unreachable: 0 },
    reexports: 0,
    spdkErrors: 0,
  };
  private stopped = false;

  constructor(private readonly options: StorageAgentOptions) {
    this.now = options.now ?? Date.now;
    this.log = options.log.child({ component: 'storage-agent', host: options.host });
    this.store = new VolumeStore(() => options.client, options.paths, options.policy ?? DEFAULT_RETRY_POLICY);
  }

  /** Registers, readies SPDK (or keeps trying in passes), reconciles at start-up, starts watching. */
  async start(): Promise<void> {
    await this.store.init();
    await this.options.client.mkdirp(this.options.paths.agents);
    await this.register();
    await this.prepare();
    if (this.prepared) await this.startupReconcile();
    this.namesWatch = await this.store.watchNames((names) => this.onNames(names));
    this.passTimer = setInterval(() => void this.pass(), this.options.passIntervalMs ?? PASS_INTERVAL_MS_DEFAULT);
    this.passTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.passTimer) clearInterval(this.passTimer);
    this.namesWatch?.close();
    for (const worker of this.workers.values()) {
      worker.task.close();
      worker.watch?.close();
      if (worker.retryTimer) clearTimeout(worker.retryTimer);
    }
    await Promise.allSettled([...this.workers.values()].map((worker) => worker.task.idle()));
    this.workers.clear();
  }

  status(): AgentStatus {
    return {
      host: this.options.host,
      spdk: this.spdk,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      volumes: [...this.states].map(([name, state]) => ({ name, state })),
      passes: this.counters.passes,
    };
  }

  /** A copy of the counters (read at scrape time). */
  counts(): AgentCounters {
    return structuredClone(this.counters);
  }

  /** Resolves when no worker runs or waits to run (tests, and orderly stops). */
  async idle(): Promise<void> {
    await Promise.all([...this.workers.values()].map((worker) => worker.task.idle()));
  }

  /** Asks every worker to run now (what the periodic pass does). */
  async pass(): Promise<void> {
    if (this.stopped) return;
    this.counters.passes++;
    if (this.prepared && !(await this.options.backend.lvstorePresent().catch(() => false))) {
      this.log.warn('the lvstore is gone from SPDK (restarted?): attaching controllers and loading it again');
      this.prepared = false;
    }
    if (!this.prepared) {
      await this.prepare();
      if (this.prepared) await this.startupReconcile();
    }
    for (const worker of this.workers.values()) worker.task.trigger();
  }

  /**
   * Registers `agents/<host>` (ephemeral). An agent restarted after a crash finds its predecessor's
   * registration until that session expires: it waits for it to go (bounded), then refuses to run
   * beside a live one.
   */
  private async register(): Promise<void> {
    const client = this.options.client;
    const path = `${this.options.paths.agents}/${this.options.host}`;
    const deadline = this.now() + (this.options.registerWaitMs ?? REGISTER_WAIT_MS_DEFAULT);
    for (let attempt = 0; ; attempt++) {
      try {
        await client.create(path, jsonBytes({ host: this.options.host, startedAt: this.now() }), { mode: 'ephemeral' });
        return;
      } catch (error) {
        if (!isCoordError(error, 'NODE_EXISTS')) throw error;
      }
      const remaining = deadline - this.now();
      if (remaining <= 0) throw new CoordError('NODE_EXISTS', `another storage agent serves host "${this.options.host}" (agents/${this.options.host} exists); stop it first`);
      if (attempt === 0) this.log.warn({ host: this.options.host, waitMs: remaining }, 'agents/<host> is registered by another session (a previous agent that died?): waiting for it to expire');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(remaining, 1_000));
        void client.exists(path, () => {
          clearTimeout(timer);
          resolve();
        }).then((stat) => {
          if (!stat) {
            clearTimeout(timer);
            resolve();
          }
        }, () => undefined);
      });
    }
  }

  private async prepare(): Promise<void> {
    try {
      await this.options.backend.prepare();
      this.prepared = true;
      this.spdk = 'up';
      this.log.info({ lvstore: this.options.backend.lvstoreName }, 'SPDK ready: controllers attached, lvstore loaded');
    } catch (error) {
      this.noteSpdkError(error, 'SPDK not ready (retried every pass)');
    }
  }

  private noteSpdkError(error: unknown, message: string): void {
    this.counters.spdkErrors++;
    this.lastError = error instanceof Error ? error.message : String(error);
    if (isSpdkTransportError(error)) {
      if (this.spdk !== 'unreachable') this.log.warn({ err: error }, message);
      this.spdk = 'unreachable';
      this.prepared = false;
    } else {
      this.log.warn({ err: error }, message);
    }
  }

  /** Start-up: records without lvols and lvols without records, by the configured policies. */
  private async startupReconcile(): Promise<void> {
    const backend = this.options.backend;
    const lvols = await backend.volumes();
    const records = (await this.store.list()).filter((record) => record.host === this.options.host);
    const named = new Set(records.map((record) => record.name));
    const recordPolicy = this.options.recordWithoutLvol ?? 'error';
    for (const record of records) {
      if (!expectsLvol(record) || lvols.some((lvol) => lvol.name === record.name)) continue;
      this.log.warn({ volume: record.name, state: record.fsm.state, policy: recordPolicy }, 'start-up: the record names an lvol SPDK does not hold');
      if (recordPolicy === 'ignore') continue;
      if (recordPolicy === 'delete') await this.store.remove(record.name);
      else await this.markError(record.name, 'start-up: the lvol is missing from SPDK (reconcile to provision it again)');
    }
    if ((this.options.lvolWithoutRecord ?? 'ignore') === 'import') {
      for (const lvol of lvols) {
        if (named.has(lvol.name)) continue;
        const info = await backend.describe(lvol.name);
        if (!info || !isValidVolumeName(lvol.name) || info.sizeMib < VOLUME_SIZE_MIB_MIN) continue;
        const nowMs = this.now();
        await this.store.ensure({ name: lvol.name, host: this.options.host, sizeMib: info.sizeMib, fsm: { state: 'available', attempt: 0 }, lvol: info, createdAt: nowMs, updatedAt: nowMs });
        this.log.info({ volume: lvol.name }, 'start-up: imported an lvol that had no record');
      }
    }
  }

  /** The start-up verdict "error" (outside the table: it is the agent's finding, recorded as such). */
  private async markError(name: string, message: string): Promise<void> {
    const nowMs = this.now();
    await this.store.modify(name, ({ record }) => ({
      record: { ...record, fsm: { state: 'error', attempt: 0, lastError: message }, updatedAt: nowMs },
      step: { next: { state: 'error', attempt: 0, lastError: message }, record: { from: record.fsm.state, to: 'error', event: 'reconcile', atMs: nowMs, attempt: 0, error: message }, actions: [] },
    }));
  }

  private onNames(names: readonly string[]): void {
    if (this.stopped) return;
    const present = new Set(names);
    for (const [name, worker] of this.workers) {
      if (present.has(name)) continue;
      worker.task.close();
      worker.watch?.close();
      if (worker.retryTimer) clearTimeout(worker.retryTimer);
      this.workers.delete(name);
      this.states.delete(name);
    }
    for (const name of names) {
      if (this.workers.has(name) || this.workers.size >= VOLUMES_SERVED_MAX) continue;
      const worker: { task: CoalescedTask; watch?: Watch; retryTimer?: NodeJS.Timeout } = {
        task: new CoalescedTask(() => this.run(name), (error) => this.log.error({ err: error, volume: name }, 'volume worker failed')),
      };
      this.workers.set(name, worker);
      void this.store.watch(name, () => worker.task.trigger()).then(
        (watch) => (this.stopped || !this.workers.has(name) ? watch.close() : (worker.watch = watch)),
        (error) => this.log.warn({ err: error, volume: name }, 'cannot watch a volume record (the periodic pass still serves it)'),
      );
    }
  }

  /** One worker run: steps the volume until nothing is left to do now (bounded). */
  private async run(name: string): Promise<void> {
    for (let step = 0; step < STEPS_PER_RUN_MAX && !this.stopped; step++) {
      const found = await this.store.get(name);
      if (!found || found.record.host !== this.options.host) return;
      this.states.set(name, found.record.fsm.state);
      if (!(await this.step(found.record))) return;
    }
  }

  /** Does the next thing the record needs; false when there is nothing to do now. */
  private async step(record: VolumeRecord): Promise<boolean> {
    const name = record.name;
    const reconcile = record.reconcile;
    if (reconcile && reconcile.outcome === undefined) return this.answerReconcile(record);
    if (!this.prepared) return false;
    const state = record.fsm.state;
    if (state === 'pending') return (await this.apply(name, { type: 'create' })) !== undefined;
    if (state.endsWith('_failed')) {
      const due = record.fsm.retryAtMs ?? 0;
      if (due > this.now()) {
        this.retryAt(name, due);
        return false;
      }
      return (await this.apply(name, { type: 'retry' })) !== undefined;
    }
    if (operationOf(state)) return this.perform(record);
    if (state === 'attached') await this.healExport(record);
    return false;
  }

  /** Runs the operation of the in-progress state and records how it went. */
  private async perform(record: VolumeRecord): Promise<boolean> {
    const backend = this.options.backend;
    const operation = operationOf(record.fsm.state)!;
    const name = record.name;
    try {
      let extra: Partial<VolumeRecord> = {};
      switch (operation) {
        case 'create': {
          const lvol = await backend.create(name, record.sizeMib);
          const simFile = await backend.simFile(name);
          extra = { lvol, ...(simFile ? { simFile } : {}) };
          break;
        }
        case 'attach': {
          extra = { export: await backend.export(name) };
          break;
        }
        case 'detach': {
          await backend.unexport(name);
          extra = { export: undefined };
          break;
        }
        case 'resize': {
          const sizeMib = record.fsm.args?.sizeMib ?? record.sizeMib;
          extra = { lvol: await backend.resize(name, sizeMib), sizeMib };
          break;
        }
        case 'snapshot': {
          const snapshotName = record.fsm.args?.snapshotName;
          if (!snapshotName) throw new Error('a snapshot without a name');
          await backend.snapshot(name, snapshotName);
          extra = { snapshots: [...(record.snapshots ?? []).filter((known) => known !== snapshotName), snapshotName] };
          break;
        }
        case 'delete': {
          await backend.delete(name, record.snapshots ?? []);
          extra = { lvol: undefined, export: undefined, simFile: undefined, snapshots: [] };
          break;
        }
      }
      this.counters.operations[operation].succeeded++;
      this.log.info({ volume: name, operation, attempt: record.fsm.attempt }, 'volume operation done');
      return (await this.apply(name, { type: 'succeeded' }, extra)) !== undefined;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.counters.operations[operation].failed++;
      this.noteSpdkError(error, `volume ${name}: ${operation} failed`);
      const applied = await this.apply(name, { type: 'failed', error: message, retryable: isRetryableBackendError(error) });
      if (applied?.record.fsm.retryAtMs !== undefined) this.retryAt(name, applied.record.fsm.retryAtMs);
      return false;
    }
  }

  /** SPDK lost the export (restart): put it back; the record stays `attached`. */
  private async healExport(record: VolumeRecord): Promise<void> {
    const backend = this.options.backend;
    try {
      if ((await backend.observe(record.name)) === 'attached') return;
      const exported = await backend.export(record.name);
      this.counters.reexports++;
      this.log.warn({ volume: record.name, nqn: exported.nqn }, 'an attached volume was not exported (SPDK restarted?): exported it again');
      await this.store.update(record.name, () => ({ export: exported }), this.now());
    } catch (error) {
      this.noteSpdkError(error, `volume ${record.name}: re-export failed (retried next pass)`);
    }
  }

  private async answerReconcile(record: VolumeRecord): Promise<boolean> {
    const request = record.reconcile!;
    const observed: VolumeObservation = this.prepared ? await this.options.backend.observe(record.name) : 'unreachable';
    const nowMs = this.now();
    const answer = { ...request, answeredAt: nowMs, observed };
    if (observed === 'unreachable') {
      this.counters.reconciles.unreachable++;
      await this.store.update(record.name, (current) => (current.reconcile?.id === request.id ? { reconcile: { ...answer, outcome: 'unreachable' } } : undefined), nowMs);
      return false;
    }
    await this.apply(record.name, { type: 'reconcile', observed }, { reconcile: { ...answer, outcome: 'reconciled' } });
    this.counters.reconciles.reconciled++;
    this.log.info({ volume: record.name, observed }, 'reconciled with SPDK');
    return true;
  }

  private async apply(name: string, event: VolumeEvent, extra: Partial<VolumeRecord> = {}): Promise<AppliedChange | undefined> {
    try {
      const applied = await this.store.apply(name, event, this.now(), () => extra);
      if (applied) this.states.set(name, applied.record.fsm.state);
      return applied;
    } catch (error) {
      // Someone else moved the volume on meanwhile (an API request): the next run sees it.
      if (error instanceof VolumeTransitionError) return undefined;
      throw error;
    }
  }

  private retryAt(name: string, atMs: number): void {
    const worker = this.workers.get(name);
    if (!worker) return;
    if (worker.retryTimer) clearTimeout(worker.retryTimer);
    worker.retryTimer = setTimeout(() => worker.task.trigger(), Math.max(0, atMs - this.now()) + 5);
    worker.retryTimer.unref();
  }
}

/** States in which the lvol must exist. */
function expectsLvol(record: VolumeRecord): boolean {
  return ['available', 'attaching', 'attaching_failed', 'attached', 'detaching', 'detaching_failed', 'resizing', 'resizing_failed', 'snapshotting', 'snapshotting_failed'].includes(record.fsm.state);
}
