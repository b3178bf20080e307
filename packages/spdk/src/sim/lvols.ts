// Lvstores and lvols (RPC.md §2.4, §3.1–3.3, §3.6): creation with cluster rounding and thin
// provisioning, the snapshot/clone graph, claims on the base bdev, loading by examine and unloading
// when the base goes, persistence of the on-disk metadata. Every operation validates and changes the
// in-memory model synchronously, then writes data files and the state file before it answers.
import { randomUUID } from 'node:crypto';
import { ERRNO } from '../errno.js';
import type { BdevTable, SimBdev } from './bdev-table.js';
import type { DataFiles } from './data-files.js';
import { CLUSTER_BYTES_MIN, clustersForMib, lvstoreGeometry } from './lvstore-geometry.js';
import { errnoError, lvolCallbackError, lvolDeleteCallbackError } from './rpc-error.js';
import type { LvolRecord, LvstoreRecord, StateFile } from './state-file.js';

/** lvstore and lvol names: 1–63 characters (RPC.md §2.4). */
export const LVS_NAME_CHARS_MAX = 63;

export interface CreateLvstoreRequest {
  readonly bdevName: string;
  readonly lvsName: string;
  readonly clusterBytes: number;
  readonly clearMethod: string;
  readonly mdPagesPerClusterRatio: number;
  readonly mdPageBytes: number;
}

export interface CreateLvolRequest {
  readonly lvstore: LvstoreRecord;
  readonly lvolName: string;
  readonly sizeMib: number;
  readonly thin: boolean;
}

/** A loaded lvol: its record, its lvstore and its bdev. */
export interface LvolRef {
  readonly lvol: LvolRecord;
  readonly lvstore: LvstoreRecord;
  readonly bdev: SimBdev;
}

export class LvolManager {
  /** Every lvstore known from disk or created, loaded or not, by UUID. */
  private readonly records = new Map<string, LvstoreRecord>();
  /** Loaded lvstores: UUID → base bdev. */
  private readonly loaded = new Map<string, SimBdev>();

  constructor(
    private readonly bdevs: BdevTable,
    private readonly stateFile: StateFile,
    readonly files: DataFiles,
    saved: readonly LvstoreRecord[],
  ) {
    for (const record of saved) this.records.set(record.uuid, record);
    bdevs.onRemove((bdev) => this.onBdevRemoved(bdev));
  }

  // ------------------------------------------------------------ examine and unload (§3.6)

  /** Loads the lvstores found on `base` (what examine does when a bdev appears). */
  examine(base: SimBdev): void {
    if (base.mediumIdentity === undefined) return;
    for (const record of this.records.values()) {
      if (record.mediumIdentity !== base.mediumIdentity || this.loaded.has(record.uuid)) continue;
      if (this.loadedByName(record.name) !== undefined) continue;
      this.load(record, base);
    }
  }

  private load(record: LvstoreRecord, base: SimBdev): void {
    this.bdevs.claim(base, { type: 'read_many_write_one', holder: holderOf(record) });
    this.loaded.set(record.uuid, base);
    for (const lvol of record.lvols) this.registerLvolBdev(record, lvol);
  }

  private onBdevRemoved(bdev: SimBdev): void {
    for (const [uuid, base] of this.loaded) {
      if (base !== bdev) continue;
      const record = this.records.get(uuid)!;
      this.unload(record);
      if (!record.durable) void this.forget(record);
    }
  }

  /** Unregisters the lvol bdevs (hot-removing their namespaces) and releases the base; data stays. */
  private unload(record: LvstoreRecord): void {
    for (const lvol of [...record.lvols].reverse()) {
      const bdev = this.bdevs.find(lvol.uuid);
      if (bdev !== undefined) this.bdevs.unregister(bdev);
    }
    const base = this.loaded.get(record.uuid);
    if (base !== undefined) this.bdevs.release(base, holderOf(record));
    this.loaded.delete(record.uuid);
  }

  /** Drops an lvstore for good: its record and its lvols' data files. */
  private async forget(record: LvstoreRecord): Promise<void> {
    this.records.delete(record.uuid);
    await Promise.all(record.lvols.map((lvol) => this.files.remove(lvol.uuid)));
  }

  // ------------------------------------------------------------ lvstores

  /** bdev_lvol_create_lvstore: returns the lvstore UUID. */
  async createLvstore(request: CreateLvstoreRequest): Promise<string> {
    const base = this.bdevs.get(request.bdevName);
    if (!isValidName(request.lvsName) || request.clusterBytes % base.blockSize !== 0) throw errnoError(ERRNO.EINVAL);
    if (base.claim !== undefined) throw errnoError(ERRNO.EPERM);
    if (this.loadedByName(request.lvsName) !== undefined) throw errnoError(ERRNO.EEXIST);
    if (request.clusterBytes < CLUSTER_BYTES_MIN) throw lvolCallbackError(ERRNO.EINVAL);
    const geometry = lvstoreGeometry({
      baseBytes: base.numBlocks * base.blockSize,
      clusterBytes: request.clusterBytes,
      mdPageBytes: request.mdPageBytes,
      mdPagesPerClusterRatio: request.mdPagesPerClusterRatio,
    });
    if (!geometry.ok) throw lvolCallbackError(ERRNO[geometry.errno]);
    const record: LvstoreRecord = {
      uuid: randomUUID(),
      name: request.lvsName,
      mediumIdentity: base.mediumIdentity ?? `malloc:${base.uuid}`,
      durable: base.mediumIdentity !== undefined && base.backing.kind !== 'malloc',
      clusterBytes: request.clusterBytes,
      blockSize: base.blockSize,
      totalDataClusters: geometry.totalDataClusters,
      maxGrowableSizeBytes: geometry.maxGrowableSizeBytes,
      clearMethod: request.clearMethod,
      lvols: [],
    };
    this.records.set(record.uuid, record);
    this.load(record, base);
    await this.persist();
    return record.uuid;
  }

  /** The loaded lvstore chosen by `uuid` xor `lvsName` (RPC.md §2.4): E(-22) for both/neither, E(-19) not found. */
  selectLvstore(uuid: string | undefined, lvsName: string | undefined): LvstoreRecord {
    if ((uuid === undefined) === (lvsName === undefined)) throw errnoError(ERRNO.EINVAL);
    const record = uuid !== undefined ? this.loadedRecord(uuid) : this.loadedByName(lvsName!);
    if (record === undefined) throw errnoError(ERRNO.ENODEV);
    return record;
  }

  /** Loaded lvstores, all or the one selected (E(-22) when both selectors are given). */
  listLvstores(uuid: string | undefined, lvsName: string | undefined): LvstoreRecord[] {
    if (uuid === undefined && lvsName === undefined) return [...this.loaded.keys()].map((key) => this.records.get(key)!);
    return [this.selectLvstore(uuid, lvsName)];
  }

  /** bdev_lvol_delete_lvstore: destroys every lvol (clones before snapshots), then releases the base. */
  async deleteLvstore(record: LvstoreRecord): Promise<void> {
    this.unload(record);
    await this.forget(record);
    await this.persist();
  }

  baseOf(record: LvstoreRecord): SimBdev {
    return this.loaded.get(record.uuid)!;
  }

  freeClusters(record: LvstoreRecord): number {
    return record.totalDataClusters - record.lvols.reduce((sum, lvol) => sum + lvol.allocatedClusters, 0);
  }

  // ------------------------------------------------------------ lvols

  /** bdev_lvol_create: returns the lvol UUID (= its bdev name). */
  async createLvol(request: CreateLvolRequest): Promise<string> {
    const { lvstore } = request;
    if (!isValidName(request.lvolName)) throw errnoError(ERRNO.EINVAL);
    if (this.nameTaken(lvstore, request.lvolName)) throw errnoError(ERRNO.EEXIST);
    const clusters = clustersForMib(request.sizeMib, lvstore.clusterBytes);
    if (clusters === 0) throw lvolCallbackError(ERRNO.EINVAL);
    if (!request.thin && clusters > this.freeClusters(lvstore)) throw lvolCallbackError(ERRNO.ENOSPC);
    const lvol: LvolRecord = {
      uuid: randomUUID(),
      name: request.lvolName,
      clusters,
      thin: request.thin,
      allocatedClusters: request.thin ? 0 : clusters,
      readOnly: false,
      createdAsSnapshot: false,
    };
    lvstore.lvols.push(lvol);
    this.registerLvolBdev(lvstore, lvol);
    await this.files.ensure(lvol.uuid, this.sizeBytes(lvstore, lvol));
    await this.persist();
    return lvol.uuid;
  }

  /** The loaded lvol by UUID or "lvs/lvol"; E(-19) when absent or not an lvol. */
  lookup(nameOrAlias: string): LvolRef {
    const bdev = this.bdevs.get(nameOrAlias);
    if (bdev.backing.kind !== 'lvol') throw errnoError(ERRNO.ENODEV);
    const lvstore = this.records.get(bdev.backing.lvstoreUuid)!;
    return { lvol: lvstore.lvols.find((lvol) => lvol.uuid === bdev.name)!, lvstore, bdev };
  }

  /** Lvols of the loaded lvstores, all or of the one selected by `lvs_uuid` xor `lvs_name`. */
  listLvols(uuid: string | undefined, lvsName: string | undefined): { lvol: LvolRecord; lvstore: LvstoreRecord }[] {
    return this.listLvstores(uuid, lvsName).flatMap((lvstore) => lvstore.lvols.map((lvol) => ({ lvol, lvstore })));
  }

  /** bdev_lvol_resize: rounds up to clusters; shrinking an open (exported) bdev shrinks it, then fails EBUSY. */
  async resize(ref: LvolRef, sizeMib: number): Promise<void> {
    const { lvol, lvstore, bdev } = ref;
    if (lvol.readOnly) throw lvolCallbackError(ERRNO.EPERM);
    const clusters = clustersForMib(sizeMib, lvstore.clusterBytes);
    if (!lvol.thin && clusters - lvol.allocatedClusters > this.freeClusters(lvstore)) throw lvolCallbackError(ERRNO.ENOSPC);
    const shrinking = clusters < lvol.clusters;
    lvol.clusters = clusters;
    lvol.allocatedClusters = lvol.thin ? Math.min(lvol.allocatedClusters, clusters) : clusters;
    bdev.numBlocks = this.sizeBytes(lvstore, lvol) / lvstore.blockSize;
    await this.files.resize(lvol.uuid, this.sizeBytes(lvstore, lvol));
    await this.persist();
    if (shrinking && bdev.claim !== undefined) throw lvolCallbackError(ERRNO.EBUSY);
  }

  /** bdev_lvol_snapshot: the snapshot takes over the source's clusters, thin flag and parent (§3.3). */
  async snapshot(source: LvolRef, snapshotName: string): Promise<string> {
    const { lvol, lvstore } = source;
    if (lvol.readOnly || !isValidName(snapshotName)) throw lvolCallbackError(ERRNO.EINVAL);
    if (this.nameTaken(lvstore, snapshotName)) throw lvolCallbackError(ERRNO.EEXIST);
    const snapshot: LvolRecord = {
      uuid: randomUUID(),
      name: snapshotName,
      clusters: lvol.clusters,
      thin: lvol.thin,
      allocatedClusters: lvol.allocatedClusters,
      readOnly: true,
      createdAsSnapshot: true,
      ...(lvol.parentUuid === undefined ? {} : { parentUuid: lvol.parentUuid }),
    };
    lvol.thin = true;
    lvol.allocatedClusters = 0;
    lvol.parentUuid = snapshot.uuid;
    return this.addDerived(lvstore, snapshot, lvol);
  }

  /** bdev_lvol_clone: a thin, writable child of a read-only lvol, same size (§3.3). */
  async clone(source: LvolRef, cloneName: string): Promise<string> {
    const { lvol, lvstore } = source;
    if (!lvol.readOnly || !isValidName(cloneName)) throw lvolCallbackError(ERRNO.EINVAL);
    if (this.nameTaken(lvstore, cloneName)) throw lvolCallbackError(ERRNO.EEXIST);
    const clone: LvolRecord = {
      uuid: randomUUID(),
      name: cloneName,
      clusters: lvol.clusters,
      thin: true,
      allocatedClusters: 0,
      readOnly: false,
      createdAsSnapshot: false,
      parentUuid: lvol.uuid,
    };
    return this.addDerived(lvstore, clone, lvol);
  }

  private async addDerived(lvstore: LvstoreRecord, added: LvolRecord, dataSource: LvolRecord): Promise<string> {
    lvstore.lvols.push(added);
    this.registerLvolBdev(lvstore, added);
    await this.files.copy(dataSource.uuid, added.uuid, this.sizeBytes(lvstore, added));
    await this.persist();
    return added.uuid;
  }

  /** bdev_lvol_delete: ≥2 clones refused; a single clone inherits the clusters and parent (§3.3). */
  async delete(ref: LvolRef): Promise<void> {
    const { lvol, lvstore, bdev } = ref;
    const clones = this.clonesOf(lvstore, lvol);
    if (clones.length >= 2) throw lvolDeleteCallbackError(ERRNO.EPERM);
    const heir = clones[0];
    if (heir !== undefined) {
      heir.allocatedClusters += lvol.allocatedClusters;
      if (lvol.parentUuid === undefined) delete heir.parentUuid;
      else heir.parentUuid = lvol.parentUuid;
    }
    lvstore.lvols.splice(lvstore.lvols.indexOf(lvol), 1);
    this.bdevs.unregister(bdev);
    await this.files.remove(lvol.uuid);
    await this.persist();
  }

  /** bdev_lvol_set_read_only: irreversible; the bdev's `write` io type stays until reload (§3.3). */
  async setReadOnly(ref: LvolRef): Promise<void> {
    ref.lvol.readOnly = true;
    await this.persist();
  }

  clonesOf(lvstore: LvstoreRecord, lvol: LvolRecord): LvolRecord[] {
    return lvstore.lvols.filter((other) => other.parentUuid === lvol.uuid);
  }

  parentOf(lvstore: LvstoreRecord, lvol: LvolRecord): LvolRecord | undefined {
    return lvol.parentUuid === undefined ? undefined : lvstore.lvols.find((other) => other.uuid === lvol.parentUuid);
  }

  /** A cloned read-only lvol also reports is_snapshot (§3.3). */
  isSnapshot(lvstore: LvstoreRecord, lvol: LvolRecord): boolean {
    return lvol.createdAsSnapshot || (lvol.readOnly && this.clonesOf(lvstore, lvol).length > 0);
  }

  sizeBytes(lvstore: LvstoreRecord, lvol: LvolRecord): number {
    return lvol.clusters * lvstore.clusterBytes;
  }

  // ------------------------------------------------------------ helpers

  private registerLvolBdev(lvstore: LvstoreRecord, lvol: LvolRecord): SimBdev {
    return this.bdevs.register({
      name: lvol.uuid,
      uuid: lvol.uuid,
      aliases: [`${lvstore.name}/${lvol.name}`],
      productName: 'Logical Volume',
      blockSize: lvstore.blockSize,
      numBlocks: this.sizeBytes(lvstore, lvol) / lvstore.blockSize,
      writable: !lvol.readOnly,
      backing: { kind: 'lvol', lvstoreUuid: lvstore.uuid },
    });
  }

  /** Lvol names are unique per lvstore, snapshots and clones included; the alias must be free too. */
  private nameTaken(lvstore: LvstoreRecord, name: string): boolean {
    return lvstore.lvols.some((lvol) => lvol.name === name) || !this.bdevs.isFree(`${lvstore.name}/${name}`);
  }

  private loadedRecord(uuid: string): LvstoreRecord | undefined {
    return this.loaded.has(uuid) ? this.records.get(uuid) : undefined;
  }

  private loadedByName(name: string): LvstoreRecord | undefined {
    for (const uuid of this.loaded.keys()) {
      const record = this.records.get(uuid)!;
      if (record.name === name) return record;
    }
    return undefined;
  }

  private persist(): Promise<void> {
    return this.stateFile.save(() => [...this.records.values()]);
  }
}

function holderOf(record: LvstoreRecord): string {
  return `lvstore:${record.uuid}`;
}

function isValidName(name: string): boolean {
  return name.length >= 1 && name.length <= LVS_NAME_CHARS_MAX;
}
