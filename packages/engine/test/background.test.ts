// Background writes (migration and repair transfers) yield to foreground ones: while client writes
// wait, a group-commit round takes at most maxBackgroundOpsPerRound background writes, so a client
// write queued behind a bulk transfer is stored within a round or two instead of behind all of it;
// alone, background writes still use whole rounds. Every write is stored either way.
import t from 'tap';
import type { Test } from 'tap';
import { block, freshEngine, v } from './support/engines.js';

const BACKGROUND = 1000;
const FOREGROUND = 10;

async function race(t: Test, bulkIsBackground: boolean) {
  const { engine } = await freshEngine(t, 16, { maxBatchOps: 512, maxBackgroundOpsPerRound: 64 });
  let backgroundDone = 0;
  const data = block('bulk');
  const background = Array.from({ length: BACKGROUND }, (_, index) => engine.put(`bulk-${index}`, v(1), data, { background: bulkIsBackground }).then(() => backgroundDone++));
  const doneBefore: number[] = [];
  const foreground = Array.from({ length: FOREGROUND }, (_, index) => engine.put(`client-${index}`, v(1), block('client')).then(() => doneBefore.push(backgroundDone)));
  await Promise.all([...background, ...foreground]);
  const stored = await Promise.all([...Array.from({ length: BACKGROUND }, (_, index) => engine.head(`bulk-${index}`)), ...Array.from({ length: FOREGROUND }, (_, index) => engine.head(`client-${index}`))]);
  return { worst: Math.max(...doneBefore), stored: stored.every((record) => record !== undefined), batches: engine.stats().batches };
}

t.test('client writes queued behind a bulk transfer are stored within the first rounds', async (t) => {
  const { worst, stored, batches } = await race(t, true);
  t.ok(stored, 'every write stored');
  t.ok(worst <= 2 * 64, `at most two rounds of background writes went before the last client write (${worst} did)`);
  t.ok(batches <= Math.ceil((BACKGROUND + FOREGROUND) / 64) + 2, `background writes alone use whole rounds again (${batches} rounds)`);
});

t.test('the same bulk written as ordinary writes keeps the client writes behind a whole round', async (t) => {
  const { worst, stored } = await race(t, false);
  t.ok(stored);
  t.ok(worst >= 400, `${worst} bulk writes went first: marking them background is what keeps client writes ahead`);
});
