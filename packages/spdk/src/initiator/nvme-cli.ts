// Command lines of nvme-cli for the kernel NVMe-oF initiator (pure, so they are tested exactly).
// Long options only: they have been stable across nvme-cli 1.x and 2.x, the short ones have not.
import { isValidNqn } from '../nqn.js';
import type { VolumeExport } from '../volumes/record.js';
import { InitiatorError } from './errors.js';

export interface NvmeConnectTuning {
  /** Our host NQN (default: nvme-cli reads /etc/nvme/hostnqn). */
  readonly hostnqn?: string | undefined;
  /** Seconds the kernel keeps reconnecting a lost controller before failing I/O for good (-1: forever). */
  readonly ctrlLossTmoS?: number | undefined;
  /** Seconds between reconnect attempts. */
  readonly reconnectDelayS?: number | undefined;
  /** I/O queues to open (default: one per CPU). */
  readonly nrIoQueues?: number | undefined;
}

const TRADDR = /^[0-9A-Za-z.:%_-]{1,255}$/;
const PORT = /^\d{1,5}$/;

/** `nvme connect …` for an exported volume; throws INITIATOR_BAD_INPUT before anything runs. */
export function nvmeConnectArgv(target: VolumeExport, tuning: NvmeConnectTuning = {}): string[] {
  checkNqn(target.nqn, 'subsystem NQN');
  if (!TRADDR.test(target.traddr)) bad(`traddr "${target.traddr}" is not an address`);
  if (!PORT.test(target.trsvcid) || Number(target.trsvcid) < 1 || Number(target.trsvcid) > 65_535) bad(`trsvcid "${target.trsvcid}" is not a port`);
  const argv = ['connect', `--transport=${target.trtype.toLowerCase()}`, `--traddr=${target.traddr}`, `--trsvcid=${target.trsvcid}`, `--nqn=${target.nqn}`];
  if (tuning.hostnqn !== undefined) {
    checkNqn(tuning.hostnqn, 'host NQN');
    argv.push(`--hostnqn=${tuning.hostnqn}`);
  }
  if (tuning.ctrlLossTmoS !== undefined) {
    if (!Number.isSafeInteger(tuning.ctrlLossTmoS) || tuning.ctrlLossTmoS < -1) bad('ctrl-loss-tmo must be a whole number of seconds, or -1');
    argv.push(`--ctrl-loss-tmo=${tuning.ctrlLossTmoS}`);
  }
  if (tuning.reconnectDelayS !== undefined) {
    if (!Number.isSafeInteger(tuning.reconnectDelayS) || tuning.reconnectDelayS < 1) bad('reconnect-delay must be a positive whole number of seconds');
    argv.push(`--reconnect-delay=${tuning.reconnectDelayS}`);
  }
  if (tuning.nrIoQueues !== undefined) {
    if (!Number.isSafeInteger(tuning.nrIoQueues) || tuning.nrIoQueues < 1 || tuning.nrIoQueues > 1024) bad('nr-io-queues must be 1..1024');
    argv.push(`--nr-io-queues=${tuning.nrIoQueues}`);
  }
  return argv;
}

/** `nvme disconnect …`: every controller of the subsystem on this host. */
export function nvmeDisconnectArgv(nqn: string): string[] {
  checkNqn(nqn, 'subsystem NQN');
  return ['disconnect', `--nqn=${nqn}`];
}

/** `nvme ns-rescan …`: the controller re-reads its namespaces' sizes (after the lvol grew). */
export function nvmeRescanArgv(controller: string): string[] {
  if (!/^nvme\d+$/.test(controller)) bad(`"${controller}" is not an NVMe controller name`);
  return ['ns-rescan', `/dev/${controller}`];
}

/** nvme-cli's refusal of a connection that exists already (it then changes nothing). */
export function isAlreadyConnected(stderr: string): boolean {
  return /already connected|EALREADY|Operation already in progress/i.test(stderr);
}

function checkNqn(nqn: string, what: string): void {
  if (!isValidNqn(nqn)) bad(`${what} "${nqn}" is not a valid NQN`);
}

function bad(message: string): never {
  throw new InitiatorError('INITIATOR_BAD_INPUT', message);
}
