// Lvstore capacity, exactly as the blobstore lays out its metadata (RPC.md §3.2). Pure.

export const MD_PAGE_BYTES_DEFAULT = 4096;
export const MD_PAGES_PER_CLUSTER_RATIO_DEFAULT = 100;
export const CLUSTER_BYTES_DEFAULT = 4 * 1024 * 1024;
export const CLUSTER_BYTES_MIN = 4096;

export interface LvstoreGeometryInput {
  readonly baseBytes: number;
  readonly clusterBytes: number;
  readonly mdPageBytes?: number;
  readonly mdPagesPerClusterRatio?: number;
}

export type LvstoreGeometry =
  | { readonly ok: true; readonly totalDataClusters: number; readonly mdClusters: number; readonly maxGrowableSizeBytes: number }
  /** The base is smaller than one cluster (SPDK: ENOSPC) or the metadata fills it (ENOMEM). */
  | { readonly ok: false; readonly errno: 'ENOSPC' | 'ENOMEM' };

/**
 * T = floor(S/C), M = floor(ratio·T/100), mask(n) = ceil((5 + ceil(n/8)) / P),
 * md_pages = 1 + mask(M) + max(mask(M), mask(T)) + mask(M) + M, md_clusters = ceil(md_pages / (C/P)),
 * total_data_clusters = T − md_clusters, max_growable_size = (mask(M)·P − 5)·8·C.
 */
export function lvstoreGeometry(input: LvstoreGeometryInput): LvstoreGeometry {
  const pageBytes = input.mdPageBytes ?? MD_PAGE_BYTES_DEFAULT;
  const ratio = input.mdPagesPerClusterRatio ?? MD_PAGES_PER_CLUSTER_RATIO_DEFAULT;
  const clusters = Math.floor(input.baseBytes / input.clusterBytes);
  if (clusters < 1) return { ok: false, errno: 'ENOSPC' };
  const mdPageClusters = Math.floor((ratio * clusters) / 100);
  const mask = (bits: number): number => Math.ceil((5 + Math.ceil(bits / 8)) / pageBytes);
  const mdPages = 1 + mask(mdPageClusters) + Math.max(mask(mdPageClusters), mask(clusters)) + mask(mdPageClusters) + mdPageClusters;
  const mdClusters = Math.ceil(mdPages / (input.clusterBytes / pageBytes));
  if (mdClusters >= clusters) return { ok: false, errno: 'ENOMEM' };
  return {
    ok: true,
    totalDataClusters: clusters - mdClusters,
    mdClusters,
    maxGrowableSizeBytes: (mask(mdPageClusters) * pageBytes - 5) * 8 * input.clusterBytes,
  };
}

/** Clusters for `sizeMib` MiB, rounded up to whole clusters (RPC.md §3.3). */
export function clustersForMib(sizeMib: number, clusterBytes: number): number {
  return Math.ceil((sizeMib * 1024 * 1024) / clusterBytes);
}
