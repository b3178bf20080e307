// The ring fence (DESIGN §3: never serve writes on a ring that cannot be confirmed current for
// longer than the session timeout). Pure: the inputs come from the ZooKeeper client's session lease.
//
// ZooKeeper only tells a client that its session expired when it reconnects, so the fence is a
// local timer: the lease runs until the send time of the latest answered request plus the session
// timeout (the server cannot have expired the session earlier). While the lease runs, the ring
// watch guarantees the cached ring is current (a change notifies before any later answer). Once the
// lease has lapsed, only a ring read sent after the lapse confirms the ring again.

export interface SessionLease {
  /** -Infinity before the first answer. */
  readonly leaseUntil: number;
  /** Start of the latest lapse; -Infinity if none. */
  readonly leaseLapsedAt: number;
}

/** @param ringReadSentAt send time of the latest successful ring read on this session (-Infinity: none). */
export function ringConfirmedAt(now: number, lease: SessionLease, ringReadSentAt: number): boolean {
  return ringReadSentAt > Number.NEGATIVE_INFINITY && ringReadSentAt >= lease.leaseLapsedAt && now < lease.leaseUntil;
}
