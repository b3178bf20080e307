// Validation of caller input, done once and up front, with typed errors (BAD_ID, BLOCK_SIZE, …).
import { EngineError } from './errors.js';
import { BLOCK_SIZE_BYTES } from './layout.js';
import { MAX_VERSION_BYTES } from './record.js';

const ID_PATTERN = /^[A-Za-z0-9._~:-]{1,255}$/;
export const MAX_NAMESPACE = 255;

export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id);
}

export function checkId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new EngineError('BAD_ID', 'A block id must be 1 to 255 characters of A-Z a-z 0-9 . _ ~ : -.', { id: String(id).slice(0, 300) });
  }
}

export function checkVersion(version: unknown): asserts version is Uint8Array {
  if (!(version instanceof Uint8Array) || version.length === 0) {
    throw new EngineError('BAD_VERSION', 'A version must be a non-empty byte array (Uint8Array).');
  }
  if (version.length > MAX_VERSION_BYTES) {
    throw new EngineError('VERSION_TOO_LONG', `A version may have at most ${MAX_VERSION_BYTES} bytes; this one has ${version.length}.`, {
      length: version.length,
    });
  }
}

export function checkData(data: unknown): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array) || data.length !== BLOCK_SIZE_BYTES) {
    const length = data instanceof Uint8Array ? data.length : undefined;
    throw new EngineError('BLOCK_SIZE', `A block must be exactly ${BLOCK_SIZE_BYTES} bytes${length === undefined ? '' : `; this one has ${length}`}.`, {
      length,
    });
  }
}

export function checkNamespace(namespace: unknown): number {
  if (namespace === undefined) return 0;
  if (typeof namespace !== 'number' || !Number.isInteger(namespace) || namespace < 0 || namespace > MAX_NAMESPACE) {
    throw new EngineError('BAD_NAMESPACE', `A namespace must be an integer from 0 to ${MAX_NAMESPACE}.`, { namespace });
  }
  return namespace;
}

/** Validates an optional integer option within [min, max]. */
export function checkInteger(name: string, value: unknown, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new EngineError('BAD_OPTION', `Option ${name} must be an integer from ${min} to ${max}; got ${String(value)}.`, { option: name });
  }
}
