// Evicting a copy a node no longer owns: only the exact version goes, without a trace (no
// tombstone), durably, and no older record of the id comes back from a stale header.
import t from 'tap';
import { block, freshEngine, v } from './support/engines.js';

t.test('evict removes exactly the version asked for, durably', async (t) => {
  const fresh = await freshEngine(t);
  const { engine } = fresh;
  await engine.put('moved', v(1), block('moved 1'));
  await engine.put('moved', v(2), block('moved 2')); // v(1)'s header becomes stale, then wiped
  t.same(await engine.evict('moved', v(1)), { evicted: false }, 'an older version is not what is stored');
  t.same(await engine.evict('moved', v(3)), { evicted: false }, 'nor is a newer one');
  t.same(await engine.evict('missing', v(1)), { evicted: false }, 'nothing to evict');
  t.same((await engine.get('moved'))?.data, block('moved 2'), 'a refused evict leaves the block');
  t.same(await engine.evict('moved', v(2)), { evicted: true });
  t.equal(await engine.get('moved'), undefined, 'gone, and no tombstone either');
  t.equal(engine.stats().blocks, 0);
  t.equal(engine.stats().tombstones, 0);
  const reopened = await fresh.reopen();
  t.equal(await reopened.get('moved'), undefined, 'still gone after reopening: no stale header came back');
  t.same(await reopened.put('moved', v(1), block('moved again')), { applied: true, version: v(1) }, 'the id is free for any version again');
});

t.test('evict removes a tombstone too, and frees slots for reuse', async (t) => {
  const fresh = await freshEngine(t, 1);
  const { engine } = fresh;
  await engine.delete('gone', v(5));
  t.same(await engine.evict('gone', v(5)), { evicted: true });
  t.equal(await engine.head('gone'), undefined);
  const slots = engine.stats().slots;
  // Fill, evict everything, fill again: evicted slots are reused.
  for (let round = 0; round < 2; round++) {
    const ids: string[] = [];
    for (let index = 0; index < slots; index++) {
      const result = await engine.put(`fill-${round}-${index}`, v(1), block(`fill ${index}`)).catch(() => undefined);
      if (!result) break;
      ids.push(`fill-${round}-${index}`);
    }
    t.ok(ids.length > slots / 2, `round ${round}: ${ids.length} blocks stored`);
    for (const id of ids) t.equal((await engine.evict(id, v(1))).evicted, true);
    t.equal(engine.stats().blocks, 0);
  }
});
