// Applies one received frame to the local store under last-writer-wins: a put or a tombstone
// (a delete) at the sender's version, which the store refuses when it holds a newer or equal one.
// The frame's records (distinct ids) go to the store together, so its group commit batches them;
// the call returns only when every one has settled, so nothing is still being written after the
// receiver answered, and a failure leaves the frame's end unconfirmed (a resend is harmless).
import { isEngineError } from '@ringblock/engine';
import assert from 'node:assert/strict';
import type { TransferRecord } from './codec.js';
import type { Clock } from './limiter.js';

/** Transferred records are background writes: client writes on the same store go first. */
export interface SinkOptions {
  namespace: number;
  background: true;
  /** Puts: the data is a view into a received frame that nothing reuses; the store may keep it. */
  adoptData?: true;
}

/** What the receiver needs of a store; `Engine` fits. Both resolve only once the write is durable. */
export interface TransferSink {
  put(id: string, version: Uint8Array, data: Uint8Array, options: SinkOptions): Promise<{ applied: boolean }>;
  delete(id: string, version: Uint8Array, options: SinkOptions): Promise<{ applied: boolean }>;
}

/** A store answering BUSY (its write queue is full) is retried this often at most… */
const BUSY_RETRIES_MAX = 8;
/** …after waits doubling from this… */
const BUSY_BACKOFF_MS_INITIAL = 2;
/** …up to this. */
const BUSY_BACKOFF_MS_MAX = 250;

/** Applies a frame's records; returns how many changed the store (the others were older or equal). */
export async function applyRecords(sink: TransferSink, namespace: number, records: readonly TransferRecord[], sleep: Clock['sleep']): Promise<number> {
  const outcomes = await Promise.allSettled(records.map((record) => applyRecord(sink, namespace, record, sleep)));
  let applied = 0;
  for (const outcome of outcomes) {
    if (outcome.status === 'rejected') throw outcome.reason;
    if (outcome.value) applied++;
  }
  return applied;
}

async function applyRecord(sink: TransferSink, namespace: number, record: TransferRecord, sleep: Clock['sleep']): Promise<boolean> {
  assert.ok(record.tombstone === (record.data === undefined), 'a put carries data, a tombstone none');
  for (let attempt = 0; ; attempt++) {
    try {
      const result = record.data === undefined
        ? await sink.delete(record.id, record.version, { namespace, background: true })
        : await sink.put(record.id, record.version, record.data, { namespace, background: true, adoptData: true });
      return result.applied;
    } catch (error) {
      if (!isEngineError(error, 'BUSY') || attempt >= BUSY_RETRIES_MAX) throw error;
      await sleep(Math.min(BUSY_BACKOFF_MS_MAX, BUSY_BACKOFF_MS_INITIAL * 2 ** attempt));
    }
  }
}
