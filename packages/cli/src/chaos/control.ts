// The nemesis's hands on a real local cluster: signals to node processes, ZooKeeper stopped and
// started, nodes added and decommissioned over the admin API, partitions through the chaos network's
// namespaces (./netns.ts, when the run has one), and the bounded waits that tell when the cluster has
// settled. It also says which nodes clients may use now (not under a fault, not leaving).
import { setTimeout as delay } from 'node:timers/promises';
import type { LocalCluster } from '../local-cluster.js';
import type { NodeProcess } from '../node-process.js';
import type { ClusterControl } from './nemesis.js';
import { splitCut, type PartitionSplit } from './netns-plan.js';
import type { PeerNetwork } from './netns.js';
import type { Target } from './workload.js';

/** `ready`: clients use nodes that answer /ready, as a Kubernetes Service does; `any`: every running node, as a ring-aware client may. */
export type Route = 'ready' | 'any';

export interface ControlOptions {
  route?: Route;
  /** Bound on waiting for the cluster to settle after a fault or at the end. */
  settleTimeoutMs?: number;
  /** Bound on a decommission task. */
  decommissionTimeoutMs?: number;
  /** Ends every wait early (the run is being stopped). */
  signal?: AbortSignal;
  /** The namespaces the peers run in: needed for partitions. */
  network?: PeerNetwork;
}

interface ClusterJson {
  epoch: number;
  members: { name: string; state: string; inRing: boolean }[];
  migration: unknown;
}

const SETTLE_TIMEOUT_MS_DEFAULT = 60_000;
const SETTLE_STABLE_MS = 3_000;
const DECOMMISSION_TIMEOUT_MS_DEFAULT = 120_000;
const POLL_MS = 250;
const PROBE_TIMEOUT_MS = 2_000;
/** How often /ready is probed for routing (a Kubernetes readiness probe does the same, less often). */
const READY_PROBE_MS = 500;

export class LocalControl implements ClusterControl {
  /** Nodes under a fault (killed, paused) or leaving: clients do not pick them. */
  private readonly faulted = new Set<string>();
  private readonly paused = new Set<string>();
  /** Decommissioned and stopped: no longer part of the cluster. */
  private readonly removed = new Set<string>();
  private zooKeeperStopped = false;
  /** Nodes whose last /ready probe answered 200. */
  private readonly ready = new Set<string>();
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;

  constructor(private readonly cluster: LocalCluster, private readonly options: ControlOptions = {}) {}

  /** Nodes a client may send to now. */
  targets(): Target[] {
    const routable = (name: string) => !this.faulted.has(name) && !this.removed.has(name) && (this.options.route === 'any' || this.ready.has(name));
    return this.cluster.nodes.filter((node) => node.running && routable(node.spec.name)).map(target);
  }

  /** Starts probing /ready of every running node, for routing; `stopProbing` ends it. */
  startProbing(): void {
    for (const node of this.cluster.nodes) if (node.running && node.ready) this.ready.add(node.spec.name);
    this.probeTimer = setInterval(() => void this.probeReady(), READY_PROBE_MS);
  }

  stopProbing(): void {
    clearInterval(this.probeTimer);
  }

  private async probeReady(): Promise<void> {
    if (this.probing) return; // one round at a time: a slow round is not stacked on
    this.probing = true;
    try {
      await Promise.all(this.cluster.nodes.map(async (node) => {
        const ready = node.running && (await isReady(node));
        if (ready) this.ready.add(node.spec.name);
        else this.ready.delete(node.spec.name);
      }));
    } finally {
      this.probing = false;
    }
  }

  /** Running members, for reads after healing. */
  liveMembers(): Target[] {
    return this.cluster.nodes.filter((node) => node.running && !this.removed.has(node.spec.name)).map(target);
  }

  members(): string[] {
    return this.cluster.nodes.filter((node) => !this.removed.has(node.spec.name)).map((node) => node.spec.name);
  }

  async kill(name: string): Promise<void> {
    this.faulted.add(name);
    await this.cluster.node(name).kill();
  }

  async restart(name: string): Promise<void> {
    const node = this.cluster.node(name);
    if (!node.running) node.start();
    await node.waitReady();
    this.ready.add(name);
    this.faulted.delete(name);
  }

  pause(name: string): void {
    this.faulted.add(name);
    this.paused.add(name);
    this.cluster.node(name).signal('SIGSTOP');
  }

  async resume(name: string): Promise<void> {
    this.cluster.node(name).signal('SIGCONT');
    this.paused.delete(name);
    await this.restart(name);
  }

  async stopZooKeeper(): Promise<void> {
    this.zooKeeperStopped = true;
    await this.cluster.stopZooKeeper();
  }

  async startZooKeeper(): Promise<void> {
    await this.cluster.restartZooKeeper();
    this.zooKeeperStopped = false;
  }

  /**
   * Cuts the links of `split` among the current members (and to ZooKeeper). The clients in the root
   * namespace still reach every peer, so they keep sending to both sides.
   */
  async partition(split: PartitionSplit): Promise<void> {
    if (!this.options.network) throw new Error('partitions need the chaos network (peers in network namespaces)');
    await this.options.network.partition(splitCut(split, this.members()));
  }

  async healPartition(): Promise<void> {
    await this.options.network?.heal();
  }

  async addNode(): Promise<string> {
    // Names are never reused: a decommissioned name may still be marked in ZooKeeper for a while.
    const taken = new Set(this.cluster.nodes.map((node) => node.spec.name));
    let index = this.cluster.nodes.length + 1;
    while (taken.has(`node-${index}`)) index++;
    const name = `node-${index}`;
    await this.cluster.addNode(name);
    this.ready.add(name);
    return name;
  }

  async decommission(name: string): Promise<string> {
    const via = this.targets().find((candidate) => candidate.name !== name);
    if (!via) throw new Error(`no node other than ${name} to ask for its decommission`);
    const response = await fetch(`${via.url}/cluster/nodes/${name}/decommission`, { method: 'POST', headers: { authorization: `Bearer ${this.cluster.token}` }, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS * 5) });
    const body = (await response.json().catch(() => ({}))) as { task?: string; code?: string };
    if (response.status !== 202 || typeof body.task !== 'string') throw new Error(`decommission of ${name} through ${via.name} answered ${response.status} ${body.code ?? ''}`);
    const task = body.task;
    await this.until(`the decommission of ${name} (task ${task})`, this.options.decommissionTimeoutMs ?? DECOMMISSION_TIMEOUT_MS_DEFAULT, async () => {
      const asked = this.targets().find((candidate) => candidate.name !== name) ?? via;
      const state = await getJson<{ state?: string }>(`${asked.url}/tasks/${task}`);
      return state?.state === 'done';
    });
    this.faulted.add(name);
    this.removed.add(name);
    await this.cluster.node(name).stop();
    return task;
  }

  /** Settled: every node agrees on one epoch with exactly the members, all live, and no migration — for SETTLE_STABLE_MS, so a ring that flaps is not taken for a settled one. */
  async settle(): Promise<void> {
    const expected = this.members().sort();
    let since: { epoch: number; atMs: number } | undefined;
    await this.until(`the cluster to settle (members ${expected.join(', ')} live and in the ring, no migration, for ${SETTLE_STABLE_MS} ms)`, this.options.settleTimeoutMs ?? SETTLE_TIMEOUT_MS_DEFAULT, async () => {
      const views = await Promise.all(expected.map((name) => this.view(this.cluster.node(name))));
      const epochs = new Set(views.map((view) => view?.epoch));
      const epoch = views[0]?.epoch;
      if (epoch === undefined || epochs.size !== 1 || !views.every((view) => view !== undefined && settled(view, expected))) {
        since = undefined;
        return false;
      }
      if (since?.epoch !== epoch) since = { epoch, atMs: Date.now() };
      return Date.now() - since.atMs >= SETTLE_STABLE_MS;
    });
  }

  /** Undoes every fault still in place (a partition, ZooKeeper, paused and killed nodes), then settles. */
  async healAll(): Promise<void> {
    await this.healPartition();
    if (this.zooKeeperStopped) await this.startZooKeeper();
    for (const name of this.paused) await this.resume(name);
    for (const name of this.members()) await this.restart(name);
    await this.settle();
  }

  /** A ready node's view of the cluster, or undefined when it is not ready or does not answer. */
  private async view(node: NodeProcess): Promise<ClusterJson | undefined> {
    if (!node.running) return undefined;
    return (await isReady(node)) ? getJson<ClusterJson>(`${node.spec.url}/cluster`) : undefined;
  }

  /** Polls `probe` until it holds, at most `timeoutMs`: there is no event to await across processes. */
  private async until(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const signal = this.options.signal;
    while (Date.now() < deadline && !signal?.aborted) {
      if (await probe().catch(() => false)) return;
      await delay(POLL_MS, undefined, signal ? { signal } : {}).catch(() => undefined);
    }
    throw new Error(signal?.aborted ? `stopped while waiting for ${what}` : `timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

function target(node: NodeProcess): Target {
  return { name: node.spec.name, url: node.spec.url };
}

function settled(view: ClusterJson, expected: readonly string[]): boolean {
  if (view.migration !== null) return false;
  const members = view.members.filter((member) => member.state === 'live' || member.inRing);
  return members.length === expected.length && members.every((member, index) => member.name === expected[index] && member.state === 'live' && member.inRing);
}

async function isReady(node: NodeProcess): Promise<boolean> {
  return fetch(`${node.spec.url}/ready`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).then(async (response) => {
    await response.arrayBuffer();
    return response.status === 200;
  }, () => false);
}

async function getJson<T>(url: string): Promise<T | undefined> {
  const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  const body = await response.json().catch(() => undefined);
  return response.status === 200 ? (body as T) : undefined;
}
