// A peer on SPDK (`RINGBLOCK_BACKING=spdk`, DESIGN §8): before opening its engine it asks for its
// volume (`volumes/<name>`, host: RINGBLOCK_VOLUME_HOST or the registered storage agent serving the
// fewest volumes), waits for `available`, asks for the attach (the agent exports it over NVMe-oF),
// waits for `attached`, and connects it (volume-connector.ts): with the kernel initiator by NQN in
// production, on spdk-sim through a loop device over the lvol's data file (or the file). A growing record grows the device; a decommissioned node
// detaches and deletes its volume when it stops.
import type { Logger } from 'pino';
import { clusterPaths, digestAcl, ZkClient } from '@ringblock/coord';
import {
  isTerminalVolumeState, newVolumeRecord, VolumeStore, VolumeTransitionError,
  type VolumeEvent, type VolumeRecord, type VolumeState,
} from '@ringblock/spdk';
import type { NodeConfig } from './config.js';
import { chooseConnector, type VolumeConnector } from './volume-connector.js';

const MIB = 1024 * 1024;
/** Bound on waiting for an agent, for provisioning and for the attach. */
const VOLUME_WAIT_MS = 10 * 60_000;
const RELEASE_WAIT_MS = 2 * 60_000;
const SESSION_TIMEOUT_MS = 10_000;

export class BackingVolumeError extends Error {
  override readonly name = 'BackingVolumeError';
}

export class BackingVolume {
  private constructor(
    private readonly client: ZkClient,
    readonly store: VolumeStore,
    private readonly name: string,
    private readonly connector: VolumeConnector,
    private readonly log: Logger,
    public record: VolumeRecord,
    readonly device: string,
  ) {}

  get sizeBytes(): number {
    return (this.record.lvol?.sizeMib ?? this.record.sizeMib) * MIB;
  }

  /** Provisions (or finds) and attaches this node's volume; returns it with the device to open. */
  static async attach(config: NodeConfig, log: Logger): Promise<BackingVolume> {
    const auth = config.zkUser && config.zkPassword ? { user: config.zkUser, password: config.zkPassword } : undefined;
    const client = await ZkClient.connect(config.zk, { sessionTimeoutMs: SESSION_TIMEOUT_MS, connectTimeoutMs: VOLUME_WAIT_MS, logger: log, ...(auth ? { auth, defaultAcl: digestAcl(auth) } : {}) });
    try {
      const paths = clusterPaths(config.cluster);
      const store = new VolumeStore(() => client, paths);
      await store.init();
      const sizeMib = Math.ceil(config.deviceSizeBytes / MIB);
      let volume = await store.get(config.name);
      if (!volume || volume.record.fsm.state === 'deleted') {
        const host = config.volumeHost ?? (await chooseHost(client, paths.agents, store, log));
        const fresh = newVolumeRecord({ name: config.name, host, sizeMib }, Date.now());
        volume = volume ? await store.replace(volume, fresh) : await store.ensure(fresh);
        log.info({ volume: config.name, host: volume.record.host, sizeMib }, 'asked for a backing volume');
      }
      let record = await waitFor(store, config.name, ['available', 'attached'], VOLUME_WAIT_MS, log);
      if (record.fsm.state === 'available') {
        await applyTolerant(store, config.name, { type: 'attach' });
        record = await waitFor(store, config.name, ['attached'], VOLUME_WAIT_MS, log);
      }
      const connector = await chooseConnector(config, record);
      const device = await connector.connect(record);
      log.info({ volume: config.name, device, via: connector.via, nqn: record.export?.nqn, sizeMib: record.lvol?.sizeMib }, 'backing volume attached');
      return new BackingVolume(client, store, config.name, connector, log, record, device);
    } catch (error) {
      await client.close();
      throw error;
    }
  }

  /** What /health shows of it. */
  status(): Record<string, unknown> {
    const { record } = this;
    return {
      volume: record.name,
      host: record.host,
      state: record.fsm.state,
      sizeMib: record.lvol?.sizeMib ?? record.sizeMib,
      attachedVia: this.connector.via,
      device: this.device,
      ...(record.export ? { nqn: record.export.nqn, target: `${record.export.trtype} ${record.export.traddr}:${record.export.trsvcid}`, nsid: record.export.nsid } : {}),
    };
  }

  /**
   * Calls `onGrow` with the new size whenever the volume's lvol grows (a resize finished), after the
   * host's device took the new size (loop capacity set, NVMe namespaces rescanned).
   */
  async watchGrowth(onGrow: (sizeBytes: number) => Promise<void>): Promise<void> {
    await this.store.watch(this.name, (volume) => {
      if (!volume) return;
      const before = this.sizeBytes;
      this.record = volume.record;
      if (this.sizeBytes > before) {
        const record = this.record;
        void this.connector.refresh(record, this.device).then(() => onGrow(this.sizeBytes)).then(
          () => this.log.info({ sizeBytes: this.sizeBytes }, 'the device grew with its volume'),
          (error: unknown) => this.log.error({ err: error }, 'growing the engine with its volume failed'),
        );
      }
    });
  }

  /** A decommissioned node gives its volume back: detach, then delete (bounded waits). Call after close(). */
  async release(): Promise<void> {
    await applyTolerant(this.store, this.name, { type: 'detach' });
    await waitFor(this.store, this.name, ['available'], RELEASE_WAIT_MS, this.log);
    await applyTolerant(this.store, this.name, { type: 'delete' });
    await waitFor(this.store, this.name, ['deleted'], RELEASE_WAIT_MS, this.log);
    this.log.info({ volume: this.name }, 'backing volume detached and deleted');
  }

  /** The host lets go of the device (after the engine closed it); the volume stays attached. */
  async disconnect(): Promise<void> {
    await this.connector.disconnect(this.record);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** The registered agent with the fewest volumes (ties by name), waiting for one to register. */
async function chooseHost(client: ZkClient, agentsPath: string, store: VolumeStore, log: Logger): Promise<string> {
  const deadline = Date.now() + VOLUME_WAIT_MS;
  let told = false;
  for (;;) {
    await client.mkdirp(agentsPath);
    const agents = (await client.children(agentsPath)).sort();
    if (agents.length > 0) {
      const load = new Map(agents.map((agent) => [agent, 0]));
      for (const record of await store.list()) if (load.has(record.host) && record.fsm.state !== 'deleted') load.set(record.host, load.get(record.host)! + 1);
      return [...load].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))[0]![0];
    }
    if (Date.now() > deadline) throw new BackingVolumeError(`no storage agent registered under ${agentsPath} within ${VOLUME_WAIT_MS / 60_000} min: start \`ringblock storage-agent\` or set RINGBLOCK_VOLUME_HOST`);
    if (!told) log.warn('waiting for a storage agent to register (agents/ is empty)');
    told = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5_000);
      void client.children(agentsPath, () => {
        clearTimeout(timer);
        resolve();
      }).catch(() => undefined);
    });
  }
}

/** A request refused because the volume is already past it (another process asked) is fine. */
async function applyTolerant(store: VolumeStore, name: string, event: VolumeEvent): Promise<void> {
  try {
    await store.apply(name, event, Date.now());
  } catch (error) {
    if (!(error instanceof VolumeTransitionError)) throw error;
  }
}

/** Waits (watching the record) until it is in one of `states`; throws on `error` or after `ms`. */
function waitFor(store: VolumeStore, name: string, states: readonly VolumeState[], ms: number, log: Logger): Promise<VolumeRecord> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let watch: { close(): void } | undefined;
    let lastState: VolumeState | undefined;
    const finish = (outcome: VolumeRecord | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      watch?.close();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const timer = setTimeout(() => finish(new BackingVolumeError(`volume ${name}: not ${states.join(' or ')} after ${ms / 1000} s (last state ${lastState ?? 'unknown'}); is its storage agent running?`)), ms);
    store.watch(name, (volume) => {
      if (!volume) return finish(new BackingVolumeError(`volume ${name} was removed`));
      const { state, lastError } = volume.record.fsm;
      if (state !== lastState) log.info({ volume: name, state }, 'backing volume state');
      lastState = state;
      if (states.includes(state)) finish(volume.record);
      else if (isTerminalVolumeState(state)) finish(new BackingVolumeError(`volume ${name} is ${state}${lastError ? `: ${lastError}` : ''} (POST /volumes/${name}/reconcile once the cause is fixed)`));
    }).then((opened) => (settled ? opened.close() : (watch = opened)), (error: Error) => finish(error));
  });
}
