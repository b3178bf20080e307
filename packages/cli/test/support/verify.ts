// Checks shared by the tests that change the cluster under traffic: every acknowledged write reads
// back, and every block is on all of its owners in the committed ring (computed here from the ring's
// published tokens, independently of the node's code).
import type { Test } from 'tap';
import xxhash from 'xxhash-wasm';
import { eventually, getBlock, replicaRecord, request } from './cluster.js';
import type { Workload } from './workload.js';
import type { LocalCluster } from '../../src/local-cluster.js';

export interface ClusterJson {
  epoch: number;
  members: { name: string; state: string; inRing: boolean }[];
  migration: unknown;
}

export const clusterOf = async (url: string) => (await request(`${url}/cluster`)).json<ClusterJson>();

export async function verifyAll(t: Test, cluster: LocalCluster, workload: Workload): Promise<void> {
  const problems: string[] = [];
  const urls = cluster.nodes.filter((node) => node.running).map((node) => node.spec.url);
  // As a load balancer would: read through nodes that say they are ready. After a ZooKeeper
  // restart a node refuses quorum reads (503) until it has confirmed its ring again.
  await eventually('every running node ready', async () => (await Promise.all(urls.map(async (url) => (await request(`${url}/ready`)).status === 200))).every(Boolean), 60_000, 200);
  for (const [index, key] of workload.ids().entries()) {
    const problem = workload.check(key, await readThroughReady(urls, index, key));
    if (problem) problems.push(problem);
  }
  t.same(problems.slice(0, 10), [], `all ${workload.ids().length} keys read as their last acknowledged write (${workload.acknowledged} acknowledged, ${workload.failed} failed writes)`);
}

/**
 * The read of `key` through node `first` in turn; a node that answers 503 and says on /ready that
 * it is not ready (its ZooKeeper session was lost since, so it cannot confirm its ring) is one a
 * load balancer would have taken out: the read goes to the next node. A node that answers 503
 * while it says it is ready is a problem, and so is a 503 from every node.
 */
async function readThroughReady(urls: readonly string[], first: number, key: string): Promise<Awaited<ReturnType<typeof getBlock>>> {
  let reply = await getBlock(urls[first % urls.length]!, key);
  for (let step = 1; step < urls.length && reply.status === 503; step++) {
    if ((await request(`${urls[(first + step - 1) % urls.length]!}/ready`)).status === 200) return reply;
    reply = await getBlock(urls[(first + step) % urls.length]!, key);
  }
  return reply;
}

export interface PublishedRing {
  epoch: number;
  replicationFactor: number;
  tokens: { token: string; node: string }[];
}

/**
 * Owners by the contract (DESIGN §4), from a ring's published tokens: the first token ≥ position,
 * clockwise with wrap-around, distinct nodes until RF. Written here, apart from the node's code.
 */
export function ownersOf(position: bigint, ring: PublishedRing): string[] {
  const tokens = ring.tokens.map((entry) => ({ token: BigInt(entry.token), node: entry.node })).sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
  let start = tokens.findIndex((entry) => entry.token >= position);
  if (start === -1) start = 0;
  const owners: string[] = [];
  for (let step = 0; step < tokens.length && owners.length < ring.replicationFactor; step++) {
    const node = tokens[(start + step) % tokens.length]!.node;
    if (!owners.includes(node)) owners.push(node);
  }
  return owners;
}

/** Every key is held by its owners in the committed ring (checked through the internal API). */
export async function verifyPlacement(t: Test, cluster: LocalCluster, workload: Workload, sample: number): Promise<void> {
  const running = cluster.nodes.filter((node) => node.running);
  const ring = (await request(`${running[0]!.spec.url}/cluster/ring`)).json<PublishedRing>();
  const { h64 } = await xxhash();
  const misplaced: string[] = [];
  for (const key of workload.ids().slice(0, sample)) {
    for (const owner of ownersOf(h64(key), ring)) {
      if (!(await replicaRecord(cluster, cluster.node(owner).spec.url, key))) misplaced.push(`${key} missing on owner ${owner}`);
    }
  }
  t.same(misplaced.slice(0, 10), [], `sampled keys are on all of their owners in the new ring`);
}
