// How a node reaches its peers, and what its server presents: plain HTTP, or TLS for everything
// when RINGBLOCK_TLS_CERT/KEY are set (a cluster is all TLS or all plain: the ring records
// host:port only). Over TLS every peer connection — replica links and pools, transfers, repair —
// verifies the peer's certificate (against RINGBLOCK_TLS_CA when set, else the system's CAs) and
// the cluster token still authorises the call.
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { ConfigError, type TlsFiles } from './config.js';

export interface PeerTransport {
  readonly scheme: 'http' | 'https';
  /** TLS client options of peer connections; undefined over plain HTTP. */
  readonly tls?: { readonly ca: Buffer | undefined };
}

export const PLAIN_TRANSPORT: PeerTransport = { scheme: 'http' };

/** The certificate and key the server presents, and the transport its peer connections use. */
export interface TlsSetup {
  server: { cert: Buffer; key: Buffer };
  transport: PeerTransport;
}

export function peerOrigin(transport: PeerTransport | undefined, addr: string): string {
  return `${transport?.scheme ?? 'http'}://${addr}`;
}

/** undici's `connect` option for a peer connection: the CA to verify it against (TLS only). */
export function peerConnectOptions(transport: PeerTransport | undefined): { connect: { ca?: Buffer } } | Record<string, never> {
  if (!transport?.tls) return {};
  return { connect: transport.tls.ca ? { ca: transport.tls.ca } : {} };
}

/**
 * Reads the PEM files and checks that they make a usable TLS context (key matching the
 * certificate), so a wrong file stops start-up with the variable named instead of failing every
 * connection later.
 */
export async function loadTls(files: TlsFiles): Promise<TlsSetup> {
  const readPem = (variable: string, path: string) =>
    readFile(path).catch((error: NodeJS.ErrnoException) => {
      throw new ConfigError(variable, `names ${path}, which cannot be read (${error.code ?? error.message})`);
    });
  const [cert, key, ca] = await Promise.all([readPem('TLS_CERT', files.certFile), readPem('TLS_KEY', files.keyFile), files.caFile ? readPem('TLS_CA', files.caFile) : undefined]);
  try {
    createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
  } catch (error) {
    throw new ConfigError('TLS_CERT', `and RINGBLOCK_TLS_KEY (and RINGBLOCK_TLS_CA) do not make a TLS context: ${(error as Error).message}`);
  }
  return { server: { cert, key }, transport: { scheme: 'https', tls: { ca } } };
}
