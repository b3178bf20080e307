// The sim's durable state (RPC.md §3.6: across target restarts only on-disk lvstore metadata survives):
// one JSON file in stateDir, replaced atomically (write a temporary file, fsync, rename, fsync the
// directory). Saves are serialized; a save started after a change always carries that change.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';

export const STATE_FILE_NAME = 'spdk-sim-state.json';
export const STATE_FORMAT_VERSION = 1;

/** What an lvol's on-disk metadata holds (names, UUIDs, sizes, thin flag, snapshot graph, read-only). */
export interface LvolRecord {
  readonly uuid: string;
  name: string;
  clusters: number;
  thin: boolean;
  allocatedClusters: number;
  readOnly: boolean;
  /** Created by bdev_lvol_snapshot. */
  readonly createdAsSnapshot: boolean;
  /** UUID of the snapshot (or read-only lvol) this one is a clone of. */
  parentUuid?: string;
}

export interface LvstoreRecord {
  readonly uuid: string;
  readonly name: string;
  /** The base medium's identity ("nvme:<traddr>:<nsid>", "aio:<path>", "malloc:<uuid>"). */
  readonly mediumIdentity: string;
  /** False for a medium that does not survive a restart (malloc): not written to the state file. */
  readonly durable: boolean;
  readonly clusterBytes: number;
  readonly blockSize: number;
  readonly totalDataClusters: number;
  readonly maxGrowableSizeBytes: number;
  readonly clearMethod: string;
  /** Creation order. */
  readonly lvols: LvolRecord[];
}

interface StateDocument {
  readonly version: number;
  readonly lvstores: LvstoreRecord[];
}

export class StateFile {
  readonly path: string;
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly dir: string) {
    this.path = path.join(dir, STATE_FILE_NAME);
  }

  /** The lvstores saved last time; none when the file does not exist yet. */
  async load(): Promise<LvstoreRecord[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const document = JSON.parse(text) as StateDocument;
    if (document.version !== STATE_FORMAT_VERSION || !Array.isArray(document.lvstores)) {
      throw new Error(`${this.path}: not a spdk-sim state file of version ${STATE_FORMAT_VERSION}`);
    }
    return document.lvstores;
  }

  /** Writes `snapshot()` as taken when this save's turn comes; resolves once it is durable. */
  save(snapshot: () => LvstoreRecord[]): Promise<void> {
    const next = this.chain.then(() => this.write(snapshot().filter((lvstore) => lvstore.durable)));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async write(lvstores: LvstoreRecord[]): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const temporary = `${this.path}.tmp`;
    const document: StateDocument = { version: STATE_FORMAT_VERSION, lvstores };
    const file = await open(temporary, 'w');
    try {
      await file.writeFile(`${JSON.stringify(document, null, 1)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, this.path);
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
