// The agent's Prometheus metrics (DESIGN §10: SPDK device iostat and health, volume FSM state), read
// from SPDK at scrape time (bounded by the RPC client's call timeout) so they are never stale. One
// registry per scrape (run.ts builds one per request): each SPDK query runs once per registry and its
// answer is shared by the families built from it.
import { Counter, Gauge, Registry } from 'prom-client';
import { VOLUME_OPERATIONS, VOLUME_STATES } from '../volume-fsm.js';
import type { SpdkApi } from '../methods.js';
import type { BdevIostat, NvmeControllerHealth } from '../rpc-types.js';
import type { StorageAgent } from './agent.js';

export interface AgentMetricsOptions {
  /** This agent's host name: the `host` label of every series. */
  host: string;
  /** The agent's lvstore: an lvol bdev aliased `<lvstore>/<volume>` is labelled with its volume. */
  lvstore: string;
}

type IostatCounter = 'bytes_read' | 'bytes_written' | 'num_read_ops' | 'num_write_ops';
type IostatTicks = 'read_latency_ticks' | 'write_latency_ticks';
type HealthField = 'critical_warning' | 'temperature_celsius' | 'available_spare_percentage' | 'available_spare_threshold_percentage' | 'percentage_used' | 'media_errors';

interface IostatReading {
  tickRateHz: number;
  bdevs: readonly BdevIostat[];
  /** bdev name → the volume this agent serves on it (lvol bdevs only). */
  volumes: ReadonlyMap<string, string>;
}

export function agentMetrics(agent: StorageAgent, api: SpdkApi, options: AgentMetricsOptions): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ host: options.host });
  const registers = [registry];
  const iostat = once(() => readIostat(agent, api, options.lvstore));
  const health = once(() => readHealth(api));
  new Gauge({
    name: 'ringblock_spdk_up',
    help: 'Whether the storage agent reaches SPDK and its lvstore is loaded (1) or not (0)',
    registers,
    collect() {
      this.set(agent.status().spdk === 'up' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ringblock_volume_state',
    help: 'Volumes served by this agent by lifecycle state',
    labelNames: ['volume', 'state'],
    registers,
    collect() {
      this.reset();
      for (const volume of agent.status().volumes) for (const state of VOLUME_STATES) this.set({ volume: volume.name, state }, volume.state === state ? 1 : 0);
    },
  });

  const bdevGauge = (name: string, help: string, value: (bdev: BdevIostat, reading: IostatReading) => number) =>
    new Gauge({
      name,
      help: `${help} (bdev_get_iostat; \`volume\` on the lvols of this agent's volumes)`,
      labelNames: ['bdev', 'volume'],
      registers,
      async collect() {
        this.reset();
        const reading = await iostat();
        for (const bdev of reading?.bdevs ?? []) {
          const volume = reading!.volumes.get(bdev.name);
          this.set(volume === undefined ? { bdev: bdev.name } : { bdev: bdev.name, volume }, value(bdev, reading!));
        }
      },
    });
  const counted = (field: IostatCounter) => (bdev: BdevIostat) => Number(bdev[field]);
  const seconds = (field: IostatTicks) => (bdev: BdevIostat, reading: IostatReading) => Number(bdev[field]) / reading.tickRateHz;
  bdevGauge('ringblock_spdk_bdev_read_bytes', 'Bytes read from an SPDK bdev since it was registered', counted('bytes_read'));
  bdevGauge('ringblock_spdk_bdev_written_bytes', 'Bytes written to an SPDK bdev since it was registered', counted('bytes_written'));
  bdevGauge('ringblock_spdk_bdev_read_ops', 'Read operations of an SPDK bdev since it was registered', counted('num_read_ops'));
  bdevGauge('ringblock_spdk_bdev_write_ops', 'Write operations of an SPDK bdev since it was registered', counted('num_write_ops'));
  bdevGauge('ringblock_spdk_bdev_read_time_seconds', 'Time reads of an SPDK bdev took in total since it was registered (read_latency_ticks / tick_rate; per read: divide by the read ops)', seconds('read_latency_ticks'));
  bdevGauge('ringblock_spdk_bdev_write_time_seconds', 'Time writes of an SPDK bdev took in total since it was registered (write_latency_ticks / tick_rate)', seconds('write_latency_ticks'));

  const healthGauge = (name: string, help: string, field: HealthField) =>
    new Gauge({
      name,
      help,
      labelNames: ['controller'],
      registers,
      async collect() {
        this.reset();
        for (const { controller, info } of await health()) this.set({ controller }, Number(info[field]));
      },
    });
  healthGauge('ringblock_spdk_controller_critical_warning', 'NVMe SMART critical warning bits of a controller (0: none)', 'critical_warning');
  healthGauge('ringblock_spdk_controller_temperature_celsius', 'NVMe composite temperature of a controller', 'temperature_celsius');
  healthGauge('ringblock_spdk_controller_available_spare_percent', 'NVMe available spare of a controller', 'available_spare_percentage');
  healthGauge('ringblock_spdk_controller_available_spare_threshold_percent', 'NVMe available spare threshold of a controller (a spare below it sets a critical warning bit)', 'available_spare_threshold_percentage');
  healthGauge('ringblock_spdk_controller_used_percent', 'NVMe percentage used (endurance) of a controller', 'percentage_used');
  healthGauge('ringblock_spdk_controller_media_errors', 'NVMe media and data integrity errors of a controller', 'media_errors');

  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], values: () => readonly [Partial<Record<L, string>>, number][]) =>
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [labels, value] of values()) this.inc(labels, value);
      },
    });
  counter('ringblock_agent_passes_total', 'Healing passes of the storage agent over every volume and SPDK since it started', [], () => [[{}, agent.counts().passes]]);
  counter('ringblock_agent_operations_total', 'SPDK operations of the volume workers (create, attach, …) by outcome since the agent started', ['operation', 'outcome'], () => {
    const { operations } = agent.counts();
    return VOLUME_OPERATIONS.flatMap((operation) => [[{ operation, outcome: 'succeeded' }, operations[operation].succeeded], [{ operation, outcome: 'failed' }, operations[operation].failed]] as const);
  });
  counter('ringblock_agent_reconciles_total', 'Reconcile requests the agent answered, by outcome (reconciled, or unreachable: SPDK did not answer)', ['outcome'], () => {
    const { reconciles } = agent.counts();
    return [[{ outcome: 'reconciled' }, reconciles.reconciled], [{ outcome: 'unreachable' }, reconciles.unreachable]];
  });
  counter('ringblock_agent_reexports_total', 'Attached volumes the agent found unexported (SPDK restarted) and exported again', [], () => [[{}, agent.counts().reexports]]);
  counter('ringblock_agent_spdk_errors_total', 'SPDK calls of the agent that failed (preparing the lvstore, volume operations, re-exports)', [], () => [[{}, agent.counts().spdkErrors]]);
  return registry;
}

/** The iostat of every bdev, with the served volume of each lvol bdev; undefined when SPDK does not answer. */
async function readIostat(agent: StorageAgent, api: SpdkApi, lvstore: string): Promise<IostatReading | undefined> {
  const [reply, bdevs] = await Promise.all([api.bdevGetIostat().catch(() => undefined), api.bdevGetBdevs().catch(() => [])]);
  if (!reply) return undefined;
  const served = new Set(agent.status().volumes.map((volume) => volume.name));
  const volumes = new Map<string, string>();
  for (const bdev of bdevs) {
    const volume = bdev.aliases.map((alias) => (alias.startsWith(`${lvstore}/`) ? alias.slice(lvstore.length + 1) : undefined)).find((name) => name !== undefined && served.has(name));
    if (volume !== undefined) volumes.set(bdev.name, volume);
  }
  const tickRateHz = Number(reply.tick_rate);
  return { tickRateHz: tickRateHz > 0 ? tickRateHz : 1, bdevs: reply.bdevs, volumes };
}

/** The health log of every NVMe controller that answers. */
async function readHealth(api: SpdkApi): Promise<{ controller: string; info: NvmeControllerHealth }[]> {
  const controllers = await api.bdevNvmeGetControllers().catch(() => []);
  const infos = await Promise.all(controllers.map((controller) => api.bdevNvmeGetControllerHealthInfo({ name: controller.name }).then((info) => ({ controller: controller.name, info }), () => undefined)));
  return infos.filter((entry) => entry !== undefined);
}

/** `fn` called at most once; every caller gets its promise. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => (promise ??= fn());
}
