// Starting spdk-sim: in-process (startSpdkSim, for tests and the local cluster) or as the command
// `ringblock spdk-sim --sock PATH --state DIR` (runSpdkSim).
import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { DEFAULT_SPDK_SOCKET_PATH } from '../limits.js';
import { Dispatcher } from './dispatch.js';
import { SIM_METHODS } from './methods/index.js';
import { DEFAULT_SIM_DEVICES, type SimNvmeDevice } from './nvme.js';
import { SimRpcServer, type BatchMode } from './server.js';
import { lockSocket } from './socket-lock.js';
import { createSimTarget, type SimTarget } from './target.js';

export interface SpdkSimOptions {
  /** The RPC socket path. */
  readonly sock: string;
  /** Where lvstore metadata (spdk-sim-state.json) and lvol data files (lvols/<uuid>.img) live. */
  readonly stateDir: string;
  /** NVMe SSDs on the sim's "PCIe bus"; default one 16 GiB device at 0000:00:04.0. */
  readonly devices?: readonly SimNvmeDevice[];
  /** cluster_sz when bdev_lvol_create_lvstore omits it. Default 4 MiB, as SPDK. */
  readonly clusterSizeBytes?: number;
  /** False: no RDMA device, so nvmf_create_transport RDMA fails (TCP still works). Default true. */
  readonly rdmaDevice?: boolean;
  /** Addresses listeners may bind; default any IP literal of the listener's address family. */
  readonly bindableAddresses?: readonly string[];
  /** Start in STARTUP, as `spdk_tgt --wait-for-rpc`. */
  readonly waitForRpc?: boolean;
  /** Default "execute" (v26.05+); "reject" behaves as older targets. */
  readonly batches?: BatchMode;
  readonly logger?: Logger;
}

export interface SpdkSim {
  readonly sock: string;
  readonly stateDir: string;
  /** The emulated target (for in-process inspection in tests). */
  readonly target: SimTarget;
  /** The data file of an lvol by UUID (the documented naming scheme). */
  lvolFilePath(lvolUuid: string): string;
  /** Closes every client connection without replies. */
  dropConnections(): void;
  /** Stops serving; lvstore metadata and lvol files stay in stateDir (a restart finds them). */
  close(): Promise<void>;
}

export async function startSpdkSim(options: SpdkSimOptions): Promise<SpdkSim> {
  await mkdir(options.stateDir, { recursive: true });
  const unlock = await lockSocket(options.sock);
  let target: SimTarget;
  let server: SimRpcServer;
  try {
    target = await createSimTarget({ ...options, devices: options.devices ?? DEFAULT_SIM_DEVICES });
    server = new SimRpcServer({ dispatcher: new Dispatcher(SIM_METHODS, target), batches: options.batches ?? 'execute', ...(options.logger ? { logger: options.logger } : {}) });
    await server.listen(options.sock);
  } catch (error) {
    await unlock();
    throw error;
  }
  options.logger?.info({ sock: options.sock, stateDir: options.stateDir }, 'spdk-sim listening');
  let closing: Promise<void> | undefined;
  return {
    sock: options.sock,
    stateDir: options.stateDir,
    target,
    lvolFilePath: (lvolUuid) => target.lvols.files.pathOf(lvolUuid),
    dropConnections: () => server.dropAll(),
    close: () => (closing ??= server.close().then(unlock)),
  };
}

const USAGE = `usage: ringblock spdk-sim --state DIR [--sock /var/tmp/spdk.sock] [--device BDF[=SIZE[:BLOCK]]]...
       [--cluster-size SIZE] [--no-rdma] [--wait-for-rpc] [--legacy-batches]
  An SPDK target emulator speaking SPDK's JSON-RPC on a Unix socket (see packages/spdk/README.md).
  SIZE takes K/M/G/T suffixes (powers of 1024). Default device: 0000:00:04.0=16G:4096.
`;

/** `ringblock spdk-sim`: runs until SIGINT/SIGTERM; returns the exit code. */
export async function runSpdkSim(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      sock: { type: 'string', default: DEFAULT_SPDK_SOCKET_PATH },
      state: { type: 'string' },
      device: { type: 'string', multiple: true },
      'cluster-size': { type: 'string' },
      'no-rdma': { type: 'boolean', default: false },
      'wait-for-rpc': { type: 'boolean', default: false },
      'legacy-batches': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || values.state === undefined) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const logger = pino({ name: 'spdk-sim', level: process.env.RINGBLOCK_LOG_LEVEL ?? 'info' });
  const sim = await startSpdkSim({
    sock: values.sock,
    stateDir: values.state,
    ...(values.device === undefined ? {} : { devices: values.device.map(parseDevice) }),
    ...(values['cluster-size'] === undefined ? {} : { clusterSizeBytes: parseSize('--cluster-size', values['cluster-size']) }),
    rdmaDevice: !values['no-rdma'],
    waitForRpc: values['wait-for-rpc'],
    batches: values['legacy-batches'] ? 'reject' : 'execute',
    logger,
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await sim.close();
  return 0;
}

/** "BDF[=SIZE[:BLOCK]]", e.g. "0000:04:00.0=100G:4096". */
export function parseDevice(text: string): SimNvmeDevice {
  const [traddr = '', spec] = text.split('=');
  const [size = '16G', block = '4096'] = spec === undefined ? [] : spec.split(':');
  return { traddr, sizeBytes: parseSize('--device', size), blockSize: Number(block) };
}

/** "4096", "512K", "16G" (powers of 1024) → bytes. */
export function parseSize(name: string, text: string): number {
  const match = /^(\d+)([KMGT]?)$/i.exec(text.trim());
  if (match === null) throw new RangeError(`${name}: "${text}" is not a size like 4096, 512M or 16G`);
  const exponent = ' KMGT'.indexOf((match[2] || ' ').toUpperCase());
  return Number(match[1]) * 1024 ** exponent;
}
