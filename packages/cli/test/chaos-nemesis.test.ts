// The nemesis against a fake cluster: every enabled kind happens, never more than one node is down,
// the ring stays within its bounds, every fault is healed (also when the run is stopped mid-fault),
// and a cluster that does not settle stops the nemesis with a reason instead of piling faults on.
import t from 'tap';
import { History } from '../src/chaos/history.js';
import { Nemesis, NEMESIS_FAULTS, type ClusterControl, type NemesisOptions } from '../src/chaos/nemesis.js';
import { describeSplit, type PartitionSplit } from '../src/chaos/netns-plan.js';
import { Random } from '../src/chaos/random.js';

class FakeCluster implements ClusterControl {
  readonly nodes = ['node-1', 'node-2', 'node-3'];
  readonly down = new Set<string>();
  zooKeeperUp = true;
  /** The partition in place, and every one made. */
  split: PartitionSplit | undefined;
  readonly splits: PartitionSplit[] = [];
  downMax = 0;
  membersSeen = { min: 3, max: 3 };
  onFault: () => void = () => undefined;
  settleFails = false;

  members(): string[] {
    return [...this.nodes];
  }
  async kill(name: string): Promise<void> {
    this.takeDown(name);
  }
  async restart(name: string): Promise<void> {
    this.down.delete(name);
  }
  pause(name: string): void {
    this.takeDown(name);
  }
  async resume(name: string): Promise<void> {
    this.down.delete(name);
  }
  async stopZooKeeper(): Promise<void> {
    this.zooKeeperUp = false;
    this.onFault();
  }
  async startZooKeeper(): Promise<void> {
    this.zooKeeperUp = true;
  }
  async partition(split: PartitionSplit): Promise<void> {
    if (this.split) throw new Error('a partition is already in place');
    this.split = split;
    this.splits.push(split);
    this.downMax = Math.max(this.downMax, this.down.size + (this.zooKeeperUp ? 0 : 1) + 1);
    this.onFault();
  }
  async healPartition(): Promise<void> {
    this.split = undefined;
  }
  async addNode(): Promise<string> {
    const name = `node-${this.nodes.length + 10}`;
    this.nodes.push(name);
    this.observe();
    return name;
  }
  async decommission(name: string): Promise<string> {
    this.nodes.splice(this.nodes.indexOf(name), 1);
    this.observe();
    return `task-${name}`;
  }
  async settle(): Promise<void> {
    if (this.settleFails) throw new Error('the ring did not settle');
  }
  private takeDown(name: string): void {
    this.down.add(name);
    this.downMax = Math.max(this.downMax, this.down.size + (this.zooKeeperUp ? 0 : 1));
    this.onFault();
  }
  private observe(): void {
    this.membersSeen = { min: Math.min(this.membersSeen.min, this.nodes.length), max: Math.max(this.membersSeen.max, this.nodes.length) };
  }
}

const tiny = { min: 1, max: 3 };

function nemesis(cluster: FakeCluster, history: History, options: Partial<NemesisOptions> = {}): Nemesis {
  return new Nemesis({
    control: cluster,
    history,
    random: new Random(11),
    faults: NEMESIS_FAULTS,
    sessionTimeoutMs: 5,
    membersMin: 3,
    membersMax: 5,
    signal: new AbortController().signal,
    timings: { gapMs: tiny, killDownMs: tiny, pauseBeyondSessionMs: tiny, zooKeeperDownMs: tiny, partitionMs: tiny },
    ...options,
  });
}

t.test('every enabled kind happens, one node down at most, within the ring bounds, all healed', async (t) => {
  const cluster = new FakeCluster();
  const history = new History(10);
  const lines: string[] = [];
  const run = nemesis(cluster, history, { faultsMax: 25, log: (line) => lines.push(line) });
  await run.run(60_000);
  const kinds = new Set(history.faults.map((fault) => fault.kind));
  t.same([...kinds].sort(), [...NEMESIS_FAULTS].sort(), 'all six kinds');
  t.equal(cluster.downMax, 1, 'never more than one node (or ZooKeeper, or a partition) down at once');
  t.equal(cluster.split, undefined, 'the partition is healed');
  t.ok(cluster.membersSeen.min >= 3 && cluster.membersSeen.max <= 5, `ring between 3 and 5 members (${JSON.stringify(cluster.membersSeen)})`);
  t.equal(cluster.down.size, 0, 'every node is back');
  t.ok(cluster.zooKeeperUp, 'ZooKeeper is back');
  t.same(run.problems, []);
  t.ok(history.faults.every((fault) => fault.endMs >= fault.startMs));
  t.ok(history.faults.filter((fault) => fault.kind === 'scale-up').every((fault) => /^node-\d+$/.test(fault.target)), 'a scale-up names the node it added');
  t.ok(lines.length >= history.faults.length, 'each fault is logged');
  t.ok(history.faults.length <= 25 + 5, 'bounded by faultsMax (a decommission may add a node first)');
  const partitions = history.faults.filter((fault) => fault.kind === 'partition');
  t.same(partitions.map((fault) => fault.target), cluster.splits.map(describeSplit), 'a partition is recorded with its split');
  t.ok(partitions.every((fault) => /^(halves|node-from-peers|node-from-all|node-from-zookeeper) for \d+ ms \((beyond|within) the 5 ms session timeout\)$/.test(fault.detail ?? '')), 'and how long it held');
});

t.test('partitions: every split kind over a seeded series, each split among the members', async (t) => {
  const cluster = new FakeCluster();
  const history = new History(10);
  await nemesis(cluster, history, { faults: ['partition'], faultsMax: 40 }).run(60_000);
  t.equal(cluster.splits.length, 40);
  t.same([...new Set(cluster.splits.map((split) => split.kind))].sort(), ['halves', 'node-from-all', 'node-from-peers', 'node-from-zookeeper']);
  for (const split of cluster.splits) {
    const named = split.kind === 'halves' ? [...split.sides[0], ...split.sides[1]] : [split.node];
    if (!named.every((name) => cluster.nodes.includes(name))) t.fail(`${describeSplit(split)} names a node that is not a member`);
    if (split.kind === 'halves' && (split.sides[0].length === 0 || split.sides[1].length === 0)) t.fail(`${describeSplit(split)} has an empty side`);
  }
  t.equal(cluster.split, undefined, 'healed at the end');
});

t.test('the same seed draws the same faults', async (t) => {
  const draw = async () => {
    const history = new History(10);
    await nemesis(new FakeCluster(), history, { faultsMax: 12 }).run(60_000);
    return history.faults.map((fault) => `${fault.kind} ${fault.target}`);
  };
  t.same(await draw(), await draw());
});

t.test('a run stopped in the middle of a fault still heals it', async (t) => {
  const cluster = new FakeCluster();
  const stop = new AbortController();
  cluster.onFault = () => stop.abort();
  const history = new History(10);
  await nemesis(cluster, history, { faults: ['kill'], signal: stop.signal, timings: { gapMs: tiny, killDownMs: { min: 60_000, max: 60_000 } } }).run(600_000);
  t.equal(history.faults.length, 1);
  t.equal(cluster.down.size, 0, 'the killed node was restarted');
  const zk = new FakeCluster();
  const stopZk = new AbortController();
  zk.onFault = () => stopZk.abort();
  await nemesis(zk, new History(10), { faults: ['zookeeper'], signal: stopZk.signal, timings: { gapMs: tiny, zooKeeperDownMs: { min: 60_000, max: 60_000 } } }).run(600_000);
  t.ok(zk.zooKeeperUp, 'ZooKeeper was started again');
  const cut = new FakeCluster();
  const stopCut = new AbortController();
  cut.onFault = () => stopCut.abort();
  await nemesis(cut, new History(10), { faults: ['partition'], signal: stopCut.signal, timings: { gapMs: tiny, partitionMs: { min: 60_000, max: 60_000 } } }).run(600_000);
  t.equal(cut.splits.length, 1);
  t.equal(cut.split, undefined, 'the partition was healed');
});

t.test('a cluster that does not settle stops the nemesis with the reason', async (t) => {
  const cluster = new FakeCluster();
  cluster.settleFails = true;
  const run = nemesis(cluster, new History(10), { faults: ['kill'] });
  await run.run(60_000);
  t.equal(run.problems.length, 1);
  t.match(run.problems[0], /kill: the ring did not settle; no more faults/);
  t.equal(cluster.down.size, 0);
});

t.test('bounds are validated', async (t) => {
  t.throws(() => nemesis(new FakeCluster(), new History(1), { membersMin: 2 }), /at least 3/);
  t.throws(() => nemesis(new FakeCluster(), new History(1), { membersMin: 3, membersMax: 3 }), /room for one more/);
});
