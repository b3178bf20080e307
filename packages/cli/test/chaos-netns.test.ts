// The chaos network for real (skipped, with the reason, where namespaces cannot be created): three
// stand-in peers (./support/netns-agent.ts) in their namespaces and a ZooKeeper stand-in on the
// bridge. Under each kind of partition, new and established connections across the cut fail both
// ways, everything else (and the root namespace's clients) still connects; after healing everything
// does again. Closing removes every namespace and link and ends what ran inside; a dead run's
// leftovers are found and removed.
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NetworkUnavailable, PeerNetwork, removeLeftovers } from '../src/chaos/netns.js';
import { NAME_PREFIX, splitCut, type Cut, type PartitionSplit } from '../src/chaos/netns-plan.js';
import type { PeerPlacement } from '../src/local-cluster.js';

const AGENT = fileURLToPath(new URL('./support/netns-agent.js', import.meta.url));
const NAMES = ['node-1', 'node-2', 'node-3'];
const ANSWER_TIMEOUT_MS = 40_000;
const SPLITS: PartitionSplit[] = [
  { kind: 'halves', sides: [['node-1'], ['node-2', 'node-3']] },
  { kind: 'node-from-peers', node: 'node-2' },
  { kind: 'node-from-all', node: 'node-3' },
  { kind: 'node-from-zookeeper', node: 'node-1' },
];

interface Answer {
  listening?: number;
  reachable?: boolean[];
  held?: number;
  echoed?: boolean[];
}

/** One stand-in peer: a child in its namespace, asked one JSON line at a time. */
class Agent {
  private readonly lines: AsyncIterator<string>;
  readonly exited: Promise<unknown>;

  constructor(readonly name: string, readonly placement: PeerPlacement, readonly child: ChildProcess) {
    this.lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    this.exited = once(child, 'exit');
  }

  static start(name: string, placement: PeerPlacement): Agent {
    const [command, ...args] = [...placement.argvPrefix, process.execPath, AGENT, placement.host, String(placement.port)];
    return new Agent(name, placement, spawn(command!, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
  }

  get target(): string {
    return `${this.placement.host}:${this.placement.port}`;
  }

  async ask(command?: object): Promise<Answer> {
    if (command) this.child.stdin!.write(`${JSON.stringify(command)}\n`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${this.name} did not answer within ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS)));
    try {
      const next = await Promise.race([this.lines.next(), timeout]);
      if (next.done) throw new Error(`${this.name} exited`);
      return JSON.parse(next.value) as Answer;
    } finally {
      clearTimeout(timer);
    }
  }
}

const opened = await PeerNetwork.open((line) => t.comment(line)).catch((error: unknown) => error);
const unavailable = opened instanceof NetworkUnavailable ? opened.message : undefined;
if (!(opened instanceof PeerNetwork) && !unavailable) throw opened;
if (unavailable) t.comment(`skipped: ${unavailable}`);

t.test('partitions cut exactly the links they name, both ways, and heal', { skip: unavailable ?? false }, async (t) => {
  const network = opened as PeerNetwork;
  const closeOnExit = () => network.closeSync();
  process.once('exit', closeOnExit);
  const zooKeeper = createServer((socket) => socket.on('data', (data) => socket.write(data)).on('error', () => undefined));
  const agents: Agent[] = [];
  t.teardown(async () => {
    agents.forEach((agent) => agent.child.kill('SIGKILL'));
    zooKeeper.close();
    await network.close();
    process.off('exit', closeOnExit);
  });
  zooKeeper.listen(0, network.zooKeeperHost);
  await once(zooKeeper, 'listening');
  const zooKeeperTarget = `${network.zooKeeperHost}:${(zooKeeper.address() as AddressInfo).port}`;
  for (const name of NAMES) agents.push(Agent.start(name, await network.place(name)));
  t.equal(linkAddress(network.plan.bridge), network.plan.bridgeMac, 'the bridge keeps its own MAC address as peers are plugged in (else neighbour entries go stale)');
  for (const agent of agents) t.equal((await agent.ask()).listening, agent.child.pid, `${agent.name} runs in its namespace under the pid it was spawned with (ip netns exec execs)`);
  t.same(await network.place('node-2'), agents[1]!.placement, 'a peer placed again keeps its namespace and address');

  const targetsOf = (agent: Agent) => [...agents.filter((other) => other !== agent).map((other) => other.target), zooKeeperTarget];
  for (const agent of agents) t.equal((await agent.ask({ hold: targetsOf(agent) })).held, NAMES.length, `${agent.name} holds a connection to each peer and to ZooKeeper`);
  await expectLinks(t, agents, zooKeeperTarget, { groups: [], fromZooKeeper: [] }, 'before any partition');

  for (const split of SPLITS) {
    const cut = splitCut(split, NAMES);
    await network.partition(cut);
    t.ok(network.partitioned);
    await expectLinks(t, agents, zooKeeperTarget, cut, `${split.kind}`);
    t.same(await Promise.all(agents.map((agent) => reachFromRoot(agent.target))), [true, true, true], `${split.kind}: the root namespace still reaches every peer`);
    await network.heal();
    t.notOk(network.partitioned);
    await expectLinks(t, agents, zooKeeperTarget, { groups: [], fromZooKeeper: [] }, `healed after ${split.kind}`, 15_000);
  }

  await network.close();
  for (const agent of agents) await agent.exited;
  t.pass('closing ended the processes still inside the namespaces');
  t.same(ours(network.plan.bridge), { links: [], namespaces: [] }, 'no link or namespace of the run is left');
});

t.test('a dead run\'s bridge and namespaces (and what runs inside) are removed', { skip: unavailable ?? false }, async (t) => {
  const network = opened as PeerNetwork;
  const bridge = `${NAME_PREFIX}${(network.plan.subnet + 128) % 256}`;
  t.equal(spawnSync('ip', ['link', 'show', bridge]).status, 1, `${bridge} is free`);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  const namespace = `${bridge}-node-1`;
  const made = spawnSync('ip', ['-batch', '-'], { input: `link add ${bridge} type bridge\nlink set ${bridge} alias "ringblock chaos pid ${dead}"\nnetns add ${namespace}\n`, encoding: 'utf8' });
  t.teardown(() => void spawnSync('ip', ['-force', '-batch', '-'], { input: `netns del ${namespace}\nlink del ${bridge}\n` }));
  t.equal(made.status, 0, made.stderr);
  const inside = spawn('ip', ['netns', 'exec', namespace, process.execPath, '-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const insideExited = once(inside, 'exit');
  t.teardown(() => void inside.kill('SIGKILL'));
  const removed = await removeLeftovers();
  t.ok(removed.includes(bridge) && removed.includes(namespace), `removed ${removed.join(', ')}`);
  await insideExited;
  t.same(ours(bridge), { links: [], namespaces: [] });
});

/** New connections from each agent (and its held ones) succeed exactly where `cut` leaves the link. */
async function expectLinks(t: Test, agents: readonly Agent[], zooKeeperTarget: string, cut: Cut, when: string, echoTimeoutMs = 1_500): Promise<void> {
  const groupOf = (name: string) => cut.groups.findIndex((group) => group.includes(name));
  const open = (from: string, to: string) => groupOf(from) < 0 || groupOf(to) < 0 || groupOf(from) === groupOf(to);
  // The agents in parallel: an echo across the cut waits its whole timeout.
  await Promise.all(agents.map(async (agent) => {
    const expected = [...agents.filter((other) => other !== agent).map((other) => open(agent.name, other.name)), !cut.fromZooKeeper.includes(agent.name)];
    t.same((await agent.ask({ probe: [...agents.filter((other) => other !== agent).map((other) => other.target), zooKeeperTarget] })).reachable, expected, `${when}: new connections from ${agent.name}`);
    t.same((await agent.ask({ echo: echoTimeoutMs })).echoed, expected, `${when}: established connections from ${agent.name}`);
  }));
}

function reachFromRoot(target: string): Promise<boolean> {
  const [host, port] = target.split(':');
  return new Promise((resolve) => {
    const socket = connect({ host: host!, port: Number(port), timeout: 2_000 });
    const done = (reached: boolean) => {
      socket.destroy();
      resolve(reached);
    };
    socket.once('connect', () => done(true)).once('error', () => done(false)).once('timeout', () => done(false));
  });
}

function linkAddress(name: string): string | undefined {
  return (JSON.parse(spawnSync('ip', ['-j', 'link', 'show', name], { encoding: 'utf8' }).stdout || '[]') as { address?: string }[])[0]?.address;
}

/** Links named `bridge` or after it, and namespaces of that bridge, as `ip` lists them now. */
function ours(bridge: string): { links: string[]; namespaces: string[] } {
  const links = (JSON.parse(spawnSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' }).stdout || '[]') as { ifname: string }[]).map((link) => link.ifname);
  const namespaces = (JSON.parse(spawnSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' }).stdout || '[]') as { name: string }[]).map((entry) => entry.name);
  return { links: links.filter((name) => name === bridge || name.startsWith(`${bridge}p`)), namespaces: namespaces.filter((name) => name.startsWith(`${bridge}-`)) };
}
