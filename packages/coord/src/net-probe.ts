// Small TCP helpers for running ZooKeeper locally: a free port, and ZooKeeper's four-letter words
// (`ruok`, `srvr`), which answer without a session and tell whether the server is serving.
import { readFile } from 'node:fs/promises';
import net from 'node:net';

/** Lowest port findFreePort picks (below: well-known and registered services a machine may run). */
const CHOSEN_PORT_MIN = 10_000;
/** Random picks tried before falling back to a port the kernel assigns. */
const CHOSEN_PORT_ATTEMPTS = 32;

/**
 * A free TCP port on `host`, picked at random BELOW the kernel's ephemeral range. A port the kernel
 * assigns (bind to 0) comes from that range, where every outgoing connection and every other
 * `listen(0)` also draws: a process restarted on "its" port then finds it taken now and then (a
 * storage agent restarted in a busy test run did). Ports below the range are only ever taken by
 * someone choosing them, like this function. Falls back to a kernel-assigned port when the range
 * leaves no room or every pick is taken.
 */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  const ephemeralLow = await ephemeralRangeLow();
  for (let attempt = 0; attempt < CHOSEN_PORT_ATTEMPTS && ephemeralLow > CHOSEN_PORT_MIN; attempt++) {
    const port = CHOSEN_PORT_MIN + Math.floor(Math.random() * (ephemeralLow - CHOSEN_PORT_MIN));
    if (await tryBind(host, port)) return port;
  }
  const assigned = await tryBind(host, 0);
  if (assigned === undefined) throw new Error(`no free TCP port on ${host}`);
  return assigned;
}

/** The first port of the kernel's ephemeral range (Linux's default when it cannot be read). */
async function ephemeralRangeLow(): Promise<number> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768 60999');
  const low = Number(text.trim().split(/\s+/)[0]);
  return Number.isInteger(low) && low > 0 && low <= 65_535 ? low : 32_768;
}

/** Binds host:port exclusively and closes again: the port bound, or undefined when it is taken. */
function tryBind(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(bound > 0 ? bound : undefined));
    });
  });
}

/** Bound on the bytes read from a four-letter-word answer (`srvr` answers a few hundred). */
const FOUR_LETTER_ANSWER_BYTES_MAX = 64 * 1024;

/**
 * Sends a ZooKeeper four-letter word and returns the whole answer (the server closes the connection
 * after answering). Rejects on connection errors or when no full answer arrives within timeoutMs.
 */
export function fourLetterWord(host: string, port: number, word: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => socket.destroy(new Error(`no answer to "${word}" within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => socket.end(word));
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > FOUR_LETTER_ANSWER_BYTES_MAX) socket.destroy(new Error(`answer to "${word}" too long`));
      else chunks.push(chunk);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/** True when the server at host:port answers `srvr` with its mode, i.e. it is serving requests. */
export async function isZooKeeperServing(host: string, port: number, timeoutMs: number): Promise<boolean> {
  try {
    return /^Mode: /m.test(await fourLetterWord(host, port, 'srvr', timeoutMs));
  } catch {
    return false;
  }
}

/**
 * The data directory of the server answering at host:port (from the `conf` four-letter word, which
 * must be whitelisted), or undefined if it does not answer or is not serving. Tells our server apart
 * from another one that holds the port.
 */
export async function zooKeeperDataDir(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  try {
    const match = /^dataDir=(.*)$/m.exec(await fourLetterWord(host, port, 'conf', timeoutMs));
    return match?.[1]?.trim();
  } catch {
    return undefined;
  }
}
