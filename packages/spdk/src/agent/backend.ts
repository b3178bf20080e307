// What the storage agent does to SPDK, one idempotent step per operation (RPC.md): every step first
// looks at what SPDK holds and only then changes it, so running it again after a crash, a lost reply
// or an SPDK restart converges instead of failing on "already exists". Pure I/O over SpdkApi; which
// step runs when is decided by the agent (agent.ts) from the volume state machine.
import { isSpdkErrno, isSpdkRpcError, isSpdkTransportError } from '../errors.js';
import type { SpdkApi } from '../methods.js';
import type { Lvol, Lvstore, NvmfSubsystem } from '../rpc-types.js';
import type { SpdkSimControl } from '../sim-methods.js';
import type { VolumeObservation } from '../volume-fsm.js';
import { volumeNqn, type VolumeTransport, type VolumeExport } from '../volumes/record.js';

/** A local NVMe controller to attach (PCIe address), named as its bdevs will be (`<name>n1`). */
export interface NvmeDeviceSpec {
  readonly name: string;
  readonly traddr: string;
}

export interface BackendConfig {
  /** The lvstore's name: created on the first device's namespace when no lvstore of this name exists. */
  readonly lvstore: string;
  readonly devices: readonly NvmeDeviceSpec[];
  /** Where volumes are exported. */
  readonly listener: { readonly trtype: VolumeTransport; readonly traddr: string; readonly trsvcid: string };
  /** Provision thin (allocate on write) or thick. */
  readonly thin: boolean;
}

export interface LvolInfo {
  readonly uuid: string;
  readonly alias: string;
  readonly sizeMib: number;
}

const SERIAL_PREFIX = 'RB';
const MODEL = 'ringblock volume';
const MIB = 1024 * 1024;

/** A serial number from the volume name: ≤ 20 printable characters, stable across restarts. */
function serialOf(name: string): string {
  let hash = 2166136261;
  for (const char of name) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0;
  return `${SERIAL_PREFIX}${hash.toString(16).padStart(8, '0')}`;
}

export class SpdkVolumeBackend {
  private lvstoreInfo: Lvstore | undefined;

  constructor(
    private readonly api: SpdkApi,
    private readonly config: BackendConfig,
    /** Present on spdk-sim: gives the file standing in for an exported namespace. */
    private readonly sim?: SpdkSimControl,
  ) {}

  get lvstoreName(): string {
    return this.config.lvstore;
  }

  /**
   * Readies SPDK: the framework up, local controllers attached, lvstores examined, ours imported or
   * created, the NVMe-oF transport present. Idempotent; run at start and after SPDK restarts.
   */
  async prepare(): Promise<Lvstore> {
    await this.api.frameworkWaitInit();
    const attached = new Set((await this.api.bdevNvmeGetControllers()).map((controller) => controller.name));
    for (const device of this.config.devices) {
      if (attached.has(device.name)) continue;
      try {
        await this.api.bdevNvmeAttachController({ name: device.name, trtype: 'PCIe', traddr: device.traddr });
      } catch (error) {
        // Attached meanwhile (or under another name: the lvstore lookup below tells).
        if (!isSpdkErrno(error, 'EEXIST')) throw error;
      }
    }
    await this.api.bdevWaitForExamine();
    const existing = (await this.api.bdevLvolGetLvstores()).find((lvstore) => lvstore.name === this.config.lvstore);
    if (existing) return (this.lvstoreInfo = existing);
    const first = this.config.devices[0];
    if (!first) throw new Error(`no lvstore "${this.config.lvstore}" and no NVMe device configured to create it on`);
    await this.api.bdevLvolCreateLvstore({ bdev_name: `${first.name}n1`, lvs_name: this.config.lvstore });
    const created = (await this.api.bdevLvolGetLvstores({ lvs_name: this.config.lvstore }))[0];
    if (!created) throw new Error(`lvstore "${this.config.lvstore}" was created but is not listed`);
    return (this.lvstoreInfo = created);
  }

  async ensureTransport(): Promise<void> {
    const { trtype } = this.config.listener;
    if ((await this.api.nvmfGetTransports()).some((transport) => transport.trtype === trtype)) return;
    try {
      await this.api.nvmfCreateTransport({ trtype });
    } catch (error) {
      if (!isSpdkErrno(error, 'EEXIST')) throw error;
    }
  }

  /** Every lvol of our lvstore that is not a snapshot. */
  async volumes(): Promise<Lvol[]> {
    return (await this.api.bdevLvolGetLvols({ lvs_name: this.config.lvstore })).filter((lvol) => !lvol.is_snapshot);
  }

  async lvol(name: string): Promise<Lvol | undefined> {
    return (await this.api.bdevLvolGetLvols({ lvs_name: this.config.lvstore })).find((lvol) => lvol.name === name);
  }

  private async sizeMibOf(uuid: string): Promise<number> {
    const [bdev] = await this.api.bdevGetBdevs({ name: uuid });
    return bdev ? Math.floor((bdev.block_size * Number(bdev.num_blocks)) / MIB) : 0;
  }

  /** The lvol of a volume with its size, or undefined. */
  async describe(name: string): Promise<LvolInfo | undefined> {
    const lvol = await this.lvol(name);
    return lvol ? this.info(lvol) : undefined;
  }

  /** Whether our lvstore is loaded (after an SPDK restart it is not until the controllers are attached again). */
  async lvstorePresent(): Promise<boolean> {
    return (await this.api.bdevLvolGetLvstores()).some((lvstore) => lvstore.name === this.config.lvstore);
  }

  private async info(lvol: Lvol): Promise<LvolInfo> {
    return { uuid: lvol.uuid, alias: lvol.alias, sizeMib: await this.sizeMibOf(lvol.uuid) };
  }

  /** The lvol, created when missing (the size is rounded up to clusters by SPDK). */
  async create(name: string, sizeMib: number): Promise<LvolInfo> {
    const found = await this.lvol(name);
    if (found) return this.info(found);
    try {
      await this.api.bdevLvolCreate({ lvol_name: name, size_in_mib: sizeMib, thin_provision: this.config.thin, lvs_name: this.config.lvstore });
    } catch (error) {
      if (!isSpdkErrno(error, 'EEXIST')) throw error;
    }
    const created = await this.lvol(name);
    if (!created) throw new Error(`lvol ${name} was created but is not listed`);
    return this.info(created);
  }

  async subsystem(name: string): Promise<NvmfSubsystem | undefined> {
    const nqn = volumeNqn(name);
    return (await this.api.nvmfGetSubsystems()).find((subsystem) => subsystem.nqn === nqn);
  }

  /** Exports the lvol as namespace 1 of the volume's subsystem on the listener; each missing piece is added. */
  async export(name: string): Promise<VolumeExport> {
    const lvol = await this.lvol(name);
    if (!lvol) throw new Error(`lvol ${name} does not exist: nothing to export`);
    await this.ensureTransport();
    const nqn = volumeNqn(name);
    let subsystem = await this.subsystem(name);
    if (!subsystem) {
      try {
        await this.api.nvmfCreateSubsystem({ nqn, serial_number: serialOf(name), model_number: MODEL, allow_any_host: true, max_namespaces: 1 });
      } catch (error) {
        if (!isSpdkErrno(error, 'EEXIST') && !isSpdkRpcError(error, -32602)) throw error;
      }
      subsystem = await this.subsystem(name);
      if (!subsystem) throw new Error(`subsystem ${nqn} was created but is not listed`);
    }
    let nsid = subsystem.namespaces?.find((namespace) => namespace.uuid === lvol.uuid || namespace.bdev_name === lvol.uuid)?.nsid;
    if (nsid === undefined) nsid = await this.api.nvmfSubsystemAddNs({ nqn, namespace: { bdev_name: lvol.uuid } });
    const { trtype, traddr, trsvcid } = this.config.listener;
    const listening = subsystem.listen_addresses.some((address) => address.trtype === trtype && address.traddr === traddr && address.trsvcid === trsvcid);
    if (!listening) {
      try {
        await this.api.nvmfSubsystemAddListener({ nqn, listen_address: { trtype, adrfam: 'IPv4', traddr, trsvcid } });
      } catch (error) {
        if (!isSpdkErrno(error, 'EEXIST')) throw error;
      }
    }
    return { nqn, trtype, traddr, trsvcid, nsid };
  }

  /** Removes the volume's subsystem (and with it namespace and listener); nothing when absent. */
  async unexport(name: string): Promise<void> {
    if (!(await this.subsystem(name))) return;
    try {
      await this.api.nvmfDeleteSubsystem({ nqn: volumeNqn(name) });
    } catch (error) {
      if (!isSpdkErrno(error, 'ENODEV') && !isSpdkErrno(error, 'ENOENT')) throw error;
    }
  }

  async resize(name: string, sizeMib: number): Promise<LvolInfo> {
    const lvol = await this.lvol(name);
    if (!lvol) throw new Error(`lvol ${name} does not exist: nothing to resize`);
    if ((await this.sizeMibOf(lvol.uuid)) < sizeMib) await this.api.bdevLvolResize({ name: lvol.uuid, size_in_mib: sizeMib });
    return this.info(lvol);
  }

  async snapshot(name: string, snapshotName: string): Promise<void> {
    if (await this.lvol(snapshotLvolName(name, snapshotName))) return;
    const lvol = await this.lvol(name);
    if (!lvol) throw new Error(`lvol ${name} does not exist: nothing to snapshot`);
    await this.api.bdevLvolSnapshot({ lvol_name: lvol.uuid, snapshot_name: snapshotLvolName(name, snapshotName) });
  }

  /**
   * Deletes the export, the lvol and the volume's snapshots, newest first. A snapshot SPDK refuses to
   * delete (it has clones of its own) makes the step fail: it is retried, and the lvol stays deleted.
   */
  async delete(name: string, snapshots: readonly string[]): Promise<void> {
    await this.unexport(name);
    for (const target of [name, ...[...snapshots].reverse().map((snapshot) => snapshotLvolName(name, snapshot))]) {
      const lvol = await this.lvol(target);
      if (!lvol) continue;
      try {
        await this.api.bdevLvolDelete({ name: lvol.uuid });
      } catch (error) {
        if (isSpdkErrno(error, 'ENODEV')) continue;
        throw error;
      }
    }
  }

  /** What SPDK holds for a volume, for reconcile: absent, exists, or exported ("attached"). */
  async observe(name: string): Promise<VolumeObservation> {
    try {
      if (!(await this.lvol(name))) return 'absent';
      return (await this.subsystem(name))?.namespaces?.length ? 'attached' : 'exists';
    } catch (error) {
      if (isSpdkTransportError(error)) return 'unreachable';
      throw error;
    }
  }

  /** spdk-sim only: the file holding the lvol's data. */
  async simFile(name: string): Promise<string | undefined> {
    if (!this.sim) return undefined;
    const lvol = await this.lvol(name);
    return lvol ? (await this.sim.simGetLvolFile({ name: lvol.uuid })).path : undefined;
  }

  get lvstore(): Lvstore | undefined {
    return this.lvstoreInfo;
  }
}

/** Snapshot names are per volume; lvol names per lvstore: the snapshot's lvol carries both. */
export function snapshotLvolName(volume: string, snapshot: string): string {
  return `${volume}--${snapshot}`;
}

/**
 * Whether a failed step is worth retrying. SPDK not answering, busy or out of space may clear; a
 * request SPDK could not even decode will fail the same way every time.
 */
export function isRetryableBackendError(error: unknown): boolean {
  if (isSpdkTransportError(error)) return true;
  if (isSpdkRpcError(error, -32602) && /decode|Invalid parameters/i.test((error as Error).message)) return false;
  return true;
}
