// Bounds of the SPDK JSON-RPC transport (RPC.md §1.1–1.2), shared by the client and spdk-sim.

/** SPDK's default RPC socket path (RPC.md §1.1; `spdk_tgt -r` changes it). */
export const DEFAULT_SPDK_SOCKET_PATH = '/var/tmp/spdk.sock';

/** A request must fit SPDK's per-connection receive buffer, else the connection is dropped (RPC.md §1.2). */
export const SPDK_REQUEST_BUFFER_BYTES = 256 * 1024;

/** Replies may be up to 32 MiB (RPC.md §1.2); one byte more for the closing newline. */
export const SPDK_REPLY_MAX_BYTES = 32 * 1024 * 1024 + 1;

/** SPDK serves at most this many connections; extra connect()s wait unanswered in the backlog (RPC.md §1.1). */
export const SPDK_CONNECTIONS_MAX = 64;

/** Deepest nesting of arrays/objects our JSON parser accepts (no SPDK request or reply comes close). */
export const JSON_NESTING_MAX = 64;
