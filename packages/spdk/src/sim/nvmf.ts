// The NVMe-oF target (RPC.md §2.5, §3.5–3.8): transports, subsystems (sorted by NQN, the discovery
// subsystem always present), listeners, hosts and namespaces that claim their bdev exclusive_write.
// Nothing here persists: a restarted target has only the discovery subsystem (§3.6).
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ERRNO } from '../errno.js';
import { DISCOVERY_NQN, isValidNqn, isValidPrintableField, MODEL_NUMBER_BYTES_MAX, SERIAL_NUMBER_BYTES_MAX } from '../nqn.js';
import type { NvmfCreateSubsystemParams, NvmfListenAddress, NvmfNamespaceParams, NvmfTransportType } from '../rpc-types.js';
import type { BdevTable, SimBdev } from './bdev-table.js';
import { errnoError, nvmfInvalidParameters, SimRpcError } from './rpc-error.js';

export const MAX_NAMESPACES_DEFAULT = 32;
export const CNTLID_MIN = 1;
export const CNTLID_MAX = 65519;
export const SERIAL_NUMBER_DEFAULT = '0'.repeat(20);
export const MODEL_NUMBER_DEFAULT = 'SPDK bdev Controller';
export const TRADDR_BYTES_MAX = 256;
export const TRSVCID_BYTES_MAX = 32;
/** Subsystems at most (SPDK's default max_subsystems is 1024). */
export const SUBSYSTEMS_MAX = 1024;
/** How long a subsystem spends "being destroyed" (SPDK stops it asynchronously). */
const SUBSYSTEM_DESTROY_MS = 2;

/**
 * Transport defaults as nvmf_get_transports reports them, in its key order (RPC.md §2.5 gives RDMA's;
 * TCP's by analogy): common head, transport-specific middle, common tail.
 */
function transportDefaults(specific: Readonly<Record<string, unknown>>, dataWrPoolSize: number): Readonly<Record<string, unknown>> {
  return {
    max_queue_depth: 128,
    max_io_qpairs_per_ctrlr: 127,
    in_capsule_data_size: 4096,
    max_io_size: 131072,
    max_aq_depth: 128,
    iobuf_small_cache_size: 128,
    iobuf_large_cache_size: 16,
    dif_insert_or_strip: false,
    zcopy: false,
    ...specific,
    abort_timeout_sec: 1,
    ack_timeout: 0,
    data_wr_pool_size: dataWrPoolSize,
    disable_command_passthru: false,
    kas: 100,
    min_kato: 10000,
  };
}

const TRANSPORT_DEFAULTS: Readonly<Record<NvmfTransportType, Readonly<Record<string, unknown>>>> = {
  RDMA: transportDefaults({ max_srq_depth: 4096, no_srq: false, acceptor_backlog: 100, no_wr_batching: false }, 4095),
  TCP: transportDefaults({ io_unit_size: 131072, num_shared_buffers: 511, c2h_success: true, sock_priority: 0 }, 0),
};

const ADDRESS_FAMILIES: ReadonlyMap<string, string> = new Map([
  ['ipv4', 'IPv4'],
  ['ipv6', 'IPv6'],
  ['ib', 'IB'],
  ['fc', 'FC'],
]);

export interface ListenAddress {
  readonly trtype: NvmfTransportType;
  readonly adrfam: string;
  readonly traddr: string;
  readonly trsvcid: string;
}

interface Namespace {
  readonly nsid: number;
  readonly bdev: SimBdev;
  readonly nguid: string;
  readonly uuid: string;
  readonly eui64?: string;
}

interface Subsystem {
  readonly nqn: string;
  readonly discovery: boolean;
  readonly serialNumber: string;
  readonly modelNumber: string;
  allowAnyHost: boolean;
  readonly maxNamespaces: number;
  readonly minCntlid: number;
  readonly maxCntlid: number;
  readonly passthrough: boolean;
  readonly dmrsl: number;
  readonly wzsl: number;
  readonly hosts: string[];
  readonly listeners: ListenAddress[];
  readonly namespaces: Map<number, Namespace>;
  destroying: boolean;
}

export interface NvmfTargetOptions {
  /** False: no RDMA device, so creating the RDMA transport fails (RPC.md §3.8). Default true. */
  readonly rdmaDevice?: boolean;
  /** Addresses a listener may bind; default any IPv4/IPv6 literal of the listener's family. */
  readonly bindableAddresses?: readonly string[];
}

export class NvmfTarget {
  private readonly transports = new Map<NvmfTransportType, Record<string, unknown>>();
  private readonly subsystems = new Map<string, Subsystem>();

  constructor(
    private readonly bdevs: BdevTable,
    private readonly options: NvmfTargetOptions = {},
  ) {
    this.subsystems.set(DISCOVERY_NQN, newSubsystem({ nqn: DISCOVERY_NQN, allow_any_host: true }, true));
    bdevs.onRemove((bdev) => this.hotRemove(bdev));
  }

  // ------------------------------------------------------------ transports

  createTransport(trtype: string, options: Readonly<Record<string, unknown>>): void {
    const type = transportType(trtype);
    if (type === undefined) throw new SimRpcError(-32602, `Invalid transport type '${trtype}'`);
    if (this.transports.has(type)) throw new SimRpcError(-32603, `Transport type '${trtype}' already exists`);
    if (type === 'RDMA' && this.options.rdmaDevice === false) throw new SimRpcError(-32603, 'Failed to create transport.');
    const known = Object.entries(options).filter(([key]) => key in TRANSPORT_DEFAULTS[type] || key === 'num_cqe');
    this.transports.set(type, { trtype: type, ...TRANSPORT_DEFAULTS[type], ...Object.fromEntries(known) });
  }

  /** All transports, or the one of `trtype` (E(-19) when not created). */
  listTransports(trtype: string | undefined): Record<string, unknown>[] {
    const render = (transport: Record<string, unknown>): Record<string, unknown> => {
      const { num_cqe: numCqe, ...rest } = transport;
      return rest.no_srq === true ? { ...rest, num_cqe: numCqe ?? 4096 } : rest;
    };
    if (trtype === undefined) return [...this.transports.values()].map(render);
    const type = transportType(trtype);
    const transport = type === undefined ? undefined : this.transports.get(type);
    if (transport === undefined) throw errnoError(ERRNO.ENODEV);
    return [render(transport)];
  }

  // ------------------------------------------------------------ subsystems

  createSubsystem(request: NvmfCreateSubsystemParams): void {
    if (!isValidNqn(request.nqn) || this.subsystems.has(request.nqn) || this.subsystems.size > SUBSYSTEMS_MAX) {
      throw new SimRpcError(-32603, `Unable to create subsystem ${request.nqn}`);
    }
    const serial = request.serial_number ?? SERIAL_NUMBER_DEFAULT;
    const model = request.model_number ?? MODEL_NUMBER_DEFAULT;
    if (!isValidPrintableField(serial, SERIAL_NUMBER_BYTES_MAX) || !isValidPrintableField(model, MODEL_NUMBER_BYTES_MAX)) throw nvmfInvalidParameters();
    const minCntlid = request.min_cntlid ?? CNTLID_MIN;
    const maxCntlid = request.max_cntlid ?? CNTLID_MAX;
    if (minCntlid < CNTLID_MIN || maxCntlid > CNTLID_MAX || minCntlid > maxCntlid) {
      throw new SimRpcError(-32602, `Invalid cntlid range [${minCntlid}-${maxCntlid}]`);
    }
    this.subsystems.set(request.nqn, newSubsystem(request, false));
  }

  /** Disconnects hosts, drops listeners, releases namespace claims; completes asynchronously. */
  async deleteSubsystem(nqn: string): Promise<void> {
    const subsystem = this.subsystem(nqn);
    if (subsystem.discovery) throw nvmfInvalidParameters();
    if (subsystem.destroying) throw new SimRpcError(-32603, 'Subsystem is already being destroyed.');
    subsystem.destroying = true;
    for (const namespace of subsystem.namespaces.values()) this.bdevs.release(namespace.bdev, holderOf(subsystem));
    await sleep(SUBSYSTEM_DESTROY_MS);
    this.subsystems.delete(nqn);
  }

  /** Subsystems sorted by NQN in byte order, or the one named. */
  listSubsystems(nqn: string | undefined): Record<string, unknown>[] {
    const chosen = nqn === undefined ? [...this.subsystems.values()] : [this.subsystem(nqn)];
    return chosen.sort((a, b) => Buffer.compare(Buffer.from(a.nqn), Buffer.from(b.nqn))).map(renderSubsystem);
  }

  addHost(nqn: string, host: string): void {
    const subsystem = this.subsystem(nqn);
    if (!isValidNqn(host) || subsystem.hosts.includes(host)) throw new SimRpcError(-32603, 'Internal error');
    subsystem.hosts.push(host);
  }

  allowAnyHost(nqn: string, allow: boolean): void {
    this.subsystem(nqn).allowAnyHost = allow;
  }

  // ------------------------------------------------------------ listeners (§3.8)

  addListener(nqn: string, input: NvmfListenAddress): void {
    const subsystem = this.subsystem(nqn === 'discovery' ? DISCOVERY_NQN : nqn);
    const address = this.listenAddress(input);
    if (!this.isBindable(address) || subsystem.listeners.some((listener) => sameListener(listener, address))) throw nvmfInvalidParameters();
    subsystem.listeners.push(address);
  }

  removeListener(nqn: string, input: NvmfListenAddress): void {
    const subsystem = this.subsystem(nqn === 'discovery' ? DISCOVERY_NQN : nqn);
    const address = this.listenAddress(input);
    const index = subsystem.listeners.findIndex((listener) => sameListener(listener, address));
    if (index < 0) throw nvmfInvalidParameters();
    subsystem.listeners.splice(index, 1);
  }

  /** Normalizes a listen_address; Invalid parameters for an unknown/uncreated transport or bad fields. */
  private listenAddress(input: NvmfListenAddress): ListenAddress {
    const trtype = transportType(input.trtype);
    const adrfam = ADDRESS_FAMILIES.get((input.adrfam ?? 'ipv4').toLowerCase());
    const { traddr, trsvcid } = input;
    if (trtype === undefined || !this.transports.has(trtype) || adrfam === undefined || trsvcid === undefined) throw nvmfInvalidParameters();
    if (Buffer.byteLength(traddr) > TRADDR_BYTES_MAX || Buffer.byteLength(trsvcid) > TRSVCID_BYTES_MAX) throw nvmfInvalidParameters();
    return { trtype, adrfam, traddr, trsvcid };
  }

  private isBindable(address: ListenAddress): boolean {
    if (this.options.bindableAddresses !== undefined) return this.options.bindableAddresses.includes(address.traddr);
    const family = isIP(address.traddr);
    const port = Number(address.trsvcid);
    const portValid = /^\d+$/.test(address.trsvcid) && port > 0 && port <= 65535;
    return portValid && ((family === 4 && address.adrfam === 'IPv4') || (family === 6 && address.adrfam === 'IPv6'));
  }

  // ------------------------------------------------------------ namespaces

  /** Adds a namespace, claiming the bdev exclusive_write; returns its NSID. */
  addNamespace(nqn: string, input: NvmfNamespaceParams): number {
    const subsystem = this.subsystem(nqn);
    if (input.nguid !== undefined && !/^[0-9a-fA-F]{32}$/.test(input.nguid.replaceAll('-', ''))) throw new SimRpcError(-32602, 'Invalid nguid');
    if (input.eui64 !== undefined && !/^[0-9a-fA-F]{16}$/.test(input.eui64.replaceAll('-', ''))) throw new SimRpcError(-32602, 'Invalid eui64');
    if (input.uuid !== undefined && !/^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$/.test(input.uuid)) throw nvmfInvalidParameters();
    const bdev = this.bdevs.find(input.bdev_name);
    const nsid = input.nsid === undefined || input.nsid === 0 ? lowestFreeNsid(subsystem) : input.nsid;
    if (subsystem.discovery || bdev === undefined || nsid === undefined || nsid > subsystem.maxNamespaces || subsystem.namespaces.has(nsid)) throw nvmfInvalidParameters();
    if (!this.bdevs.claim(bdev, { type: 'exclusive_write', holder: holderOf(subsystem) })) throw nvmfInvalidParameters();
    const uuid = (input.uuid ?? bdev.uuid).toLowerCase();
    const nguid = (input.nguid?.replaceAll('-', '') ?? bdev.uuid.replaceAll('-', '')).toUpperCase();
    const eui64 = input.eui64?.replaceAll('-', '').toUpperCase();
    subsystem.namespaces.set(nsid, { nsid, bdev, nguid, uuid, ...(eui64 === undefined ? {} : { eui64 }) });
    return nsid;
  }

  removeNamespace(nqn: string, nsid: number): void {
    const subsystem = this.subsystem(nqn);
    const namespace = subsystem.namespaces.get(nsid);
    if (namespace === undefined) throw nvmfInvalidParameters();
    subsystem.namespaces.delete(nsid);
    this.bdevs.release(namespace.bdev, holderOf(subsystem));
  }

  /** A removed bdev silently leaves every subsystem it was a namespace of (RPC.md §3.6). */
  private hotRemove(bdev: SimBdev): void {
    for (const subsystem of this.subsystems.values()) {
      for (const [nsid, namespace] of subsystem.namespaces) if (namespace.bdev === bdev) subsystem.namespaces.delete(nsid);
    }
  }

  private subsystem(nqn: string): Subsystem {
    const subsystem = this.subsystems.get(nqn);
    if (subsystem === undefined) throw new SimRpcError(-32602, `Subsystem with NQN '${nqn}' not found`);
    return subsystem;
  }
}

function newSubsystem(request: NvmfCreateSubsystemParams, discovery: boolean): Subsystem {
  return {
    nqn: request.nqn,
    discovery,
    serialNumber: request.serial_number ?? SERIAL_NUMBER_DEFAULT,
    modelNumber: request.model_number ?? MODEL_NUMBER_DEFAULT,
    allowAnyHost: request.allow_any_host ?? false,
    maxNamespaces: request.max_namespaces === undefined || request.max_namespaces === 0 ? MAX_NAMESPACES_DEFAULT : request.max_namespaces,
    minCntlid: request.min_cntlid ?? CNTLID_MIN,
    maxCntlid: request.max_cntlid ?? CNTLID_MAX,
    passthrough: request.passthrough ?? false,
    dmrsl: request.dmrsl ?? 0,
    wzsl: request.wzsl ?? 0,
    hosts: [],
    listeners: [],
    namespaces: new Map(),
    destroying: false,
  };
}

/** The nvmf_get_subsystems entry, in SPDK's key order (RPC.md §2.5). */
function renderSubsystem(subsystem: Subsystem): Record<string, unknown> {
  const common = {
    nqn: subsystem.nqn,
    subtype: subsystem.discovery ? 'Discovery' : 'NVMe',
    listen_addresses: subsystem.listeners.map((listener) => ({ ...listener })),
    allow_any_host: subsystem.allowAnyHost,
    hosts: subsystem.hosts.map((nqn) => ({ nqn })),
  };
  if (subsystem.discovery) return common;
  return {
    ...common,
    serial_number: subsystem.serialNumber,
    model_number: subsystem.modelNumber,
    max_namespaces: subsystem.maxNamespaces,
    passthrough: subsystem.passthrough,
    min_cntlid: subsystem.minCntlid,
    max_cntlid: subsystem.maxCntlid,
    dmrsl: subsystem.dmrsl,
    wzsl: subsystem.wzsl,
    namespaces: [...subsystem.namespaces.values()]
      .sort((a, b) => a.nsid - b.nsid)
      .map((namespace) => ({
        nsid: namespace.nsid,
        bdev_name: namespace.bdev.name,
        name: namespace.bdev.name,
        nguid: namespace.nguid,
        ...(namespace.eui64 === undefined ? {} : { eui64: namespace.eui64 }),
        uuid: namespace.uuid,
      })),
  };
}

function transportType(trtype: string): NvmfTransportType | undefined {
  const upper = trtype.toUpperCase();
  return upper === 'RDMA' || upper === 'TCP' ? upper : undefined;
}

function sameListener(a: ListenAddress, b: ListenAddress): boolean {
  return a.trtype === b.trtype && a.adrfam === b.adrfam && a.traddr === b.traddr && a.trsvcid === b.trsvcid;
}

function lowestFreeNsid(subsystem: Subsystem): number | undefined {
  for (let nsid = 1; nsid <= subsystem.maxNamespaces; nsid++) if (!subsystem.namespaces.has(nsid)) return nsid;
  return undefined;
}

function holderOf(subsystem: Subsystem): string {
  return `nvmf:${subsystem.nqn}`;
}
