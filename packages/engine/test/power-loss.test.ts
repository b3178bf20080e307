// Simulated power loss: the engine runs on a SimDevice that loses power at a seeded write/sync
// call; the disk image afterwards keeps the synced bytes plus a random subset of the unsynced
// sectors. The recovered store must hold every acknowledged write and nothing that was never
// written. Unlike SIGKILL (which keeps the page cache), this checks the fdatasync ordering itself.
// More seeds: RINGBLOCK_SIM_SEEDS=1000.
import t from 'tap';
import {
  dataOffset, deviceBytesForGroups, encodeRecordHeader, Engine, HEADER_SIZE_BYTES, headerOffset, loadHasher, RECORD_PUT, RECORD_TOMBSTONE,
} from '../src/index.js';
import { high32, low32 } from '../src/hash.js';
import { block, v } from './support/engines.js';
import type { ModelState } from './support/model.js';
import { rng, runWorkload, verifyRecovered, Workload } from './support/model.js';
import { SimDevice } from './support/sim-device.js';

const SEEDS = Number(process.env['RINGBLOCK_SIM_SEEDS'] ?? 50);
const ROUNDS = 3;

async function runSeed(seed: number): Promise<string[]> {
  const random = rng(seed);
  // Every tenth seed uses a key space larger than the 4 initially allocated groups (1024 slots)
  // and fails later, so allocation moves the watermark (a superblock rewrite) while power may fail.
  const wide = seed % 10 === 0;
  const ids = Array.from({ length: wide ? 2000 : 24 }, (_, i) => `block-${i}`);
  const opsMax = wide ? 4000 : 1500;
  let image: Buffer = Buffer.alloc(deviceBytesForGroups(wide ? 10 : 2));
  let state: ModelState = new Map();
  // lingerMs 0: no timers, so a seed replays the same interleaving every time.
  // Small batches and few wipes per round make wipes lag behind, so purges wait on earlier wipes
  // and puts wait for slots: the paths a crash could break.
  // Frequent checkpoints (every few records) make power fail while the checkpoint moves.
  const limits = {
    lingerMs: 0, maxBatchOps: [1, 4, 512][seed % 3]!, maxWipesPerRound: [1, 3, 1024][Math.floor(seed / 3) % 3]!,
    checkpointRecords: [4, 64, 16_384][Math.floor(seed / 9) % 3]!,
  };
  const problems: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const horizon = wide ? 4000 : 200;
    const failAt = random() < 0.5 ? { call: 1 + Math.floor(random() * horizon) } : { sync: 1 + Math.floor((random() * horizon) / 4) };
    const device = new SimDevice(image, failAt);
    const events: Parameters<typeof verifyRecovered>[1] = [];
    const engine = await Engine.openDevice(device, { create: true, ...limits }).catch(() => undefined);
    if (engine !== undefined) {
      const workload = new Workload(seed * 1000 + round, ids, (round + 1) * 1e9, round * 1e7);
      await runWorkload(engine, workload, 16, (event) => events.push(event), () => device.failed || events.length > opsMax * 2);
      await engine.close().catch(() => undefined);
    }
    const recoveredDevice = new SimDevice(device.crashImage(random));
    const recovered = await Engine.openDevice(recoveredDevice, { create: true, ...limits });
    const verdict = await verifyRecovered(recovered, events, state, ids);
    const scrub = await recovered.scrub();
    await recovered.close();
    problems.push(...verdict.problems.map((problem) => `seed ${seed} round ${round}: ${problem}`));
    if (scrub.corruptTotal > 0) problems.push(`seed ${seed} round ${round}: scrub found ${scrub.corruptTotal} corrupt blocks`);
    if (wide) watermarkMoves += recovered.stats().allocatedGroups > 4 ? 1 : 0;
    state = verdict.state;
    image = recoveredDevice.crashImage(random); // nothing pending after close: the durable image
  }
  return problems;
}

let watermarkMoves = 0;

// Longer than tap's 30 s default when the file runs on its own (`node file.js`).
t.setTimeout(600_000);

t.test(`power loss at random write/sync calls: ${SEEDS} seeds × ${ROUNDS} rounds`, async (t) => {
  const problems: string[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) {
    problems.push(...(await runSeed(seed).catch((error: Error) => [`seed ${seed}: ${error.message}`])));
  }
  t.same(problems, [], 'every acknowledged write survives; nothing unwritten appears');
  if (SEEDS >= 10) t.ok(watermarkMoves > 0, `the allocated-groups watermark moved in ${watermarkMoves} wide rounds`);
});

t.test('a tombstone purge waits until every earlier wipe is durable', async (t) => {
  // A device as a crash could leave it: 50 superseded records of other ids in slots 0…49, then
  // x's superseded put in slot 50; their current records in 100…149 and x's tombstone in 150.
  // Recovery queues the 51 stale slots for wiping, lowest first. A purge of x's tombstone must not
  // reach the disk before slot 50 is wiped, or a power loss could resurrect x's old put.
  const hasher = await loadHasher();
  const formatted = new SimDevice(Buffer.alloc(deviceBytesForGroups(3)));
  await (await Engine.openDevice(formatted, { create: true })).close();
  const image = formatted.crashImage(() => 0);
  const uuid = image.subarray(40, 56);
  const write = (slot: number, id: string, version: number, seq: number, tombstone: boolean) => {
    const position = hasher.h64(Buffer.from(id));
    const data = block(`${id} ${version}`);
    encodeRecordHeader(hasher, {
      kind: tombstone ? RECORD_TOMBSTONE : RECORD_PUT, namespace: 0, idBytes: Buffer.from(id), version: v(version), seq,
      positionHigh: high32(position), positionLow: low32(position), dataChecksum: tombstone ? 0n : hasher.h64(data), uuid,
    }, image, headerOffset(slot));
    if (!tombstone) data.copy(image, dataOffset(slot));
  };
  for (let i = 0; i < 50; i++) write(i, `other-${i}`, 1, 1 + i, false);
  write(50, 'x', 1, 51, false);
  for (let i = 0; i < 50; i++) write(100 + i, `other-${i}`, 2, 100 + i, false);
  write(150, 'x', 2, 200, true);
  t.equal(image.subarray(headerOffset(151), headerOffset(151) + HEADER_SIZE_BYTES).every((byte) => byte === 0), true);

  const random = rng(99);
  const outcomes = new Set<string>();
  for (let sync = 1; sync <= 60; sync += 3) {
    for (let attempt = 0; attempt < 4; attempt++) {
      const device = new SimDevice(image, { sync });
      const engine = await Engine.openDevice(device, { maxWipesPerRound: 1, maxBatchOps: 1, lingerMs: 0 }).catch(() => undefined);
      if (engine !== undefined) {
        await engine.purgeTombstone('x', v(2)).catch(() => undefined);
        await engine.close().catch(() => undefined);
      }
      const recovered = await Engine.openDevice(new SimDevice(device.crashImage(random)));
      const x = await recovered.get('x');
      outcomes.add(x === undefined ? 'purged' : x.tombstone ? 'tombstone' : `put ${x.version.readBigUInt64BE()}`);
      await recovered.close();
    }
  }
  t.notOk(outcomes.has('put 1'), `x's old put never resurrects (outcomes: ${[...outcomes].join(', ')})`);
  t.ok(outcomes.has('purged') && outcomes.has('tombstone'), 'power failed both before and after the purge');
});
