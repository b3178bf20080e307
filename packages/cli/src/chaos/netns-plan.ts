// The pure half of the chaos network (./netns.ts runs it): which /24 a run takes, the names and
// addresses of its bridge and of each peer's network namespace, the `ip` commands that build them,
// the blackhole routes that make a partition, and which leftovers of dead runs to remove. No I/O.
//
// A run with subnet S (10.213.S.0/24) owns:
//   bridge  rbc<S>         in the root namespace: 10.213.S.1/24 (the clients' source address) and
//                          10.213.S.2/32 (ZooKeeper listens there, so a peer can be cut from it alone)
//   peer    rbc<S>-<name>  one namespace per peer: loopback, and eth0 = 10.213.S.<10+slot>/24, whose
//                          other end rbc<S>p<slot> is a port of the bridge
// The bridge's alias names the owning process, so a later run can tell a dead run's leftovers.
// A partition is a set of `blackhole` routes inside the peers' namespaces: a new connection to a cut
// address fails at once (EINVAL), and the packets of an established one are dropped silently.
import type { Random } from './random.js';

export const SUBNET_BASE = '10.213';
export const NAME_PREFIX = 'rbc';
export const OWNER_ALIAS_PREFIX = 'ringblock chaos pid ';
/** Peer addresses are .10 up to .10 + PEER_SLOTS_MAX - 1. */
export const PEER_SLOTS_MAX = 200;
const PEER_HOST_FIRST = 10;
const SUBNETS = 256;
/** The port every namespaced peer listens on (each namespace has its own ports). */
export const PEER_PORT = 3000;
const IFNAME_CHARS_MAX = 15;

export interface NetworkPlan {
  /** The third octet: the run's 10.213.S.0/24. */
  subnet: number;
  cidr: string;
  bridge: string;
  /** The bridge's address: where clients in the root namespace come from. */
  gateway: string;
  zooKeeperHost: string;
  /**
   * The bridge's MAC address, set once: a bridge left to pick its own takes the lowest of its ports',
   * so plugging in a new peer could change it, and peers whose neighbour entry still held the old one
   * lost ZooKeeper (and the clients) for up to a minute — a chaos run found that.
   */
  bridgeMac: string;
}

export interface PeerPlan {
  name: string;
  slot: number;
  namespace: string;
  /** The root-namespace end of the peer's veth pair (inside, it is eth0). */
  veth: string;
  address: string;
}

export function networkPlan(subnet: number): NetworkPlan {
  if (!Number.isInteger(subnet) || subnet < 0 || subnet >= SUBNETS) throw new RangeError(`subnet must be 0..${SUBNETS - 1}, got ${subnet}`);
  const bridgeMac = `02:72:62:00:00:${subnet.toString(16).padStart(2, '0')}`; // locally administered
  return { subnet, cidr: `${SUBNET_BASE}.${subnet}.0/24`, bridge: `${NAME_PREFIX}${subnet}`, gateway: `${SUBNET_BASE}.${subnet}.1`, zooKeeperHost: `${SUBNET_BASE}.${subnet}.2`, bridgeMac };
}

export function peerPlan(plan: NetworkPlan, name: string, slot: number): PeerPlan {
  if (!Number.isInteger(slot) || slot < 0 || slot >= PEER_SLOTS_MAX) throw new RangeError(`peer slot must be 0..${PEER_SLOTS_MAX - 1}, got ${slot}`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new RangeError(`"${name}" cannot name a network namespace`);
  const veth = `${plan.bridge}p${slot}`;
  if (veth.length > IFNAME_CHARS_MAX) throw new RangeError(`interface name ${veth} is longer than ${IFNAME_CHARS_MAX} characters`);
  return { name, slot, namespace: `${plan.bridge}-${name}`, veth, address: `${SUBNET_BASE}.${plan.subnet}.${PEER_HOST_FIRST + slot}` };
}

/** `ip -batch` lines (root namespace) creating the bridge; its alias names the owner. */
export function bridgeCommands(plan: NetworkPlan, ownerPid: number): string[] {
  return [
    `link add ${plan.bridge} type bridge`,
    `link set ${plan.bridge} alias "${OWNER_ALIAS_PREFIX}${ownerPid}"`,
    `link set ${plan.bridge} address ${plan.bridgeMac}`,
    `addr add ${plan.gateway}/24 dev ${plan.bridge}`,
    `addr add ${plan.zooKeeperHost}/32 dev ${plan.bridge}`,
    `link set ${plan.bridge} up`,
  ];
}

/** Root-namespace lines for one peer: its namespace and the veth pair into it, plugged into the bridge. */
export function peerRootCommands(plan: NetworkPlan, peer: PeerPlan): string[] {
  return [`netns add ${peer.namespace}`, `link add ${peer.veth} type veth peer name eth0 netns ${peer.namespace}`, `link set ${peer.veth} master ${plan.bridge} up`];
}

/** Lines run inside the peer's namespace: its address, eth0 and loopback up. */
export function peerNamespaceCommands(peer: PeerPlan): string[] {
  return [`addr add ${peer.address}/24 dev eth0`, 'link set eth0 up', 'link set lo up'];
}

/** The argv prefix that runs a program inside the peer's namespace (`ip netns exec` execs it: same pid). */
export function execPrefix(peer: PeerPlan): string[] {
  return ['ip', 'netns', 'exec', peer.namespace];
}

export interface TakenNames {
  /** Destinations of the root namespace's IPv4 routes (`default` is ignored). */
  routes: readonly string[];
  /** Link names in the root namespace. */
  links: readonly string[];
  namespaces: readonly string[];
}

/**
 * The first subnet from `start` on (wrapping) whose /24 overlaps no existing route and whose names are
 * free; undefined when all are taken.
 */
export function chooseSubnet(start: number, taken: TakenNames): number | undefined {
  const links = new Set(taken.links);
  const routes = taken.routes.filter((route) => route !== 'default');
  for (let step = 0; step < SUBNETS; step++) {
    const plan = networkPlan((((start + step) % SUBNETS) + SUBNETS) % SUBNETS);
    if (links.has(plan.bridge)) continue;
    if (taken.namespaces.some((namespace) => namespace.startsWith(`${plan.bridge}-`))) continue;
    if (routes.some((route) => prefixesOverlap(route, plan.cidr))) continue;
    return plan.subnet;
  }
  return undefined;
}

/** Whether two IPv4 prefixes ("a.b.c.d/n", or a bare address for /32) share an address. */
export function prefixesOverlap(a: string, b: string): boolean {
  const left = parsePrefix(a);
  const right = parsePrefix(b);
  const bits = Math.min(left.bits, right.bits);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((left.address & mask) >>> 0) === ((right.address & mask) >>> 0);
}

function parsePrefix(text: string): { address: number; bits: number } {
  const [address, bits = '32'] = text.split('/');
  const octets = (address ?? '').split('.').map(Number);
  const width = Number(bits);
  if (octets.length !== 4 || octets.some((octet) => !Number.isInteger(octet) || octet < 0 || octet > 255) || !Number.isInteger(width) || width < 0 || width > 32) {
    throw new RangeError(`not an IPv4 prefix: "${text}"`);
  }
  return { address: octets.reduce((sum, octet) => sum * 256 + octet, 0), bits: width };
}

/** How the peers are split: the nemesis draws one of these. */
export type PartitionSplit =
  | { kind: 'halves'; sides: [string[], string[]] }
  /** One node cannot reach the other peers (nor they it); ZooKeeper still reaches everyone. */
  | { kind: 'node-from-peers'; node: string }
  /** One node cut from the other peers and from ZooKeeper. */
  | { kind: 'node-from-all'; node: string }
  /** One node cut from ZooKeeper only: its session expires while the peers still reach it. */
  | { kind: 'node-from-zookeeper'; node: string };

export const SPLIT_KINDS: readonly PartitionSplit['kind'][] = ['halves', 'node-from-peers', 'node-from-all', 'node-from-zookeeper'];

/** What is cut: peers in different groups cannot reach each other; `fromZooKeeper` cannot reach ZooKeeper. */
export interface Cut {
  groups: string[][];
  fromZooKeeper: string[];
}

/** A seeded split of the members (at least two): random halves, or one random node cut one of three ways. */
export function drawSplit(random: Random, members: readonly string[]): PartitionSplit {
  if (members.length < 2) throw new RangeError('a partition needs at least two members');
  const kind = random.pick(SPLIT_KINDS);
  if (kind !== 'halves') return { kind, node: random.pick(members) };
  const shuffled = random.shuffle(members);
  const cut = Math.floor(shuffled.length / 2);
  return { kind, sides: [shuffled.slice(0, cut).sort(), shuffled.slice(cut).sort()] };
}

export function splitCut(split: PartitionSplit, members: readonly string[]): Cut {
  if (split.kind === 'halves') return { groups: split.sides.map((side) => [...side]), fromZooKeeper: [] };
  const others = members.filter((member) => member !== split.node);
  const peers = [[split.node], others];
  if (split.kind === 'node-from-peers') return { groups: peers, fromZooKeeper: [] };
  if (split.kind === 'node-from-all') return { groups: peers, fromZooKeeper: [split.node] };
  return { groups: [], fromZooKeeper: [split.node] };
}

/** The split for a person and the history: "node-1 node-3 | node-2", "node-2 | peers, ZooKeeper". */
export function describeSplit(split: PartitionSplit): string {
  switch (split.kind) {
    case 'halves':
      return `${split.sides[0].join(' ')} | ${split.sides[1].join(' ')}`;
    case 'node-from-peers':
      return `${split.node} | peers`;
    case 'node-from-all':
      return `${split.node} | peers, ZooKeeper`;
    case 'node-from-zookeeper':
      return `${split.node} | ZooKeeper`;
  }
}

export interface BlackholeRoute {
  namespace: string;
  /** An address (a /32). */
  destination: string;
}

/**
 * The routes that make `cut`, both directions: for every pair of peers in different groups, each one's
 * namespace drops the other's address; a peer cut from ZooKeeper drops ZooKeeper's address. Peers the
 * cut does not name are not touched. Sorted, without duplicates.
 */
export function cutRoutes(plan: NetworkPlan, peers: ReadonlyMap<string, PeerPlan>, cut: Cut): BlackholeRoute[] {
  const known = (name: string): PeerPlan => {
    const peer = peers.get(name);
    if (!peer) throw new RangeError(`no namespace for peer ${name}`);
    return peer;
  };
  const group = new Map<string, number>();
  cut.groups.forEach((members, index) => members.forEach((name) => {
    if (group.has(name)) throw new RangeError(`${name} is in two groups of a partition`);
    group.set(name, index);
  }));
  const routes = new Map<string, BlackholeRoute>();
  const add = (from: PeerPlan, destination: string) => routes.set(`${from.namespace} ${destination}`, { namespace: from.namespace, destination });
  for (const [from, fromGroup] of group) {
    for (const [to, toGroup] of group) if (fromGroup !== toGroup) add(known(from), known(to).address);
  }
  for (const name of cut.fromZooKeeper) add(known(name), plan.zooKeeperHost);
  return [...routes.values()].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.destination.localeCompare(b.destination, 'en', { numeric: true }));
}

/** `ip -n <namespace> -batch` lines per namespace, adding (or deleting) the routes. */
export function routeCommands(routes: readonly BlackholeRoute[], action: 'add' | 'del'): Map<string, string[]> {
  const byNamespace = new Map<string, string[]>();
  for (const route of routes) {
    const lines = byNamespace.get(route.namespace) ?? [];
    lines.push(`route ${action} blackhole ${route.destination}/32`);
    byNamespace.set(route.namespace, lines);
  }
  return byNamespace;
}

export interface LinkInfo {
  ifname: string;
  ifalias?: string;
}

/**
 * A dead run's leftovers: bridges named like ours whose owner process is gone, with the veth ends named
 * after them, and namespaces named after a bridge that is dead or gone. Live runs' bridges (and what is
 * named after them), and bridges named like ours without our alias (not made by us), are left alone.
 * Links are listed veths first, then bridges: the order to delete them in.
 */
export function leftovers(links: readonly LinkInfo[], namespaces: readonly string[], alive: (pid: number) => boolean): { links: string[]; namespaces: string[] } {
  const bridgePattern = new RegExp(`^${NAME_PREFIX}\\d{1,3}$`);
  const spared = new Set<string>();
  const deadBridges: string[] = [];
  for (const link of links) {
    if (!bridgePattern.test(link.ifname)) continue;
    const owner = link.ifalias?.startsWith(OWNER_ALIAS_PREFIX) ? Number(link.ifalias.slice(OWNER_ALIAS_PREFIX.length)) : undefined;
    if (owner === undefined || (Number.isInteger(owner) && owner > 0 && alive(owner))) spared.add(link.ifname);
    else deadBridges.push(link.ifname);
  }
  const bridgeOf = (name: string, separator: string) => new RegExp(`^(${NAME_PREFIX}\\d{1,3})${separator}`).exec(name)?.[1];
  const orphan = (bridge: string | undefined) => bridge !== undefined && !spared.has(bridge);
  const veths = links.map((link) => link.ifname).filter((name) => orphan(bridgeOf(name, 'p\\d+$')));
  return { links: [...veths, ...deadBridges], namespaces: namespaces.filter((namespace) => orphan(bridgeOf(namespace, '-[A-Za-z0-9][A-Za-z0-9._-]*$'))) };
}
