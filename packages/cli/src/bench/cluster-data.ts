// What several cluster benchmarks share: filling a cluster with blocks through one node, and summing
// a counter or gauge over the nodes' /metrics.
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';

export const BLOCK_BYTES = 4096;
/** Writers filling the cluster. */
const FILL_CONCURRENCY = 64;

/** PUTs `blocks` random blocks `${prefix}${index}` at consistency=all through `url`. */
export async function fill(url: string, blocks: number, prefix: string, progress: (line: string) => void): Promise<void> {
  const pool = new Pool(url, { connections: FILL_CONCURRENCY });
  const body = randomBytes(BLOCK_BYTES);
  let next = 0;
  try {
    await Promise.all(Array.from({ length: FILL_CONCURRENCY }, async () => {
      while (next < blocks) {
        const index = next++;
        const response = await pool.request({ method: 'PUT', path: `/block/${prefix}${index}?consistency=all`, body });
        await response.body.dump();
        if (response.statusCode !== 201) throw new Error(`fill: PUT ${prefix}${index} answered ${response.statusCode}`);
        if (index % 10_000 === 0) progress(`  filled ${index}/${blocks}`);
      }
    }));
  } finally {
    await pool.close();
  }
}

/** One node's value of an unlabelled-by-us series (the node label is the default one). */
export async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
  return Number(match?.[1] ?? 0);
}

/** The sum of a series over nodes. */
export async function metricTotal(urls: readonly string[], name: string): Promise<number> {
  let total = 0;
  for (const url of urls) total += await metricValue(url, name);
  return total;
}
