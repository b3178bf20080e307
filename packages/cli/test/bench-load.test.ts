// The closed-loop load generator's own figures: operations and errors counted, and the CPU it
// spends per operation measured (not assumed): a call that burns a known amount of CPU shows it.
import t from 'tap';
import { runClosedLoop } from '../src/bench/load.js';

/** Spins until this process has used `us` more microseconds of CPU (CPU time, not wall time: preemption cannot shorten it). */
function spin(us: number): void {
  const start = process.cpuUsage();
  for (let round = 0; round < 10_000_000; round++) {
    const used = process.cpuUsage(start);
    if (used.user + used.system >= us) return;
  }
}

t.test('the generator reports its own CPU per operation and counts failed calls as errors', async (t) => {
  let calls = 0;
  const result = await runClosedLoop({ name: 'spin', concurrency: 2, durationMs: 300 }, async () => {
    calls++;
    spin(500);
    return calls % 4 !== 0;
  });
  t.equal(result.ops, calls);
  t.equal(result.errors, Math.floor(calls / 4));
  t.ok(result.ops > 10, `${result.ops} calls in 300 ms`);
  // Each call used 500 µs of CPU; the figure includes that and a little bookkeeping.
  t.ok(result.clientCpuUsPerOp >= 500, `client CPU ${result.clientCpuUsPerOp.toFixed(0)} µs/op ≥ 500`);
  t.ok(result.clientCpuUsPerOp < 5_000, `client CPU ${result.clientCpuUsPerOp.toFixed(0)} µs/op is per operation, not in total`);
});
