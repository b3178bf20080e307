// Node configuration from RINGBLOCK_* variables and the same settings as CLI flags (DESIGN §9).
// Parsing is pure: it takes the variables as a record, so it is tested without touching process.env.
// An invalid setting stops start-up with one clear line naming the variable.
import { hostname } from 'node:os';
import { deviceBytesForGroups } from '@ringblock/engine';

export type Backing = 'file' | 'spdk';
export type VolumeAttach = 'auto' | 'nvme' | 'loop' | 'file';
const VOLUME_ATTACH: readonly VolumeAttach[] = ['auto', 'nvme', 'loop', 'file'];
export type PeerProtocol = 'binary' | 'http';
const PEER_PROTOCOLS: readonly PeerProtocol[] = ['binary', 'http'];

export interface NodeConfig {
  name: string;
  advertiseAddr: string;
  port: number;
  host: string;
  zk: string;
  cluster: string;
  zone: string | undefined;
  dataDir: string;
  backing: Backing;
  device: string;
  deviceSizeBytes: number;
  token: string;
  replicationFactor: number;
  vnodes: number;
  downGraceMs: number;
  staleGraceMs: number;
  sessionTimeoutMs: number;
  /** backing=spdk: the storage agent host to ask for the volume (default: the least loaded agent). */
  volumeHost: string | undefined;
  /** backing=spdk: how this host reaches the volume (auto: the kernel NVMe-oF initiator, or on spdk-sim a loop device when losetup works here, else the file). */
  volumeAttach: VolumeAttach;
  /** Kernel initiator: our host NQN (default: /etc/nvme/hostnqn) and how long a lost controller is retried (seconds; default the kernel's). */
  nvmeHostNqn: string | undefined;
  nvmeCtrlLossTmoS: number | undefined;
  /** backing=spdk: the NVMe-oF transport the volume must be exported over (unset: whatever its agent exports). */
  nvmfTransport: 'rdma' | 'tcp' | undefined;
  zkUser: string | undefined;
  zkPassword: string | undefined;
  /** TLS for client and peer traffic: PEM files, read at start-up; undefined: plain HTTP. */
  tls: TlsFiles | undefined;
  /** Limits of the HTTP server. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
  /** Timeout of one replica call from a coordinator to a peer. */
  replicaTimeoutMs: number;
  /** Connections per peer in its undici Pool (HTTP replica calls). */
  peerConnections: number;
  /** How replica calls reach peers: the binary replication protocol, or one HTTP request each. */
  peerProtocol: PeerProtocol;
  /** Bytes per second this node sends in migration transfers at most (rebuilds must not starve clients). */
  transferBytesPerSecond: number;
  /** Event-loop delay p99 above which transfers slow down (transfer/pacer.ts); 0: a fixed rate. */
  transferPaceDelayMs: number;
  /** Hinted handoff on/off, its bounds and how often hints are replayed. */
  hintsEnabled: boolean;
  hintsMax: number;
  hintMaxAgeMs: number;
  hintReplayIntervalMs: number;
  /** Blocks verified per second by the scrubber, and the pause between passes (0: no scrubbing). */
  scrubBlocksPerSecond: number;
  scrubIntervalMs: number;
  /** Anti-entropy on/off (rounds after start-up, a ring node's return, a ring change, and periodic ones), its period (0: no periodic rounds) and byte rate. */
  antiEntropyEnabled: boolean;
  antiEntropyIntervalMs: number;
  repairBytesPerSecond: number;
  /** Tombstones are purged once this old and held by every replica (at least the hint age bound while hints are on). */
  tombstoneGraceMs: number;
  /** Bytes of verified block records the engine keeps in memory for reads and version checks (0: none). */
  readCacheBytes: number;
  /** Chance (0..1) that a read at `one` checks the other owners in the background. */
  readRepairChance: number;
  logLevel: string;
  /** OpenTelemetry traces (OTEL_* variables); undefined: tracing is off. */
  tracing: TracingConfig | undefined;
}

/** Where and as what this node exports its spans (OTLP over gRPC). */
export interface TracingConfig {
  /** OTLP gRPC endpoint, e.g. `http://jaeger:4317` (http: plaintext, https: TLS). */
  endpoint: string;
  serviceName: string;
}

export class ConfigError extends Error {
  readonly code = 'BAD_CONFIG';
  /** `variable` without its RINGBLOCK_ prefix; `envName` is the variable's full name. */
  constructor(readonly variable: string, message: string, readonly envName = `RINGBLOCK_${variable}`) {
    super(`invalid configuration: ${envName} ${message}`);
  }
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

type Env = Readonly<Record<string, string | undefined>>;

function read(env: Env, key: string): string | undefined {
  const value = env[`RINGBLOCK_${key}`];
  return value === undefined || value === '' ? undefined : value;
}

function integer(env: Env, key: string, fallback: number, min: number, max: number): number {
  const raw = read(env, key);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(key, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(key, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** Sizes like `64M`, `1G`, `4096`. */
export function parseSize(raw: string): number | undefined {
  const match = /^(\d+)\s*([kmgt]?)i?b?$/i.exec(raw.trim());
  if (!match) return undefined;
  return Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!;
}

/** Durations like `60s`, `500ms`, `2m`; a bare number is milliseconds. */
export function parseDuration(raw: string): number | undefined {
  const match = /^(\d+)\s*(ms|s|m|h)?$/.exec(raw.trim());
  if (!match) return undefined;
  return Number(match[1]) * DURATION_UNITS[match[2] ?? 'ms']!;
}

function duration(env: Env, key: string, fallbackMs: number): number {
  const raw = read(env, key);
  if (raw === undefined) return fallbackMs;
  const value = parseDuration(raw);
  if (value === undefined) throw new ConfigError(key, `must be a duration such as 500ms, 60s or 2m, got "${raw}"`);
  return value;
}

function size(env: Env, key: string, fallback: number, min: number): number {
  const raw = read(env, key);
  if (raw === undefined) return fallback;
  const value = parseSize(raw);
  if (value === undefined || value < min) throw new ConfigError(key, `must be a size of at least ${min} bytes such as 64M, got "${raw}"`);
  return value;
}

function oneOf<T extends string>(env: Env, key: string, allowed: readonly T[], fallback: T): T {
  const raw = read(env, key) ?? fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(key, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

function onOff(env: Env, key: string, fallback: boolean): boolean {
  const raw = read(env, key);
  if (raw === undefined) return fallback;
  if (raw === 'on' || raw === 'true' || raw === '1') return true;
  if (raw === 'off' || raw === 'false' || raw === '0') return false;
  throw new ConfigError(key, `must be on or off, got "${raw}"`);
}

function fraction(env: Env, key: string, fallback: number): number {
  const raw = read(env, key);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || value > 1) throw new ConfigError(key, `must be a number from 0 to 1, got "${raw}"`);
  return value;
}

function name(env: Env, key: string, fallback: string): string {
  const value = read(env, key) ?? fallback;
  if (!NAME_PATTERN.test(value)) {
    throw new ConfigError(key, `must be 1-63 characters of letters, digits, '.', '_' or '-', starting with a letter or digit, got "${value}"`);
  }
  return value;
}

export function parseConfig(env: Env): NodeConfig {
  const nodeName = name(env, 'NAME', hostname().split('.')[0] ?? 'ringblock');
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const host = read(env, 'HOST') ?? '0.0.0.0';
  const advertiseAddr = read(env, 'ADVERTISE_ADDR') ?? `127.0.0.1:${port}`;
  if (!/^[^\s/:]+:\d{1,5}$/.test(advertiseAddr)) throw new ConfigError('ADVERTISE_ADDR', `must be host:port, got "${advertiseAddr}"`);
  const zk = read(env, 'ZK') ?? '127.0.0.1:2181';
  if (!/^[^\s,]+:\d+(,[^\s,]+:\d+)*(\/[^\s]*)?$/.test(zk)) throw new ConfigError('ZK', `must be host:port[,host:port...], got "${zk}"`);
  const backing = read(env, 'BACKING') ?? 'file';
  if (backing !== 'file' && backing !== 'spdk') throw new ConfigError('BACKING', `must be "file" or "spdk", got "${backing}"`);
  const volumeAttach = oneOf(env, 'VOLUME_ATTACH', VOLUME_ATTACH, 'auto');
  const nvmfTransport = read(env, 'NVMF_TRANSPORT')?.toLowerCase();
  if (nvmfTransport !== undefined && nvmfTransport !== 'rdma' && nvmfTransport !== 'tcp') throw new ConfigError('NVMF_TRANSPORT', `must be "rdma" or "tcp", got "${nvmfTransport}"`);
  const dataDir = read(env, 'DATA_DIR') ?? `.ringblock/${nodeName}`;
  // The smallest device the engine formats (a superblock and one group of 256 blocks), so a size
  // below it stops here naming the variable rather than later in the engine.
  const deviceSizeBytes = size(env, 'DEVICE_SIZE', 256 * 1024 * 1024, deviceBytesForGroups(1));
  const token = read(env, 'TOKEN');
  if (token === undefined || token.length < 16) {
    throw new ConfigError('TOKEN', 'must be set to a cluster token of at least 16 characters (shared by all nodes)');
  }
  const zkUser = read(env, 'ZK_USER');
  const zkPassword = read(env, 'ZK_PASSWORD');
  if ((zkUser === undefined) !== (zkPassword === undefined)) {
    throw new ConfigError(zkUser === undefined ? 'ZK_USER' : 'ZK_PASSWORD', 'must be set together with the other ZooKeeper credential');
  }
  const tls = parseTlsFiles(env);
  return {
    name: nodeName,
    advertiseAddr,
    port,
    host,
    zk,
    cluster: name(env, 'CLUSTER', 'default'),
    zone: read(env, 'ZONE'),
    dataDir,
    backing,
    device: read(env, 'DEVICE') ?? `${dataDir}/device.img`,
    deviceSizeBytes,
    token,
    replicationFactor: integer(env, 'REPLICATION_FACTOR', 3, 1, 15),
    vnodes: integer(env, 'VNODES', 128, 1, 4096),
    downGraceMs: duration(env, 'DOWN_GRACE', 60_000),
    staleGraceMs: duration(env, 'STALE_GRACE', 600_000),
    sessionTimeoutMs: duration(env, 'SESSION_TIMEOUT', 10_000),
    volumeHost: read(env, 'VOLUME_HOST'),
    volumeAttach,
    nvmeHostNqn: read(env, 'NVME_HOSTNQN'),
    nvmeCtrlLossTmoS: ctrlLossTmo(env),
    nvmfTransport,
    zkUser,
    zkPassword,
    tls,
    headersTimeoutMs: duration(env, 'HEADERS_TIMEOUT', 10_000),
    requestTimeoutMs: duration(env, 'REQUEST_TIMEOUT', 30_000),
    maxConnections: integer(env, 'MAX_CONNECTIONS', 1024, 1, 65536),
    replicaTimeoutMs: duration(env, 'REPLICA_TIMEOUT', 2_000),
    peerConnections: integer(env, 'PEER_CONNECTIONS', 16, 1, 256),
    peerProtocol: oneOf(env, 'PEER_PROTOCOL', PEER_PROTOCOLS, 'binary'),
    transferBytesPerSecond: size(env, 'TRANSFER_RATE', 64 * 1024 * 1024, 64 * 1024),
    transferPaceDelayMs: duration(env, 'TRANSFER_PACE_DELAY', 5),
    hintsEnabled: onOff(env, 'HINTS', true),
    hintsMax: integer(env, 'HINTS_MAX', 100_000, 0, 10_000_000),
    hintMaxAgeMs: duration(env, 'HINT_MAX_AGE', 3 * 3_600_000),
    hintReplayIntervalMs: Math.max(100, duration(env, 'HINT_REPLAY_INTERVAL', 5_000)),
    scrubBlocksPerSecond: integer(env, 'SCRUB_RATE', 2_000, 1, 10_000_000),
    scrubIntervalMs: duration(env, 'SCRUB_INTERVAL', 3_600_000),
    readRepairChance: fraction(env, 'READ_REPAIR_CHANCE', 0),
    readCacheBytes: read(env, 'READ_CACHE') === '0' ? 0 : size(env, 'READ_CACHE', 64 * 1024 * 1024, 1024 * 1024),
    antiEntropyEnabled: onOff(env, 'ANTI_ENTROPY', true),
    antiEntropyIntervalMs: duration(env, 'ANTI_ENTROPY_INTERVAL', 3_600_000),
    repairBytesPerSecond: size(env, 'REPAIR_RATE', 16 * 1024 * 1024, 64 * 1024),
    tombstoneGraceMs: tombstoneGrace(env),
    logLevel: read(env, 'LOG_LEVEL') ?? 'info',
    tracing: parseTracing(env),
  };
}

export interface TlsFiles {
  /** This node's certificate chain (PEM), presented to clients and to peers. */
  certFile: string;
  keyFile: string;
  /** The CA (PEM) peers' certificates are verified against; unset: the system's CAs. */
  caFile: string | undefined;
}

/** RINGBLOCK_TLS_CERT and RINGBLOCK_TLS_KEY together turn TLS on; RINGBLOCK_TLS_CA needs them. */
function parseTlsFiles(env: Env): TlsFiles | undefined {
  const certFile = read(env, 'TLS_CERT');
  const keyFile = read(env, 'TLS_KEY');
  const caFile = read(env, 'TLS_CA');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new ConfigError(certFile === undefined ? 'TLS_CERT' : 'TLS_KEY', 'must be set together with the other TLS file (certificate and private key, PEM)');
  if (certFile === undefined || keyFile === undefined) {
    if (caFile !== undefined) throw new ConfigError('TLS_CA', 'needs RINGBLOCK_TLS_CERT and RINGBLOCK_TLS_KEY (TLS is on for client and peer traffic alike)');
    return undefined;
  }
  return { certFile, keyFile, caFile };
}

const OTLP_DEFAULT_ENDPOINT = 'http://localhost:4317';

function otel(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/**
 * OpenTelemetry's own variables: traces are exported when an OTLP endpoint is set
 * (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT) or OTEL_TRACES_EXPORTER is
 * `otlp` (then to localhost:4317), and are off when it is `none` or OTEL_SDK_DISABLED is true.
 * The SDK reads the rest itself (OTEL_BSP_*, OTEL_TRACES_SAMPLER[_ARG], OTEL_EXPORTER_OTLP_HEADERS,
 * _TIMEOUT, _COMPRESSION, OTEL_RESOURCE_ATTRIBUTES, span limits).
 */
export function parseTracing(env: Env): TracingConfig | undefined {
  if (otel(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  const exporters = (otel(env, 'OTEL_TRACES_EXPORTER') ?? '').split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
  const unknown = exporters.find((name) => name !== 'otlp' && name !== 'none');
  if (unknown !== undefined) throw new ConfigError('OTEL_TRACES_EXPORTER', `must be otlp or none (this node exports OTLP over gRPC), got "${unknown}"`, 'OTEL_TRACES_EXPORTER');
  if (exporters.includes('none')) return undefined;
  const endpointName = otel(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const endpoint = otel(env, endpointName) ?? (exporters.includes('otlp') ? OTLP_DEFAULT_ENDPOINT : undefined);
  if (endpoint === undefined) return undefined;
  if (!/^https?:\/\/[^\s/]+(\/[^\s]*)?$/i.test(endpoint)) throw new ConfigError(endpointName, `must be an http:// or https:// URL such as http://jaeger:4317, got "${endpoint}"`, endpointName);
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const protocol = otel(env, name);
    if (protocol === undefined) continue;
    if (protocol !== 'grpc') throw new ConfigError(name, `must be grpc (this node exports OTLP over gRPC), got "${protocol}"`, name);
    break;
  }
  return { endpoint, serviceName: otel(env, 'OTEL_SERVICE_NAME') ?? 'ringblock' };
}

/** RINGBLOCK_TOMBSTONE_GRACE (default 24 h): with hints on, at least RINGBLOCK_HINT_MAX_AGE, or a hint older than a purged delete could bring the block back. */
/** Seconds, or -1 for "reconnect forever" (nvme-cli's own convention); unset keeps the kernel's default. */
function ctrlLossTmo(env: Env): number | undefined {
  const raw = read(env, 'NVME_CTRL_LOSS_TMO');
  if (raw === undefined) return undefined;
  if (raw === '-1') return -1;
  return integer(env, 'NVME_CTRL_LOSS_TMO', 600, 0, 86_400);
}

function tombstoneGrace(env: Env): number {
  const graceMs = duration(env, 'TOMBSTONE_GRACE', 24 * 3_600_000);
  const hintMaxAgeMs = duration(env, 'HINT_MAX_AGE', 3 * 3_600_000);
  if (onOff(env, 'HINTS', true) && graceMs < hintMaxAgeMs) {
    throw new ConfigError('TOMBSTONE_GRACE', `must be at least RINGBLOCK_HINT_MAX_AGE (${hintMaxAgeMs} ms) while hints are on, got ${graceMs} ms`);
  }
  return graceMs;
}

/**
 * parseConfig of `env` with the flags over it. A flag that no setting reads is refused like a bad
 * value: a misspelt `--replication-facter 5` would otherwise start a node on the default, silently.
 */
export function parseConfigWithFlags(env: Env, argv: readonly string[]): NodeConfig {
  const flags = flagsToEnv(argv);
  const readNames = new Set<string>();
  const config = parseConfig(new Proxy({ ...env, ...flags }, {
    get: (target, name) => {
      if (typeof name === 'string') readNames.add(name);
      return target[name as string];
    },
  }));
  for (const envName of Object.keys(flags)) {
    if (readNames.has(envName)) continue;
    const flag = `--${envName.slice('RINGBLOCK_'.length).toLowerCase().replace(/_/g, '-')}`;
    throw new ConfigError(envName.slice('RINGBLOCK_'.length), `(flag ${flag}) is not a setting ringblock reads with this configuration; see the README's configuration table`);
  }
  return config;
}

/** `--device-size 64M` → `RINGBLOCK_DEVICE_SIZE=64M`: flags are the variables by another name. */
export function flagsToEnv(argv: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!match) throw new ConfigError('FLAGS', `cannot parse argument "${arg}" (expected --name value or --name=value)`);
    const key = match[1]!.toUpperCase().replace(/-/g, '_');
    const value = match[2] ?? argv[++i];
    if (value === undefined) throw new ConfigError(key, `flag --${match[1]} needs a value`);
    env[`RINGBLOCK_${key}`] = value;
  }
  return env;
}
