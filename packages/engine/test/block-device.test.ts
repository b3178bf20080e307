// The engine on a real block device: a loop device over a sparse file (when losetup works here,
// i.e. as root on Linux). Covers size discovery through sysfs and growing after the device grew.
import t from 'tap';
import { deviceBytesForGroups, Engine, SLOTS_PER_GROUP } from '../src/index.js';
import { loopDevice, refreshLoopCapacity, tempDir } from './support/devices.js';
import { block, v } from './support/engines.js';

t.test('loop device: format, write, reopen, grow after the device grew', async (t) => {
  const dir = tempDir(t);
  const loop = loopDevice(t, dir, 'backing', deviceBytesForGroups(4));
  if (loop === undefined) {
    t.comment('backing: none — losetup is not usable here');
    t.pass('skipped: losetup unavailable', { skip: true });
    return;
  }
  t.comment(`backing: loop device ${loop.device} over ${loop.file}`);
  await t.rejects(Engine.open(loop.device), { code: 'UNFORMATTED' });
  let engine = await Engine.open(loop.device, { create: true });
  t.teardown(() => engine.close());
  const slots = 4 * SLOTS_PER_GROUP;
  t.match(engine.stats(), { slots, device: { kind: 'block', path: loop.device } });
  await Promise.all(Array.from({ length: 200 }, (_, i) => engine.put(`b-${i}`, v(1), block(`b-${i}`))));
  await t.rejects(Engine.open(loop.device), { code: 'IN_USE' });
  await t.rejects(engine.grow({ sizeBytes: deviceBytesForGroups(8) }), { code: 'BAD_OPTION', message: /block device: grow the device itself/ });
  t.same(await engine.grow(), { groupsAdded: 0, slotsAdded: 0, capacityBytes: slots * 4096 });

  refreshLoopCapacity(loop.device, loop.file, deviceBytesForGroups(8));
  t.same(await engine.grow(), { groupsAdded: 4, slotsAdded: slots, capacityBytes: 2 * slots * 4096 }, 'grow picks up the new device size');
  await Promise.all(Array.from({ length: 200 }, (_, i) => engine.put(`c-${i}`, v(1), block(`c-${i}`))));
  await engine.close();
  engine = await Engine.open(loop.device);
  t.match(engine.stats(), { slots: 2 * slots, blocks: 400, groups: 8 });
  for (let i = 0; i < 200; i += 17) {
    t.same((await engine.get(`b-${i}`))?.data, block(`b-${i}`));
    t.same((await engine.get(`c-${i}`))?.data, block(`c-${i}`));
  }
  t.equal((await engine.scrub()).corruptTotal, 0);
});
