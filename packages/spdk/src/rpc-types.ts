// Request and response types of the SPDK methods ringblock uses, exactly as RPC.md gives them (keys in
// SPDK's snake_case). u64 counters that can exceed 2^53 are `U64` (a bigint above 2^53, else number).
// Optional members: omit rather than send undefined.

/** A JSON integer that may exceed 2^53 (kept exact as bigint then). */
export type U64 = number | bigint;

// ---------------------------------------------------------------- framework (RPC.md §1.6)

export interface SpdkVersion {
  /** e.g. "SPDK v26.09-pre git sha1 3230130e6" */
  readonly version: string;
  readonly fields: { readonly major: number; readonly minor: number; readonly patch: number; readonly suffix: string; readonly commit?: string };
}

export interface RpcGetMethodsParams {
  readonly current?: boolean;
  readonly include_aliases?: boolean;
}

// ---------------------------------------------------------------- generic bdev (RPC.md §2.1, §3.4)

export interface BdevGetBdevsParams {
  /** Name, alias or UUID. */
  readonly name?: string;
  /** Wait this long for the bdev to appear; 0 = not at all. */
  readonly timeout?: number;
}

export type ClaimType = 'exclusive_write' | 'read_many_write_one' | 'read_many_write_none' | 'read_many_write_shared';

/** driver_specific.lvol of an lvol bdev, in SPDK's key order (RPC.md §3.4). */
export interface LvolDriverInfo {
  readonly lvol_store_uuid: string;
  readonly base_bdev: string;
  readonly thin_provision: boolean;
  readonly num_allocated_clusters: number;
  readonly snapshot: boolean;
  readonly clone: boolean;
  /** Name of the snapshot this lvol is a clone of. */
  readonly base_snapshot?: string;
  /** Names of the clones of this snapshot; absent when none. */
  readonly clones?: readonly string[];
  readonly esnap_clone: boolean;
  readonly external_snapshot_name?: string;
}

/** One bdev_get_bdevs entry (RPC.md §3.4). Tolerate extra or missing optional keys. */
export interface Bdev {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly product_name: string;
  readonly block_size: number;
  readonly num_blocks: number;
  readonly preferred_write_alignment?: number;
  readonly preferred_write_granularity?: number;
  readonly optimal_write_size?: number;
  readonly preferred_unmap_alignment?: number;
  readonly preferred_unmap_granularity?: number;
  readonly uuid?: string;
  readonly numa_id?: number;
  readonly assigned_rate_limits: Readonly<Record<'rw_ios_per_sec' | 'rw_mbytes_per_sec' | 'r_mbytes_per_sec' | 'w_mbytes_per_sec', number>>;
  readonly claimed: boolean;
  /** Present only while claimed (RPC.md §3.5). */
  readonly claim_type?: ClaimType;
  readonly zoned: boolean;
  readonly supported_io_types: Readonly<Record<string, boolean>>;
  readonly driver_specific: { readonly lvol?: LvolDriverInfo; readonly [driver: string]: unknown };
}

export type IostatResetMode = 'all' | 'maxmin' | 'error' | 'none';

/** [ver] `names` since v26.01; older targets took `name: str` (removed in v26.05). */
export interface BdevGetIostatParams {
  /** At most 1024 names. */
  readonly names?: readonly string[];
  /** Needs exactly one name. */
  readonly per_channel?: boolean;
  readonly reset_mode?: IostatResetMode;
}

export interface BdevIostat {
  readonly name: string;
  readonly bytes_read: U64;
  readonly num_read_ops: U64;
  readonly bytes_written: U64;
  readonly num_write_ops: U64;
  readonly bytes_unmapped: U64;
  readonly num_unmap_ops: U64;
  readonly bytes_copied: U64;
  readonly num_copy_ops: U64;
  readonly read_latency_ticks: U64;
  readonly max_read_latency_ticks: U64;
  readonly min_read_latency_ticks: U64;
  readonly write_latency_ticks: U64;
  readonly max_write_latency_ticks: U64;
  readonly min_write_latency_ticks: U64;
  readonly unmap_latency_ticks: U64;
  readonly max_unmap_latency_ticks: U64;
  readonly min_unmap_latency_ticks: U64;
  readonly copy_latency_ticks: U64;
  readonly max_copy_latency_ticks: U64;
  readonly min_copy_latency_ticks: U64;
  readonly io_error: Readonly<Record<string, U64>>;
  readonly queue_depth_polling_period?: U64;
  readonly queue_depth?: U64;
  readonly io_time?: U64;
  readonly weighted_io_time?: U64;
}

export interface BdevIostatReply {
  readonly tick_rate: U64;
  readonly ticks: U64;
  readonly bdevs: readonly BdevIostat[];
}

// ---------------------------------------------------------------- AIO and malloc (RPC.md §2.2)

export interface BdevAioCreateParams {
  readonly name: string;
  readonly filename: string;
  /** Mandatory for regular files: ≥512, a power of 2, the file size a multiple of it. */
  readonly block_size?: number;
  readonly readonly?: boolean;
  readonly fallocate?: boolean;
  readonly uuid?: string;
  readonly nowait?: boolean;
}

export interface BdevMallocCreateParams {
  /** A multiple of 512. */
  readonly block_size: number;
  readonly num_blocks: number;
  /** Default "Malloc<N>". */
  readonly name?: string;
  readonly uuid?: string;
}

// ---------------------------------------------------------------- NVMe bdev (RPC.md §2.3)

export type NvmeTransportType = 'PCIe' | 'RDMA' | 'TCP';
export type AddressFamily = 'IPv4' | 'IPv6' | 'IB' | 'FC';
export type NvmeMultipathMode = 'disable' | 'failover' | 'multipath';

export interface BdevNvmeAttachControllerParams {
  /** Name prefix: bdevs are "<name>n<nsid>". */
  readonly name: string;
  /** PCIe | RDMA | TCP, any case. */
  readonly trtype: string;
  /** PCI BDF (0000:04:00.0) or IP address. */
  readonly traddr: string;
  /** ipv4 | ipv6 | ib | fc, any case. */
  readonly adrfam?: string;
  readonly trsvcid?: string;
  readonly subnqn?: string;
  readonly hostnqn?: string;
  readonly hostaddr?: string;
  readonly hostsvcid?: string;
  /** Code default `multipath` since v25.05. */
  readonly multipath?: NvmeMultipathMode;
  readonly num_io_queues?: number;
  readonly ctrlr_loss_timeout_sec?: number;
  readonly reconnect_delay_sec?: number;
  readonly fast_io_fail_timeout_sec?: number;
  readonly max_bdevs?: number;
  readonly hdgst?: boolean;
  readonly ddgst?: boolean;
  readonly psk?: string;
  readonly dhchap_key?: string;
}

/** Filters select the paths to detach; none = all. */
export interface BdevNvmeDetachControllerParams {
  readonly name: string;
  readonly trtype?: string;
  readonly traddr?: string;
  readonly adrfam?: string;
  readonly trsvcid?: string;
  readonly subnqn?: string;
  readonly hostaddr?: string;
  readonly hostsvcid?: string;
}

export type NvmeControllerState = 'enabled' | 'disabled' | 'resetting' | 'reconnect_is_delayed' | 'failed' | 'deleting';

/** A transport id; empty fields are omitted. */
export interface NvmeTrid {
  readonly trtype: string;
  readonly adrfam?: string;
  readonly traddr: string;
  readonly trsvcid?: string;
  readonly subnqn?: string;
}

export interface NvmeControllerPath {
  readonly state: NvmeControllerState;
  readonly trid: NvmeTrid;
  readonly cntlid: number;
  readonly alternate_trids?: readonly NvmeTrid[];
  readonly host: { readonly nqn: string; readonly addr: string; readonly svcid: string; readonly no_shn_notification?: boolean };
  readonly numa_id?: number;
}

export interface NvmeController {
  readonly name: string;
  readonly ctrlrs: readonly NvmeControllerPath[];
}

/** bdev_nvme_get_controller_health_info (RPC.md §2.3). 128-bit counters are bare JSON integers. */
export interface NvmeControllerHealth {
  readonly model_number: string;
  readonly serial_number: string;
  readonly firmware_revision: string;
  readonly traddr: string;
  readonly critical_warning: number;
  readonly temperature_celsius: number;
  readonly available_spare_percentage: number;
  readonly available_spare_threshold_percentage: number;
  readonly percentage_used: number;
  readonly data_units_read: U64;
  readonly data_units_written: U64;
  readonly host_read_commands: U64;
  readonly host_write_commands: U64;
  readonly controller_busy_time: U64;
  readonly power_cycles: U64;
  readonly power_on_hours: U64;
  readonly unsafe_shutdowns: U64;
  readonly media_errors: U64;
  readonly num_err_log_entries: U64;
  readonly warning_temperature_time_minutes: number;
  readonly critical_composite_temperature_time_minutes: number;
  /**
   * SPDK repeats the key `temperature_sensor_celsius` once per non-zero sensor; the client collects
   * the repeats into this array (in order; empty when there is none).
   */
  readonly temperature_sensor_celsius: readonly number[];
}

// ---------------------------------------------------------------- logical volumes (RPC.md §2.4)

/** lvstore selector: `uuid` xor `lvs_name`. */
export type LvstoreSelector = { readonly uuid: string; readonly lvs_name?: never } | { readonly lvs_name: string; readonly uuid?: never };

export type LvstoreClearMethod = 'unmap' | 'write_zeroes' | 'none';
export type LvolClearMethod = 'default' | 'none' | 'unmap' | 'write_zeroes';

export interface BdevLvolCreateLvstoreParams {
  readonly bdev_name: string;
  /** 1–63 characters, globally unique. */
  readonly lvs_name: string;
  /** Default 4194304; ≥4096 and a multiple of the block size. */
  readonly cluster_sz?: number;
  readonly clear_method?: LvstoreClearMethod;
  readonly num_md_pages_per_cluster_ratio?: number;
  readonly md_page_size?: number;
}

export interface Lvstore {
  readonly uuid: string;
  readonly name: string;
  readonly base_bdev: string;
  readonly total_data_clusters: number;
  readonly free_clusters: number;
  readonly block_size: number;
  readonly cluster_size: number;
  readonly max_growable_size: number;
}

export type BdevLvolCreateParams = {
  /** 1–63 characters, unique in the lvstore (snapshots and clones included). */
  readonly lvol_name: string;
  /** [ver] since v23.05; older targets took `size` in bytes. Rounded up to whole clusters. */
  readonly size_in_mib: number;
  readonly thin_provision?: boolean;
  readonly clear_method?: LvolClearMethod;
} & LvstoreSelector;

export interface BdevLvolGetLvolsParams {
  readonly lvs_uuid?: string;
  readonly lvs_name?: string;
}

/** bdev_lvol_get_lvols entry; no size field (use bdev_get_bdevs). */
export interface Lvol {
  /** "<lvs_name>/<lvol_name>" */
  readonly alias: string;
  readonly uuid: string;
  readonly name: string;
  readonly is_thin_provisioned: boolean;
  readonly is_snapshot: boolean;
  readonly is_clone: boolean;
  readonly is_esnap_clone: boolean;
  readonly is_degraded: boolean;
  readonly num_allocated_clusters: number;
  readonly lvs: { readonly name: string; readonly uuid: string };
}

export interface BdevLvolResizeParams {
  /** UUID or "lvs/lvol". */
  readonly name: string;
  readonly size_in_mib: number;
}

export interface BdevLvolSnapshotParams {
  /** UUID or alias of the source lvol. */
  readonly lvol_name: string;
  readonly snapshot_name: string;
}

export interface BdevLvolCloneParams {
  /** A snapshot or any read-only lvol. */
  readonly snapshot_name: string;
  readonly clone_name: string;
}

// ---------------------------------------------------------------- NVMe-oF target (RPC.md §2.5)

export type NvmfTransportType = 'RDMA' | 'TCP';

/** Relaxed decoding: unknown keys are ignored by SPDK. */
export interface NvmfCreateTransportParams {
  /** RDMA | TCP, any case. */
  readonly trtype: string;
  readonly max_queue_depth?: number;
  readonly max_io_qpairs_per_ctrlr?: number;
  readonly in_capsule_data_size?: number;
  readonly max_io_size?: number;
  readonly max_aq_depth?: number;
  readonly num_cqe?: number;
  readonly max_srq_depth?: number;
  readonly no_srq?: boolean;
  readonly acceptor_backlog?: number;
  readonly abort_timeout_sec?: number;
  readonly no_wr_batching?: boolean;
  readonly zcopy?: boolean;
  readonly kas?: number;
  readonly min_kato?: number;
  readonly [option: string]: unknown;
}

/** nvmf_get_transports entry; the doc's `type` key is really `trtype` (RPC.md §6). */
export interface NvmfTransport {
  readonly trtype: NvmfTransportType;
  readonly max_queue_depth: number;
  readonly max_io_qpairs_per_ctrlr: number;
  readonly in_capsule_data_size: number;
  readonly max_io_size: number;
  readonly max_aq_depth: number;
  readonly num_cqe?: number;
  readonly [option: string]: unknown;
}

export interface NvmfCreateSubsystemParams {
  readonly nqn: string;
  /** ≤20 printable ASCII; default 20 × "0". */
  readonly serial_number?: string;
  /** ≤40; default "SPDK bdev Controller". */
  readonly model_number?: string;
  readonly allow_any_host?: boolean;
  /** 0 → 32. */
  readonly max_namespaces?: number;
  readonly min_cntlid?: number;
  readonly max_cntlid?: number;
  readonly ana_reporting?: boolean;
  readonly dmrsl?: number;
  readonly wzsl?: number;
  readonly passthrough?: boolean;
  readonly enable_nssr?: boolean;
  readonly admin_label?: string;
}

export interface NvmfListenAddress {
  /** RDMA | TCP, any case on input; "RDMA" / "TCP" on output. */
  readonly trtype: string;
  /** IPv4 default for RDMA/TCP; output "IPv4" | "IPv6" | "IB" | "FC". */
  readonly adrfam?: string;
  readonly traddr: string;
  /** A string; needed for RDMA/TCP (4420 by convention). */
  readonly trsvcid?: string;
}

export interface NvmfNamespace {
  readonly nsid: number;
  /** The canonical bdev name (the lvol UUID), even when added by alias. */
  readonly bdev_name: string;
  /** Legacy copy of bdev_name. */
  readonly name: string;
  /** Upper-case hex, no dashes; defaults to the bdev UUID. */
  readonly nguid?: string;
  readonly eui64?: string;
  /** Lower case; defaults to the bdev UUID. */
  readonly uuid?: string;
  readonly anagrpid?: number;
}

/** nvmf_get_subsystems entry (sorted by NQN). The discovery entry has no SN/MN/namespaces. */
export interface NvmfSubsystem {
  readonly nqn: string;
  readonly subtype: 'Discovery' | 'NVMe';
  readonly listen_addresses: readonly (NvmfListenAddress & { readonly adrfam: string; readonly trsvcid: string })[];
  readonly allow_any_host: boolean;
  readonly hosts: readonly { readonly nqn: string }[];
  readonly serial_number?: string;
  readonly model_number?: string;
  readonly max_namespaces?: number;
  readonly passthrough?: boolean;
  readonly min_cntlid?: number;
  readonly max_cntlid?: number;
  readonly dmrsl?: number;
  readonly wzsl?: number;
  readonly namespaces?: readonly NvmfNamespace[];
}

/** Relaxed decoding (unknown keys ignored). */
export interface NvmfSubsystemAddListenerParams {
  /** A subsystem NQN, or "discovery". */
  readonly nqn: string;
  readonly listen_address: NvmfListenAddress;
  readonly secure_channel?: boolean;
  readonly ana_state?: string;
  readonly sock_impl?: string;
  readonly numa_id?: number;
}

export interface NvmfSubsystemRemoveListenerParams {
  readonly nqn: string;
  readonly listen_address: NvmfListenAddress;
}

export interface NvmfNamespaceParams {
  readonly bdev_name: string;
  /** 0/absent = the lowest free NSID; else 1..max_namespaces. */
  readonly nsid?: number;
  /** 32 hex digits. */
  readonly nguid?: string;
  /** 16 hex digits. */
  readonly eui64?: string;
  readonly uuid?: string;
  readonly ptpl_file?: string;
  readonly anagrpid?: number;
  readonly no_auto_visible?: boolean;
}

export interface NvmfSubsystemAddNsParams {
  readonly nqn: string;
  readonly namespace: NvmfNamespaceParams;
}

export interface NvmfSubsystemRemoveNsParams {
  readonly nqn: string;
  readonly nsid: number;
}

export interface NvmfSubsystemAddHostParams {
  readonly nqn: string;
  /** The host NQN. */
  readonly host: string;
  readonly psk?: string;
  readonly dhchap_key?: string;
  readonly dhchap_ctrlr_key?: string;
}

export interface NvmfSubsystemAllowAnyHostParams {
  readonly nqn: string;
  readonly allow_any_host: boolean;
}
