// The cluster token, checked before a node registers. A node started with another token than its
// peers would join the ring and then fail every internal call it makes or receives (401): writes
// to the ranges it owns miss a replica, and every transfer to it fails until the migration aborts.
// So the first node of a cluster stores a salted digest of its token in `token-check`, and every
// node compares its own before it registers; a mismatch refuses to start with one clear line.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CoordError, isCoordError } from './errors.js';
import type { ZkClient } from './zk-client.js';

export interface ClusterSecretRecord {
  /** Random, hex: the digest of a given token differs between clusters. */
  readonly salt: string;
  /** sha256 of `salt:token`, hex. */
  readonly sha256: string;
}

export function secretDigest(salt: string, secret: string): string {
  return createHash('sha256').update(`${salt}:${secret}`).digest('hex');
}

export function parseSecretRecord(value: unknown): ClusterSecretRecord {
  const record = value as Partial<ClusterSecretRecord> | null;
  if (typeof record !== 'object' || record === null || typeof record.salt !== 'string' || !/^[0-9a-f]{64}$/.test(String(record.sha256))) {
    throw new CoordError('BAD_DATA', 'token-check is not {salt, sha256}');
  }
  return { salt: record.salt, sha256: record.sha256! };
}

/** Creates the record (first node) or compares against it; throws SECRET_MISMATCH when the digests differ. */
export async function checkClusterSecret(client: ZkClient, path: string, cluster: string, secret: string): Promise<'created' | 'matched'> {
  const salt = randomBytes(16).toString('hex');
  try {
    await client.createJson(path, { salt, sha256: secretDigest(salt, secret) } satisfies ClusterSecretRecord);
    return 'created';
  } catch (error) {
    if (!isCoordError(error, 'NODE_EXISTS')) throw error;
  }
  const stored = (await client.getJson(path, parseSecretRecord)).value;
  const mine = Buffer.from(secretDigest(stored.salt, secret), 'hex');
  if (!timingSafeEqual(mine, Buffer.from(stored.sha256, 'hex'))) {
    throw new CoordError('SECRET_MISMATCH', `this node's cluster token (RINGBLOCK_TOKEN) is not the one cluster ${cluster} was created with; refusing to join (its peers would refuse every internal call)`, { path });
  }
  return 'matched';
}
