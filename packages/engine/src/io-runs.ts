// Pure planning of batched writes: (slot, bytes) pieces sorted by slot become runs of consecutive
// slots inside one group, each written with one writev (headers and data pages of a group are
// contiguous areas; a group boundary separates runs).
import { SLOT_SHIFT } from './layout.js';

export interface SlotPiece {
  slot: number;
  bytes: Buffer;
}

export interface WriteRun {
  firstSlot: number;
  buffers: Buffer[];
}

/** At most this many buffers per writev (Linux IOV_MAX is 1024). */
export const MAX_BUFFERS_PER_RUN = 1024;

export function planRuns(pieces: SlotPiece[]): WriteRun[] {
  const sorted = [...pieces].sort((a, b) => a.slot - b.slot);
  const runs: WriteRun[] = [];
  let run: WriteRun | undefined;
  let lastSlot = -2;
  for (const piece of sorted) {
    const continues = run !== undefined && piece.slot === lastSlot + 1 && piece.slot >>> SLOT_SHIFT === lastSlot >>> SLOT_SHIFT
      && run.buffers.length < MAX_BUFFERS_PER_RUN;
    if (!continues) {
      run = { firstSlot: piece.slot, buffers: [] };
      runs.push(run);
    }
    run!.buffers.push(piece.bytes);
    lastSlot = piece.slot;
  }
  return runs;
}
