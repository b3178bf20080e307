// The agent's Prometheus metrics (DESIGN §10: SPDK device iostat and health, volume FSM state), read
// from SPDK at scrape time (bounded by the RPC client's call timeout) so they are never stale.
import { Gauge, Registry } from 'prom-client';
import { VOLUME_STATES } from '../volume-fsm.js';
import type { SpdkApi } from '../methods.js';
import type { StorageAgent } from './agent.js';

export function agentMetrics(agent: StorageAgent, api: SpdkApi, host: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ host });
  const registers = [registry];
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
  const iostat = (name: string, help: string, field: 'bytes_read' | 'bytes_written' | 'num_read_ops' | 'num_write_ops') =>
    new Gauge({
      name,
      help,
      labelNames: ['bdev'],
      registers,
      async collect() {
        this.reset();
        const reply = await api.bdevGetIostat().catch(() => undefined);
        for (const bdev of reply?.bdevs ?? []) this.set({ bdev: bdev.name }, Number(bdev[field]));
      },
    });
  iostat('ringblock_spdk_bdev_read_bytes', 'Bytes read from an SPDK bdev since it was registered (bdev_get_iostat)', 'bytes_read');
  iostat('ringblock_spdk_bdev_written_bytes', 'Bytes written to an SPDK bdev since it was registered', 'bytes_written');
  iostat('ringblock_spdk_bdev_read_ops', 'Read operations of an SPDK bdev since it was registered', 'num_read_ops');
  iostat('ringblock_spdk_bdev_write_ops', 'Write operations of an SPDK bdev since it was registered', 'num_write_ops');
  const health = (name: string, help: string, field: 'critical_warning' | 'temperature_celsius' | 'available_spare_percentage' | 'percentage_used' | 'media_errors') =>
    new Gauge({
      name,
      help,
      labelNames: ['controller'],
      registers,
      async collect() {
        this.reset();
        const controllers = await api.bdevNvmeGetControllers().catch(() => []);
        for (const controller of controllers) {
          const info = await api.bdevNvmeGetControllerHealthInfo({ name: controller.name }).catch(() => undefined);
          if (info) this.set({ controller: controller.name }, Number(info[field]));
        }
      },
    });
  health('ringblock_spdk_controller_critical_warning', 'NVMe SMART critical warning bits of a controller (0: none)', 'critical_warning');
  health('ringblock_spdk_controller_temperature_celsius', 'NVMe composite temperature of a controller', 'temperature_celsius');
  health('ringblock_spdk_controller_available_spare_percent', 'NVMe available spare of a controller', 'available_spare_percentage');
  health('ringblock_spdk_controller_used_percent', 'NVMe percentage used (endurance) of a controller', 'percentage_used');
  health('ringblock_spdk_controller_media_errors', 'NVMe media and data integrity errors of a controller', 'media_errors');
  return registry;
}
