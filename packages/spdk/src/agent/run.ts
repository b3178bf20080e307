// `ringblock storage-agent`: the agent process. Connects ZooKeeper and SPDK, runs the agent, serves
// /metrics and /health, and on session expiry starts over with a new session (its registration was
// ephemeral). SIGTERM/SIGINT stop it; work under way is resumed by the next agent (idempotent steps).
import http from 'node:http';
import { pino } from 'pino';
import { clusterPaths, ZkClient, digestAcl } from '@ringblock/coord';
import { SpdkApi } from '../methods.js';
import { SpdkRpcClient } from '../rpc-client.js';
import { SpdkSimControl } from '../sim-methods.js';
import { DEFAULT_SIM_DEVICES } from '../sim/nvme.js';
import { StorageAgent } from './agent.js';
import { SpdkVolumeBackend } from './backend.js';
import { AgentConfigError, flagsToEnv, loadAgentConfig, type AgentConfig } from './config.js';
import { discoverNvmeDevices } from './discover.js';
import { agentMetrics } from './metrics.js';

const ZK_SESSION_TIMEOUT_MS = 10_000;
const ZK_CONNECT_TIMEOUT_MS = 30_000;
/** A restart after session expiry waits this long between attempts (bounded by the process's life). */
const RESTART_PAUSE_MS = 1_000;

export async function runStorageAgent(argv: readonly string[]): Promise<number> {
  let config: AgentConfig;
  try {
    config = loadAgentConfig({ ...process.env, ...flagsToEnv(argv) });
  } catch (error) {
    if (error instanceof AgentConfigError) {
      process.stderr.write(`ringblock storage-agent: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const log = pino({ name: 'storage-agent', level: config.logLevel });
  const rpc = new SpdkRpcClient({ socketPath: config.spdkSock, callTimeoutMs: 10_000 });
  const api = new SpdkApi(rpc);
  // spdk-sim answers its own methods: then lvols are files a peer can attach.
  const methods = await api.rpcGetMethods().catch(() => [] as string[]);
  const onSim = methods.includes('sim_get_lvol_file');
  const devices = config.devices ?? (onSim ? DEFAULT_SIM_DEVICES.map((device, index) => ({ name: `Nvme${index}`, traddr: device.traddr })) : await discoverNvmeDevices(config.sysfsRoot));
  log.info({ devices, spdkSock: config.spdkSock, sim: onSim }, 'NVMe devices to attach');
  const backend = new SpdkVolumeBackend(api, { lvstore: config.lvstore, devices, listener: { trtype: config.transport, traddr: config.nvmfAddr, trsvcid: config.nvmfPort }, thin: config.thin }, onSim ? new SpdkSimControl(rpc) : undefined);
  const paths = clusterPaths(config.cluster);
  let stopping = false;
  let current: { agent: StorageAgent; client: ZkClient } | undefined;

  const startOnce = async (): Promise<void> => {
    const auth = config.zkUser && config.zkPassword ? { user: config.zkUser, password: config.zkPassword } : undefined;
    const client = await ZkClient.connect(config.zk, { sessionTimeoutMs: ZK_SESSION_TIMEOUT_MS, connectTimeoutMs: ZK_CONNECT_TIMEOUT_MS, logger: log, ...(auth ? { auth, defaultAcl: digestAcl(auth) } : {}) });
    const agent = new StorageAgent({ host: config.host, client, paths, backend, log, policy: config.retry, recordWithoutLvol: config.recordWithoutLvol, lvolWithoutRecord: config.lvolWithoutRecord, passIntervalMs: config.passIntervalMs });
    current = { agent, client };
    client.once('expired', () => {
      log.warn('ZooKeeper session expired: starting over with a new session');
      void restart();
    });
    await agent.start();
    log.info({ host: config.host, cluster: config.cluster }, 'storage agent serving');
  };
  const restart = async (): Promise<void> => {
    const old = current;
    current = undefined;
    await old?.agent.stop().catch(() => undefined);
    await old?.client.close().catch(() => undefined);
    while (!stopping) {
      try {
        await startOnce();
        return;
      } catch (error) {
        log.error({ err: error }, 'storage agent restart failed; trying again');
        await new Promise((resolve) => setTimeout(resolve, RESTART_PAUSE_MS));
      }
    }
  };
  const server = config.port === 0 ? undefined : http.createServer((req, res) => {
    const agent = current?.agent;
    // Liveness is the process answering; readiness (/ready, /health) needs SPDK to answer too.
    if (req.url === '/live') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"live"}');
      return;
    }
    if (req.url === '/metrics' && agent) {
      const registry = agentMetrics(agent, api, { host: config.host, lvstore: config.lvstore });
      void registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      }, (error: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(error.message);
      });
      return;
    }
    if ((req.url === '/health' || req.url === '/healthz' || req.url === '/ready') && agent) {
      const status = agent.status();
      res.writeHead(status.spdk === 'up' ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(status));
      return;
    }
    res.writeHead(agent ? 404 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: agent ? 'not found' : 'starting', code: agent ? 'NOT_FOUND' : 'UNAVAILABLE' }));
  });
  if (server) {
    server.requestTimeout = 30_000;
    server.maxConnections = 64;
    await new Promise<void>((resolve) => server.listen(config.port, '0.0.0.0', resolve));
    log.info({ port: config.port }, '/metrics and /health served');
  }
  // Listening first holds the port from the start (a taken port fails here, at once, not after the
  // registration wait) and answers /live while a predecessor's registration expires.
  try {
    await startOnce();
  } catch (error) {
    server?.close();
    throw error;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  stopping = true;
  server?.close();
  await current?.agent.stop();
  await current?.client.close();
  await rpc.close();
  return 0;
}
