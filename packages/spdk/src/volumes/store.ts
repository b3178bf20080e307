// Volume records in ZooKeeper (DESIGN §3): `volumes/<name>` holds the record, `volumes/<name>/events/e-`
// the audit trail (persistent sequential, capped). Every change is version-checked (compare and set),
// and a state transition writes the record and its trail entry in one transaction, so the trail never
// shows a transition the record does not, or the reverse. Whoever changes a volume — the storage agent
// running operations, a node answering the API, the peer asking for its volume — goes through here.
import { isCoordError, jsonBytes, type ClusterPaths, type Watch, type ZkClient } from '@ringblock/coord';
import { DEFAULT_RETRY_POLICY, stepVolume, type RetryPolicy, type VolumeEvent, type VolumeStep } from '../volume-fsm.js';
import { checkVolumeName, parseTransitionRecord, parseVolumeRecord, type VolumeEventEntry, type VolumeRecord } from './record.js';

/** Trail entries kept per volume (older ones are removed). */
export const VOLUME_EVENTS_MAX = 200;
/** Compare-and-set attempts before giving up on a contended record. */
const CAS_ATTEMPTS = 16;
/** Volumes listed at most. */
export const VOLUMES_MAX = 10_000;
const EVENT_PREFIX = 'e-';

export interface VersionedVolume {
  readonly record: VolumeRecord;
  readonly version: number;
}

/** What a change does: a new record, and a transition to append to the trail. */
export interface VolumeChange {
  readonly record: VolumeRecord;
  readonly step?: VolumeStep;
}

export interface AppliedChange extends VolumeChange {
  /** Sequence number of the trail entry written (when the change was a transition). */
  readonly seq?: number;
}

export class VolumeStoreError extends Error {
  override readonly name = 'VolumeStoreError';
  constructor(readonly code: 'NOT_FOUND' | 'CONTENDED' | 'EXISTS', message: string) {
    super(message);
  }
}

export class VolumeStore {
  constructor(
    private readonly client: () => ZkClient,
    private readonly paths: Pick<ClusterPaths, 'volumes'>,
    private readonly policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  ) {}

  private path(name: string): string {
    return `${this.paths.volumes}/${checkVolumeName(name)}`;
  }

  private eventsPath(name: string): string {
    return `${this.path(name)}/events`;
  }

  async init(): Promise<void> {
    await this.client().mkdirp(this.paths.volumes);
  }

  async get(name: string): Promise<VersionedVolume | undefined> {
    const node = await this.client().getIfExists(this.path(name));
    if (!node) return undefined;
    return { record: parseVolumeRecord(JSON.parse(node.data.toString('utf8'))), version: node.version };
  }

  async names(): Promise<string[]> {
    // The volumes znode is made by the first storage agent (init): a cluster of file-backed peers has none.
    const names = await this.client().children(this.paths.volumes).catch((error: unknown) => {
      if (isCoordError(error, 'NO_NODE')) return [];
      throw error;
    });
    return names.sort().slice(0, VOLUMES_MAX);
  }

  /** Every readable record (one that does not parse is skipped: it is reported by get). */
  async list(): Promise<VolumeRecord[]> {
    const out: VolumeRecord[] = [];
    for (const name of await this.names()) {
      try {
        const found = await this.get(name);
        if (found) out.push(found.record);
      } catch (error) {
        if (!(error instanceof Error && error.name === 'VolumeRecordError') && !(error instanceof SyntaxError)) throw error;
      }
    }
    return out;
  }

  /** Creates the record (and its trail) unless one exists; returns the one that is there. */
  async ensure(record: VolumeRecord): Promise<VersionedVolume> {
    try {
      await this.client().transaction([
        { op: 'create', path: this.path(record.name), data: jsonBytes(record) },
        { op: 'create', path: this.eventsPath(record.name), data: null },
      ]).commit();
      return { record, version: 0 };
    } catch (error) {
      if (!isCoordError(error, 'NODE_EXISTS')) throw error;
    }
    const found = await this.get(record.name);
    if (!found) throw new VolumeStoreError('CONTENDED', `volume ${record.name} was removed while being created`);
    return found;
  }

  /** Replaces a record (and empties its trail): a deleted volume whose name is used again. */
  async replace(previous: VersionedVolume, record: VolumeRecord): Promise<VersionedVolume> {
    await this.removeEvents(record.name);
    const stat = await this.client().setJson(this.path(record.name), record, previous.version);
    return { record, version: stat.version };
  }

  /**
   * Applies `change` to the current record, retrying on a concurrent write. `change` returns undefined
   * for "nothing to do" (the result is then undefined) and may throw (e.g. VolumeTransitionError),
   * which ends the attempt with nothing written.
   */
  async modify(name: string, change: (current: VersionedVolume) => VolumeChange | undefined): Promise<AppliedChange | undefined> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.get(name);
      if (!current) throw new VolumeStoreError('NOT_FOUND', `no volume named ${name}`);
      const next = change(current);
      if (next === undefined) return undefined;
      try {
        if (!next.step) {
          await this.client().setJson(this.path(name), next.record, current.version);
          return next;
        }
        const results = await this.client().transaction([
          { op: 'set', path: this.path(name), data: jsonBytes(next.record), version: current.version },
          { op: 'create', path: `${this.eventsPath(name)}/${EVENT_PREFIX}`, data: jsonBytes(next.step.record), mode: 'persistent_sequential' },
        ]).commit();
        const created = results[1];
        const seq = created?.op === 'create' ? sequenceOf(created.path) : undefined;
        if (seq !== undefined && seq % 16 === 0) await this.trim(name);
        return { ...next, ...(seq === undefined ? {} : { seq }) };
      } catch (error) {
        if (!isCoordError(error, 'BAD_VERSION')) throw error;
      }
    }
    throw new VolumeStoreError('CONTENDED', `volume ${name}: ${CAS_ATTEMPTS} concurrent writes in a row`);
  }

  /**
   * Feeds `event` to the volume's state machine and writes the transition. Throws
   * VolumeTransitionError when the table refuses it; undefined when it was a retry not yet due.
   * `extra` adds fields to the new record (e.g. the lvol the operation created).
   */
  async apply(name: string, event: VolumeEvent, nowMs: number, extra: (record: VolumeRecord) => Partial<VolumeRecord> = () => ({})): Promise<AppliedChange | undefined> {
    return this.modify(name, ({ record }) => {
      const step = stepVolume(record.fsm, event, nowMs, this.policy);
      if (!step) return undefined;
      return { record: { ...record, ...extra(record), fsm: step.next, updatedAt: nowMs }, step };
    });
  }

  /** Changes fields other than the state (no trail entry). */
  async update(name: string, fields: (record: VolumeRecord) => Partial<VolumeRecord> | undefined, nowMs: number): Promise<VolumeRecord | undefined> {
    const applied = await this.modify(name, ({ record }) => {
      const patch = fields(record);
      return patch === undefined ? undefined : { record: { ...record, ...patch, updatedAt: nowMs } };
    });
    return applied?.record;
  }

  /** The trail, oldest first (entries that do not parse are skipped). */
  async events(name: string, afterSeq = -1): Promise<VolumeEventEntry[]> {
    let children: string[];
    try {
      children = await this.client().children(this.eventsPath(name));
    } catch (error) {
      if (isCoordError(error, 'NO_NODE')) return [];
      throw error;
    }
    const wanted = children.map((child) => ({ child, seq: sequenceOf(child) })).filter((entry): entry is { child: string; seq: number } => entry.seq !== undefined && entry.seq > afterSeq).sort((a, b) => a.seq - b.seq);
    const out: VolumeEventEntry[] = [];
    for (const { child, seq } of wanted) {
      const node = await this.client().getIfExists(`${this.eventsPath(name)}/${child}`);
      if (!node) continue;
      try {
        out.push({ seq, record: parseTransitionRecord(JSON.parse(node.data.toString('utf8'))) });
      } catch {
        // A malformed entry is not a transition we can show.
      }
    }
    return out;
  }

  /** Calls `onChange` with the record now and after each change (undefined once it is gone). */
  watch(name: string, onChange: (volume: VersionedVolume | undefined) => void): Promise<Watch> {
    return this.client().watchData(this.path(name), (node) => {
      if (!node) return onChange(undefined);
      try {
        onChange({ record: parseVolumeRecord(JSON.parse(node.data.toString('utf8'))), version: node.version });
      } catch {
        // An unreadable record: nothing to deliver until it is rewritten.
      }
    });
  }

  watchNames(onChange: (names: readonly string[]) => void): Promise<Watch> {
    return this.client().watchChildren(this.paths.volumes, onChange);
  }

  /** Removes the record and its trail. */
  async remove(name: string): Promise<void> {
    await this.removeEvents(name);
    try {
      await this.client().remove(this.eventsPath(name));
    } catch (error) {
      if (!isCoordError(error, 'NO_NODE')) throw error;
    }
    try {
      await this.client().remove(this.path(name));
    } catch (error) {
      if (!isCoordError(error, 'NO_NODE')) throw error;
    }
  }

  private async removeEvents(name: string, keep = 0): Promise<void> {
    let children: string[];
    try {
      children = await this.client().children(this.eventsPath(name));
    } catch (error) {
      if (isCoordError(error, 'NO_NODE')) return;
      throw error;
    }
    const ordered = children.filter((child) => sequenceOf(child) !== undefined).sort((a, b) => sequenceOf(a)! - sequenceOf(b)!);
    for (const child of ordered.slice(0, Math.max(0, ordered.length - keep))) {
      try {
        await this.client().remove(`${this.eventsPath(name)}/${child}`);
      } catch (error) {
        if (!isCoordError(error, 'NO_NODE')) throw error;
      }
    }
  }

  /** Keeps the newest VOLUME_EVENTS_MAX entries. */
  private trim(name: string): Promise<void> {
    return this.removeEvents(name, VOLUME_EVENTS_MAX);
  }
}

function sequenceOf(path: string): number | undefined {
  const match = /e-(\d{10})$/.exec(path);
  return match ? Number(match[1]) : undefined;
}
