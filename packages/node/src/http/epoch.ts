// The ring epoch every internal request carries (DESIGN §6): a sender on an older epoch is answered
// 409 with ours (it refreshes and tries again); a newer one tells us to catch up.
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

export const HEADER_EPOCH = 'x-ringblock-epoch';

export interface EpochCheck {
  epoch: () => number;
  onNewerEpoch?: ((epoch: number) => void) | undefined;
}

/** Throws 400 without an epoch, 409 STALE_EPOCH for an older one (or any other when `exact`). */
export function checkSenderEpoch(req: IncomingMessage, check: EpochCheck, exact = false): void {
  const sent = Number(req.headers[HEADER_EPOCH]);
  const ours = check.epoch();
  if (!Number.isSafeInteger(sent)) throw new HttpError(400, 'BAD_REQUEST', `internal requests carry ${HEADER_EPOCH}`);
  if (sent > ours) check.onNewerEpoch?.(sent);
  if (sent < ours || (exact && sent !== ours)) {
    throw new HttpError(409, 'STALE_EPOCH', `sender routes by ring epoch ${sent}, this node by ${ours}`, { epoch: ours }, { [HEADER_EPOCH]: String(ours) });
  }
}
