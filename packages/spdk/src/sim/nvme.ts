// Local NVMe controllers (RPC.md §2.3): the sim's "PCIe bus" is the configured device list. Attaching a
// controller registers its namespace bdev "<name>n1" and examines it (loading an lvstore found on the
// device); detaching hot-removes the bdev (its lvstore unloads, its namespaces leave their subsystems).
// Controllers do not persist across a restart. Fabrics (RDMA/TCP) attach is not emulated: E(-5).
import { createHash, randomUUID } from 'node:crypto';
import { ERRNO } from '../errno.js';
import { objectWithRepeatedKeys, type RawJson } from '../json/stringify.js';
import type { BdevNvmeAttachControllerParams, BdevNvmeDetachControllerParams } from '../rpc-types.js';
import type { BdevTable, SimBdev } from './bdev-table.js';
import { errnoError, SimRpcError } from './rpc-error.js';

/** One NVMe SSD the sim pretends is plugged in. Its capacity is virtual (lvol data lives in files). */
export interface SimNvmeDevice {
  /** PCI address (BDF), e.g. "0000:04:00.0". */
  readonly traddr: string;
  readonly sizeBytes: number;
  /** 512 or 4096. Default 4096. */
  readonly blockSize?: number;
  readonly modelNumber?: string;
  readonly serialNumber?: string;
  readonly firmwareRevision?: string;
}

/** Health numbers a test may change with sim_set_controller_health. */
export interface SimHealth {
  critical_warning: number;
  temperature_celsius: number;
  available_spare_percentage: number;
  available_spare_threshold_percentage: number;
  percentage_used: number;
  media_errors: bigint;
  num_err_log_entries: bigint;
  unsafe_shutdowns: bigint;
  power_on_hours: bigint;
  /** One repeated `temperature_sensor_celsius` key per entry. */
  temperature_sensors_celsius: number[];
}

export const DEFAULT_SIM_DEVICES: readonly SimNvmeDevice[] = [{ traddr: '0000:00:04.0', sizeBytes: 16 * 1024 ** 3 }];
const BDF = /^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/;
const TRADDR_BYTES_MAX = 256;

interface Controller {
  readonly name: string;
  readonly device: SimNvmeDevice;
  readonly bdev: SimBdev;
}

export type AttachRequest = Pick<BdevNvmeAttachControllerParams, 'name' | 'trtype' | 'traddr' | 'adrfam' | 'hostnqn' | 'multipath'>;
export type DetachFilters = Omit<BdevNvmeDetachControllerParams, 'name'>;

export class NvmeControllers {
  private readonly controllers = new Map<string, Controller>();
  private readonly health = new Map<string, SimHealth>();
  private readonly devices: ReadonlyMap<string, SimNvmeDevice>;

  constructor(
    private readonly bdevs: BdevTable,
    devices: readonly SimNvmeDevice[],
    /** The host NQN this target uses when it connects to controllers. */
    readonly hostNqn: string,
    private readonly examine: (bdev: SimBdev) => void,
  ) {
    for (const device of devices) validateDevice(device);
    this.devices = new Map(devices.map((device) => [device.traddr.toLowerCase(), device]));
  }

  /** bdev_nvme_attach_controller: returns ["<name>n1"] after examine. */
  attach(request: AttachRequest): string[] {
    const trtype = parseTrtype(request.trtype);
    if (request.adrfam !== undefined && !['ipv4', 'ipv6', 'ib', 'fc'].includes(request.adrfam.toLowerCase())) {
      throw new SimRpcError(-ERRNO.EINVAL, `Failed to parse adrfam: ${request.adrfam}`);
    }
    if (Buffer.byteLength(request.traddr) > TRADDR_BYTES_MAX) throw new SimRpcError(-ERRNO.EINVAL, `traddr too long: ${request.traddr}`);
    this.checkNameAndPath(request, trtype);
    if (trtype !== 'PCIe') throw errnoError(ERRNO.EIO);
    const device = this.devices.get(request.traddr.toLowerCase());
    if (device === undefined) throw errnoError(ERRNO.ENODEV);
    const bdev = this.bdevs.register({
      name: `${request.name}n1`,
      uuid: deviceNamespaceUuid(device),
      aliases: [deviceNamespaceUuid(device)],
      productName: 'NVMe disk',
      blockSize: device.blockSize ?? 4096,
      numBlocks: Math.floor(device.sizeBytes / (device.blockSize ?? 4096)),
      writable: true,
      backing: { kind: 'nvme', controller: request.name, traddr: device.traddr, nsid: 1 },
      mediumIdentity: `nvme:${device.traddr.toLowerCase()}:1`,
    });
    this.controllers.set(request.name, { name: request.name, device, bdev });
    this.examine(bdev);
    return [bdev.name];
  }

  private checkNameAndPath(request: AttachRequest, trtype: string): void {
    const existing = this.controllers.get(request.name);
    if (existing !== undefined) {
      const samePath = trtype === 'PCIe' && existing.device.traddr.toLowerCase() === request.traddr.toLowerCase();
      const reason = samePath ? 'with the specified network path' : 'and multipath is disabled';
      throw new SimRpcError(-ERRNO.EALREADY, `A controller named ${request.name} already exists ${reason}`);
    }
    const sameHost = (request.hostnqn ?? this.hostNqn) === this.hostNqn;
    for (const controller of this.controllers.values()) {
      if (sameHost && controller.device.traddr.toLowerCase() === request.traddr.toLowerCase()) throw errnoError(ERRNO.EEXIST);
    }
  }

  /** bdev_nvme_detach_controller: filters select paths; a filter matching nothing is E(-6). */
  detach(name: string, filters: DetachFilters): void {
    const controller = this.controllers.get(name);
    if (controller === undefined) throw errnoError(ERRNO.ENODEV);
    const matches =
      (filters.trtype === undefined || filters.trtype.toLowerCase() === 'pcie') &&
      (filters.traddr === undefined || filters.traddr.toLowerCase() === controller.device.traddr.toLowerCase()) &&
      filters.adrfam === undefined &&
      filters.trsvcid === undefined &&
      filters.subnqn === undefined &&
      filters.hostaddr === undefined &&
      filters.hostsvcid === undefined;
    if (!matches) throw errnoError(ERRNO.ENXIO);
    this.controllers.delete(name);
    this.bdevs.unregister(controller.bdev);
  }

  /** bdev_nvme_get_controllers entries; E(-22,"Controller X does not exist") for an unknown name. */
  list(name: string | undefined): Record<string, unknown>[] {
    if (name !== undefined && !this.controllers.has(name)) throw new SimRpcError(-ERRNO.EINVAL, `Controller ${name} does not exist`);
    const chosen = name === undefined ? [...this.controllers.values()] : [this.controllers.get(name)!];
    return chosen.map((controller) => ({
      name: controller.name,
      ctrlrs: [
        {
          state: 'enabled',
          trid: { trtype: 'PCIe', traddr: controller.device.traddr },
          cntlid: 0,
          host: { nqn: this.hostNqn, addr: '', svcid: '', no_shn_notification: false },
          numa_id: 0,
        },
      ],
    }));
  }

  /** bdev_nvme_get_controller_health_info; E(-32603,"Device not found") for an unknown controller. */
  healthInfo(name: string): RawJson {
    const controller = this.controllers.get(name);
    if (controller === undefined) throw new SimRpcError(-32603, 'Device not found');
    const { device } = controller;
    const health = this.healthOf(device);
    return objectWithRepeatedKeys([
      ['model_number', device.modelNumber ?? 'SPDK sim NVMe'],
      ['serial_number', device.serialNumber ?? `SIM${device.traddr.replace(/[^0-9a-fA-F]/g, '')}`],
      ['firmware_revision', device.firmwareRevision ?? '1.0'],
      ['traddr', device.traddr],
      ['critical_warning', health.critical_warning],
      ['temperature_celsius', health.temperature_celsius],
      ['available_spare_percentage', health.available_spare_percentage],
      ['available_spare_threshold_percentage', health.available_spare_threshold_percentage],
      ['percentage_used', health.percentage_used],
      ['data_units_read', 0],
      ['data_units_written', 0],
      ['host_read_commands', 0],
      ['host_write_commands', 0],
      ['controller_busy_time', 0],
      ['power_cycles', 1],
      ['power_on_hours', health.power_on_hours],
      ['unsafe_shutdowns', health.unsafe_shutdowns],
      ['media_errors', health.media_errors],
      ['num_err_log_entries', health.num_err_log_entries],
      ['warning_temperature_time_minutes', 0],
      ['critical_composite_temperature_time_minutes', 0],
      ...health.temperature_sensors_celsius.filter((celsius) => celsius !== 0).map((celsius) => ['temperature_sensor_celsius', celsius] as const),
    ]);
  }

  /** sim_set_controller_health: changes the numbers health info reports for a controller's device. */
  setHealth(name: string, patch: Partial<SimHealth>): void {
    const controller = this.controllers.get(name);
    if (controller === undefined) throw new SimRpcError(-32603, 'Device not found');
    Object.assign(this.healthOf(controller.device), patch);
  }

  private healthOf(device: SimNvmeDevice): SimHealth {
    const key = device.traddr.toLowerCase();
    let health = this.health.get(key);
    if (health === undefined) {
      health = {
        critical_warning: 0,
        temperature_celsius: 35,
        available_spare_percentage: 100,
        available_spare_threshold_percentage: 10,
        percentage_used: 0,
        media_errors: 0n,
        num_err_log_entries: 0n,
        unsafe_shutdowns: 0n,
        power_on_hours: 0n,
        temperature_sensors_celsius: [35, 38],
      };
      this.health.set(key, health);
    }
    return health;
  }
}

/** PCIe | RDMA | TCP in any case → canonical spelling; else E(-22,"Failed to parse trtype: X"). */
function parseTrtype(trtype: string): string {
  const canonical = ['PCIe', 'RDMA', 'TCP'].find((candidate) => candidate.toLowerCase() === trtype.toLowerCase());
  if (canonical === undefined) throw new SimRpcError(-ERRNO.EINVAL, `Failed to parse trtype: ${trtype}`);
  return canonical;
}

function validateDevice(device: SimNvmeDevice): void {
  const blockSize = device.blockSize ?? 4096;
  if (!BDF.test(device.traddr)) throw new RangeError(`spdk-sim device traddr must be a PCI BDF like 0000:04:00.0, got "${device.traddr}"`);
  if (blockSize !== 512 && blockSize !== 4096) throw new RangeError(`spdk-sim device ${device.traddr}: blockSize must be 512 or 4096`);
  if (!Number.isSafeInteger(device.sizeBytes) || device.sizeBytes < blockSize) throw new RangeError(`spdk-sim device ${device.traddr}: sizeBytes must be at least one block`);
}

/** A stable namespace UUID per device, so the bdev's UUID alias survives re-attach and restart. */
function deviceNamespaceUuid(device: SimNvmeDevice): string {
  const hex = createHash('sha256').update(`spdk-sim nvme ${device.traddr.toLowerCase()}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function newHostNqn(): string {
  return `nqn.2014-08.org.nvmexpress:uuid:${randomUUID()}`;
}
