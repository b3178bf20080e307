// Simulated devices. A node's disk outlives its processes: `durable` is what a crash keeps. A write
// is applied (last writer wins, as the engine does) when its simulated fsync completes, and only
// then acknowledged — the engine's guarantee that an acknowledged write is durable. Writes still
// waiting for their fsync when the process crashes are lost, unacknowledged. Reads see durable
// records only. Blocks (namespace 0) and hints (namespace 1) are kept apart, as in the engine.
//
// `ackBeforeDurable` is a deliberately broken device for the checker's self-test: it acknowledges
// at once, keeps the write in a volatile cache and makes it durable later; a crash loses the cache.
import type { BlockRecord, NamespaceOption, WriteResult } from '@ringblock/engine';
import type { HintEngine } from '../../src/hints.js';
import type { Replica, StoredBlock, WriteOutcome } from '../../src/store.js';
import { compareVersions } from '../../src/version.js';
import type { SimRandom } from './random.js';
import type { Scheduler } from './scheduler.js';

export interface DiskOptions {
  syncMsMin: number;
  syncMsMax: number;
  readMsMax: number;
  ackBeforeDurable: boolean;
}

type Records = Map<string, StoredBlock>;

/** LWW: true when `version` replaces what `records` hold for `id`. */
function applyLww(records: Records, id: string, version: Buffer, data: Buffer | undefined): WriteOutcome {
  const current = records.get(id);
  if (current) {
    const order = compareVersions(version, current.version);
    if (order === 0) return { result: 'equal', current: current.version };
    if (order < 0) return { result: 'newer', current: current.version };
  }
  records.set(id, { version, tombstone: data === undefined, data });
  return { result: 'applied' };
}

export class SimDisk {
  /** namespace → id → record: survives crashes. */
  readonly durable = new Map<number, Records>([[0, new Map()], [1, new Map()]]);
  /** Acknowledged but not yet durable (only with `ackBeforeDurable`): lost on a crash. */
  private volatile = new Map<number, Records>([[0, new Map()], [1, new Map()]]);
  /** Bumped by a crash: fsyncs issued before it never complete. */
  private generation = 0;

  constructor(readonly name: string, private readonly scheduler: Scheduler, private readonly random: SimRandom, private readonly options: DiskOptions) {}

  crash(): void {
    this.generation++;
    this.volatile = new Map([[0, new Map()], [1, new Map()]]);
  }

  records(namespace: number): Records {
    return this.durable.get(namespace)!;
  }

  /** The record a read sees: the volatile cache first (broken device), then the durable one. */
  current(namespace: number, id: string): StoredBlock | undefined {
    const cached = this.volatile.get(namespace)!.get(id);
    const stored = this.records(namespace).get(id);
    if (!cached) return stored;
    if (!stored) return cached;
    return compareVersions(cached.version, stored.version) >= 0 ? cached : stored;
  }

  write(namespace: number, id: string, version: Buffer, data: Buffer | undefined): Promise<WriteOutcome> {
    const generation = this.generation;
    const syncMs = this.random.int(this.options.syncMsMin, this.options.syncMsMax);
    if (this.options.ackBeforeDurable) {
      const outcome = applyLww(this.volatile.get(namespace)!, id, version, data);
      this.scheduler.after(syncMs, `fsync ${this.name} ${id} (late)`, () => {
        if (generation === this.generation) applyLww(this.records(namespace), id, version, data);
      });
      return Promise.resolve(outcome);
    }
    return new Promise((resolve) => {
      this.scheduler.after(syncMs, `fsync ${this.name} ${id}`, () => {
        if (generation === this.generation) resolve(applyLww(this.records(namespace), id, version, data));
      });
    });
  }

  read(namespace: number, id: string): Promise<StoredBlock | undefined> {
    const generation = this.generation;
    return new Promise((resolve) => {
      this.scheduler.after(this.random.int(0, this.options.readMsMax), `read ${this.name} ${id}`, () => {
        if (generation === this.generation) resolve(this.current(namespace, id));
      });
    });
  }

  /** Removes exactly `version` of `id` (a delivered hint). Durable at once: losing it only replays the hint again. */
  evict(namespace: number, id: string, version: Buffer): boolean {
    const records = this.records(namespace);
    const current = records.get(id);
    if (!current || compareVersions(current.version, version) !== 0) return false;
    records.delete(id);
    return true;
  }
}

/** The local replica of one process: its disk's block namespace. */
export class SimReplica implements Replica {
  constructor(private readonly disk: SimDisk) {}

  write(id: string, version: Buffer, data: Buffer | undefined): Promise<WriteOutcome> {
    return this.disk.write(0, id, version, data);
  }

  read(id: string): Promise<StoredBlock | undefined> {
    return this.disk.read(0, id);
  }
}

/** The slice of the engine hinted handoff uses, on the disk's hint namespace. */
export class SimHintEngine implements HintEngine {
  constructor(private readonly disk: SimDisk) {}

  async put(id: string, version: Uint8Array, data: Uint8Array, options: NamespaceOption = {}): Promise<WriteResult> {
    return this.result(options, id, await this.disk.write(options.namespace ?? 0, id, Buffer.from(version), Buffer.from(data)));
  }

  async delete(id: string, version: Uint8Array, options: NamespaceOption = {}): Promise<WriteResult> {
    return this.result(options, id, await this.disk.write(options.namespace ?? 0, id, Buffer.from(version), undefined));
  }

  async evict(id: string, version: Uint8Array, options: NamespaceOption = {}): Promise<{ evicted: boolean }> {
    return { evicted: this.disk.evict(options.namespace ?? 0, id, Buffer.from(version)) };
  }

  async get(id: string, options: NamespaceOption = {}): Promise<BlockRecord | undefined> {
    const stored = await this.disk.read(options.namespace ?? 0, id);
    return stored && toRecord(id, options.namespace ?? 0, stored);
  }

  async *scan(options: NamespaceOption = {}): AsyncGenerator<BlockRecord> {
    const namespace = options.namespace ?? 0;
    // A snapshot in id order (the engine's is ring order; any fixed order keeps runs deterministic).
    const entries = [...this.disk.records(namespace)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [id, stored] of entries) yield toRecord(id, namespace, stored);
  }

  stats(): { namespaces: Record<number, { blocks: number; tombstones: number }> } {
    const namespaces: Record<number, { blocks: number; tombstones: number }> = {};
    for (const [namespace, records] of this.disk.durable) {
      let tombstones = 0;
      for (const record of records.values()) if (record.tombstone) tombstones++;
      namespaces[namespace] = { blocks: records.size - tombstones, tombstones };
    }
    return { namespaces };
  }

  private result(options: NamespaceOption, id: string, outcome: WriteOutcome): WriteResult {
    const current = this.disk.records(options.namespace ?? 0).get(id);
    return { applied: outcome.result === 'applied', version: current?.version ?? Buffer.alloc(0) };
  }
}

function toRecord(id: string, namespace: number, stored: StoredBlock): BlockRecord {
  return { id, namespace, position: 0n, version: stored.version, tombstone: stored.tombstone, ...(stored.data ? { data: stored.data } : {}) };
}
