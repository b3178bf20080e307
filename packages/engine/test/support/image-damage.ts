// Seeded damage to a device image, aimed with the layout module at each area of the format:
// the two superblock copies and the spare bytes around them, record headers (the engine's log of
// writes, one sector per slot) of live and of free or superseded slots, data pages, misdirected
// writes (a valid header or data page copied to another slot: checksums still match their bytes),
// the groups above the allocated watermark, bytes anywhere, and the file cut short or extended.
// Pure: a seeded random source and buffers in, a damaged buffer and what was done out.
import {
  BLOCK_SIZE_BYTES, dataOffset, groupOffset, HEADER_SIZE_BYTES, headerOffset, SUPERBLOCK_AREA_BYTES, SUPERBLOCK_COPY_OFFSETS,
} from '../../src/index.js';
import { rng } from './model.js';

export const SUPERBLOCK_COPY_BYTES = 128;
const SECTOR_BYTES = 512;

export type DamageArea =
  | 'superblock-copy' | 'superblock-both' | 'superblock-spare' | 'live-header' | 'other-header' | 'live-data' | 'other-data'
  | 'misdirected-header' | 'misdirected-data' | 'unallocated' | 'anywhere' | 'truncate' | 'extend';

/** What the damage can aim at: the image's geometry and its current records (from its headers). */
export interface ImageFacts {
  /** Slots below the allocated-groups watermark (recovery reads their headers). */
  allocatedSlots: number;
  /** Groups on the device (the file may hold more bytes). */
  groups: number;
  /** Slots holding a current record; `put` when it has a data page. */
  live: { slot: number; put: boolean }[];
  /** Bytes the superblock says the device needs. */
  neededBytes: number;
}

export class Random {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = rng(seed);
  }

  fraction(): number {
    return this.next();
  }

  below(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    let point = this.next() * choices.reduce((sum, [, weight]) => sum + weight, 0);
    for (const [item, weight] of choices) if ((point -= weight) < 0) return item;
    return choices[choices.length - 1]![0];
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = this.below(256);
    return out;
  }
}

const AREA_WEIGHTS: readonly (readonly [DamageArea, number])[] = [
  ['superblock-copy', 8], ['superblock-both', 2], ['superblock-spare', 3], ['live-header', 14], ['other-header', 6], ['live-data', 14],
  ['other-data', 4], ['misdirected-header', 5], ['misdirected-data', 4], ['unallocated', 3], ['anywhere', 6], ['truncate', 3], ['extend', 2],
];

/** Damages `image` in place (truncation and extension return a new buffer); says what it did. */
export function damage(random: Random, image: Buffer, facts: ImageFacts): { image: Buffer; area: DamageArea; description: string } {
  const area = random.weighted(AREA_WEIGHTS);
  if (area === 'truncate') {
    // Below what the superblock needs (refused), or a cut that leaves every group whole.
    const length = random.fraction() < 0.7 ? random.pick([0, 1, 100, SUPERBLOCK_AREA_BYTES - 1, SUPERBLOCK_AREA_BYTES + 10, random.below(facts.neededBytes)]) : random.between(facts.neededBytes, image.length);
    return { image: image.subarray(0, Math.min(length, image.length)), area, description: `truncated to ${length} bytes` };
  }
  if (area === 'extend') {
    const extra = random.between(1, 2 * BLOCK_SIZE_BYTES);
    return { image: Buffer.concat([image, random.bytes(extra)]), area, description: `${extra} random bytes appended` };
  }
  return { image, area, description: damageInPlace(random, image, facts, area) };
}

function damageInPlace(random: Random, image: Buffer, facts: ImageFacts, area: DamageArea): string {
  const copy = random.below(2);
  const liveSlot = () => random.pick(facts.live.length > 0 ? facts.live : [{ slot: 0, put: true }]);
  const otherSlot = () => {
    const live = new Set(facts.live.map((record) => record.slot));
    for (let draw = 0; draw < 64; draw++) {
      const slot = random.below(facts.allocatedSlots);
      if (!live.has(slot)) return slot;
    }
    return facts.allocatedSlots - 1;
  };
  switch (area) {
    case 'superblock-copy':
      return `superblock copy ${copy}: ${hit(random, image, SUPERBLOCK_COPY_OFFSETS[copy]!, SUPERBLOCK_COPY_BYTES)}`;
    case 'superblock-both':
      return `both superblock copies: ${hit(random, image, SUPERBLOCK_COPY_OFFSETS[0], SUPERBLOCK_COPY_BYTES)}; ${hit(random, image, SUPERBLOCK_COPY_OFFSETS[1], SUPERBLOCK_COPY_BYTES)}`;
    case 'superblock-spare': {
      const start = SUPERBLOCK_COPY_OFFSETS[copy]! + SUPERBLOCK_COPY_BYTES;
      return `spare superblock bytes after copy ${copy}: ${hit(random, image, start, SUPERBLOCK_COPY_OFFSETS[1] - SUPERBLOCK_COPY_BYTES)}`;
    }
    case 'live-header': {
      const { slot } = liveSlot();
      return `header of live slot ${slot}: ${hit(random, image, headerOffset(slot), HEADER_SIZE_BYTES)}`;
    }
    case 'other-header': {
      const slot = otherSlot();
      return `header of free or superseded slot ${slot}: ${hit(random, image, headerOffset(slot), HEADER_SIZE_BYTES)}`;
    }
    case 'live-data': {
      const record = liveSlot();
      return `data page of live slot ${record.slot} (${record.put ? 'put' : 'tombstone'}): ${hit(random, image, dataOffset(record.slot), BLOCK_SIZE_BYTES)}`;
    }
    case 'other-data': {
      const slot = otherSlot();
      return `data page of free or superseded slot ${slot}: ${hit(random, image, dataOffset(slot), BLOCK_SIZE_BYTES)}`;
    }
    case 'misdirected-header': {
      const from = liveSlot().slot;
      const to = random.fraction() < 0.5 ? otherSlot() : liveSlot().slot;
      image.copy(image, headerOffset(to), headerOffset(from), headerOffset(from) + HEADER_SIZE_BYTES);
      return `header of slot ${from} written to slot ${to} as well`;
    }
    case 'misdirected-data': {
      const from = liveSlot().slot;
      const to = liveSlot().slot;
      image.copy(image, dataOffset(to), dataOffset(from), dataOffset(from) + BLOCK_SIZE_BYTES);
      return `data page of slot ${from} written to slot ${to} as well`;
    }
    case 'unallocated': {
      const start = groupOffset(facts.allocatedSlots / 256);
      if (start >= image.length) return 'no unallocated group on this image';
      return `above the allocated groups: ${hit(random, image, start, Math.min(image.length - start, groupOffset(1) - groupOffset(0)))}`;
    }
    default: {
      const offset = random.below(image.length);
      return `anywhere: ${hit(random, image, offset, Math.min(image.length - offset, SECTOR_BYTES))}`;
    }
  }
}

/** One kind of damage inside [start, start + length): bit flips, random bytes, a zeroed sector, or a torn tail. */
function hit(random: Random, image: Buffer, start: number, length: number): string {
  const kind = random.pick(['flips', 'flips', 'random', 'zero', 'torn'] as const);
  if (kind === 'flips') {
    const count = random.between(1, 8);
    const at: number[] = [];
    for (let i = 0; i < count; i++) {
      const bit = random.below(length * 8);
      image[start + (bit >> 3)]! ^= 1 << (bit & 7);
      at.push(bit >> 3);
    }
    return `${count} bit flips at +${at.join(',+')}`;
  }
  if (kind === 'random') {
    const from = random.below(length);
    const bytes = random.bytes(random.between(1, length - from));
    bytes.copy(image, start + from);
    return `${bytes.length} random bytes at +${from}`;
  }
  if (kind === 'zero') {
    const sector = Math.floor(random.below(length) / SECTOR_BYTES) * SECTOR_BYTES;
    const bytes = Math.min(SECTOR_BYTES, length - sector);
    image.fill(0, start + sector, start + sector + bytes);
    return `${bytes} bytes zeroed at +${sector}`;
  }
  const from = random.between(1, Math.max(1, length - 1));
  random.bytes(length - from).copy(image, start + from);
  return `torn after ${from} bytes (the rest random)`;
}
