// Reads, judges and rewrites the superblock on a device: refuses foreign, newer, corrupt and
// truncated devices with typed errors, formats a blank one only when asked, and rewrites the
// superblock crash-safely (copy by copy, a higher generation, each synced).
import { randomBytes } from 'node:crypto';
import type { BlockDevice } from './device.js';
import { EngineError } from './errors.js';
import type { Hasher } from './hash.js';
import {
  deviceBytesForGroups, FORMAT_VERSION, groupsForDeviceSize, GROUP_BYTES, SLOTS_PER_GROUP, SUPERBLOCK_AREA_BYTES,
} from './layout.js';
import type { Superblock, SuperblockCopy } from './superblock.js';
import {
  decodeSuperblockCopy, encodeSuperblock, encodeSuperblockArea, isZero, newSuperblock, SUPERBLOCK_COPY_OFFSETS,
  superblockChecksumMatches, unsupportedGeometry, UUID_BYTES, uuidText,
} from './superblock.js';

/** Groups whose headers recovery reads on a freshly formatted device (the watermark moves up on demand). */
export const INITIAL_ALLOCATED_GROUPS = 4;
/** How much of each end of a device must be zero for it to count as blank (partition tables, fs labels). */
const BLANK_PROBE_BYTES = 1024 * 1024;
const MAGIC_FIRST_BYTE = 'R'.charCodeAt(0);

export interface OpenSuperblockOptions {
  /** Format a blank (all-zero) device or a new file. */
  create: boolean;
  /** Before formatting a regular file, extend it to this size. */
  formatSizeBytes?: number;
  /** With `create`: format even over foreign non-zero data or an unreadable superblock. */
  force: boolean;
  nowMs: number;
}

export class SuperblockStore {
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly device: BlockDevice,
    private readonly hasher: Hasher,
    private current: Superblock,
    private currentCopy: number,
  ) {}

  get superblock(): Readonly<Superblock> {
    return this.current;
  }

  /** Opens the superblock of `device`, formatting it when it is blank and `create` (or `force`) allows. */
  static async open(device: BlockDevice, hasher: Hasher, options: OpenSuperblockOptions): Promise<{ store: SuperblockStore; formatted: boolean }> {
    const sizeBytes = await device.sizeBytes();
    const area = await readUpTo(device, 0, Math.min(sizeBytes, SUPERBLOCK_AREA_BYTES), SUPERBLOCK_AREA_BYTES);
    const copies = SUPERBLOCK_COPY_OFFSETS.map((offset) => decodeSuperblockCopy(hasher, area, offset));
    // A copy naming another format version is a newer superblock when its checksum holds or no copy
    // of ours is valid; otherwise it is a copy damaged in its version field, and the valid one opens.
    const anyValid = copies.some((copy) => copy.state === 'valid');
    const newer = copies.find((copy, index) => copy.state === 'unsupported' && (!anyValid || superblockChecksumMatches(hasher, area, SUPERBLOCK_COPY_OFFSETS[index]!)));
    if (newer?.state === 'unsupported') {
      throw new EngineError('UNSUPPORTED_FORMAT', `${device.path} was formatted by a newer ringblock engine (a superblock copy says format version ${newer.formatVersion}); this engine reads format version ${FORMAT_VERSION}.`, {
        path: device.path, formatVersion: newer.formatVersion,
      });
    }
    if (sizeBytes < SUPERBLOCK_AREA_BYTES && area[0] === MAGIC_FIRST_BYTE) {
      throw new EngineError('TRUNCATED_DEVICE', `${device.path} has only ${sizeBytes} bytes and starts like a ringblock superblock; it was truncated.`, { path: device.path, sizeBytes });
    }
    const best = pickNewest(copies);
    if (best !== undefined) {
      checkUsable(device.path, best.superblock, sizeBytes);
      return { store: new SuperblockStore(device, hasher, best.superblock, best.copy), formatted: false };
    }
    const blank = copies.every((copy) => copy.state === 'blank') && (await isBlankDevice(device, sizeBytes));
    if (copies.some((copy) => copy.state === 'corrupt') && !(options.create && options.force)) {
      throw new EngineError('CORRUPT_SUPERBLOCK', `Both superblock copies of ${device.path} fail their checksums; the device cannot be opened (pass create and force to reformat it, erasing it).`, { path: device.path });
    }
    if (!options.create) {
      if (blank) throw new EngineError('UNFORMATTED', `${device.path} is blank (all zero); pass create: true to format it.`, { path: device.path });
      throw new EngineError('BAD_MAGIC', `${device.path} is not a ringblock device: its first bytes are not the "RINGBLK1" superblock and it is not blank.`, { path: device.path });
    }
    if (!blank && !options.force) {
      throw new EngineError('FOREIGN_DATA', `${device.path} holds non-zero data that is not a ringblock device; refusing to format it (pass force: true to erase it).`, { path: device.path });
    }
    if (options.formatSizeBytes !== undefined && device.kind === 'file') await device.extend(options.formatSizeBytes);
    return { store: await SuperblockStore.format(device, hasher, options.nowMs), formatted: true };
  }

  /** Formats `device` (a new uuid: every record on it is gone) if it is blank, or whatever it holds with `force`. */
  static async reformat(device: BlockDevice, hasher: Hasher, options: { force: boolean; nowMs: number }): Promise<SuperblockStore> {
    if (!options.force && !(await isBlankDevice(device, await device.sizeBytes()))) {
      throw new EngineError('FOREIGN_DATA', `${device.path} is not blank (it may be a ringblock device or hold other data); pass force: true to erase it.`, { path: device.path });
    }
    return SuperblockStore.format(device, hasher, options.nowMs);
  }

  /** Writes a new superblock (new uuid) over the whole device; the caller has judged that this is allowed. */
  static async format(device: BlockDevice, hasher: Hasher, nowMs: number): Promise<SuperblockStore> {
    const sizeBytes = await device.sizeBytes();
    const groups = groupsForDeviceSize(sizeBytes);
    if (groups === 0) {
      throw new EngineError('DEVICE_TOO_SMALL', `${device.path} has ${sizeBytes} bytes; a ringblock device needs at least ${deviceBytesForGroups(1)} (superblock and one group of ${SLOTS_PER_GROUP} blocks).`, {
        path: device.path, sizeBytes, minimumBytes: deviceBytesForGroups(1),
      });
    }
    const superblock = newSuperblock(randomBytes(UUID_BYTES), groups, Math.min(groups, INITIAL_ALLOCATED_GROUPS), nowMs);
    // Headers left in the groups by earlier contents carry another uuid (or none) and are ignored by
    // recovery, so formatting writes only the superblock area, whatever the device size.
    await device.writev([encodeSuperblockArea(hasher, superblock)], 0);
    await device.sync();
    return new SuperblockStore(device, hasher, superblock, 0);
  }

  /**
   * Rewrites the superblock with `change` applied, one generation up: first into the copy that is
   * not current, synced (a torn write leaves the current copy intact), then into the other copy,
   * synced, so both copies hold the newest superblock and either alone can open the device.
   * Rewrites are serialised.
   */
  update(change: Partial<Pick<Superblock, 'groupCount' | 'allocatedGroups' | 'checkpointSeq'>>): Promise<Superblock> {
    const run = this.writing.then(async () => {
      const next: Superblock = { ...this.current, ...change, generation: this.current.generation + 1 };
      const bytes = encodeSuperblock(this.hasher, next);
      for (const copy of [1 - this.currentCopy, this.currentCopy]) {
        await this.device.writev([bytes], SUPERBLOCK_COPY_OFFSETS[copy]!);
        await this.device.sync();
      }
      this.current = next;
      return next;
    });
    this.writing = run.catch(() => undefined);
    return run;
  }
}

function pickNewest(copies: SuperblockCopy[]): { superblock: Superblock; copy: number } | undefined {
  let best: { superblock: Superblock; copy: number } | undefined;
  copies.forEach((copy, index) => {
    if (copy.state !== 'valid') return;
    if (best === undefined || copy.superblock.generation > best.superblock.generation) best = { superblock: copy.superblock, copy: index };
  });
  return best;
}

function checkUsable(path: string, superblock: Superblock, sizeBytes: number): void {
  const geometry = unsupportedGeometry(superblock);
  if (geometry !== undefined) {
    throw new EngineError('UNSUPPORTED_FORMAT', `${path} uses a geometry this engine does not support (${geometry}).`, { path });
  }
  const neededBytes = deviceBytesForGroups(superblock.groupCount);
  if (sizeBytes < neededBytes) {
    throw new EngineError('TRUNCATED_DEVICE', `${path} has ${sizeBytes} bytes but its superblock (device ${uuidText(superblock.uuid)}) describes ${superblock.groupCount} groups needing ${neededBytes}; it was truncated or replaced by a smaller device.`, {
      path, sizeBytes, neededBytes, missingGroups: Math.ceil((neededBytes - sizeBytes) / GROUP_BYTES),
    });
  }
}

async function isBlankDevice(device: BlockDevice, sizeBytes: number): Promise<boolean> {
  const head = Math.min(sizeBytes, BLANK_PROBE_BYTES);
  if (!isZero(await readUpTo(device, 0, head, head))) return false;
  const tailStart = Math.max(head, sizeBytes - BLANK_PROBE_BYTES);
  return isZero(await readUpTo(device, tailStart, sizeBytes - tailStart, sizeBytes - tailStart));
}

/** Reads `length` bytes at `position` into a zero-filled buffer of `bufferBytes`. */
async function readUpTo(device: BlockDevice, position: number, length: number, bufferBytes: number): Promise<Buffer> {
  const buffer = Buffer.alloc(bufferBytes);
  if (length > 0) await device.read(buffer.subarray(0, length), position);
  return buffer;
}
