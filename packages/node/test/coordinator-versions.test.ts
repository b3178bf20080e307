// A coordinator whose clock restarted behind versions it had issued may take a version its
// replicas already hold for another write. Replicas answer `equal` and keep that write's bytes; the
// coordinator must not count that as an acknowledgement, but write again under a later version,
// so the write it acknowledges is the one every replica holds.
import t from 'tap';
import { Coordinator } from '../src/coordinator.js';
import type { Replica, StoredBlock } from '../src/store.js';
import { compareVersions, HybridClock } from '../src/version.js';

/** An in-memory replica under last-writer-wins, answering like the engine does. */
function memoryReplica(): Replica & { stored: Map<string, StoredBlock> } {
  const stored = new Map<string, StoredBlock>();
  return {
    stored,
    write: async (id, version, data) => {
      const current = stored.get(id);
      const order = current ? compareVersions(version, current.version) : 1;
      if (order < 0) return { result: 'newer', current: current!.version };
      if (order === 0) return { result: 'equal', current: current!.version };
      stored.set(id, { version, tombstone: data === undefined, data });
      return { result: 'applied' };
    },
    read: async (id) => stored.get(id),
  };
}

t.test('a reused version is not acknowledged: the write lands under a later one on every replica', async (t) => {
  const nowMs = 1_800_000_000_000;
  const replicas = [memoryReplica(), memoryReplica(), memoryReplica()];
  const owners = ['node-1', 'node-2', 'node-3'].map((name, index) => ({ name, addr: `127.0.0.1:${index + 1}` }));
  const coordinator = () =>
    new Coordinator({
      self: 'node-1',
      // Frozen time, a fresh clock each time: the restarted node issues the same versions again.
      clock: new HybridClock('node-1', () => nowMs),
      local: replicas[0]!,
      remote: (addr) => replicas[owners.findIndex((owner) => owner.addr === addr)]!,
      view: () => ({ epoch: 1, owners: () => owners, isLive: () => true }),
      ringConfirmed: () => true,
      awaitEpoch: async () => false,
    });
  const before = Buffer.alloc(4096, 1);
  const after = Buffer.alloc(4096, 2);
  const first = await coordinator().write('b1', before, 'all');
  const second = await coordinator().write('b1', after, 'quorum');
  t.ok(compareVersions(second, first) > 0, 'the second write was acknowledged under a later version than the first');
  // The in-memory replicas apply as they are called, so all three have answered by now.
  for (const [index, replica] of replicas.entries()) t.ok(replica.stored.get('b1')?.data?.equals(after), `node-${index + 1} holds the second write's bytes`);
});
