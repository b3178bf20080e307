// The chaos network's pure half: the address plan and names, the choice of a free /24, the routes
// that make each kind of partition (both directions), the seeded splits, and which leftovers are a
// dead run's.
import t from 'tap';
import {
  bridgeCommands,
  chooseSubnet,
  cutRoutes,
  drawSplit,
  leftovers,
  networkPlan,
  peerNamespaceCommands,
  peerPlan,
  peerRootCommands,
  prefixesOverlap,
  routeCommands,
  splitCut,
  describeSplit,
  type PeerPlan,
} from '../src/chaos/netns-plan.js';
import { Random } from '../src/chaos/random.js';

const plan = networkPlan(17);
const members = ['node-1', 'node-2', 'node-3', 'node-4'];
const peers = new Map<string, PeerPlan>(members.map((name, slot) => [name, peerPlan(plan, name, slot)]));
const address = (name: string) => peers.get(name)!.address;
const namespace = (name: string) => peers.get(name)!.namespace;

t.test('address plan and names', async (t) => {
  t.same(plan, { subnet: 17, cidr: '10.213.17.0/24', bridge: 'rbc17', gateway: '10.213.17.1', zooKeeperHost: '10.213.17.2', bridgeMac: '02:72:62:00:00:11' });
  t.same(peers.get('node-3'), { name: 'node-3', slot: 2, namespace: 'rbc17-node-3', veth: 'rbc17p2', address: '10.213.17.12' });
  t.equal(peerPlan(networkPlan(255), 'x', 199).veth, 'rbc255p199', 'the longest interface name fits in 15 characters');
  t.throws(() => peerPlan(plan, 'x', 200), /slot/);
  t.throws(() => peerPlan(plan, '../etc', 0), /cannot name/);
  t.throws(() => networkPlan(256), /subnet/);
  t.same(bridgeCommands(plan, 4242), ['link add rbc17 type bridge', 'link set rbc17 alias "ringblock chaos pid 4242"', 'link set rbc17 address 02:72:62:00:00:11', 'addr add 10.213.17.1/24 dev rbc17', 'addr add 10.213.17.2/32 dev rbc17', 'link set rbc17 up']);
  t.same(peerRootCommands(plan, peers.get('node-1')!), ['netns add rbc17-node-1', 'link add rbc17p0 type veth peer name eth0 netns rbc17-node-1', 'link set rbc17p0 master rbc17 up']);
  t.same(peerNamespaceCommands(peers.get('node-1')!), ['addr add 10.213.17.10/24 dev eth0', 'link set eth0 up', 'link set lo up']);
});

t.test('prefix overlap', async (t) => {
  t.ok(prefixesOverlap('10.213.17.0/24', '10.213.17.0/24'));
  t.ok(prefixesOverlap('10.0.0.0/8', '10.213.17.0/24'), 'a wider route containing ours');
  t.ok(prefixesOverlap('10.213.17.128/25', '10.213.17.0/24'), 'a narrower one inside ours');
  t.ok(prefixesOverlap('10.213.17.5', '10.213.17.0/24'), 'a bare address is a /32');
  t.notOk(prefixesOverlap('10.213.18.0/24', '10.213.17.0/24'));
  t.notOk(prefixesOverlap('192.0.2.0/24', '10.213.17.0/24'));
  t.ok(prefixesOverlap('0.0.0.0/0', '10.213.17.0/24'));
  t.throws(() => prefixesOverlap('10.213.17/24', '10.0.0.0/8'), /not an IPv4 prefix/);
});

t.test('choosing a subnet skips routes, bridges and namespaces in use, and wraps', async (t) => {
  const free = { routes: ['default', '192.0.2.0/24', '127.0.0.0/8'], links: ['lo', 'eth0'], namespaces: [] };
  t.equal(chooseSubnet(17, free), 17, 'default is not a collision');
  t.equal(chooseSubnet(17, { ...free, routes: [...free.routes, '10.213.17.0/24'] }), 18);
  t.equal(chooseSubnet(17, { ...free, links: ['rbc17'] }), 18, 'another run holds rbc17');
  t.equal(chooseSubnet(17, { ...free, namespaces: ['rbc17-node-1'] }), 18);
  t.equal(chooseSubnet(255, { ...free, routes: ['10.213.255.0/24'] }), 0, 'wraps around');
  t.equal(chooseSubnet(4242 + 256 * 3, free), 4242 % 256, 'any start (a pid) maps into 0..255');
  t.equal(chooseSubnet(3, { ...free, routes: ['10.0.0.0/8'] }), undefined, 'a route over all of 10/8 leaves nothing');
});

t.test('a partition into halves cuts every pair across, both ways, and nothing else', async (t) => {
  const routes = cutRoutes(plan, peers, splitCut({ kind: 'halves', sides: [['node-1', 'node-3'], ['node-2', 'node-4']] }, members));
  const expected = [];
  for (const [from, to] of [['node-1', 'node-2'], ['node-1', 'node-4'], ['node-3', 'node-2'], ['node-3', 'node-4']] as const) {
    expected.push({ namespace: namespace(from), destination: address(to) }, { namespace: namespace(to), destination: address(from) });
  }
  t.same(routes, expected.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.destination.localeCompare(b.destination, 'en', { numeric: true })));
  t.notOk(routes.some((route) => route.destination === plan.zooKeeperHost), 'ZooKeeper stays reachable');
  t.notOk(routes.some((route) => route.destination === plan.gateway), 'the clients stay reachable');
});

t.test('one node from its peers, from everything, from ZooKeeper alone', async (t) => {
  const fromPeers = cutRoutes(plan, peers, splitCut({ kind: 'node-from-peers', node: 'node-2' }, members));
  t.equal(fromPeers.length, 6, 'three peers, both ways');
  t.ok(fromPeers.filter((route) => route.namespace === namespace('node-2')).every((route) => route.destination !== plan.zooKeeperHost));
  t.same(fromPeers.filter((route) => route.namespace !== namespace('node-2')).map((route) => route.destination), [address('node-2'), address('node-2'), address('node-2')]);
  const fromAll = cutRoutes(plan, peers, splitCut({ kind: 'node-from-all', node: 'node-2' }, members));
  t.same(fromAll.filter((route) => !fromPeers.some((other) => other.namespace === route.namespace && other.destination === route.destination)), [{ namespace: namespace('node-2'), destination: plan.zooKeeperHost }]);
  t.same(cutRoutes(plan, peers, splitCut({ kind: 'node-from-zookeeper', node: 'node-4' }, members)), [{ namespace: namespace('node-4'), destination: plan.zooKeeperHost }]);
  t.throws(() => cutRoutes(plan, peers, { groups: [['node-1'], ['node-9']], fromZooKeeper: [] }), /no namespace for peer node-9/);
  t.throws(() => cutRoutes(plan, peers, { groups: [['node-1'], ['node-1', 'node-2']], fromZooKeeper: [] }), /two groups/);
});

t.test('route commands, one batch per namespace', async (t) => {
  const routes = cutRoutes(plan, peers, splitCut({ kind: 'node-from-all', node: 'node-1' }, ['node-1', 'node-2']));
  t.same([...routeCommands(routes, 'add')], [
    ['rbc17-node-1', ['route add blackhole 10.213.17.2/32', 'route add blackhole 10.213.17.11/32']],
    ['rbc17-node-2', ['route add blackhole 10.213.17.10/32']],
  ]);
  t.same([...routeCommands(routes, 'del')][1], ['rbc17-node-2', ['route del blackhole 10.213.17.10/32']]);
});

t.test('splits are seeded, cover every kind, and name members only', async (t) => {
  const draw = (seed: number) => {
    const random = new Random(seed);
    return Array.from({ length: 40 }, () => drawSplit(random, ['node-1', 'node-2', 'node-3']));
  };
  t.same(draw(5), draw(5), 'the same seed draws the same splits');
  const splits = draw(5);
  t.same([...new Set(splits.map((split) => split.kind))].sort(), ['halves', 'node-from-all', 'node-from-peers', 'node-from-zookeeper']);
  for (const split of splits.filter((split) => split.kind === 'halves')) {
    if (split.kind !== 'halves') continue;
    t.same([...split.sides[0], ...split.sides[1]].sort(), ['node-1', 'node-2', 'node-3']);
    t.equal(split.sides[0].length, 1, 'three members split one against two');
  }
  t.equal(describeSplit({ kind: 'halves', sides: [['node-1'], ['node-2', 'node-3']] }), 'node-1 | node-2 node-3');
  t.equal(describeSplit({ kind: 'node-from-all', node: 'node-2' }), 'node-2 | peers, ZooKeeper');
  t.throws(() => drawSplit(new Random(1), ['node-1']), /two members/);
});

t.test('leftovers: only dead runs of ours', async (t) => {
  const links = [
    { ifname: 'lo' },
    { ifname: 'rbc3', ifalias: 'ringblock chaos pid 100' },
    { ifname: 'rbc3p0' },
    { ifname: 'rbc4', ifalias: 'ringblock chaos pid 200' },
    { ifname: 'rbc4p0' },
    { ifname: 'rbc5' },
    { ifname: 'rbc5p1' },
    { ifname: 'rbc9p2' },
    { ifname: 'rbc3x' },
  ];
  const namespaces = ['rbc3-node-1', 'rbc4-node-1', 'rbc9-node-2', 'rbc5-node-1', 'other', 'rbcx-node-1'];
  const found = leftovers(links, namespaces, (pid) => pid === 200);
  t.same(found.links, ['rbc3p0', 'rbc9p2', 'rbc3'], 'the dead owner\'s bridge and the veths of dead or missing bridges, veths first');
  t.same(found.namespaces, ['rbc3-node-1', 'rbc9-node-2'], 'namespaces of dead or missing bridges; not of the live rbc4, nor of rbc5, which is not ours');
});
