// Prometheus metrics of one node (DESIGN §10), in a registry of its own so several nodes can live in
// one process (tests). Labels are bounded sets (op, status, state); never a block id.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MigrationPhase, MigrationStatus } from './migration/protocol.js';

const MIGRATION_PHASES: readonly MigrationPhase[] = ['idle', 'proposing', 'observing', 'preparing', 'awaitingPrepared', 'transferring', 'awaitingDone', 'committing', 'aborting'];

/** From 100 µs to 10 s: sub-millisecond local operations up to timed-out replica calls. */
const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export interface StorageSnapshot {
  blocks: number;
  tombstones: number;
  usedBytes: number;
  capacityBytes: number;
  /** Engine read cache: lookups it answered and lookups that went to the device. */
  readCache?: { hits: number; misses: number };
}

export interface ClusterSnapshot {
  epoch: number;
  live: number;
  down: number;
  ownershipShare: number;
}

export class NodeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'op' | 'status'>;
  readonly requestSeconds: Histogram<'op'>;
  readonly replicaSeconds: Histogram<'op'>;
  readonly readRepairs: Counter;
  readonly syncSeconds: Histogram;
  readonly checksumFailures: Counter;
  readonly migrationBlocksMoved: Counter;
  readonly migrationBytesMoved: Counter;
  readonly staleReleased: Counter;
  readonly hintsStored: Counter;
  readonly hintsReplayed: Counter;
  readonly hintsDropped: Counter<'reason'>;
  readonly scrubChecked: Counter;
  readonly scrubRepaired: Counter;
  readonly antiEntropyRangesCompared: Counter;
  readonly antiEntropyRangesRepaired: Counter;
  readonly antiEntropyBlocksRepaired: Counter;
  readonly antiEntropyBytesSent: Counter;
  readonly antiEntropyCompareBytes: Counter;
  readonly tombstonesPurged: Counter;

  constructor(labels: { node: string }, storage: () => StorageSnapshot, cluster: () => ClusterSnapshot, migration: () => MigrationStatus) {
    this.registry.setDefaultLabels(labels);
    const registers = [this.registry];
    this.requests = new Counter({ name: 'ringblock_requests_total', help: 'HTTP requests by operation and status', labelNames: ['op', 'status'], registers });
    this.requestSeconds = new Histogram({ name: 'ringblock_request_duration_seconds', help: 'Client request latency by operation', labelNames: ['op'], buckets: LATENCY_BUCKETS_SECONDS, registers });
    this.replicaSeconds = new Histogram({ name: 'ringblock_replica_request_duration_seconds', help: 'Internal replica request latency by operation', labelNames: ['op'], buckets: LATENCY_BUCKETS_SECONDS, registers });
    this.syncSeconds = new Histogram({ name: 'ringblock_journal_sync_seconds', help: 'Duration of each fdatasync of the device (group commit)', buckets: LATENCY_BUCKETS_SECONDS, registers });
    this.readRepairs = new Counter({ name: 'ringblock_read_repairs_total', help: 'Stale replicas written by read repair', registers });
    this.checksumFailures = new Counter({ name: 'ringblock_checksum_failures_total', help: 'Blocks whose checksum did not match on read', registers });
    this.migrationBlocksMoved = new Counter({ name: 'ringblock_migration_blocks_moved_total', help: 'Blocks this node sent to new owners in migrations', registers });
    this.migrationBytesMoved = new Counter({ name: 'ringblock_migration_bytes_moved_total', help: 'Bytes this node sent to new owners in migrations', registers });
    this.staleReleased = new Counter({ name: 'ringblock_stale_blocks_released_total', help: 'Blocks removed after their range moved away and staleGraceMs passed', registers });
    this.hintsStored = new Counter({ name: 'ringblock_hints_stored_total', help: 'Writes kept as hints for owners that missed them', registers });
    this.hintsReplayed = new Counter({ name: 'ringblock_hints_replayed_total', help: 'Hints delivered to every owner and removed', registers });
    this.hintsDropped = new Counter({ name: 'ringblock_hints_dropped_total', help: 'Hints not kept or given up (full, age, busy, error): anti-entropy covers them', labelNames: ['reason'], registers });
    // Every reason has a series from the start, so dashboards and alerts see zeros rather than nothing.
    for (const reason of ['full', 'age', 'busy', 'error']) this.hintsDropped.inc({ reason }, 0);
    this.scrubChecked = new Counter({ name: 'ringblock_scrub_blocks_checked_total', help: 'Blocks whose checksums the scrubber verified', registers });
    this.antiEntropyRangesCompared = new Counter({ name: 'ringblock_antientropy_ranges_compared_total', help: 'Ring ranges anti-entropy compared with another owner (one per range and peer)', registers });
    this.antiEntropyRangesRepaired = new Counter({ name: 'ringblock_antientropy_ranges_repaired_total', help: 'Range comparisons that found differing buckets and streamed them both ways', registers });
    this.antiEntropyBlocksRepaired = new Counter({ name: 'ringblock_antientropy_blocks_repaired_total', help: 'Blocks and tombstones anti-entropy streams changed on a replica', registers });
    this.antiEntropyBytesSent = new Counter({ name: 'ringblock_antientropy_bytes_sent_total', help: 'Bytes of anti-entropy streams this node sent', registers });
    this.antiEntropyCompareBytes = new Counter({ name: 'ringblock_antientropy_compare_bytes_total', help: 'Bytes of Merkle tree comparisons this node asked for (requests and answers)', registers });
    this.tombstonesPurged = new Counter({ name: 'ringblock_tombstones_purged_total', help: 'Tombstones purged after the grace, once every replica held them', registers });
    this.scrubRepaired = new Counter({ name: 'ringblock_scrub_blocks_repaired_total', help: 'Corrupt blocks the scrubber repaired from a healthy replica', registers });
    new Gauge({
      name: 'ringblock_migration_phase',
      help: 'Migration phase of this node (1 for the current phase)',
      labelNames: ['phase'],
      registers,
      collect() {
        const phase = migration().phase;
        for (const candidate of MIGRATION_PHASES) this.set({ phase: candidate }, candidate === phase ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ringblock_migration_remaining_ratio',
      help: "Share of this node's outgoing migration hash space not yet transferred (0 when none runs)",
      registers,
      collect() {
        this.set(migration().migration?.progress.remainingRatio ?? 0);
      },
    });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({ name, help, registers, collect() { this.set(read()); } });
    gauge('ringblock_blocks_stored', 'Blocks stored on this node (live versions, not tombstones)', () => storage().blocks);
    gauge('ringblock_tombstones_stored', 'Tombstones stored on this node', () => storage().tombstones);
    gauge('ringblock_bytes_stored', 'Bytes of block data stored on this node', () => storage().usedBytes);
    gauge('ringblock_device_capacity_bytes', 'Capacity of the block device', () => storage().capacityBytes);
    // Counters kept by the engine: exported as their current totals at each scrape.
    new Counter({
      name: 'ringblock_read_cache_lookups_total',
      help: 'Engine read cache lookups by outcome (hit: answered from memory; miss: read from the device)',
      labelNames: ['outcome'],
      registers,
      collect() {
        const cache = storage().readCache;
        this.reset();
        this.inc({ outcome: 'hit' }, cache?.hits ?? 0);
        this.inc({ outcome: 'miss' }, cache?.misses ?? 0);
      },
    });
    gauge('ringblock_ring_epoch', 'Epoch of the committed ring this node routes by', () => cluster().epoch);
    gauge('ringblock_ownership_share', 'Share of the hash space this node holds a replica of', () => cluster().ownershipShare);
    new Gauge({
      name: 'ringblock_members',
      help: 'Ring members by state',
      labelNames: ['state'],
      registers,
      collect() {
        const snapshot = cluster();
        this.set({ state: 'live' }, snapshot.live);
        this.set({ state: 'down' }, snapshot.down);
      },
    });
    const metrics = this;
    new Gauge({ name: 'ringblock_hints_pending', help: 'Hints stored on this node waiting for their owners', registers, collect() { this.set(metrics.hintsPending()); } });
    new Gauge({ name: 'ringblock_http_requests_in_flight', help: 'HTTP requests being handled', registers, collect() { this.set(metrics.inFlight()); } });
    collectDefaultMetrics({ register: this.registry, prefix: 'ringblock_' });
  }

  /** Source of the in-flight request gauge (the HTTP server, once it exists). */
  inFlight: () => number = () => 0;
  /** Source of the pending hints gauge. */
  hintsPending: () => number = () => 0;

  scrubbed(checked: number, corrupt: number, repaired: number): void {
    this.scrubChecked.inc(checked);
    this.checksumFailures.inc(corrupt);
    this.scrubRepaired.inc(repaired);
  }

  migrationMoved(blocks: number, bytes: number): void {
    this.migrationBlocksMoved.inc(blocks);
    this.migrationBytesMoved.inc(bytes);
  }

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    const op = operationName(route, method);
    this.requests.inc({ op, status: String(status) });
    (route.startsWith('internal') ? this.replicaSeconds : this.requestSeconds).observe({ op }, seconds);
  }
}

function operationName(route: string, method: string): string {
  if (route === 'block' || route === 'internal_block') return `${route === 'block' ? '' : 'replica_'}${method.toLowerCase()}`;
  return route;
}
