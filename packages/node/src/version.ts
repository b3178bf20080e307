// Versions of writes (DESIGN §5): a hybrid logical clock timestamp with the coordinator's node name as
// the tie-break. The byte form sorts exactly like the versions themselves (bytewise comparison), which
// is the order the engine compares by:
//   [0..6)  physical milliseconds since the epoch, big-endian (48 bits: good until year 10889)
//   [6..8)  logical counter, big-endian (events within one millisecond)
//   [8..)   the coordinator's node name, UTF-8
// Text form (ETag, headers): 16 hex digits, '-', the node name.
import assert from 'node:assert/strict';

const TIMESTAMP_BYTES = 8;
const LOGICAL_MAX = 0xffff;
const PHYSICAL_MAX = 2 ** 48 - 1;
const VERSION_TEXT = /^([0-9a-f]{16})-([A-Za-z0-9._-]{1,63})$/;

export interface VersionParts {
  physicalMs: number;
  logical: number;
  node: string;
}

export function encodeVersion(parts: VersionParts): Buffer {
  assert.ok(Number.isInteger(parts.physicalMs) && parts.physicalMs >= 0 && parts.physicalMs <= PHYSICAL_MAX);
  assert.ok(Number.isInteger(parts.logical) && parts.logical >= 0 && parts.logical <= LOGICAL_MAX);
  const nodeBytes = Buffer.from(parts.node, 'utf8');
  const bytes = Buffer.allocUnsafe(TIMESTAMP_BYTES + nodeBytes.length);
  bytes.writeUIntBE(parts.physicalMs, 0, 6);
  bytes.writeUInt16BE(parts.logical, 6);
  nodeBytes.copy(bytes, TIMESTAMP_BYTES);
  return bytes;
}

export function decodeVersion(bytes: Uint8Array): VersionParts {
  if (bytes.length <= TIMESTAMP_BYTES) throw new RangeError(`a version has more than ${TIMESTAMP_BYTES} bytes, got ${bytes.length}`);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    physicalMs: buffer.readUIntBE(0, 6),
    logical: buffer.readUInt16BE(6),
    node: buffer.subarray(TIMESTAMP_BYTES).toString('utf8'),
  };
}

export function compareVersions(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

export function versionToText(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return `${buffer.toString('hex', 0, TIMESTAMP_BYTES)}-${buffer.toString('utf8', TIMESTAMP_BYTES)}`;
}

const NODE_NAME = /^[A-Za-z0-9._-]{1,63}$/;

/** True for the byte form of a version: a timestamp and a node name (what versionFromText accepts). */
export function isVersionBytes(bytes: Buffer): boolean {
  return bytes.length > TIMESTAMP_BYTES && NODE_NAME.test(bytes.toString('latin1', TIMESTAMP_BYTES));
}

/** Parses the text form; undefined when it is not one. */
export function versionFromText(text: string): Buffer | undefined {
  const match = VERSION_TEXT.exec(text);
  if (!match) return undefined;
  return Buffer.concat([Buffer.from(match[1]!, 'hex'), Buffer.from(match[2]!, 'utf8')]);
}

/**
 * A hybrid logical clock: `next()` is strictly greater than every version this clock issued or
 * observed, and close to wall-clock time. Replicas `observe()` the versions they receive, so a write
 * coordinated after another was seen gets a larger version whatever the clocks say.
 */
export class HybridClock {
  private physicalMs = 0;
  private logical = 0;

  constructor(readonly node: string, private readonly now: () => number = Date.now) {}

  next(): Buffer {
    const wallMs = Math.floor(this.now());
    if (wallMs > this.physicalMs) {
      this.physicalMs = wallMs;
      this.logical = 0;
    } else if (this.logical < LOGICAL_MAX) {
      this.logical++;
    } else {
      // 65,536 events in one millisecond: borrow the next millisecond rather than repeat a version.
      this.physicalMs++;
      this.logical = 0;
    }
    return encodeVersion({ physicalMs: this.physicalMs, logical: this.logical, node: this.node });
  }

  /** Moves the clock past a version seen from elsewhere (only the timestamp part matters). */
  observe(version: Uint8Array): void {
    if (version.length <= TIMESTAMP_BYTES) return;
    const seen = decodeVersion(version);
    if (seen.physicalMs > this.physicalMs || (seen.physicalMs === this.physicalMs && seen.logical > this.logical)) {
      this.physicalMs = seen.physicalMs;
      this.logical = seen.logical;
    }
  }
}
