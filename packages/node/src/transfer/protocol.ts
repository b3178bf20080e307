// What sender and receiver agree on over HTTP besides the stream itself: the paths, and the JSON
// answers. Positions travel in JSON as decimal strings (they are unsigned 64-bit integers).
import { isPosition } from './arc.js';

export const TRANSFER_PATH = '/internal/transfer';
export const TRANSFER_PATTERN = /^\/internal\/transfer$/;
export const TRANSFER_PROGRESS_PATTERN = /^\/internal\/transfer\/([0-9a-f]{32})$/;

export function progressPath(transferIdHex: string): string {
  return `${TRANSFER_PATH}/${transferIdHex}`;
}

/** The receiver's answer to a stream (also, with `complete: false`, inside an error answer). */
export interface ReceiveSummary {
  transferId: string;
  /** Records received and applied in this request (applied or kept the newer local version). */
  records: number;
  /** Records that changed the store (the rest were older than or equal to what it held). */
  applied: number;
  /** Last position held durably for this transfer: a retry resumes after it. */
  lastPosition: bigint | undefined;
  /** The stream arrived whole: trailer, counts and chain checksum verified. */
  complete: boolean;
  /** ...and the sender said the range was sent to its end. */
  rangeDone: boolean;
}

export function positionText(position: bigint | undefined): string | null {
  return position === undefined ? null : position.toString(10);
}

/** A position from JSON (a decimal string or null); undefined when absent, invalid when not a position. */
export function parsePosition(value: unknown): bigint | undefined | 'invalid' {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[0-9]{1,20}$/.test(value)) return 'invalid';
  const position = BigInt(value);
  return isPosition(position) ? position : 'invalid';
}
