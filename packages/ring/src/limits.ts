// The numbers that bound a ring. Every input that sizes an array is checked against one of these
// before anything is allocated, so a bad configuration fails with a RingError instead of an
// out-of-memory crash or a silently truncated node index.

/** DESIGN §4: vnodes per node when the cluster config does not say otherwise. */
export const DEFAULT_VNODES = 128;
/** Replicas per block when the cluster config does not say otherwise. */
export const DEFAULT_REPLICATION_FACTOR = 3;

/** Upper bound on vnodes per node; more buys no balance worth the memory. */
export const VNODES_MAX = 4096;
/** Upper bound on the replication factor. */
export const REPLICATION_FACTOR_MAX = 16;
/** Upper bound on nodes: node indexes are stored in a Uint16Array. */
export const NODES_MAX = 0xffff;
/** Upper bound on tokens (nodes × vnodes), which sizes every per-token table. */
export const TOKENS_MAX = 1 << 20;
/** Longest node name, in characters (the names are ASCII, so also in bytes). */
export const NODE_NAME_LENGTH_MAX = 255;
/** Longest zone or address string, in characters. */
export const NODE_LABEL_LENGTH_MAX = 255;

/** Size of the hash space: positions and tokens are unsigned 64-bit integers. */
export const HASH_SPACE_SIZE = 1n << 64n;
/** Largest position or token. */
export const POSITION_MAX = HASH_SPACE_SIZE - 1n;
