// Runs a standalone ZooKeeper server as a child process, from Debian's `zookeeper` package (or a
// ZOOKEEPER_HOME tarball install). Used by tests and by `ringblock up`, so it is product code: the
// server is started with java directly (no zkServer.sh daemonising), answers on 127.0.0.1, keeps its
// data in `dataDir` (a restart on the same port and dataDir finds it again), and is stopped with
// SIGTERM, then SIGKILL after a bound.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { CoordError } from './errors.js';
import { findFreePort, zooKeeperDataDir } from './net-probe.js';

export interface ZooKeeperOptions {
  /** Where ZooKeeper keeps its snapshots and logs; created if missing. Configuration goes in `conf/`. */
  readonly dataDir: string;
  /** Client port; 0 or omitted picks a free port on `host`. */
  readonly port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** ZooKeeper's tick; the negotiated session timeout is clamped to [2, 20] ticks unless maxSessionTimeoutMs says more. */
  readonly tickTimeMs?: number;
  /** Upper bound of the session timeouts clients may negotiate (default 60 s). */
  readonly maxSessionTimeoutMs?: number;
  /** Server output (log4j console) goes here; default `<dataDir>/zookeeper.log`, appended to. */
  readonly logFile?: string;
  /** Bound on waiting for the server to serve (default 30 s). */
  readonly startTimeoutMs?: number;
  /** Bound on waiting for SIGTERM to end it before SIGKILL (default 10 s). */
  readonly stopTimeoutMs?: number;
  /** The java binary (default `$JAVA_HOME/bin/java`, else `java` on PATH). */
  readonly java?: string;
  /** Overrides the discovered class path. */
  readonly classpath?: readonly string[];
  /** Overrides the JVM flags (heap, GC). */
  readonly jvmFlags?: readonly string[];
  /** Start in its own process group and let it outlive this process (`ringblock up --detach`). */
  readonly detached?: boolean;
}

export interface ZooKeeperExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Why it could not be started at all (e.g. `spawn java ENOENT`). */
  readonly error?: string;
}

export interface ZooKeeperProcess {
  /** Connect string for clients: `host:port`. */
  readonly connect: string;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  readonly dataDir: string;
  readonly logFile: string;
  /** Settles when the process has exited. */
  readonly exited: Promise<ZooKeeperExit>;
  /** SIGTERM, SIGKILL after stopTimeoutMs, and waits for the exit. Idempotent. */
  stop(): Promise<void>;
  /** Sends a signal (e.g. SIGSTOP / SIGCONT to freeze it, SIGKILL to crash it). */
  kill(signal: NodeJS.Signals): void;
}

const TICK_TIME_MS_DEFAULT = 500;
const MAX_SESSION_TIMEOUT_MS_DEFAULT = 60_000;
const START_TIMEOUT_MS_DEFAULT = 30_000;
const STOP_TIMEOUT_MS_DEFAULT = 10_000;
const PROBE_TIMEOUT_MS = 500;
const PROBE_INTERVAL_MS = 100;
/** Attempts when we picked the port ourselves and another process took it before ZooKeeper bound it. */
const FREE_PORT_ATTEMPTS_MAX = 3;
const LOG_TAIL_CHARS = 3000;
const CLIENT_CONNECTIONS_PER_HOST_MAX = 1000;
const JVM_FLAGS_DEFAULT = ['-Xms32m', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];
const DEBIAN_JAVA_DIR = '/usr/share/java';

/** Starts a ZooKeeper server and resolves once it serves requests. */
export async function startZooKeeper(options: ZooKeeperOptions): Promise<ZooKeeperProcess> {
  const pickPort = options.port === undefined || options.port === 0;
  for (let attempt = 1; ; attempt++) {
    const port = pickPort ? await findFreePort(options.host ?? '127.0.0.1') : options.port!;
    try {
      return await startOnPort(options, port);
    } catch (error) {
      const portTaken = error instanceof CoordError && /Address already in use/i.test(error.message);
      if (!pickPort || !portTaken || attempt >= FREE_PORT_ATTEMPTS_MAX) throw error;
    }
  }
}

/** Class path of the installed ZooKeeper server plus a log4j binding for its console output. */
export function zooKeeperClasspath(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env['ZOOKEEPER_HOME'];
  if (home && existsSync(path.join(home, 'lib'))) return [path.join(home, 'lib', '*')];
  const jar = path.join(DEBIAN_JAVA_DIR, 'zookeeper.jar');
  if (!existsSync(jar)) {
    throw new CoordError('ZK_START_FAILED', `ZooKeeper is not installed: ${jar} not found (install Debian's zookeeper package or set ZOOKEEPER_HOME)`);
  }
  // zookeeper.jar's manifest names its dependencies (netty, jute, slf4j-api...); the server logs
  // through slf4j, which needs a binding to print anything: log4j 1.2, as Debian's zkServer.sh uses.
  const logging = ['slf4j-log4j12.jar', 'log4j-1.2.jar'].map((name) => path.join(DEBIAN_JAVA_DIR, name));
  return [jar, ...(logging.every((file) => existsSync(file)) ? logging : [])];
}

async function startOnPort(options: ZooKeeperOptions, port: number): Promise<ZooKeeperProcess> {
  const host = options.host ?? '127.0.0.1';
  const dataDir = path.resolve(options.dataDir);
  const logFile = path.resolve(options.logFile ?? path.join(dataDir, 'zookeeper.log'));
  const confDir = path.join(dataDir, 'conf');
  mkdirSync(confDir, { recursive: true });
  mkdirSync(path.dirname(logFile), { recursive: true });
  const configFile = path.join(confDir, 'zoo.cfg');
  writeFileSync(configFile, zooConfig({ ...options, host, port, dataDir }));
  const log4jFile = path.join(confDir, 'log4j.properties');
  writeFileSync(log4jFile, LOG4J_PROPERTIES);

  const logOffset = existsSync(logFile) ? statSync(logFile).size : 0;
  const child = spawnServer(options, configFile, log4jFile, logFile);
  const exited = exitOf(child);
  const server = serverHandle(child, exited, { host, port, dataDir, logFile }, options.stopTimeoutMs ?? STOP_TIMEOUT_MS_DEFAULT);
  try {
    await waitServing(host, port, dataDir, exited, options.startTimeoutMs ?? START_TIMEOUT_MS_DEFAULT);
  } catch (error) {
    await server.stop();
    const reason = error instanceof Error ? error.message : String(error);
    throw new CoordError('ZK_START_FAILED', `ZooKeeper on ${host}:${port} did not start: ${reason}\n--- ${logFile} (tail) ---\n${logTail(logFile, logOffset)}`);
  }
  return server;
}

function zooConfig(options: ZooKeeperOptions & { host: string; port: number; dataDir: string }): string {
  const tickTimeMs = options.tickTimeMs ?? TICK_TIME_MS_DEFAULT;
  const maxSessionTimeoutMs = Math.max(options.maxSessionTimeoutMs ?? MAX_SESSION_TIMEOUT_MS_DEFAULT, 2 * tickTimeMs);
  return [
    `tickTime=${tickTimeMs}`,
    'initLimit=10',
    'syncLimit=5',
    `dataDir=${options.dataDir}`,
    `clientPort=${options.port}`,
    `clientPortAddress=${options.host}`,
    `maxClientCnxns=${CLIENT_CONNECTIONS_PER_HOST_MAX}`,
    `maxSessionTimeout=${maxSessionTimeoutMs}`,
    'admin.enableServer=false',
    '4lw.commands.whitelist=ruok,srvr,conf',
    'standaloneEnabled=true',
    'autopurge.snapRetainCount=3',
    'autopurge.purgeInterval=1',
    '',
  ].join('\n');
}

const LOG4J_PROPERTIES = [
  'log4j.rootLogger=INFO, CONSOLE',
  'log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender',
  'log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n',
  '',
].join('\n');

function spawnServer(options: ZooKeeperOptions, configFile: string, log4jFile: string, logFile: string): ChildProcess {
  const javaHome = process.env['JAVA_HOME'];
  const java = options.java ?? (javaHome ? path.join(javaHome, 'bin', 'java') : 'java');
  const args = [
    ...(options.jvmFlags ?? JVM_FLAGS_DEFAULT),
    '-cp',
    (options.classpath ?? zooKeeperClasspath()).join(path.delimiter),
    `-Dlog4j.configuration=file:${log4jFile}`,
    '-Dzookeeper.jmx.log4j.disable=true',
    '-Djava.net.preferIPv4Stack=true',
    'org.apache.zookeeper.server.quorum.QuorumPeerMain',
    configFile,
  ];
  const logFd = openSync(logFile, 'a');
  try {
    const child = spawn(java, args, { stdio: ['ignore', logFd, logFd], detached: options.detached === true });
    if (options.detached === true) child.unref();
    else killOnExit.add(child);
    return child;
  } finally {
    closeSync(logFd);
  }
}

/** Children that die with this process (a crashed test run must not leave servers behind). */
const killOnExit = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of killOnExit) child.kill('SIGKILL');
});

function exitOf(child: ChildProcess): Promise<ZooKeeperExit> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error: error.message })); // e.g. java not found
    child.once('exit', (code, signal) => {
      killOnExit.delete(child);
      resolve({ code, signal });
    });
  });
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
}

function serverHandle(
  child: ChildProcess,
  exited: Promise<ZooKeeperExit>,
  where: { host: string; port: number; dataDir: string; logFile: string },
  stopTimeoutMs: number,
): ZooKeeperProcess {
  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    if (hasExited(child)) return;
    child.kill('SIGCONT'); // a frozen server cannot act on SIGTERM
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    ...where,
    connect: `${where.host}:${where.port}`,
    pid: child.pid ?? -1,
    exited,
    stop: () => (stopping ??= stop()),
    kill: (signal) => {
      if (!hasExited(child)) child.kill(signal);
    },
  };
}

/** Waits until the server on the port serves with our dataDir (another server may hold the port). */
async function waitServing(host: string, port: number, dataDir: string, exited: Promise<ZooKeeperExit>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const expected = path.join(dataDir, 'version-2');
  let exit: ZooKeeperExit | undefined;
  void exited.then((value) => (exit = value));
  while (Date.now() < deadline) {
    if (exit) throw new Error(exit.error ?? `the server exited (code ${exit.code}, signal ${exit.signal})`);
    if ((await zooKeeperDataDir(host, port, PROBE_TIMEOUT_MS)) === expected) return;
    await Promise.race([delay(PROBE_INTERVAL_MS), exited]);
  }
  throw new Error(`not serving within ${timeoutMs} ms`);
}

function logTail(logFile: string, fromOffset: number): string {
  try {
    const text = readFileSync(logFile).subarray(fromOffset).toString('utf8');
    return text.length > LOG_TAIL_CHARS ? text.slice(-LOG_TAIL_CHARS) : text;
  } catch (error) {
    return `(log unreadable: ${String(error)})`;
  }
}
