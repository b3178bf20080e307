// `ringblock storage-agent` configuration from RINGBLOCK_* variables and the same as --flags (DESIGN §9).
// Invalid configuration stops start-up with one line naming the variable.
import { hostname } from 'node:os';
import type { RetryPolicy } from '../volume-fsm.js';
import { validateRetryPolicy } from '../volume-fsm.js';
import type { VolumeTransport } from '../volumes/record.js';
import type { LvolWithoutRecordPolicy, RecordWithoutLvolPolicy } from './agent.js';
import type { NvmeDeviceSpec } from './backend.js';

export interface AgentConfig {
  host: string;
  zk: string;
  cluster: string;
  zkUser?: string;
  zkPassword?: string;
  spdkSock: string;
  lvstore: string;
  /** Configured devices; undefined: discover NVMe controllers in sysfs. */
  devices?: NvmeDeviceSpec[];
  sysfsRoot: string;
  transport: VolumeTransport;
  nvmfAddr: string;
  nvmfPort: string;
  thin: boolean;
  /** /metrics and /health; 0: no HTTP server. */
  port: number;
  recordWithoutLvol: RecordWithoutLvolPolicy;
  lvolWithoutRecord: LvolWithoutRecordPolicy;
  retry: RetryPolicy;
  passIntervalMs: number;
  logLevel: string;
}

export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
}

type Env = Record<string, string | undefined>;

function read(env: Env, key: string): string | undefined {
  const value = env[`RINGBLOCK_${key}`];
  return value === undefined || value === '' ? undefined : value;
}

function oneOf<T extends string>(env: Env, key: string, choices: readonly T[], fallback: T): T {
  const value = read(env, key)?.toLowerCase() ?? fallback;
  if (!(choices as readonly string[]).includes(value)) throw new AgentConfigError(`RINGBLOCK_${key} must be one of ${choices.join(', ')}, got "${value}"`);
  return value as T;
}

function integer(env: Env, key: string, fallback: number, min: number, max: number): number {
  const text = read(env, key);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new AgentConfigError(`RINGBLOCK_${key} must be a whole number from ${min} to ${max}, got "${text}"`);
  return value;
}

/** "250ms", "5s", "2m" or a bare number of milliseconds. */
function duration(env: Env, key: string, fallback: number): number {
  const text = read(env, key);
  if (text === undefined) return fallback;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!match) throw new AgentConfigError(`RINGBLOCK_${key} must be a duration such as 500ms, 5s or 2m, got "${text}"`);
  return Math.round(Number(match[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(match[2] ?? 'ms') as 'ms']);
}

/** "Nvme0=0000:00:04.0,Nvme1=0000:00:05.0" */
function devices(env: Env): NvmeDeviceSpec[] | undefined {
  const text = read(env, 'NVME_DEVICES');
  if (text === undefined) return undefined;
  return text.split(',').map((entry) => {
    const [name, traddr] = entry.split('=');
    if (!name || !traddr || !/^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(name)) throw new AgentConfigError(`RINGBLOCK_NVME_DEVICES: "${entry}" is not NAME=PCI_ADDRESS`);
    return { name, traddr };
  });
}

/** --flag-name value → RINGBLOCK_FLAG_NAME, so flags and variables are the same settings. */
export function flagsToEnv(argv: readonly string[]): Env {
  const env: Env = {};
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index]!;
    if (!flag.startsWith('--')) throw new AgentConfigError(`unexpected argument "${flag}"`);
    const [name, inline] = flag.slice(2).split('=', 2) as [string, string | undefined];
    const value = inline ?? argv[++index];
    if (value === undefined) throw new AgentConfigError(`${flag} needs a value`);
    env[`RINGBLOCK_${name.toUpperCase().replaceAll('-', '_')}`] = value;
  }
  return env;
}

export function loadAgentConfig(env: Env): AgentConfig {
  const transport = oneOf(env, 'NVMF_TRANSPORT', ['rdma', 'tcp'] as const, 'rdma').toUpperCase() as VolumeTransport;
  const nvmfAddr = read(env, 'NVMF_ADDR') ?? '127.0.0.1';
  if (!/^[0-9a-fA-F.:]+$/.test(nvmfAddr)) throw new AgentConfigError(`RINGBLOCK_NVMF_ADDR must be an IP address, got "${nvmfAddr}"`);
  let retry: RetryPolicy;
  try {
    retry = validateRetryPolicy({
      maxAttempts: integer(env, 'VOLUME_RETRY_ATTEMPTS', 5, 1, 1_000),
      initialWaitMs: duration(env, 'VOLUME_RETRY_INITIAL', 1_000),
      multiplier: Number(read(env, 'VOLUME_RETRY_MULTIPLIER') ?? 2),
      maxWaitMs: duration(env, 'VOLUME_RETRY_MAX', 60_000),
    });
  } catch (error) {
    throw new AgentConfigError(`RINGBLOCK_VOLUME_RETRY_*: ${(error as Error).message}`);
  }
  const user = read(env, 'ZK_USER');
  const password = read(env, 'ZK_PASSWORD');
  const configured = devices(env);
  return {
    host: read(env, 'NAME') ?? hostname(),
    zk: read(env, 'ZK') ?? '127.0.0.1:2181',
    cluster: read(env, 'CLUSTER') ?? 'default',
    ...(user && password ? { zkUser: user, zkPassword: password } : {}),
    spdkSock: read(env, 'SPDK_SOCK') ?? '/var/tmp/spdk.sock',
    lvstore: read(env, 'LVSTORE') ?? 'ringblock',
    ...(configured ? { devices: configured } : {}),
    sysfsRoot: read(env, 'SYSFS_ROOT') ?? '/sys',
    transport,
    nvmfAddr,
    nvmfPort: String(integer(env, 'NVMF_PORT', 4420, 1, 65535)),
    thin: oneOf(env, 'THIN_PROVISION', ['on', 'off'] as const, 'on') === 'on',
    port: integer(env, 'AGENT_PORT', 3100, 0, 65535),
    recordWithoutLvol: oneOf(env, 'RECORD_WITHOUT_LVOL', ['error', 'delete', 'ignore'] as const, 'error'),
    lvolWithoutRecord: oneOf(env, 'LVOL_WITHOUT_RECORD', ['ignore', 'import'] as const, 'ignore'),
    retry,
    passIntervalMs: Math.max(100, duration(env, 'AGENT_PASS_INTERVAL', 5_000)),
    logLevel: read(env, 'LOG_LEVEL') ?? 'info',
  };
}
