// One error class for the package, with a stable machine `code` so callers (the HTTP layer, the
// coordinator reading the ring znode) branch on the code, never on the message text.

export type RingErrorCode =
  /** Two nodes with the same name. */
  | 'DUPLICATE_NODE'
  /** A node that is not an object, or has a bad name, zone or address. */
  | 'BAD_NODE'
  /** More nodes, or more tokens, than the limits allow. */
  | 'TOO_MANY_NODES'
  /** vnodes is not an integer in 1..VNODES_MAX. */
  | 'BAD_VNODES'
  /** replicationFactor is not an integer in 1..REPLICATION_FACTOR_MAX. */
  | 'BAD_RF'
  /** A lookup on a ring with no nodes. */
  | 'EMPTY_RING'
  /** A position that is not an unsigned 64-bit integer. */
  | 'BAD_POSITION'
  /** A node name asked about that is not in the ring. */
  | 'UNKNOWN_NODE'
  /** Ring znode text that is not JSON. */
  | 'BAD_RING_JSON'
  /** Ring znode JSON of the wrong shape. */
  | 'BAD_RING_RECORD';

export class RingError extends Error {
  override readonly name = 'RingError';

  constructor(
    readonly code: RingErrorCode,
    message: string,
  ) {
    super(message);
  }
}
