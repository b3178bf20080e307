// Coordination of a client request (DESIGN §5): find the block's owners on the committed ring, write
// to every live owner in parallel (the local engine directly), answer once the consistency level is
// met; read from the needed number of owners (local first) and return the newest version.
//
// Ordering of writes that follow each other: a coordinator's clock may be behind the version a
// previous write got on another node. Replicas keep the newest version, so a replica holding a newer
// version answers `newer` with it; when that keeps the level from being met, the coordinator moves
// its clock past that version and writes again. Quorum intersection makes this sound: a write
// acknowledged at quorum is on at least one replica of any later quorum, which refuses anything older.
import { SpanKind, type Context, type Tracer } from '@opentelemetry/api';
import { HttpError } from './http/errors.js';
import { QuorumCount, type AckCount } from './quorum.js';
import { DualQuorumCount } from './migration/dual-quorum.js';
import { requiredAcks, type Consistency } from './consistency.js';
import { ReplicaError, type Replica, type StoredBlock, type WriteOutcome } from './store.js';
import { compareVersions, type HybridClock } from './version.js';
import { inSpan } from './tracing.js';

/** Rounds of "a replica holds a newer version, take a later one" before giving up. */
const VERSION_ROUNDS_MAX = 4;
/** Read repairs in flight at once; more are skipped (anti-entropy catches up later). */
const READ_REPAIRS_IN_FLIGHT_MAX = 64;

export interface Owner {
  name: string;
  addr: string;
}

/** The routing state a request is coordinated on: one committed ring epoch and the live set. */
export interface RoutingView {
  epoch: number;
  owners(id: string): readonly Owner[];
  /**
   * While a migration is prepared: the block's owners in the ring being migrated to. Writes then
   * go to both owner sets and must meet the level in each (DESIGN §6); reads stay on `owners`.
   */
  pendingOwners?: (id: string) => readonly Owner[];
  isLive(name: string): boolean;
}

export interface CoordinatorOptions {
  self: string;
  clock: HybridClock;
  local: Replica;
  remote: (addr: string) => Replica;
  view: () => RoutingView;
  /** False when this node cannot confirm its ring is current: it must not coordinate writes. */
  ringConfirmed: () => boolean;
  /**
   * A replica answered that it routes by a newer ring epoch: resolves once this node has it too
   * (true) or after a bound (false). The request is then coordinated again on the new ring.
   */
  awaitEpoch: (epoch: number) => Promise<boolean>;
  onReadRepair?: (count: number) => void;
  /**
   * An acknowledged write did not reach these owners (down, or their call failed): hinted handoff
   * keeps it for them. Called after every target answered, off the request's path.
   */
  onMissed?: (id: string, version: Buffer, data: Buffer | undefined, owners: readonly Owner[]) => void;
  /** Chance (0..1) that a read at `one` also checks the other owners in the background and repairs them. */
  readRepairChance?: number;
  random?: () => number;
  /** Tracing on: a child span per replica call of a traced request (CLIENT for peers, INTERNAL for ourselves). */
  tracer?: Tracer | undefined;
}

interface Target {
  owner: Owner;
  replica: Replica;
}

export class Coordinator {
  private readRepairsInFlight = 0;

  constructor(private readonly options: CoordinatorOptions) {}

  /** Writes `data` (or a tombstone when undefined); resolves with the version acknowledged. `trace`: the request's span context. */
  async write(id: string, data: Buffer | undefined, level: Consistency, trace?: Context): Promise<Buffer> {
    if (!this.options.ringConfirmed()) {
      throw new HttpError(503, 'UNAVAILABLE', 'this node cannot confirm the current ring with ZooKeeper; it does not coordinate writes until it can', { required: 0, acked: 0, reason: 'ring-unconfirmed' });
    }
    let lastAcked = 0;
    let required = 0;
    let full = false;
    let epochRetried = false;
    for (let round = 0; round < VERSION_ROUNDS_MAX; round++) {
      const targets = this.writeTargets(id, level);
      required = targets.required;
      const version = this.options.clock.next();
      const outcome = await writeRound(targets.targets, targets.count(), version, (target) => this.writeTo(target, id, version, data, trace));
      if (outcome.met) {
        this.handOff(id, version, data, targets.skipped, outcome.missed);
        return version;
      }
      lastAcked = outcome.acked;
      full ||= outcome.full;
      // A ring commit raced this request: once, coordinate it again on the new ring.
      if (outcome.newerEpoch !== undefined && !epochRetried && (await this.options.awaitEpoch(outcome.newerEpoch))) {
        epochRetried = true;
        continue;
      }
      if (!outcome.newer) break;
      this.options.clock.observe(outcome.newer);
    }
    if (full) throw new HttpError(507, 'INSUFFICIENT_STORAGE', 'a replica device is full', { required, acked: lastAcked });
    throw unavailable(required, lastAcked);
  }

  /** The newest record among the answers of `level` owners; undefined when none or a tombstone. `trace`: the request's span context. */
  async read(id: string, level: Consistency, trace?: Context): Promise<StoredBlock | undefined> {
    // A node that cannot confirm its ring may route by one that moved on: its owners could all be
    // stale copies. `one` promises nothing more than a copy; quorum and all must not read stale.
    if (level !== 'one' && !this.options.ringConfirmed()) {
      throw new HttpError(503, 'UNAVAILABLE', 'this node cannot confirm the current ring with ZooKeeper; quorum reads wait until it can (consistency=one is served)', { required: 0, acked: 0, reason: 'ring-unconfirmed' });
    }
    const readFrom = (target: Target) => this.readFrom(target, id, trace);
    let { targets, required } = this.readTargets(id, level);
    let { answers, newerEpoch, corrupt } = await readQuorum(targets, required, readFrom);
    if (answers.length < required && newerEpoch !== undefined && (await this.options.awaitEpoch(newerEpoch))) {
      ({ targets, required } = this.readTargets(id, level));
      ({ answers, newerEpoch, corrupt } = await readQuorum(targets, required, readFrom));
    }
    if (answers.length < required) throw unavailable(required, answers.length);
    const newest = newestOf(answers);
    // Corrupt copies are stale copies: they get the newest like any replica that was behind.
    if (newest) this.repair(id, newest, [...answers, ...corrupt.map((target) => ({ target, block: undefined }))]);
    if (level === 'one' && answers.length < targets.length && (this.options.random ?? Math.random)() < (this.options.readRepairChance ?? 0)) {
      this.backgroundCheck(id, targets.filter((target) => !answers.some((answer) => answer.target === target)), newest);
    }
    return newest && !newest.tombstone ? newest : undefined;
  }

  /** Reads the owners a `one` read did not ask, and repairs whichever side is behind. */
  private backgroundCheck(id: string, others: readonly Target[], seen: StoredBlock | undefined): void {
    void readQuorum(others, others.length, (target) => target.replica.read(id)).then(({ answers }) => {
      const newest = newestOf([...answers, ...(seen ? [{ target: others[0]!, block: seen }] : [])]);
      if (newest) this.repair(id, newest, answers);
    });
  }

  private writeTo(target: Target, id: string, version: Buffer, data: Buffer | undefined, trace: Context | undefined): Promise<WriteOutcome> {
    const tracer = this.options.tracer;
    if (!trace || !tracer) return target.replica.write(id, version, data);
    return this.replicaSpan(tracer, trace, target, data ? 'put' : 'delete', (context) => target.replica.write(id, version, data, context), (outcome) => ({ 'ringblock.replica.result': outcome.result }));
  }

  private readFrom(target: Target, id: string, trace: Context | undefined): Promise<StoredBlock | undefined> {
    const tracer = this.options.tracer;
    if (!trace || !tracer) return target.replica.read(id);
    return this.replicaSpan(tracer, trace, target, 'get', (context) => target.replica.read(id, context), (block) => ({ 'ringblock.replica.found': block !== undefined }));
  }

  /** `replica.<op>`: a CLIENT span for a peer (whose server span continues it), INTERNAL for this node's engine. */
  private replicaSpan<T>(tracer: Tracer, trace: Context, target: Target, op: string, call: (context: Context) => Promise<T>, outcome: (value: T) => Record<string, string | boolean>): Promise<T> {
    const remote = target.owner.name !== this.options.self;
    const attributes: Record<string, string | number> = { 'ringblock.peer': target.owner.name, 'ringblock.op': op };
    if (remote) {
      const colon = target.owner.addr.lastIndexOf(':');
      attributes['server.address'] = target.owner.addr.slice(0, colon);
      attributes['server.port'] = Number(target.owner.addr.slice(colon + 1));
    }
    return inSpan(tracer, trace, `replica.${op}`, remote ? SpanKind.CLIENT : SpanKind.INTERNAL, attributes, call, outcome);
  }

  /** Owners an acknowledged write missed get it later through hinted handoff. */
  private handOff(id: string, version: Buffer, data: Buffer | undefined, skipped: readonly Owner[], missed: Promise<readonly Owner[]>): void {
    const onMissed = this.options.onMissed;
    if (!onMissed) return;
    void missed.then((failed) => {
      const owners = [...skipped, ...failed];
      if (owners.length > 0) onMissed(id, version, data, owners);
    });
  }

  /** Single-ring targets, or during a migration the union of both owner sets with a dual count. */
  private writeTargets(id: string, level: Consistency): { targets: Target[]; required: number; count: () => AckCount; skipped: Owner[] } {
    const view = this.options.view();
    if (!view.pendingOwners) {
      const owners = view.owners(id);
      const { targets, required } = this.targets(level, owners, view);
      const skipped = owners.filter((owner) => !targets.some((target) => target.owner.name === owner.name));
      return { targets, required, count: () => new QuorumCount(required, targets.length), skipped };
    }
    const oldOwners = view.owners(id);
    const newOwners = view.pendingOwners(id);
    const union = [...oldOwners, ...newOwners.filter((owner) => !oldOwners.some((old) => old.name === owner.name))];
    const live = union.filter((owner) => owner.name === this.options.self || view.isLive(owner.name));
    const down = union.filter((owner) => !live.includes(owner));
    const names = (owners: readonly Owner[]) => owners.map((owner) => owner.name);
    const count = () => {
      const dual = DualQuorumCount.forLevel(level, names(oldOwners), names(newOwners));
      for (const owner of down) dual.fail(owner.name);
      return dual;
    };
    if (count().state() === 'impossible') throw unavailable(requiredAcks(level, oldOwners.length), 0, 'too few owners are live in the old or the new ring of a migration');
    return { targets: live.map((owner) => this.target(owner)), required: requiredAcks(level, oldOwners.length), count, skipped: down };
  }

  private target(owner: Owner): Target {
    return { owner, replica: owner.name === this.options.self ? this.options.local : this.options.remote(owner.addr) };
  }

  /** Reads stay on the committed ring, even while a migration dual-writes. */
  private readTargets(id: string, level: Consistency): { targets: Target[]; required: number } {
    const view = this.options.view();
    return this.targets(level, view.owners(id), view);
  }

  private targets(level: Consistency, owners: readonly Owner[], view: RoutingView): { targets: Target[]; required: number } {
    // With fewer nodes than RF every node owns every block; the level counts against those owners.
    const required = requiredAcks(level, owners.length);
    const live = owners.filter((owner) => owner.name === this.options.self || view.isLive(owner.name));
    // The local replica first: it answers without a network hop.
    live.sort((a, b) => Number(b.name === this.options.self) - Number(a.name === this.options.self));
    if (live.length < required) throw unavailable(required, 0, `only ${live.length} of the block's ${owners.length} owners are live`);
    return { required, targets: live.map((owner) => this.target(owner)) };
  }

  /** Writes the newest record to answers that were behind, in the background and bounded. */
  private repair(id: string, newest: StoredBlock, answers: readonly ReadAnswer[]): void {
    const stale = answers.filter((answer) => !answer.block || compareVersions(answer.block.version, newest.version) < 0);
    for (const answer of stale) {
      if (this.readRepairsInFlight >= READ_REPAIRS_IN_FLIGHT_MAX) return;
      this.readRepairsInFlight++;
      this.options.onReadRepair?.(1);
      answer.target.replica
        .write(id, newest.version, newest.data)
        .catch(() => undefined)
        .finally(() => this.readRepairsInFlight--);
    }
  }
}

function unavailable(required: number, acked: number, why?: string): HttpError {
  return new HttpError(503, 'UNAVAILABLE', why ?? `only ${acked} of the ${required} replicas needed answered`, { required, acked });
}

interface RoundOutcome {
  met: boolean;
  acked: number;
  /** The newest version a replica refused ours for, if any. */
  newer: Buffer | undefined;
  full: boolean;
  /** The newest ring epoch a replica refused our (older) epoch for, if any. */
  newerEpoch: number | undefined;
  /** Once every target answered: those whose call failed (not a refusal for a newer version). */
  missed: Promise<readonly Owner[]>;
}

/** Keeps the highest epoch a STALE_EPOCH answer carried. */
function staleEpochOf(error: unknown, seen: number | undefined): number | undefined {
  if (!(error instanceof ReplicaError) || error.code !== 'STALE_EPOCH' || error.epoch === undefined || !Number.isSafeInteger(error.epoch)) return seen;
  return seen === undefined ? error.epoch : Math.max(seen, error.epoch);
}

function writeRound(targets: readonly Target[], count: AckCount, version: Buffer, write: (target: Target) => Promise<WriteOutcome>): Promise<RoundOutcome> {
  return new Promise((resolve) => {
    let acked = 0;
    let newer: Buffer | undefined;
    let newerEpoch: number | undefined;
    let full = false;
    let settled = false;
    const failed: Owner[] = [];
    const calls: Promise<unknown>[] = [];
    const missed = () => Promise.allSettled(calls).then(() => failed);
    const settle = (state: ReturnType<QuorumCount['state']>) => {
      if (settled || state === 'pending') return;
      settled = true;
      resolve({ met: state === 'met', acked, newer, full, newerEpoch, missed: missed() });
    };
    for (const target of targets) {
      const call = write(target).then(
        (outcome) => {
          if (outcome.result === 'applied') {
            acked++;
            return settle(count.ack(target.owner.name));
          }
          // `equal` to a version this round just took from the clock: the replica holds another
          // write under the same version (a clock that restarted behind versions it had issued), so
          // it kept that write's bytes. Not an acknowledgement: the next round takes a later version.
          const current = outcome.result === 'equal' ? version : outcome.current;
          if (current && (!newer || compareVersions(current, newer) > 0)) newer = current;
          settle(count.fail(target.owner.name));
        },
        (error: unknown) => {
          full ||= error instanceof ReplicaError && error.code === 'DEVICE_FULL';
          newerEpoch = staleEpochOf(error, newerEpoch);
          if (!(error instanceof ReplicaError && error.code === 'STALE_EPOCH')) failed.push(target.owner);
          settle(count.fail(target.owner.name));
        },
      );
      calls.push(call);
    }
  });
}

interface ReadAnswer {
  target: Target;
  block: StoredBlock | undefined;
}

function newestOf(answers: readonly ReadAnswer[]): StoredBlock | undefined {
  let newest: StoredBlock | undefined;
  for (const answer of answers) {
    if (answer.block && (!newest || compareVersions(answer.block.version, newest.version) > 0)) newest = answer.block;
  }
  return newest;
}

/** Asks `required` targets (in order), asking the next spare one for each failure. */
function readQuorum(targets: readonly Target[], required: number, read: (target: Target) => Promise<StoredBlock | undefined>): Promise<{ answers: ReadAnswer[]; newerEpoch: number | undefined; corrupt: Target[] }> {
  return new Promise((resolve) => {
    const answers: ReadAnswer[] = [];
    const corrupt: Target[] = [];
    let newerEpoch: number | undefined;
    let next = 0;
    let inFlight = 0;
    let settled = false;
    const finish = () => {
      if (settled) return;
      if (answers.length >= required || (inFlight === 0 && next >= targets.length)) {
        settled = true;
        resolve({ answers, newerEpoch, corrupt });
      }
    };
    const ask = () => {
      const target = targets[next++];
      if (!target) return finish();
      inFlight++;
      read(target).then(
        (block) => {
          inFlight--;
          answers.push({ target, block });
          finish();
        },
        (error: unknown) => {
          inFlight--;
          newerEpoch = staleEpochOf(error, newerEpoch);
          if (error instanceof ReplicaError && error.code === 'CHECKSUM_MISMATCH') corrupt.push(target);
          ask();
          finish();
        },
      );
    };
    for (let i = 0; i < Math.min(required, targets.length); i++) ask();
    finish();
  });
}
