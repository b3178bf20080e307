// A local cluster (DESIGN §11): a real ZooKeeper from Debian's package on a free loopback port and N
// peers named node-1…node-N on consecutive ports, each on its own file-backed device, described by
// `<data-dir>/cluster.json`. `ringblock up` runs one; the cluster tests drive one the same way.
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findFreePort, startZooKeeper, type ZooKeeperProcess } from '@ringblock/coord';
import { LoopAttacher } from '@ringblock/spdk';
import { NodeProcess } from './node-process.js';

export const CLUSTER_FILE = 'cluster.json';
/** Bound on waiting for the ring to hold every started node. */
const SETTLE_TIMEOUT_MS = 60_000;
const SETTLE_POLL_MS = 100;
const MAIN_SCRIPT = fileURLToPath(new URL('./main.js', import.meta.url));

export interface ClusterManifest {
  zk: { connect: string; pid: number };
  nodes: { name: string; url: string; pid: number; dataDir: string; argv: string[]; env: Record<string, string> }[];
  /** With --backing spdk-sim: the emulated SPDK target and its storage agent. */
  services?: { name: string; url: string; pid: number; argv: string[]; env: Record<string, string> }[];
  token: string;
}

export type LocalBacking = 'file' | 'spdk-sim';

export interface LocalClusterOptions {
  nodes: number;
  /** First peer port; 0 picks free ports. */
  basePort: number;
  dataDir: string;
  /** Extra RINGBLOCK_* settings for every node (e.g. a short DOWN_GRACE in tests). */
  env?: Record<string, string>;
  deviceSize?: string;
  detached?: boolean;
  /** spdk-sim: every peer's device is an lvol of an spdk-sim target, provisioned by a storage agent. */
  backing?: LocalBacking;
  /** Where ZooKeeper listens and where each peer runs (default: everything on 127.0.0.1). */
  network?: ClusterNetwork;
  /** Node.js flags for every peer (e.g. `--cpu-prof` when profiling a benchmark). */
  nodeFlags?: string[];
}

/** Where one peer runs: its address and port, and the argv prefix that starts it there. */
export interface PeerPlacement {
  host: string;
  port: number;
  /** e.g. `ip netns exec <namespace>`, which execs the peer (so the pid is the peer's). */
  argvPrefix: string[];
}

/** A network other than loopback for the cluster (the chaos runner's namespaces, ./chaos/netns.ts). */
export interface ClusterNetwork {
  /** The address ZooKeeper listens on; every peer reaches it. */
  readonly zooKeeperHost: string;
  /** Called once per start of a new peer name; the same name gets the same placement again. */
  place(name: string): Promise<PeerPlacement>;
}

export class LocalCluster {
  private constructor(
    readonly dataDir: string,
    public zk: ZooKeeperProcess,
    readonly token: string,
    readonly nodes: NodeProcess[],
    private readonly options: LocalClusterOptions,
    /** spdk-sim and the storage agent (spdk-sim backing only). */
    readonly services: NodeProcess[] = [],
  ) {}

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const dataDir = resolve(options.dataDir);
    await mkdir(dataDir, { recursive: true });
    const zk = await startZooKeeper({ dataDir: join(dataDir, 'zookeeper'), ...(options.network ? { host: options.network.zooKeeperHost } : {}), ...(options.detached ? { detached: true } : {}) });
    const cluster = new LocalCluster(dataDir, zk, randomBytes(24).toString('hex'), [], options);
    try {
      if (options.backing === 'spdk-sim') await cluster.startSpdkServices();
      for (let index = 1; index <= options.nodes; index++) {
        const port = options.basePort === 0 || options.network ? undefined : options.basePort + index - 1;
        cluster.nodes.push(await cluster.spawnNode(`node-${index}`, port));
      }
      await Promise.all(cluster.nodes.map((node) => node.waitReady()));
      await cluster.waitSettled();
      await cluster.writeManifest();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /**
   * Waits (bounded) until the committed ring holds every running node and no migration runs: nodes
   * that start together join through migrations, and "up" means the cluster is whole.
   */
  async waitSettled(timeoutMs = SETTLE_TIMEOUT_MS): Promise<void> {
    const running = this.nodes.filter((node) => node.running).map((node) => node.spec.name);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const status = await fetch(`${this.nodes[0]!.spec.url}/cluster`, { signal: AbortSignal.timeout(2_000) })
        .then((response) => response.json() as Promise<{ members: { name: string; inRing: boolean }[]; migration: unknown }>)
        .catch(() => undefined);
      const inRing = new Set(status?.members.filter((member) => member.inRing).map((member) => member.name));
      if (status && status.migration === null && running.every((name) => inRing.has(name))) return;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
    throw new Error(`the ring did not settle with ${running.join(', ')} within ${timeoutMs} ms`);
  }

  node(name: string): NodeProcess {
    const node = this.nodes.find((candidate) => candidate.spec.name === name);
    if (!node) throw new Error(`no node named ${name}`);
    return node;
  }

  /** Starts one more peer on a free port and waits until it is ready. */
  async addNode(name: string): Promise<NodeProcess> {
    const node = await this.spawnNode(name);
    this.nodes.push(node);
    await node.waitReady();
    await this.writeManifest();
    return node;
  }

  /** Stops ZooKeeper (the peers keep running on what they know). */
  async stopZooKeeper(): Promise<void> {
    await this.zk.stop();
  }

  /** Starts ZooKeeper again on the same address and port with the same data. */
  async restartZooKeeper(): Promise<void> {
    this.zk = await startZooKeeper({ dataDir: this.zk.dataDir, host: this.zk.host, port: this.zk.port });
    await this.writeManifest();
  }

  manifest(): ClusterManifest {
    return {
      zk: { connect: this.zk.connect, pid: this.zk.pid },
      nodes: this.nodes.map((node) => ({ name: node.spec.name, url: node.spec.url, pid: node.pid ?? 0, dataDir: node.spec.dataDir, argv: node.spec.argv, env: node.spec.env })),
      ...(this.services.length ? { services: this.services.map((service) => ({ name: service.spec.name, url: service.spec.url, pid: service.pid ?? 0, argv: service.spec.argv, env: service.spec.env })) } : {}),
      token: this.token,
    };
  }

  async writeManifest(): Promise<void> {
    await writeFile(join(this.dataDir, CLUSTER_FILE), `${JSON.stringify(this.manifest(), null, 2)}\n`);
  }

  /** Stops every peer (graceful, in parallel), the SPDK services, then ZooKeeper. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
    for (const service of [...this.services].reverse()) await service.stop();
    await this.zk.stop();
    if (this.options.backing === 'spdk-sim') await releaseLoopDevices(this.dataDir);
  }

  /** The SPDK target emulator's socket (spdk-sim backing). */
  get spdkSock(): string {
    return join(this.dataDir, 'spdk', 'spdk.sock');
  }

  /**
   * spdk-sim on a socket under the data dir, with one emulated NVMe drive big enough for every peer's
   * volume, and a storage agent (host "local") that provisions and exports them.
   */
  private async startSpdkServices(): Promise<void> {
    const dir = join(this.dataDir, 'spdk');
    await mkdir(dir, { recursive: true });
    const driveGiB = Math.max(16, Math.ceil((this.options.nodes + 4) * parseMiB(this.options.deviceSize ?? '256M') / 1024) * 2);
    const sim = new NodeProcess({
      name: 'spdk-sim',
      url: '',
      dataDir: dir,
      argv: [process.execPath, MAIN_SCRIPT, 'spdk-sim', '--sock', this.spdkSock, '--state', join(dir, 'state'), '--device', `0000:00:04.0=${driveGiB}G`],
      env: { RINGBLOCK_LOG_LEVEL: 'warn' },
      logFile: join(dir, 'spdk-sim.log'),
      ready: () => access(this.spdkSock).then(() => true, () => false),
    });
    sim.start({ detached: this.options.detached ?? false });
    this.services.push(sim);
    await sim.waitReady();
    const agentPort = await findFreePort();
    const agent = new NodeProcess({
      name: 'storage-agent',
      url: `http://127.0.0.1:${agentPort}`,
      dataDir: dir,
      argv: [process.execPath, MAIN_SCRIPT, 'storage-agent'],
      env: {
        RINGBLOCK_NAME: 'local',
        RINGBLOCK_ZK: this.zk.connect,
        RINGBLOCK_CLUSTER: 'default',
        RINGBLOCK_SPDK_SOCK: this.spdkSock,
        RINGBLOCK_NVMF_TRANSPORT: 'tcp',
        RINGBLOCK_NVMF_ADDR: '127.0.0.1',
        RINGBLOCK_AGENT_PORT: String(agentPort),
        RINGBLOCK_AGENT_PASS_INTERVAL: '1s',
        RINGBLOCK_VOLUME_RETRY_INITIAL: '200ms',
        RINGBLOCK_LOG_LEVEL: this.options.env?.['RINGBLOCK_LOG_LEVEL'] ?? 'info',
      },
      logFile: join(dir, 'storage-agent.log'),
    });
    agent.start({ detached: this.options.detached ?? false });
    this.services.push(agent);
    await agent.waitReady();
  }

  /** Starts a peer where the network places it, else on 127.0.0.1 at `port` (a free one when not given). */
  private async spawnNode(name: string, port?: number): Promise<NodeProcess> {
    const dataDir = join(this.dataDir, name);
    await mkdir(dataDir, { recursive: true });
    const { host, port: peerPort, argvPrefix } = this.options.network ? await this.options.network.place(name) : { host: '127.0.0.1', port: port ?? (await findFreePort()), argvPrefix: [] };
    const env: Record<string, string> = {
      RINGBLOCK_NAME: name,
      RINGBLOCK_PORT: String(peerPort),
      RINGBLOCK_HOST: host,
      RINGBLOCK_ADVERTISE_ADDR: `${host}:${peerPort}`,
      RINGBLOCK_ZK: this.zk.connect,
      RINGBLOCK_CLUSTER: 'default',
      RINGBLOCK_DATA_DIR: dataDir,
      RINGBLOCK_BACKING: this.options.backing === 'spdk-sim' ? 'spdk' : 'file',
      RINGBLOCK_DEVICE: join(dataDir, 'device.img'),
      RINGBLOCK_DEVICE_SIZE: this.options.deviceSize ?? '256M',
      RINGBLOCK_TOKEN: this.token,
      // The engine's reads, writes and syncs run on libuv's pool; 4 threads (the default) limit them.
      UV_THREADPOOL_SIZE: '16',
      ...this.options.env,
    };
    const node = new NodeProcess({ name, url: `http://${host}:${peerPort}`, dataDir, argv: [...argvPrefix, process.execPath, ...(this.options.nodeFlags ?? []), MAIN_SCRIPT, 'node'], env, logFile: join(dataDir, 'node.log') });
    node.start({ detached: this.options.detached ?? false });
    return node;
  }
}

export async function readManifest(dataDir: string): Promise<ClusterManifest> {
  const path = join(resolve(dataDir), CLUSTER_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new Error(`no cluster at ${path}: start one with \`ringblock up\``);
  }
  return JSON.parse(text) as ClusterManifest;
}

/** "256M", "1G", "512" (MiB) → MiB. */
function parseMiB(size: string): number {
  const match = /^(\d+)([MG]?)$/i.exec(size.trim());
  if (!match) throw new Error(`a device size such as 256M or 1G, got "${size}"`);
  return Number(match[1]) * (match[2]?.toUpperCase() === 'G' ? 1024 : 1);
}

/**
 * Peers on spdk-sim attach their lvol files through loop devices and detach them when they stop
 * gracefully; a killed peer leaves its loop device behind. Detaches whatever is still over a file
 * under the cluster's data dir (no loop device outlives its cluster).
 */
export async function releaseLoopDevices(dataDir: string): Promise<string[]> {
  const loop = new LoopAttacher();
  return (await loop.usable()) ? loop.detachUnder(dataDir) : [];
}
