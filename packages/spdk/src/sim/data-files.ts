// Lvol data as sparse files: `<stateDir>/lvols/<lvol uuid>.img`, sized num_blocks × block_size. A peer
// on spdk-sim opens this file (or a loop device over it) where production opens /dev/nvmeXnY. Files
// keep their inode for the lvol's life (resize truncates in place), so an open descriptor stays valid.
import { constants } from 'node:fs';
import { copyFile, mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';

export const LVOL_FILE_DIR = 'lvols';
/** Chunk for copying a file while keeping holes: all-zero chunks are skipped. */
const COPY_CHUNK_BYTES = 1024 * 1024;

export class DataFiles {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, LVOL_FILE_DIR);
  }

  /** The data file of the lvol with this UUID (documented naming scheme). */
  pathOf(lvolUuid: string): string {
    return path.join(this.dir, `${lvolUuid}.img`);
  }

  /** Creates (or keeps) the file and sets its size without allocating (sparse). */
  async ensure(lvolUuid: string, sizeBytes: number): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = await open(this.pathOf(lvolUuid), 'a');
    try {
      await file.truncate(sizeBytes);
    } finally {
      await file.close();
    }
  }

  async resize(lvolUuid: string, sizeBytes: number): Promise<void> {
    await this.ensure(lvolUuid, sizeBytes);
  }

  /** Copies `from`'s data into a new file for `to` (reflink when the file system can, else hole-preserving). */
  async copy(fromUuid: string, toUuid: string, sizeBytes: number): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const source = this.pathOf(fromUuid);
    const target = this.pathOf(toUuid);
    try {
      await copyFile(source, target, constants.COPYFILE_FICLONE_FORCE);
    } catch {
      await copySparse(source, target);
    }
    await this.ensure(toUuid, sizeBytes);
  }

  async remove(lvolUuid: string): Promise<void> {
    await rm(this.pathOf(lvolUuid), { force: true });
  }
}

async function copySparse(source: string, target: string): Promise<void> {
  const input = await open(source, 'r');
  const output = await open(target, 'w');
  try {
    const chunk = Buffer.alloc(COPY_CHUNK_BYTES);
    const zeros = Buffer.alloc(COPY_CHUNK_BYTES);
    const { size } = await input.stat();
    for (let offset = 0; offset < size; offset += COPY_CHUNK_BYTES) {
      const { bytesRead } = await input.read(chunk, 0, COPY_CHUNK_BYTES, offset);
      if (!chunk.subarray(0, bytesRead).equals(zeros.subarray(0, bytesRead))) await output.write(chunk, 0, bytesRead, offset);
    }
    await output.truncate(size);
  } finally {
    await Promise.all([input.close(), output.close()]);
  }
}
