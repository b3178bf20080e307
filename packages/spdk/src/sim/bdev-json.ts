// bdev_get_bdevs entries (RPC.md §3.4) and bdev_lvol_get_lvols / get_lvstores entries (§2.4), in
// SPDK's key order.
import type { LvolDriverInfo } from '../rpc-types.js';
import type { SimBdev } from './bdev-table.js';
import type { LvolManager } from './lvols.js';
import type { LvolRecord, LvstoreRecord } from './state-file.js';

/** supported_io_types keys in SPDK's order (§3.4). */
const IO_TYPES = [
  'read',
  'write',
  'unmap',
  'flush',
  'reset',
  'nvme_admin',
  'nvme_io',
  'nvme_io_md',
  'write_zeroes',
  'zcopy',
  'get_zone_info',
  'zone_management',
  'zone_append',
  'compare',
  'compare_and_write',
  'abort',
  'seek_hole',
  'seek_data',
  'copy',
  'nvme_iov_md',
  'nvme_nssr',
  'write_uncorrectable',
] as const;

type IoType = (typeof IO_TYPES)[number];

/** The io types each kind of bdev supports when writable; writes (and unmap, write_zeroes) drop when not. */
const SUPPORTED: Readonly<Record<SimBdev['backing']['kind'], readonly IoType[]>> = {
  lvol: ['read', 'write', 'unmap', 'reset', 'write_zeroes', 'seek_hole', 'seek_data'],
  nvme: ['read', 'write', 'unmap', 'flush', 'reset', 'nvme_admin', 'nvme_io', 'write_zeroes', 'compare', 'compare_and_write', 'abort'],
  aio: ['read', 'write', 'unmap', 'flush', 'reset', 'write_zeroes'],
  malloc: ['read', 'write', 'unmap', 'flush', 'reset', 'write_zeroes', 'zcopy', 'abort', 'copy'],
};
const WRITE_TYPES: ReadonlySet<IoType> = new Set(['write', 'unmap', 'write_zeroes', 'copy', 'zcopy', 'compare_and_write']);

function supportedIoTypes(bdev: SimBdev): Record<IoType, boolean> {
  const supported = new Set(SUPPORTED[bdev.backing.kind].filter((type) => bdev.writable || !WRITE_TYPES.has(type)));
  return Object.fromEntries(IO_TYPES.map((type) => [type, supported.has(type)])) as Record<IoType, boolean>;
}

export function renderBdev(bdev: SimBdev, lvols: LvolManager): Record<string, unknown> {
  return {
    name: bdev.name,
    aliases: [...bdev.aliases],
    product_name: bdev.productName,
    block_size: bdev.blockSize,
    num_blocks: bdev.numBlocks,
    preferred_write_alignment: 0,
    preferred_write_granularity: 0,
    optimal_write_size: 0,
    preferred_unmap_alignment: 0,
    preferred_unmap_granularity: 0,
    uuid: bdev.uuid,
    assigned_rate_limits: { rw_ios_per_sec: 0, rw_mbytes_per_sec: 0, r_mbytes_per_sec: 0, w_mbytes_per_sec: 0 },
    claimed: bdev.claim !== undefined,
    ...(bdev.claim === undefined ? {} : { claim_type: bdev.claim.type }),
    zoned: false,
    supported_io_types: supportedIoTypes(bdev),
    driver_specific: driverSpecific(bdev, lvols),
  };
}

function driverSpecific(bdev: SimBdev, lvols: LvolManager): Record<string, unknown> {
  const { backing } = bdev;
  switch (backing.kind) {
    case 'lvol':
      return { lvol: lvolDriverInfo(bdev, lvols) };
    case 'aio':
      return {
        aio: { filename: backing.filename, block_size_override: backing.blockSizeOverride, readonly: backing.readonly, fallocate: backing.fallocate, nowait: backing.nowait },
      };
    case 'nvme':
      return {
        nvme: [
          {
            pci_address: backing.traddr,
            trid: { trtype: 'PCIe', traddr: backing.traddr },
            ctrlr_data: { cntlid: 0, vendor_id: '0x1b36', model_number: 'SPDK sim NVMe', firmware_revision: '1.0', oacs: { security: 0, format: 1, firmware: 0, ns_manage: 0 } },
            vs: { nvme_version: '1.4' },
            ns_data: { id: backing.nsid, can_share: false },
          },
        ],
        mp_policy: 'active_passive',
      };
    case 'malloc':
      return {};
  }
}

function lvolDriverInfo(bdev: SimBdev, lvols: LvolManager): LvolDriverInfo {
  const { lvol, lvstore } = lvols.lookup(bdev.name);
  const parent = lvols.parentOf(lvstore, lvol);
  const clones = lvols.clonesOf(lvstore, lvol);
  return {
    lvol_store_uuid: lvstore.uuid,
    base_bdev: lvols.baseOf(lvstore).name,
    thin_provision: lvol.thin,
    num_allocated_clusters: lvol.allocatedClusters,
    snapshot: lvols.isSnapshot(lvstore, lvol),
    clone: parent !== undefined,
    ...(parent === undefined ? {} : { base_snapshot: parent.name }),
    ...(clones.length === 0 ? {} : { clones: clones.map((clone) => clone.name) }),
    esnap_clone: false,
  };
}

/** bdev_lvol_get_lvols entry (§2.4). */
export function renderLvol(lvol: LvolRecord, lvstore: LvstoreRecord, lvols: LvolManager): Record<string, unknown> {
  return {
    alias: `${lvstore.name}/${lvol.name}`,
    uuid: lvol.uuid,
    name: lvol.name,
    is_thin_provisioned: lvol.thin,
    is_snapshot: lvols.isSnapshot(lvstore, lvol),
    is_clone: lvol.parentUuid !== undefined,
    is_esnap_clone: false,
    is_degraded: false,
    num_allocated_clusters: lvol.allocatedClusters,
    lvs: { name: lvstore.name, uuid: lvstore.uuid },
  };
}

/** bdev_lvol_get_lvstores entry (§2.4). */
export function renderLvstore(lvstore: LvstoreRecord, lvols: LvolManager): Record<string, unknown> {
  return {
    uuid: lvstore.uuid,
    name: lvstore.name,
    base_bdev: lvols.baseOf(lvstore).name,
    total_data_clusters: lvstore.totalDataClusters,
    free_clusters: lvols.freeClusters(lvstore),
    block_size: lvstore.blockSize,
    cluster_size: lvstore.clusterBytes,
    max_growable_size: lvstore.maxGrowableSizeBytes,
  };
}
