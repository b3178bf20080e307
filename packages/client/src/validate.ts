// Checks made before anything is sent: block ids, block sizes, consistency levels and the client's
// options. The id rule is the node's (packages/node http/ids.ts), so the client refuses exactly what
// a node would answer `400 BAD_ID`, without the round trip.
import { ArgumentError } from './errors.js';
import { BLOCK_SIZE } from './limits.js';

export type Consistency = 'one' | 'quorum' | 'all';

export const CONSISTENCY_LEVELS: readonly Consistency[] = Object.freeze(['one', 'quorum', 'all']);

/** DESIGN §2: 1–255 bytes of [A-Za-z0-9._~:-] (ASCII, so characters are bytes); not "." or "..". */
const ID_PATTERN = /^[A-Za-z0-9._~:-]{1,255}$/;

export function isValidBlockId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id) && id !== '.' && id !== '..';
}

export function checkBlockId(id: unknown): string {
  if (!isValidBlockId(id)) {
    const shown = typeof id === 'string' ? JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}…` : id) : typeof id;
    throw new ArgumentError('BAD_ID', `block id ${shown} must be 1–255 characters of [A-Za-z0-9._~:-], and not "." or ".."`);
  }
  return id;
}

export function checkBlock(data: unknown): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new ArgumentError('BLOCK_SIZE', 'block data must be a Uint8Array (or Buffer)');
  if (data.byteLength !== BLOCK_SIZE) {
    throw new ArgumentError('BLOCK_SIZE', `block data must be exactly ${BLOCK_SIZE} bytes, got ${data.byteLength}`);
  }
  return data;
}

export function checkConsistency(level: unknown): Consistency {
  if (!CONSISTENCY_LEVELS.includes(level as Consistency)) {
    throw new ArgumentError('BAD_CONSISTENCY', `consistency must be one, quorum or all, got ${JSON.stringify(level)}`);
  }
  return level as Consistency;
}

/** An integer option in `minimum..maximum`, or its default when absent. */
export function integerOption(name: string, value: unknown, fallback: number, minimum: number, maximum: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum || value > maximum) {
    throw new ArgumentError('BAD_OPTION', `${name} must be an integer in ${minimum}..${maximum}, got ${String(value)}`);
  }
  return value;
}

/**
 * A node's origin (`http://host:port`) from a URL or a bare `host:port` (the ring's `addr`). Only
 * plain HTTP: the nodes serve nothing else (DESIGN §2).
 */
export function nodeOrigin(address: string): string {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `http://${address}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ArgumentError('BAD_OPTION', `node address ${JSON.stringify(address)} is not a URL or host:port`);
  }
  if (url.protocol !== 'http:') throw new ArgumentError('BAD_OPTION', `node address ${JSON.stringify(address)} must use http:`);
  if (url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new ArgumentError('BAD_OPTION', `node address ${JSON.stringify(address)} must be an origin (no path, query or credentials)`);
  }
  return url.origin;
}
