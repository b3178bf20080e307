// Retries and timeouts against fault-injecting fake nodes: only calls that may be retried are, at
// most `retries` times, with bounded backoff, moving to another node; time budgets per attempt and
// per call hold; a caller's AbortSignal cancels.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import {
  backoffMs,
  classifyFailure,
  mayRetry,
  ServerError,
  TransportError,
  UnavailableError,
} from '../src/index.js';
import { clientFor, closedPort, sendError, startFakeCluster, type Fault, type FakeNode } from './support/fake-node.js';

/** A fault answering the first `times` block requests with `status`/`code`, then letting them through. */
function failing(times: number, status: number, code: string, details: Record<string, unknown> = {}): Fault {
  let left = times;
  return (seen, res) => {
    if (!seen.path.startsWith('/block/') || left === 0) return false;
    left--;
    sendError(res, status, code, details);
    return true;
  };
}

/** A fault that never answers block requests (the socket stays open until the client gives up). */
const silent: Fault = (seen) => seen.path.startsWith('/block/');

const block = randomBytes(4096);

t.test('backoff is full jitter, capped, and never negative', async (t) => {
  const policy = { retries: 5, backoffBaseMs: 10, backoffMaxMs: 100 };
  t.equal(backoffMs(policy, 1, () => 0.999999), 9);
  t.equal(backoffMs(policy, 3, () => 0.999999), 39);
  t.equal(backoffMs(policy, 10, () => 0.999999), 99, 'capped at backoffMaxMs');
  t.equal(backoffMs(policy, 4, () => 0), 0);
});

t.test('the policy: reads and deletes retry transient failures; PUT only when nothing was applied', async (t) => {
  const unavailable = classifyFailure(new UnavailableError(503, 'x', 'n', { required: 2, acked: 1 }));
  const notReady = classifyFailure(new ServerError('NOT_READY', 503, 'x', 'n'));
  const ringUnconfirmed = classifyFailure(new UnavailableError(503, 'x', 'n', { required: 0, acked: 0, reason: 'ring-unconfirmed' }));
  const refused = classifyFailure(new TransportError('UNREACHABLE', 'x', 'n', 'no'));
  const reset = classifyFailure(new TransportError('UNREACHABLE', 'x', 'n', 'maybe'));
  const timeout = classifyFailure(new TransportError('TIMEOUT', 'x', 'n', 'maybe'));
  const badId = classifyFailure(new ServerError('BAD_ID', 400, 'x', 'n'));
  const full = classifyFailure(new ServerError('INSUFFICIENT_STORAGE', 507, 'x', 'n'));
  for (const method of ['GET', 'HEAD', 'DELETE'] as const) {
    for (const failure of [unavailable, notReady, refused, reset, timeout]) t.ok(mayRetry(method, failure, false), `${method} retries ${JSON.stringify(failure)}`);
  }
  for (const failure of [notReady, ringUnconfirmed, refused]) t.ok(mayRetry('PUT', failure, false), 'PUT retries what was not applied');
  for (const failure of [unavailable, reset, timeout]) {
    t.notOk(mayRetry('PUT', failure, false), 'PUT does not retry what may have been applied');
    t.ok(mayRetry('PUT', failure, true), 'unless the caller opts in');
  }
  for (const failure of [badId, full]) for (const method of ['GET', 'PUT'] as const) t.notOk(mayRetry(method, failure, true), `${method} never retries a permanent failure`);
  t.ok(refused.nodeDown && !reset.nodeDown, 'only a refused connection marks the node down');
});

t.test('GET, HEAD and DELETE are retried, bounded by `retries`', async (t) => {
  const { nodes } = await startFakeCluster(t, 1);
  const node = nodes[0]!;
  const client = await clientFor(t, nodes, { retries: 3 });
  await client.put('r', block);

  for (const call of [() => client.get('r'), () => client.head('r'), () => client.delete('r')]) {
    node.fault = failing(3, 503, 'UNAVAILABLE', { required: 2, acked: 1 });
    node.seen.length = 0;
    t.ok(await call(), 'succeeds on the 4th attempt after 3 failures');
    t.equal(node.blockRequests().length, 4);
  }

  node.fault = failing(4, 503, 'UNAVAILABLE', { required: 2, acked: 1 });
  node.seen.length = 0;
  const error = (await client.get('r').catch((caught: unknown) => caught)) as UnavailableError;
  t.match(error, { code: 'UNAVAILABLE', attempts: 4 }, 'the last failure, after retries + 1 attempts');
  t.equal(node.blockRequests().length, 4, 'no more than retries + 1 attempts');

  node.fault = failing(1, 400, 'BAD_ID');
  node.seen.length = 0;
  await t.rejects(client.get('r'), { code: 'BAD_ID', attempts: 1 }, 'a permanent failure is not retried');
  t.equal(node.blockRequests().length, 1);

  const stats = client.stats();
  t.equal(stats.attempts - stats.calls, stats.retries, 'every attempt beyond the first of a call is a retry');
});

t.test('PUT is not retried after a failure that may have stored it', async (t) => {
  const { nodes } = await startFakeCluster(t, 1);
  const node = nodes[0]!;
  const client = await clientFor(t, nodes, { retries: 3 });

  node.fault = failing(1, 503, 'UNAVAILABLE', { required: 2, acked: 1 });
  await t.rejects(client.put('p', block), { code: 'UNAVAILABLE', attempts: 1 });
  t.equal(node.blockRequests().length, 1, 'one attempt only');

  node.fault = failing(1, 500, 'INTERNAL');
  node.seen.length = 0;
  await t.rejects(client.put('p', block), { code: 'INTERNAL', attempts: 1 });

  node.fault = failing(2, 503, 'NOT_READY');
  node.seen.length = 0;
  t.ok(await client.put('p', block), 'NOT_READY was refused before any effect: retried');
  t.equal(node.blockRequests().length, 3);

  node.fault = failing(1, 503, 'UNAVAILABLE', { required: 0, acked: 0, reason: 'ring-unconfirmed' });
  node.seen.length = 0;
  t.ok(await client.put('p', block), 'ring-unconfirmed refusal: retried');
  t.equal(node.blockRequests().length, 2);

  node.fault = failing(2, 503, 'UNAVAILABLE', { required: 2, acked: 1 });
  node.seen.length = 0;
  t.ok(await client.put('p', block, { retry: true }), 'retry: true opts in');
  t.equal(node.blockRequests().length, 3);
});

t.test('a node that refuses connections is skipped; even a PUT moves on, since nothing was sent', async (t) => {
  const { nodes } = await startFakeCluster(t, 1);
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const client = await clientFor(t, [dead, nodes[0]!], { retries: 1 });
  for (let call = 0; call < 6; call++) t.ok(await client.put(`k${call}`, block), `put ${call} succeeds`);
  t.equal(nodes[0]!.blockRequests().length, 6, 'every put reached the live node');
  const stats = client.stats();
  t.ok(stats.retries >= 1 && stats.retries <= 2, `the dead node cost at most one retry per nodeDownMs (${stats.retries})`);

  const allDead = await clientFor(t, [dead], { retries: 2 });
  await t.rejects(allDead.get('x'), { constructor: TransportError, code: 'UNREACHABLE', applied: 'no', attempts: 3 });
});

t.test('time budgets: per attempt, per call, and cancellation', async (t) => {
  const { nodes } = await startFakeCluster(t, 2);
  const [slow, fast] = nodes as [FakeNode, FakeNode];
  slow.fault = silent;

  const client = await clientFor(t, [slow, fast], { attemptTimeoutMs: 200, retries: 2 });
  const durationsMs: number[] = [];
  for (let call = 0; call < 2; call++) {
    const started = Date.now();
    t.equal(await client.get('t'), undefined, 'answered (the slow node in turn is given up on)');
    durationsMs.push(Date.now() - started);
  }
  t.equal(slow.blockRequests().length, 1, 'one call started on the slow node');
  t.equal(fast.blockRequests().length, 2, 'and was retried on the other');
  t.ok(Math.max(...durationsMs) >= 150, `after the attempt timeout (${durationsMs.join(', ')} ms)`);

  const solo = await clientFor(t, [slow], { attemptTimeoutMs: 150, retries: 5, timeoutMs: 400 });
  let started = Date.now();
  const error = (await solo.get('t').catch((caught: unknown) => caught)) as TransportError;
  const elapsedMs = Date.now() - started;
  t.match(error, { constructor: TransportError, code: 'TIMEOUT' });
  t.ok(elapsedMs >= 350 && elapsedMs < 1_500, `the call's budget bounds all attempts (${elapsedMs} ms)`);
  t.ok(error.attempts >= 2 && error.attempts <= 3, `attempts within the budget: ${error.attempts}`);

  started = Date.now();
  await t.rejects(solo.put('t', block, { timeoutMs: 100 }), { code: 'TIMEOUT', attempts: 1 }, 'a timed-out PUT is not retried');
  t.ok(Date.now() - started < 1_000);

  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  await t.rejects(solo.get('t', { signal: controller.signal }), { constructor: TransportError, code: 'ABORTED', attempts: 1 }, 'the caller cancels');
  await t.rejects(solo.get('t', { signal: AbortSignal.abort() }), { code: 'ABORTED' }, 'an already aborted signal');
});

t.test('an answer whose body stalls half way times out, or is cancelled, and the next call is answered', async (t) => {
  const { nodes } = await startFakeCluster(t, 1);
  const node = nodes[0]!;
  // Headers and 2 KiB of the 4 KiB body, then nothing: the attempt ends inside the body read.
  node.fault = (seen, res) => {
    if (!seen.path.startsWith('/block/stall')) return false;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 4096, etag: '"v1"' });
    res.write(Buffer.alloc(2048));
    return true;
  };
  const client = await clientFor(t, [node], { attemptTimeoutMs: 200, retries: 0 });
  const started = Date.now();
  await t.rejects(client.get('stall-1'), { constructor: TransportError, code: 'TIMEOUT', attempts: 1 }, 'the attempt timeout ends the body read');
  t.ok(Date.now() - started >= 150, 'after the attempt timeout');
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  await t.rejects(client.get('stall-2', { signal: controller.signal, timeoutMs: 5_000 }), { constructor: TransportError, code: 'ABORTED' }, 'the caller cancels inside the body read');
  await client.put('after', block);
  t.same((await client.get('after'))?.data, block, 'the client still works');
});
