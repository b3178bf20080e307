// A chaos verifier with nothing but Node.js: for DURATION seconds, CONCURRENCY writers overwrite KEYS
// blocks through RINGBLOCK_URL (the `blockstore` service) at quorum, remembering for each key the last
// acknowledged bytes and the writes attempted after it (a failed write may still have landed). Then it
// reads every key back and counts as lost any acknowledged key whose read is neither. Exit 1 on loss.
import { createHash, randomBytes } from 'node:crypto';

const BLOCK_BYTES = 4096;
const settings = {
  url: (process.env.RINGBLOCK_URL ?? 'http://blockstore:3000').replace(/\/$/, ''),
  durationMs: Number(process.env.DURATION ?? '300') * 1000,
  concurrency: Number(process.env.CONCURRENCY ?? '8'),
  keys: Number(process.env.KEYS ?? '256'),
  consistency: process.env.CONSISTENCY ?? 'quorum',
  /** A read that fails (pod restarting, 503) is retried this often, a second apart. */
  readAttempts: Number(process.env.READ_ATTEMPTS ?? '30'),
  requestTimeoutMs: 10_000,
};
for (const [name, value] of Object.entries(settings)) {
  if (typeof value === 'number' && !(Number.isFinite(value) && value > 0)) {
    console.error(`verify: ${name} must be a positive number`);
    process.exit(2);
  }
}

const digest = (bytes) => createHash('sha256').update(bytes).digest('hex');
/** key → { acknowledged: digest | undefined, later: Set<digest> } */
const history = new Map();
const counts = { acknowledged: 0, failed: 0, failures: {} };

async function call(method, key, body) {
  const response = await fetch(`${settings.url}/block/${key}?consistency=${settings.consistency}`, { method, body, signal: AbortSignal.timeout(settings.requestTimeoutMs) });
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
}

async function write(key) {
  const data = randomBytes(BLOCK_BYTES);
  const record = history.get(key) ?? { acknowledged: undefined, later: new Set() };
  history.set(key, record);
  record.later.add(digest(data));
  const reply = await call('PUT', key, data).catch((error) => ({ status: `${error.name}` }));
  if (reply.status === 201) {
    counts.acknowledged++;
    record.acknowledged = digest(data);
    record.later.clear();
  } else {
    counts.failed++;
    counts.failures[reply.status] = (counts.failures[reply.status] ?? 0) + 1;
  }
}

async function writers() {
  const deadline = Date.now() + settings.durationMs;
  await Promise.all(Array.from({ length: settings.concurrency }, async (_, worker) => {
    for (let turn = 0; Date.now() < deadline; turn++) {
      // Each worker owns the keys ≡ worker (mod concurrency): one writer per key.
      const own = Math.ceil((settings.keys - worker) / settings.concurrency);
      if (own <= 0) return;
      await write(`chaos-${worker + (turn % own) * settings.concurrency}`);
    }
  }));
}

async function readBack(key, record) {
  for (let attempt = 1; ; attempt++) {
    const reply = await call('GET', key).catch((error) => ({ status: `${error.name}` }));
    if (reply.status === 200) {
      const seen = digest(reply.body);
      return seen === record.acknowledged || record.later.has(seen) ? 'ok' : 'lost';
    }
    if (reply.status === 404) return 'lost';
    if (attempt >= settings.readAttempts) return 'unreadable';
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

const started = Date.now();
console.log(`verify: writing ${settings.keys} keys through ${settings.url} for ${settings.durationMs / 1000}s with ${settings.concurrency} writers`);
await writers();
const verdicts = { ok: 0, lost: 0, unreadable: 0 };
const lostKeys = [];
for (const [key, record] of history) {
  if (!record.acknowledged) continue;
  const verdict = await readBack(key, record);
  verdicts[verdict]++;
  if (verdict !== 'ok') lostKeys.push(`${key}: ${verdict}`);
}
const summary = { seconds: Math.round((Date.now() - started) / 1000), writesAcknowledged: counts.acknowledged, writesFailed: counts.failed, failures: counts.failures, keysChecked: verdicts.ok + verdicts.lost + verdicts.unreadable, ...verdicts };
console.log(JSON.stringify(summary));
for (const line of lostKeys.slice(0, 20)) console.log(`  ${line}`);
console.log(`lost: ${verdicts.lost}, unreadable: ${verdicts.unreadable}`);
process.exit(verdicts.lost + verdicts.unreadable === 0 && counts.acknowledged > 0 ? 0 : 1);
