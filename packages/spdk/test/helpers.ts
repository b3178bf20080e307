// Shared fixtures: temp dirs, a spdk-sim per test with a client, raw socket access for framing tests.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SpdkApi, SpdkRpcClient, SpdkSimControl, startSpdkSim, type SpdkRpcClientOptions, type SpdkSim, type SpdkSimOptions, type VolumeRecord, type VolumeStore } from '../src/index.js';

/** The part of a tap Test the helpers use. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export function tempDir(t: Teardown, prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `ringblock-spdk-${prefix}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface SimFixture {
  readonly sim: SpdkSim;
  readonly client: SpdkRpcClient;
  readonly api: SpdkApi;
  readonly control: SpdkSimControl;
  readonly dir: string;
}

/** A sim on a fresh socket and state dir, a client on it; both closed in teardown. */
export async function startSim(
  t: Teardown,
  options: Partial<SpdkSimOptions> = {},
  clientOptions: Partial<SpdkRpcClientOptions> = {},
): Promise<SimFixture> {
  const dir = options.stateDir === undefined ? tempDir(t, 'sim') : path.dirname(options.stateDir);
  const sim = await startSpdkSim({ sock: path.join(dir, 'spdk.sock'), stateDir: path.join(dir, 'state'), ...options });
  const client = new SpdkRpcClient({ socketPath: sim.sock, callTimeoutMs: 5_000, ...clientOptions });
  t.teardown(async () => {
    await client.close();
    await sim.close();
  });
  return { sim, client, api: new SpdkApi(client), control: new SpdkSimControl(client), dir };
}

/** Attaches the default device as Nvme0 and creates lvstore "lvs0" on it; returns the lvstore UUID. */
export async function withLvstore(api: SpdkApi, clusterSz?: number): Promise<string> {
  await api.bdevNvmeAttachController({ name: 'Nvme0', trtype: 'PCIe', traddr: '0000:00:04.0' });
  return api.bdevLvolCreateLvstore({ bdev_name: 'Nvme0n1', lvs_name: 'lvs0', ...(clusterSz === undefined ? {} : { cluster_sz: clusterSz }) });
}

/** Resolves with the record once `accept` holds (watching it); rejects after `timeoutMs`, naming `what`. */
export function untilRecord(store: VolumeStore, name: string, accept: (record: VolumeRecord) => boolean, what: string, timeoutMs: number): Promise<VolumeRecord> {
  return new Promise((resolve, reject) => {
    let watch: { close(): void } | undefined;
    let done = false;
    const timer = setTimeout(() => finish(new Error(`volume ${name}: not ${what} after ${timeoutMs} ms`)), timeoutMs);
    const finish = (result: VolumeRecord | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watch?.close();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    store.watch(name, (found) => {
      if (found && accept(found.record)) finish(found.record);
    }).then((opened) => (done ? opened.close() : (watch = opened)), (error: Error) => finish(error));
  });
}

/** A raw connection to a socket that collects reply lines. */
export class RawConnection {
  readonly lines: string[] = [];
  private buffered = '';
  private waiters: (() => void)[] = [];
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString('utf8');
      let newline: number;
      while ((newline = this.buffered.indexOf('\n')) >= 0) {
        this.lines.push(this.buffered.slice(0, newline));
        this.buffered = this.buffered.slice(newline + 1);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async open(t: Teardown, socketPath: string): Promise<RawConnection> {
    const socket = net.createConnection({ path: socketPath });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    t.teardown(() => socket.destroy());
    return new RawConnection(socket);
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Resolves with the first `count` reply lines parsed, failing after timeoutMs. */
  async replies(count: number, timeoutMs = 3_000): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < count) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) throw new Error(`expected ${count} replies, got ${this.lines.length}: ${this.lines.join(' | ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remainingMs);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.lines.slice(0, count).map((line) => JSON.parse(line) as unknown);
  }

  /** One request → its one reply (the next line). */
  async call(request: unknown): Promise<unknown> {
    const before = this.lines.length;
    this.write(typeof request === 'string' ? request : JSON.stringify(request));
    const all = await this.replies(before + 1);
    return all[before];
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
