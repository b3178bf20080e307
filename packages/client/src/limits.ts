// Every bound the client keeps, named once. Options are checked against these up front, so a bad
// configuration fails at construction with an ArgumentError instead of misbehaving under load.

/** DESIGN §2: a block is exactly this many bytes. */
export const BLOCK_SIZE = 4096;
/** DESIGN §2: block ids are 1–255 bytes. */
export const BLOCK_ID_BYTES_MAX = 255;

/** Seed nodes a client may be given. */
export const SEED_NODES_MAX = 256;
/** Connection pools the client keeps open at once (one per node origin). */
export const POOLS_MAX = 1024;
/** Upper bound on `connectionsPerNode`. */
export const CONNECTIONS_PER_NODE_MAX = 1024;
/** Upper bound on `retries` (attempts after the first). */
export const RETRIES_MAX = 10;
/** Upper bound on any time option, in milliseconds (one hour). */
export const DURATION_MS_MAX = 3_600_000;
/** Upper bound on `inFlightMax`. */
export const IN_FLIGHT_MAX = 1 << 20;

/** An error answer's JSON body is read up to this size; the rest is discarded. */
export const ERROR_BODY_BYTES_MAX = 64 * 1024;
/** A `GET /cluster/ring` answer is read up to this size (2^20 tokens at ~40 bytes each fit). */
export const RING_ANSWER_BYTES_MAX = 64 * 1024 * 1024;
/** Nodes asked, one after another, in a single ring refresh before it gives up. */
export const RING_SOURCES_PER_REFRESH_MAX = 3;

/** Idle keep-alive of a pooled connection: shorter than the node's (10 s), so the client closes first. */
export const KEEP_ALIVE_TIMEOUT_MS = 4_000;
/** Upper bound on a keep-alive the server proposes. */
export const KEEP_ALIVE_MAX_TIMEOUT_MS = 8_000;

export const DEFAULTS = Object.freeze({
  consistency: 'quorum' as const,
  connectionsPerNode: 16,
  /** Budget of a whole call, retries and backoff included. */
  timeoutMs: 15_000,
  /** Budget of one attempt; above the node's replica timeout (2 s) so a quorum can still form. */
  attemptTimeoutMs: 5_000,
  connectTimeoutMs: 2_000,
  retries: 2,
  backoffBaseMs: 25,
  backoffMaxMs: 1_000,
  /** How long a node that refused a connection is skipped when choosing where to send. */
  nodeDownMs: 1_000,
  /** Ring-aware mode: at most one ring refresh per this interval, whatever triggers it. */
  ringRefreshIntervalMinMs: 1_000,
  /** Ring-aware mode: a ring older than this is refreshed in the background on the next call. */
  ringMaxAgeMs: 30_000,
  inFlightMax: 65_536,
});
