// The chaos network (plan in ./netns-plan.ts): a bridge in the root namespace and one network
// namespace per peer, built with iproute2's `ip` only (no iptables), so peers can be partitioned from
// each other and from ZooKeeper while the clients in the root namespace still reach every peer.
// `PeerNetwork.open` says why it cannot be had (not root, no `ip`, creation refused), so the runner
// can skip partitions with that reason. Everything it made is removed by `close` (or `closeSync` when
// the process exits), and `removeLeftovers` removes what a killed run left behind.
import { spawn, spawnSync } from 'node:child_process';
import type { ClusterNetwork, PeerPlacement } from '../local-cluster.js';
import {
  bridgeCommands,
  chooseSubnet,
  cutRoutes,
  execPrefix,
  leftovers,
  networkPlan,
  PEER_PORT,
  PEER_SLOTS_MAX,
  peerNamespaceCommands,
  peerPlan,
  peerRootCommands,
  routeCommands,
  type BlackholeRoute,
  type Cut,
  type LinkInfo,
  type NetworkPlan,
  type PeerPlan,
} from './netns-plan.js';

/** Bound on one `ip` invocation. */
const IP_TIMEOUT_MS = 10_000;
/** Subnets tried when another run takes the chosen one between the look and the creation. */
const CREATE_ATTEMPTS_MAX = 8;
const IP_OUTPUT_BYTES_MAX = 4 * 1024 * 1024;

export class NetworkUnavailable extends Error {}

export class PeerNetwork implements ClusterNetwork {
  private readonly peers = new Map<string, PeerPlan>();
  /** The routes of the partition in place. */
  private cut: BlackholeRoute[] = [];
  private closed = false;

  private constructor(readonly plan: NetworkPlan) {}

  /** Builds the bridge (after removing dead runs' leftovers); throws NetworkUnavailable saying why it cannot. */
  static async open(log: (line: string) => void = () => undefined): Promise<PeerNetwork> {
    const uid = process.getuid?.();
    if (uid !== undefined && uid !== 0) throw new NetworkUnavailable(`not root (uid ${uid}): creating network namespaces needs CAP_SYS_ADMIN and CAP_NET_ADMIN`);
    const removed = await removeLeftovers();
    if (removed.length > 0) log(`removed leftovers of dead chaos runs: ${removed.join(', ')}`);
    let lastError = '';
    for (let attempt = 0; attempt < CREATE_ATTEMPTS_MAX; attempt++) {
      const subnet = chooseSubnet(process.pid + attempt, await taken());
      if (subnet === undefined) throw new NetworkUnavailable('every 10.213.S.0/24 overlaps a route or is in use');
      const network = new PeerNetwork(networkPlan(subnet));
      try {
        await ip(['-batch', '-'], bridgeCommands(network.plan, process.pid));
        return network;
      } catch (error) {
        lastError = message(error);
        await ip(['link', 'del', network.plan.bridge]).catch(() => undefined);
        if (!/File exists/i.test(lastError)) break; // not a race with another run: no point trying on
      }
    }
    throw new NetworkUnavailable(`creating the bridge failed: ${lastError}`);
  }

  get zooKeeperHost(): string {
    return this.plan.zooKeeperHost;
  }

  /** Creates the peer's namespace (once per name: a restarted peer keeps it) and says how to run it there. */
  async place(name: string): Promise<PeerPlacement> {
    const peer = this.peers.get(name) ?? (await this.addPeer(name));
    return { host: peer.address, port: PEER_PORT, argvPrefix: execPrefix(peer) };
  }

  private async addPeer(name: string): Promise<PeerPlan> {
    if (this.closed) throw new Error('the chaos network is closed');
    if (this.peers.size >= PEER_SLOTS_MAX) throw new RangeError(`at most ${PEER_SLOTS_MAX} peers on one chaos network`);
    const peer = peerPlan(this.plan, name, this.peers.size);
    this.peers.set(name, peer); // before creating, so close() removes a half-made namespace too
    await ip(['-batch', '-'], peerRootCommands(this.plan, peer));
    await ip(['-n', peer.namespace, '-batch', '-'], peerNamespaceCommands(peer));
    return peer;
  }

  /** Puts `cut` in place (after healing any partition still there): one `ip -batch` per namespace. */
  async partition(cut: Cut): Promise<void> {
    await this.heal();
    const routes = cutRoutes(this.plan, this.peers, cut);
    this.cut = routes;
    await Promise.all([...routeCommands(routes, 'add')].map(([namespace, lines]) => ip(['-n', namespace, '-batch', '-'], lines)));
  }

  /** Removes every blackhole route of the partition in place. */
  async heal(): Promise<void> {
    const routes = this.cut;
    if (routes.length === 0) return;
    await Promise.all([...routeCommands(routes, 'del')].map(([namespace, lines]) => ip(['-force', '-n', namespace, '-batch', '-'], lines)));
    this.cut = [];
  }

  get partitioned(): boolean {
    return this.cut.length > 0;
  }

  /** Removes the namespaces (ending any process still in one: only peers this run started are there) and the bridge. */
  async close(): Promise<void> {
    if (this.closed) return;
    const peers = [...this.peers.values()];
    await removeNetwork(peers.map((peer) => peer.namespace), [...peers.map((peer) => peer.veth), this.plan.bridge]);
    this.closed = true; // only now: closeSync at exit tries again after a close that threw
  }

  /** The same, synchronously, for process exit. */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    const peers = [...this.peers.values()];
    for (const peer of peers) killInside(ipSync(['netns', 'pids', peer.namespace]));
    ipSync(['-force', '-batch', '-'], removalCommands(peers.map((peer) => peer.namespace), [...peers.map((peer) => peer.veth), this.plan.bridge]));
  }
}

/** Removes the bridges and namespaces of chaos runs whose process is gone; returns their names. */
export async function removeLeftovers(): Promise<string[]> {
  // Namespaces before links: a run creates its bridge before its namespaces, so a namespace seen here
  // has its bridge in the link list read after, and a live run's namespace is never taken for an orphan.
  const namespaces = await listNamespaces();
  const links = JSON.parse((await ip(['-j', 'link', 'show'])) || '[]') as LinkInfo[];
  const found = leftovers(links, namespaces, alive);
  await removeNetwork(found.namespaces, found.links);
  return [...found.links, ...found.namespaces];
}

/** Ends what runs inside the namespaces, then deletes the links (veth ends before bridges) and namespaces. */
async function removeNetwork(namespaces: readonly string[], links: readonly string[]): Promise<void> {
  for (const namespace of namespaces) killInside(await ip(['netns', 'pids', namespace]).catch(() => ''));
  const lines = removalCommands(namespaces, links);
  // -force: go on past a link or namespace already gone (a veth goes with its namespace).
  if (lines.length > 0) await ip(['-force', '-batch', '-'], lines).catch(() => undefined);
}

/** Deleting a veth end removes the pair at once; a namespace's own end would go only once the kernel frees it. */
function removalCommands(namespaces: readonly string[], links: readonly string[]): string[] {
  return [...links.map((link) => `link del ${link}`), ...namespaces.map((namespace) => `netns del ${namespace}`)];
}

/** SIGKILLs the pids `ip netns pids` listed: processes inside a namespace this code created. */
function killInside(pids: string): void {
  for (const pid of pids.split(/\s+/).filter((text) => /^\d+$/.test(text)).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function taken(): Promise<{ routes: string[]; links: string[]; namespaces: string[] }> {
  const routes = JSON.parse((await ip(['-j', '-4', 'route', 'show', 'table', 'all'])) || '[]') as { dst: string }[];
  const links = JSON.parse((await ip(['-j', 'link', 'show'])) || '[]') as LinkInfo[];
  return { routes: routes.map((route) => route.dst).filter((dst) => /^\d/.test(dst)), links: links.map((link) => link.ifname), namespaces: await listNamespaces() };
}

async function listNamespaces(): Promise<string[]> {
  return (JSON.parse((await ip(['-j', 'netns', 'list'])) || '[]') as { name: string }[]).map((entry) => entry.name);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `ip` (batch lines on stdin when given), bounded in time; resolves with stdout, rejects with stderr. */
function ip(args: readonly string[], stdinLines?: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', args, { stdio: [stdinLines ? 'pipe' : 'ignore', 'pipe', 'pipe'], timeout: IP_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString('utf8')).slice(0, IP_OUTPUT_BYTES_MAX)));
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(0, IP_OUTPUT_BYTES_MAX)));
    child.on('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? new NetworkUnavailable("iproute2's `ip` is not installed") : error));
    child.on('close', (code, signal) => (code === 0 ? resolve(stdout) : reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || (signal ? `killed by ${signal}` : `exit ${code}`)}`))));
    if (!stdinLines) return;
    child.stdin!.on('error', () => undefined); // an ip that exits early: its status tells
    child.stdin!.end(`${stdinLines.join('\n')}\n`);
  });
}

function ipSync(args: readonly string[], stdinLines?: readonly string[]): string {
  const result = spawnSync('ip', args, { input: stdinLines ? `${stdinLines.join('\n')}\n` : '', encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  return result.stdout ?? '';
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
