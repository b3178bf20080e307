// Typed znode metadata and transaction ops (what callers see; zk-library.ts converts them from and
// to node-zookeeper-client's shapes).
import type { ZkAclEntry } from './zk-acl.js';

export type ZkCreateMode = 'persistent' | 'ephemeral' | 'persistent_sequential' | 'ephemeral_sequential';

/** A znode's metadata. */
export interface ZkStat {
  /** Data version: the expectedVersion for version-checked writes. */
  readonly version: number;
  /** Children version. */
  readonly cversion: number;
  readonly dataLength: number;
  readonly numChildren: number;
  /** Session id (`0x…`) owning an ephemeral znode; undefined for a persistent one. */
  readonly ephemeralOwner: string | undefined;
  readonly czxid: bigint;
  readonly mzxid: bigint;
  readonly ctimeMs: number;
  readonly mtimeMs: number;
}

/** One op of a transaction (ZooKeeper `multi`): all apply, or none. `version` -1 means any. */
export type ZkOp =
  | { readonly op: 'create'; readonly path: string; readonly data?: Buffer | null; readonly mode?: ZkCreateMode; readonly acl?: readonly ZkAclEntry[] }
  | { readonly op: 'set'; readonly path: string; readonly data: Buffer; readonly version: number }
  | { readonly op: 'remove'; readonly path: string; readonly version?: number }
  | { readonly op: 'check'; readonly path: string; readonly version: number };

export type ZkOpResult =
  | { readonly op: 'create'; readonly path: string }
  | { readonly op: 'set'; readonly stat: ZkStat }
  | { readonly op: 'remove' }
  | { readonly op: 'check' };

/** A JSON value as znode data (UTF-8). */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** ZooKeeper prints session ids as Long.toHexString: `0x` and lowercase hex without leading zeros. */
export function sessionIdHex(id: Buffer): string {
  return `0x${id.readBigUInt64BE(0).toString(16)}`;
}
