// Shared test fixtures: a real ZooKeeper server per test file, event waits with bounds, a pino
// logger whose lines the test can inspect.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import { ClusterMembership, CoordError, startZooKeeper, type ClusterConfig, type MemberInfo, type MembershipOptions, type ZooKeeperProcess } from '../src/index.js';

/** The part of a tap Test the helpers use. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export const TICK_TIME_MS = 250;

export function tempDir(t: Teardown, prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `ringblock-${prefix}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts ZooKeeper on a free port in a temp dir; stopped (and the dir removed) in teardown. */
export async function startTestZooKeeper(t: Teardown, dataDir = tempDir(t, 'zk')): Promise<ZooKeeperProcess> {
  const zk = await startZooKeeper({ dataDir, tickTimeMs: TICK_TIME_MS, startTimeoutMs: 30_000 });
  t.teardown(() => zk.stop());
  return zk;
}

/** Resolves with the first emission of `event` whose arguments satisfy `accept`; rejects after timeoutMs. */
export function waitForEvent<A extends unknown[]>(
  emitter: Pick<EventEmitter, 'on' | 'off'>,
  event: string,
  timeoutMs: number,
  accept: (...args: A) => boolean = () => true,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no matching "${event}" event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (...args: unknown[]): void => {
      if (!accept(...(args as A))) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args as A);
    };
    emitter.on(event, listener);
  });
}

/** A pino logger at debug level whose records are kept in `records`. */
export function capturingLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), records };
}

/** A TCP proxy in front of ZooKeeper that can cut the network (a partition) without stopping it. */
export interface TcpProxy {
  readonly connect: string;
  /** Drops every connection and resets new ones until unblocked. */
  block(): void;
  /** Drops every connection, then accepts new ones and never answers them, until unblocked; resolves once one is held. */
  hang(): Promise<void>;
  unblock(): void;
}

export async function startTcpProxy(t: Teardown, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let blocked = false;
  let hanging = false;
  let held: (() => void) | undefined;
  const server = net.createServer((client) => {
    if (blocked) {
      client.resetAndDestroy();
      return;
    }
    if (hanging) {
      // Accepted, read and never answered: a server that took the connection and went silent.
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      client.on('error', () => client.destroy());
      client.resume();
      held?.();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  const address = server.address() as net.AddressInfo;
  return {
    connect: `127.0.0.1:${address.port}`,
    block: () => {
      blocked = true;
      for (const socket of sockets) socket.resetAndDestroy();
    },
    unblock: () => {
      blocked = false;
      hanging = false;
    },
    hang: () => {
      hanging = true;
      const first = new Promise<void>((resolve) => (held = resolve));
      for (const socket of sockets) socket.resetAndDestroy();
      return first;
    },
  };
}

export const TEST_CONFIG: ClusterConfig = { vnodes: 16, replicationFactor: 3, blockSize: 4096, downGraceMs: 1_500, staleGraceMs: 60_000 };
export const SESSION_TIMEOUT_MS = 2_000;

export function memberInfo(name: string, port = 3000): MemberInfo {
  return { name, addr: `127.0.0.1:${port}`, capacityBytes: 1 << 30, usedBytes: 0, startedAt: Date.now(), version: '0.1.0', backing: 'file' };
}

export type MemberOptions = Partial<MembershipOptions> & { readonly connect: string; readonly cluster: string; readonly name: string };

/** A membership (not started) that is stopped in teardown. */
export function newMember(t: Teardown, options: MemberOptions): ClusterMembership {
  const membership = new ClusterMembership({
    self: memberInfo(options.name),
    localConfig: TEST_CONFIG,
    sessionTimeoutMs: SESSION_TIMEOUT_MS,
    connectTimeoutMs: 5_000,
    logger: pino({ level: 'silent' }),
    ...options,
  });
  t.teardown(() => membership.stop());
  return membership;
}

export async function startMember(t: Teardown, options: MemberOptions): Promise<ClusterMembership> {
  const membership = newMember(t, options);
  await membership.start();
  return membership;
}

/** Resolves when `membership` sees exactly `names` live. */
export function membersBecome(membership: ClusterMembership, names: readonly string[], timeoutMs = 10_000): Promise<unknown> {
  const wanted = [...names].sort().join();
  if ([...membership.liveMembers().keys()].sort().join() === wanted) return Promise.resolve();
  return waitForEvent<[ReadonlyMap<string, MemberInfo>]>(membership, 'members', timeoutMs, (members) => [...members.keys()].sort().join() === wanted);
}

/** The CoordError `promise` rejects with (fails the test if it resolves or rejects otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<CoordError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CoordError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}
