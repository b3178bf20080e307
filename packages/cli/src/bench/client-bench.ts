// The TypeScript client against the cluster it is given: the plain path (each call to the next node,
// which coordinates it) beside ring-aware routing (each call straight to an owner of the block, so
// the coordinator is a replica and one network hop is saved), same load shape, same run.
import { randomBytes } from 'node:crypto';
import { RingblockClient } from '@ringblock/client';
import { runClosedLoop, type LoadResult } from './load.js';

export const CLIENT_CONCURRENCY = 64;

export interface ClientCase {
  target: 'client' | 'client-ring-aware';
  op: 'put' | 'get';
  level: 'quorum' | 'one';
  result: LoadResult;
}

/** PUT quorum, GET quorum and GET one through a plain and a ring-aware client over keys `k-0…k-<keys-1>` (already stored). */
export async function runClientCases(urls: readonly string[], keys: number, durationMs: number, progress: (line: string) => void): Promise<ClientCase[]> {
  const results: ClientCase[] = [];
  const body = randomBytes(4096);
  for (const ringAware of [false, true]) {
    const target = ringAware ? 'client-ring-aware' : 'client';
    const client = await RingblockClient.create({ nodes: urls, ringAware, connectionsPerNode: Math.ceil(CLIENT_CONCURRENCY / urls.length) + 1, retries: 0 });
    try {
      for (const [op, level] of [['put', 'quorum'], ['get', 'quorum'], ['get', 'one']] as const) {
        progress(`${target}: ${op} ${level} ×${CLIENT_CONCURRENCY} for ${durationMs / 1000}s…`);
        const key = (random: () => number) => `k-${Math.floor(random() * keys)}`;
        const result = await runClosedLoop({ name: `${op} ${level}`, concurrency: CLIENT_CONCURRENCY, durationMs }, async (random) => {
          if (op === 'put') return (await client.put(key(random), body, { consistency: level })).version.length > 0;
          return (await client.get(key(random), { consistency: level })) !== undefined;
        });
        progress(`  ${result.opsPerSecond.toFixed(0)} ops/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, errors ${result.errors}`);
        results.push({ target, op, level, result });
      }
    } finally {
      await client.close();
    }
  }
  return results;
}
