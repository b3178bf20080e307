// Hinted handoff delivers a hint to every owner of the block at replay time, the hinting node
// included. Found by the coordination simulation (seed 29 of coordination-sim before the fix): a
// node coordinated a delete of a block it did not own and kept a hint for the owner that missed it;
// a ring change then made the node an owner (it received an older copy by transfer); the replay
// skipped the node itself, found every other owner holding the delete and removed the hint, so the
// node kept the older version — one copy short until anti-entropy.
import t from 'tap';
import { pino } from 'pino';
import { HintedHandoff } from '../src/hints.js';
import type { Owner } from '../src/coordinator.js';
import { encodeVersion } from '../src/version.js';
import { Scheduler } from './sim/scheduler.js';
import { SimRandom } from './sim/random.js';
import { SimDisk, SimHintEngine, SimReplica } from './sim/storage.js';

t.test('a replayed hint reaches the hinting node when it has become an owner', async (t) => {
  const scheduler = new Scheduler(1_000);
  const random = new SimRandom(1);
  const disk = (name: string) => new SimDisk(name, scheduler, random, { syncMsMin: 1, syncMsMax: 1, readMsMax: 1, ackBeforeDurable: false });
  const disks = { a: disk('a'), b: disk('b') };
  const owners: Owner[] = [{ name: 'a', addr: 'a:1' }, { name: 'b', addr: 'b:1' }];
  const hints = new HintedHandoff({
    engine: new SimHintEngine(disks.a),
    self: 'a',
    owners: () => owners,
    isLive: () => true,
    replica: (owner) => new SimReplica(disks[owner.name as 'a' | 'b']),
    maxHints: 10,
    maxAgeMs: 60_000,
    replayIntervalMs: 1_000,
    log: pino({ level: 'silent' }),
    now: () => scheduler.nowMs(),
  });
  const older = encodeVersion({ physicalMs: 900, logical: 0, node: 'b' });
  const newer = encodeVersion({ physicalMs: 950, logical: 0, node: 'a' });
  const data = Buffer.alloc(4096, 7);
  // a holds an older copy (the transfer); b holds the hinted version already.
  void disks.a.write(0, 'x', older, data);
  void disks.b.write(0, 'x', newer, undefined);
  hints.record('x', newer, undefined, [{ name: 'b', addr: 'b:1' }]);
  await scheduler.runUntil(1_010);
  t.equal(hints.pending(), 1, 'the hint is stored');
  hints.replaySoon();
  await scheduler.runUntil(1_100);
  t.equal(hints.pending(), 0, 'delivered and removed');
  t.same(disks.a.records(0).get('x')?.version, newer, 'the hinting node holds the hinted delete too');
  t.equal(disks.a.records(0).get('x')?.tombstone, true);
  await hints.stop();
});
