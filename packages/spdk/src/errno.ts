// errno numbers and the strerror texts SPDK sends with them (RPC.md §1.4), plus the JSON-RPC codes.

/** Positive errno values that appear (negated) in SPDK error codes. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  ENOMEM: 12,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ETIMEDOUT: 110,
  EALREADY: 114,
} as const;

export type ErrnoName = keyof typeof ERRNO;

/** strerror(errno) as glibc words it, for the errno values SPDK reports (RPC.md §1.4). */
const STRERROR: ReadonlyMap<number, string> = new Map([
  [ERRNO.EPERM, 'Operation not permitted'],
  [ERRNO.ENOENT, 'No such file or directory'],
  [ERRNO.EIO, 'Input/output error'],
  [ERRNO.ENXIO, 'No such device or address'],
  [ERRNO.ENOMEM, 'Cannot allocate memory'],
  [ERRNO.EBUSY, 'Device or resource busy'],
  [ERRNO.EEXIST, 'File exists'],
  [ERRNO.ENODEV, 'No such device'],
  [ERRNO.EINVAL, 'Invalid argument'],
  [ERRNO.ENOSPC, 'No space left on device'],
  [ERRNO.ETIMEDOUT, 'Connection timed out'],
  [ERRNO.EALREADY, 'Operation already in progress'],
]);

const ERRNO_BY_TEXT: ReadonlyMap<string, number> = new Map([...STRERROR].map(([errno, text]) => [text, errno]));

/** strerror text of a positive errno; `Unknown error N` like glibc for the ones we do not list. */
export function strerror(errno: number): string {
  return STRERROR.get(Math.abs(errno)) ?? `Unknown error ${Math.abs(errno)}`;
}

/** The positive errno whose strerror text is exactly `message`, if it is one we know. */
export function errnoOfText(message: string): number | undefined {
  return ERRNO_BY_TEXT.get(message);
}

/** JSON-RPC 2.0 error codes as SPDK uses them (RPC.md §1.4). */
export const JSONRPC_ERROR = {
  /** Malformed JSON; the server closes the connection afterwards. */
  PARSE_ERROR: -32700,
  /** Bad envelope. */
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  /** "Invalid parameters", and lvol callback failures with a strerror message. */
  INVALID_PARAMS: -32602,
  /** Internal; also parameter-decode failures in bdev/lvol/nvme and bdev_lvol_delete callback failures. */
  INTERNAL_ERROR: -32603,
} as const;
