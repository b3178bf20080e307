// Device reads run inline while they are page-cache copies and move to the thread pool after a slow
// one (read-policy.ts). Both paths must return the same bytes and the same errors, and a loop of
// reads must still let the event loop run.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileDevice, InlineReadPolicy } from '../src/index.js';
import { tempDir } from './support/devices.js';

const FILE_BYTES = 64 * 1024;

async function deviceWith(t: { teardown(fn: () => unknown): void }, policy: InlineReadPolicy): Promise<{ device: FileDevice; content: Buffer }> {
  const path = join(tempDir(t), 'device');
  const content = randomBytes(FILE_BYTES);
  writeFileSync(path, content);
  const device = await FileDevice.open(path, { readPolicy: policy });
  t.teardown(() => device.close());
  return { device, content };
}

t.test('the policy: inline until a window holds N slow reads, then the pool for the next M reads, then inline again', async (t) => {
  const policy = new InlineReadPolicy(1_000, 3, 2);
  const path: string[] = [];
  // One slow read (a preempted copy) changes nothing; the second in the window switches to the pool.
  const durations = [10, 5_000, 10, 10, 5_000, 0, 0, 0, 10, 10];
  for (const duration of durations) {
    if (policy.nextInline()) {
      path.push('inline');
      policy.inlineDone(duration);
    } else {
      path.push('pool');
    }
  }
  t.same(path, ['inline', 'inline', 'inline', 'inline', 'inline', 'pool', 'pool', 'pool', 'inline', 'inline']);
  t.same(policy.counts, { inline: 7, async: 3, slowInline: 2, switches: 1 });
  // Slow reads far apart (in different windows of 64) never switch.
  const sparse = new InlineReadPolicy(1_000, 3, 2);
  for (let i = 0; i < 640; i++) {
    if (sparse.nextInline()) sparse.inlineDone(i % 64 === 0 ? 5_000 : 10);
  }
  t.same(sparse.counts, { inline: 640, async: 0, slowInline: 10, switches: 0 });
  t.throws(() => new InlineReadPolicy(0, 1), /limits/);
  t.throws(() => new InlineReadPolicy(1, 1, 0), /per window/);
});

for (const [name, policy] of [
  ['inline (every read fast)', () => new InlineReadPolicy(Number.MAX_SAFE_INTEGER, 1)],
  ['mixed (every inline read counts as slow: one inline, then 4 on the pool)', () => new InlineReadPolicy(1, 4, 1)],
] as const) {
  t.test(`reads return the bytes at their position, ${name}`, async (t) => {
    const { device, content } = await deviceWith(t, policy());
    const offsets = Array.from({ length: 40 }, (_, i) => (i * 1531) % (FILE_BYTES - 4096));
    for (const offset of offsets) {
      const target = Buffer.alloc(offset % 2 === 0 ? 4096 : 512);
      await device.read(target, offset);
      t.ok(target.equals(content.subarray(offset, offset + target.length)), `bytes at ${offset}`);
    }
    const counts = device.readPolicy.counts;
    t.equal(counts.inline + counts.async, offsets.length, 'every read counted once');
    if (name.startsWith('mixed')) t.same(counts, { inline: 8, async: 32, slowInline: 8, switches: 8 });
    else t.same(counts, { inline: 40, async: 0, slowInline: 0, switches: 0 });
    // Reading past the end is the same typed error on either path.
    for (let i = 0; i < 5; i++) await t.rejects(device.read(Buffer.alloc(4096), FILE_BYTES - 100), { code: 'IO_ERROR', message: /hit the end of the device/ });
  });
}

t.test('a loop of inline reads lets the event loop run between reads', async (t) => {
  const { device } = await deviceWith(t, new InlineReadPolicy(Number.MAX_SAFE_INTEGER, 1));
  const target = Buffer.alloc(512);
  let turns = 0;
  for (let i = 0; i < 50; i++) {
    let ran = false;
    setImmediate(() => (ran = true));
    await device.read(target, i * 512);
    if (ran) turns++;
  }
  t.equal(turns, 50, 'a callback queued before each read ran before it answered');
  t.equal(device.readPolicy.counts.inline, 50);
});

