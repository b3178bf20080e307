// Block ids (DESIGN §2): 1–255 bytes of [A-Za-z0-9._~:-], taken from the path after percent-decoding.
// "." and ".." are refused too: they mean something else to every proxy and file system on the way.
import { HttpError } from './errors.js';

const ID_PATTERN = /^[A-Za-z0-9._~:-]{1,255}$/;

export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id) && id !== '.' && id !== '..';
}

export function parseBlockId(raw: string): string {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw badId(raw, 'is not valid percent-encoding');
  }
  if (id.length === 0) throw badId(raw, 'is empty');
  if (Buffer.byteLength(id) > 255) throw badId(raw, 'is longer than 255 bytes');
  if (!isValidId(id)) throw badId(raw, "may only hold letters, digits and . _ ~ : - (and is not '.' or '..')");
  return id;
}

function badId(raw: string, why: string): HttpError {
  const shown = raw.length > 64 ? `${raw.slice(0, 64)}…` : raw;
  return new HttpError(400, 'BAD_ID', `block id "${shown}" ${why}`);
}
