// Shared pieces of the transfer tests: real engines on temporary files, a real HTTP server (the
// node's own createHttpServer + Router) with the transfer routes, seeded data, content snapshots,
// and a loopback TCP proxy that cuts a connection after a number of bytes (fault injection).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceBytesForGroups, Engine, loadHasher, type Hasher } from '@ringblock/engine';
import { createHttpServer } from '../src/http/server.js';
import { Router } from '../src/http/router.js';
import { transferRoutes, type TransferRouteOptions } from '../src/transfer/index.js';
import { compareVersions, encodeVersion } from '../src/version.js';

export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export const TOKEN = 'transfer-test-token';
export const BLOCK = 4096;

export { loadHasher, type Hasher };
/** Seeded floats in [0, 1) (mulberry32), so every failure replays from its seed. */
export { seededRandom as rng } from './migration-fixtures.js';

export function randomBlock(random: () => number): Buffer {
  const block = Buffer.allocUnsafe(BLOCK);
  for (let i = 0; i < BLOCK; i += 4) block.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
  return block;
}

export function version(physicalMs: number, node = 'n1'): Buffer {
  return encodeVersion({ physicalMs, logical: 0, node });
}

export async function openEngine(t: Teardown, groups = 96): Promise<Engine> {
  const dir = mkdtempSync(join(tmpdir(), 'ringblock-transfer-'));
  const engine = await Engine.open(join(dir, 'device'), { create: true, sizeBytes: deviceBytesForGroups(groups), compareVersions });
  t.teardown(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return engine;
}

export interface Written {
  id: string;
  version: Buffer;
  tombstone: boolean;
}

/** Writes `count` records (about `tombstoneShare` of them tombstones) with seeded ids, versions and data. */
export async function fill(engine: Engine, random: () => number, count: number, tombstoneShare = 0.2, prefix = 'b'): Promise<Written[]> {
  const written: Written[] = [];
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const id = `${prefix}${i}-${Math.floor(random() * 1e9).toString(36)}`;
    const tombstone = random() < tombstoneShare;
    const v = version(1_700_000_000_000 + Math.floor(random() * 1e6));
    written.push({ id, version: v, tombstone });
    pending.push(tombstone ? engine.delete(id, v) : engine.put(id, v, randomBlock(random)));
    if (pending.length >= 256) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  return written;
}

/** The engine's content (one namespace) as text lines, in ring order: id, version, tombstone, data hash. */
export async function snapshot(engine: Engine, hasher: Hasher, range: { start: bigint; end: bigint } = { start: 0n, end: 0n }): Promise<string[]> {
  const lines: string[] = [];
  for await (const record of engine.rangeEntries(range.start, range.end, { withData: true })) {
    const data = record.data === undefined ? '-' : hasher.h64(record.data).toString(16);
    lines.push(`${record.id} ${record.version.toString('hex')} ${record.tombstone ? 'T' : 'P'} ${data}`);
  }
  return lines;
}

export interface Receiver {
  addr: string;
  port: number;
}

/** A real node:http server with the node's router and the transfer routes, on 127.0.0.1 port 0. */
export async function startReceiver(t: Teardown, options: Omit<TransferRouteOptions, 'hasher'> & { hasher?: Hasher }): Promise<Receiver> {
  const hasher = options.hasher ?? (await loadHasher());
  const router = new Router(transferRoutes({ ...options, hasher }), TOKEN);
  const http = createHttpServer(router, { headersTimeoutMs: 5_000, requestTimeoutMs: 60_000, maxConnections: 64 }, () => undefined, (error) => {
    throw error;
  });
  const port = await http.listen(0, '127.0.0.1');
  t.teardown(() => http.close(1_000));
  return { addr: `127.0.0.1:${port}`, port };
}

/**
 * A TCP proxy on loopback that forwards to `targetPort`; the first connection is cut (both sides
 * destroyed) once `cutAfterBytes` client-to-server bytes went through. Later connections pass.
 */
export async function startCuttingProxy(t: Teardown, targetPort: number, cutAfterBytes: number): Promise<{ addr: string; cuts: () => number; forwardedBytes: () => number }> {
  let cuts = 0;
  let forwarded = 0;
  let first = true;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const cutThis = first;
    first = false;
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    upstream.on('close', () => client.destroy());
    let sent = 0;
    client.on('data', (chunk: Buffer) => {
      if (cutThis && sent + chunk.length >= cutAfterBytes) {
        upstream.write(chunk.subarray(0, Math.max(0, cutAfterBytes - sent)));
        forwarded += Math.max(0, cutAfterBytes - sent);
        cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      sent += chunk.length;
      forwarded += chunk.length;
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    client.on('end', () => upstream.end());
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { addr: `127.0.0.1:${port}`, cuts: () => cuts, forwardedBytes: () => forwarded };
}

export function transferId(): Buffer {
  return randomBytes(16);
}
