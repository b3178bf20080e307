// The transfer limits, on a fake clock: the byte rate holds over a long simulated run, bursts stay
// bounded (over every interval), waiting takers are served in order, and the in-flight bound holds.
import t from 'tap';
import { ByteRateLimiter, ConcurrencyLimit, type Clock } from '../src/transfer/index.js';
import { rng } from './transfer-harness.js';

/** A clock whose sleeps only end when the test advances time: timers fire in order of their due time. */
class FakeClock implements Clock {
  private timeMs = 0;
  private timers: Array<{ dueMs: number; seq: number; resolve: () => void }> = [];
  private seq = 0;

  nowMs(): number {
    return this.timeMs;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = { dueMs: this.timeMs + ms, seq: this.seq++, resolve };
      this.timers.push(timer);
      signal?.addEventListener('abort', () => {
        this.timers = this.timers.filter((other) => other !== timer);
        reject(signal.reason);
      }, { once: true });
    });
  }

  /** Moves time to the next due timer and fires it; false when none is pending. */
  async fireNext(): Promise<boolean> {
    this.timers.sort((a, b) => a.dueMs - b.dueMs || a.seq - b.seq);
    const timer = this.timers.shift();
    if (!timer) return false;
    this.timeMs = Math.max(this.timeMs, timer.dueMs);
    timer.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    return true;
  }

  advance(ms: number): void {
    this.timeMs += ms;
  }

  get pending(): number {
    return this.timers.length;
  }
}

/** A clock for one sequential taker: sleeping simply moves time on. */
function steppingClock(): Clock & { advance(ms: number): void } {
  let timeMs = 0;
  return {
    nowMs: () => timeMs,
    sleep: async (ms) => {
      timeMs += ms;
    },
    advance: (ms) => (timeMs += ms),
  };
}

t.test('the rate holds over a long run and every interval stays within burst + rate × length', async (t) => {
  const clock = steppingClock();
  const bytesPerSecond = 1_000_000;
  const burstBytes = 256 * 1024;
  const limiter = new ByteRateLimiter({ bytesPerSecond, burstBytes, clock });
  const random = rng(1);
  const grants: Array<{ atMs: number; bytes: number }> = [];
  let totalBytes = 0;
  for (let i = 0; i < 20_000; i++) {
    // Mostly back to back, sometimes idle (so the bucket refills and bursts happen).
    if (random() < 0.01) clock.advance(random() * 2_000);
    const bytes = 1 + Math.floor(random() * burstBytes);
    await limiter.take(bytes);
    grants.push({ atMs: clock.nowMs(), bytes });
    totalBytes += bytes;
  }
  const elapsedSeconds = clock.nowMs() / 1000;
  t.ok(totalBytes <= burstBytes + bytesPerSecond * elapsedSeconds + 1, `${totalBytes} bytes in ${elapsedSeconds.toFixed(1)} s`);
  // The sustained rate: the run is mostly back to back, so it comes close to the bound.
  t.ok(totalBytes / elapsedSeconds > 0.8 * bytesPerSecond, `average ${(totalBytes / elapsedSeconds / 1e6).toFixed(3)} MB/s`);
  // Over every interval [grant i, grant j]: bytes granted <= burst + rate × length (one O(n) pass).
  let worstExcessBytes = -Infinity;
  let minStart = Infinity;
  let before = 0;
  for (const grant of grants) {
    minStart = Math.min(minStart, before - (bytesPerSecond * grant.atMs) / 1000);
    before += grant.bytes;
    worstExcessBytes = Math.max(worstExcessBytes, before - (bytesPerSecond * grant.atMs) / 1000 - minStart - burstBytes);
  }
  t.ok(worstExcessBytes <= 1e-6, `no interval exceeds burst + rate × length (worst excess ${worstExcessBytes.toFixed(3)} bytes)`);
});

t.test('a full bucket lets one burst through at once, then paces', async (t) => {
  const clock = steppingClock();
  const limiter = new ByteRateLimiter({ bytesPerSecond: 1000, burstBytes: 5000, clock });
  await limiter.take(5000);
  t.equal(clock.nowMs(), 0, 'the burst passes without waiting');
  await limiter.take(1000);
  t.equal(clock.nowMs(), 1000, 'then 1000 bytes wait one second');
  clock.advance(60_000);
  await limiter.take(5000);
  t.equal(clock.nowMs(), 61_000, 'a long quiet period refills the burst, not more');
  await limiter.take(2000);
  t.equal(clock.nowMs(), 63_000);
});

t.test('concurrent takers are served in arrival order, each after its share', async (t) => {
  const clock = new FakeClock();
  const limiter = new ByteRateLimiter({ bytesPerSecond: 1000, burstBytes: 1000, clock });
  await limiter.take(1000);
  const done: Array<{ name: string; atMs: number }> = [];
  const takers = ['a', 'b', 'c'].map((name) => limiter.take(500).then(() => done.push({ name, atMs: clock.nowMs() })));
  while (await clock.fireNext()) { /* run every timer */ }
  await Promise.all(takers);
  t.same(done, [{ name: 'a', atMs: 500 }, { name: 'b', atMs: 1000 }, { name: 'c', atMs: 1500 }]);
});

t.test('an abort while waiting rejects the taker', async (t) => {
  const clock = new FakeClock();
  const limiter = new ByteRateLimiter({ bytesPerSecond: 10, burstBytes: 10, clock });
  const controller = new AbortController();
  const waiting = limiter.take(1000, controller.signal);
  controller.abort(new Error('stop'));
  await t.rejects(waiting, { message: 'stop' });
  await t.rejects(limiter.take(1, controller.signal), { message: 'stop' }, 'an aborted signal refuses at once');
  t.equal(clock.pending, 0);
});

t.test('options are checked up front', async (t) => {
  t.throws(() => new ByteRateLimiter({ bytesPerSecond: 0, burstBytes: 1 }), { code: 'BAD_OPTION' });
  t.throws(() => new ByteRateLimiter({ bytesPerSecond: 1, burstBytes: Number.NaN }), { code: 'BAD_OPTION' });
  t.throws(() => new ConcurrencyLimit({ inFlightMax: 0, waitingMax: 1 }), { code: 'BAD_OPTION' });
});

t.test('the concurrency bound: at most inFlightMax run, waiters in order, a bounded queue', async (t) => {
  const limit = new ConcurrencyLimit({ inFlightMax: 2, waitingMax: 2 });
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates: Array<() => void> = [];
  const task = (n: number) => limit.run(async () => {
    running++;
    peak = Math.max(peak, running);
    order.push(n);
    await new Promise<void>((resolve) => gates.push(resolve));
    running--;
  });
  const tasks = [task(1), task(2), task(3), task(4)];
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(limit.active, 2);
  t.equal(limit.queued, 2);
  await t.rejects(limit.acquire(), { code: 'BUSY' }, 'a fifth caller is refused');
  t.equal(limit.tryAcquire(), undefined, 'no slot to take without waiting');
  while (gates.length > 0 || running > 0) {
    gates.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(tasks);
  t.equal(peak, 2, 'never more than two in flight');
  t.same(order, [1, 2, 3, 4], 'waiters served in arrival order');
  t.equal(limit.active, 0);

  const controller = new AbortController();
  const holders = [limit.tryAcquire()!, limit.tryAcquire()!];
  const waiter = limit.acquire(controller.signal);
  controller.abort(new Error('gone'));
  await t.rejects(waiter, { message: 'gone' });
  t.equal(limit.queued, 0, 'an aborted waiter leaves the queue');
  for (const release of holders) release();
  t.equal(limit.active, 0);
  t.throws(() => holders[0]!(), 'a slot is released once');
});

t.test('setRate: what accrued keeps its old rate, later takes pay at the new one', async (t) => {
  const clock = steppingClock();
  const limiter = new ByteRateLimiter({ bytesPerSecond: 1000, burstBytes: 1000, clock });
  await limiter.take(1000); // the bucket is empty
  clock.advance(500); // 500 bytes accrue at 1000/s
  limiter.setRate(100);
  t.equal(limiter.rate, 100);
  await limiter.take(600);
  t.equal(clock.nowMs(), 1500, 'the 100 bytes still owed take 1 s at the new rate');
  t.throws(() => limiter.setRate(0), 'a rate stays positive');
});

t.test('setRate with a smaller burst: what accrued at the fast rate does not pour out at once', async (t) => {
  const { pacedBurstBytes } = await import('../src/transfer/index.js');
  const clock = steppingClock();
  const fast = 64 * 1024 * 1024;
  const limiter = new ByteRateLimiter({ bytesPerSecond: fast, burstBytes: fast / 4, clock });
  const slow = fast / 16;
  limiter.setRate(slow, pacedBurstBytes(slow));
  t.equal(limiter.burst, slow / 4, 'a paced burst is a quarter second of the paced rate');
  await limiter.take(fast / 4); // what the full bucket alone would have let through at once
  t.equal(clock.nowMs(), ((fast / 4 - slow / 4) * 1000) / slow, 'all but the new burst waits for the paced rate');
  t.equal(pacedBurstBytes(1000), 256 * 1024, 'a slow rate still gets whole transfer batches');
  t.throws(() => limiter.setRate(slow, 0), { code: 'BAD_OPTION' }, 'a burst stays positive');
});

t.test('the adaptive pacer: halves over the delay target, grows back under half of it, within floor and ceiling', async (t) => {
  const { AdaptivePacer } = await import('../src/transfer/index.js');
  const pacer = new AdaptivePacer({ maxBytesPerSecond: 1000, minBytesPerSecond: 10, targetDelayMs: 10 });
  t.equal(pacer.rate, 62.5, 'starts at a sixteenth of the ceiling and probes up');
  t.equal(pacer.observe(2), 162.5, 'well under the target: one step (a tenth of the ceiling) up');
  t.equal(pacer.observe(7), 162.5, 'between half the target and the target: held');
  t.equal(pacer.observe(25), 81.25, 'over the target: halved');
  for (let i = 0; i < 20; i++) pacer.observe(50);
  t.equal(pacer.rate, 10, 'never below the floor');
  for (let i = 0; i < 30; i++) pacer.observe(0);
  t.equal(pacer.rate, 1000, 'never above the ceiling');
  t.throws(() => new AdaptivePacer({ maxBytesPerSecond: 10, minBytesPerSecond: 20, targetDelayMs: 10 }), 'a floor above the ceiling is refused');
});

t.test('the pacer reads the loop delay, not the sampling interval (Node records both summed)', async (t) => {
  const { loopDelayMs } = await import('../src/transfer/index.js');
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const resolutionMs = 10;
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  // Wait for several samples (an awaited count of intervals, not a guess at a duration).
  for (let i = 0; i < 100 && histogram.count < 5; i++) await new Promise((resolve) => setTimeout(resolve, resolutionMs));
  histogram.disable();
  t.ok(histogram.count >= 5, `${histogram.count} samples`);
  t.ok(histogram.min / 1e6 >= resolutionMs * 0.8, `each sample holds the interval itself (min ${(histogram.min / 1e6).toFixed(1)} ms at a ${resolutionMs} ms resolution)`);
  t.equal(loopDelayMs(12.5e6, 10), 2.5, 'an interval of 12.5 ms at 10 ms is 2.5 ms of delay');
  t.equal(loopDelayMs(9.2e6, 10), 0, 'a timer early by a little is no delay');
});
