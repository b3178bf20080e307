// Small TCP helpers for running ZooKeeper locally: a free port, and ZooKeeper's four-letter words
// (`ruok`, `srvr`), which answer without a session and tell whether the server is serving.
import net from 'node:net';

/** Asks the kernel for a free TCP port on `host` (bind to port 0, read it, close). */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
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
