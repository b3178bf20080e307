// Test support: a real local cluster (real ZooKeeper, real node processes, loopback HTTP) in a temp
// directory, torn down with the test, and small HTTP helpers that return what a user would see.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { LocalCluster, type LocalClusterOptions } from '../../src/local-cluster.js';

export async function startCluster(t: Test, options: Partial<LocalClusterOptions> = {}): Promise<LocalCluster> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ringblock-test-'));
  const cluster = await LocalCluster.start({
    nodes: 3,
    basePort: 0,
    dataDir,
    deviceSize: '64M',
    ...options,
    env: { RINGBLOCK_SESSION_TIMEOUT: '4s', RINGBLOCK_LOG_LEVEL: process.env.RINGBLOCK_TEST_LOG_LEVEL ?? 'warn', ...options.env },
  });
  t.teardown(async () => {
    await cluster.stop();
    // A failed test keeps its node and ZooKeeper logs: the path is printed, and CI shows it.
    if (t.passing() && process.env.RINGBLOCK_TEST_KEEP !== '1') await rm(dataDir, { recursive: true, force: true });
    else t.comment(`kept the cluster's data and logs in ${dataDir}`);
  });
  return cluster;
}

export interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

export async function request(url: string, init: RequestInit = {}): Promise<Reply> {
  const response = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(15_000) });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body, json: <T>() => JSON.parse(body.toString('utf8')) as T };
}

export function putBlock(baseUrl: string, id: string, data: Buffer, consistency = 'quorum'): Promise<Reply> {
  return request(`${baseUrl}/block/${id}?consistency=${consistency}`, { method: 'PUT', body: data });
}

export function getBlock(baseUrl: string, id: string, consistency = 'quorum'): Promise<Reply> {
  return request(`${baseUrl}/block/${id}?consistency=${consistency}`);
}

export function deleteBlock(baseUrl: string, id: string, consistency = 'quorum'): Promise<Reply> {
  return request(`${baseUrl}/block/${id}?consistency=${consistency}`, { method: 'DELETE' });
}

/** A block's bytes: random, but distinct per call, so a wrong answer cannot match by accident. */
export function randomBlock(): Buffer {
  return randomBytes(4096);
}

/** A replica's own record of a block, through the internal route (token required), sent with `epoch` (default: the node's own). */
export async function replicaRecord(cluster: LocalCluster, baseUrl: string, id: string, epoch?: number): Promise<{ version: string; tombstone: boolean; data: Buffer } | undefined> {
  const sentEpoch = epoch ?? (await request(`${baseUrl}/cluster/ring`)).json<{ epoch: number }>().epoch;
  const reply = await request(`${baseUrl}/internal/block/${id}`, { headers: { authorization: `Bearer ${cluster.token}`, 'x-ringblock-epoch': String(sentEpoch) } });
  if (reply.status === 404) return undefined;
  if (reply.status !== 200) throw new Error(`internal GET answered ${reply.status}: ${reply.body.toString()}`);
  return { version: reply.headers.get('x-ringblock-version') ?? '', tombstone: reply.headers.get('x-ringblock-tombstone') === '1', data: reply.body };
}

/** Waits (bounded) until `probe` holds, re-checking on an interval; for conditions with no event to await. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}
