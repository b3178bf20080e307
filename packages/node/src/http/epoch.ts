// The ring epoch every internal request carries (DESIGN §6): a sender on an older epoch is answered
// 409 with ours (it refreshes and tries again); a newer one tells us to catch up.
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

export const HEADER_EPOCH = 'x-ringblock-epoch';

export interface EpochCheck {
  epoch: () => number;
  onNewerEpoch?: ((epoch: number) => void) | undefined;
}

/**
 * The epoch rule for any internal call, whatever carries it: a newer sender makes us catch up
 * (onNewerEpoch); an older one (or any other when `exact`) is stale and gets our epoch back.
 */
export function senderEpochVerdict(sent: number, check: EpochCheck, exact = false): { ours: number; stale: string | undefined } {
  const ours = check.epoch();
  if (sent > ours) check.onNewerEpoch?.(sent);
  const stale = sent < ours || (exact && sent !== ours) ? `sender routes by ring epoch ${sent}, this node by ${ours}` : undefined;
  return { ours, stale };
}

/** Throws 400 without an epoch, 409 STALE_EPOCH for an older one (or any other when `exact`). */
export function checkSenderEpoch(req: IncomingMessage, check: EpochCheck, exact = false): void {
  const sent = Number(req.headers[HEADER_EPOCH]);
  if (!Number.isSafeInteger(sent)) throw new HttpError(400, 'BAD_REQUEST', `internal requests carry ${HEADER_EPOCH}`);
  const { ours, stale } = senderEpochVerdict(sent, check, exact);
  if (stale) throw new HttpError(409, 'STALE_EPOCH', stale, { epoch: ours }, { [HEADER_EPOCH]: String(ours) });
}
