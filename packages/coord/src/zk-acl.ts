// ZooKeeper ACLs: the open ACL, and digest ACLs for when a ZooKeeper user is configured (DESIGN §3).
// A digest id is `user:base64(sha1("user:password"))`; a client that added the auth info
// `digest user:password` to its session is that id.
import { createHash } from 'node:crypto';
import { CoordError } from './errors.js';

export interface ZkAuth {
  readonly user: string;
  readonly password: string;
}

export interface ZkAclEntry {
  /** Bit mask of ZK_PERMS. */
  readonly perms: number;
  readonly scheme: string;
  readonly id: string;
}

export const ZK_PERMS = { READ: 1, WRITE: 2, CREATE: 4, DELETE: 8, ADMIN: 16, ALL: 31 } as const;

/** Anyone may do anything: the default when no ZooKeeper user is configured. */
export const OPEN_ACL: readonly ZkAclEntry[] = Object.freeze([{ perms: ZK_PERMS.ALL, scheme: 'world', id: 'anyone' }]);

/** The digest id ZooKeeper derives from `user:password`. */
export function digestId(auth: ZkAuth): string {
  const hash = createHash('sha1').update(`${auth.user}:${auth.password}`, 'utf8').digest('base64');
  return `${auth.user}:${hash}`;
}

/** Only `auth`'s user may read, write, create, delete and change the ACL. */
export function digestAcl(auth: ZkAuth, perms: number = ZK_PERMS.ALL): readonly ZkAclEntry[] {
  return [{ perms, scheme: 'digest', id: digestId(auth) }];
}

/** The auth info a client adds to its session for `auth` (scheme `digest`). */
export function digestAuthInfo(auth: ZkAuth): Buffer {
  if (auth.user.length === 0 || auth.user.includes(':')) throw new CoordError('BAD_ARGUMENT', 'a ZooKeeper user must be non-empty and contain no ":"');
  return Buffer.from(`${auth.user}:${auth.password}`, 'utf8');
}
