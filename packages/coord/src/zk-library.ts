// Conversions between our typed values and node-zookeeper-client's shapes (numbers, 8-byte
// Buffers, ACL objects, a mutable Transaction). The only module besides zk-client.ts that imports
// the library, so no public declaration depends on its (hand-written) types.
import zookeeper from 'node-zookeeper-client';
import { CoordError, fromZkCode, fromZkError } from './errors.js';
import type { ZkAclEntry } from './zk-acl.js';
import { sessionIdHex, type ZkCreateMode, type ZkOp, type ZkOpResult, type ZkStat } from './zk-ops.js';

export function toLibraryAcl(acl: readonly ZkAclEntry[]): zookeeper.ACL[] {
  return acl.map((entry) => new zookeeper.ACL(entry.perms, new zookeeper.Id(entry.scheme, entry.id)));
}

const CREATE_MODES: Readonly<Record<ZkCreateMode, number>> = {
  persistent: zookeeper.CreateMode.PERSISTENT,
  ephemeral: zookeeper.CreateMode.EPHEMERAL,
  persistent_sequential: zookeeper.CreateMode.PERSISTENT_SEQUENTIAL,
  ephemeral_sequential: zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL,
};

export function createModeNumber(mode: ZkCreateMode): number {
  return CREATE_MODES[mode];
}

export function toStat(stat: zookeeper.Stat): ZkStat {
  return {
    version: stat.version,
    cversion: stat.cversion,
    dataLength: stat.dataLength,
    numChildren: stat.numChildren,
    ephemeralOwner: stat.ephemeralOwner.readBigUInt64BE(0) === 0n ? undefined : sessionIdHex(stat.ephemeralOwner),
    czxid: stat.czxid.readBigInt64BE(0),
    mzxid: stat.mzxid.readBigInt64BE(0),
    ctimeMs: Number(stat.ctime.readBigInt64BE(0)),
    mtimeMs: Number(stat.mtime.readBigInt64BE(0)),
  };
}

/**
 * Adds `ops` to a library transaction. The library's Transaction turns version 0 into -1
 * (`version = version || -1`), which would make "expect version 0" unconditional, so the version
 * of each queued op is set again afterwards.
 */
export function addTransactionOps(tx: zookeeper.Transaction, ops: readonly ZkOp[], defaultAcl: readonly ZkAclEntry[]): void {
  for (const op of ops) {
    switch (op.op) {
      case 'create':
        tx.create(op.path, op.data ?? null, toLibraryAcl(op.acl ?? defaultAcl), createModeNumber(op.mode ?? 'persistent'));
        continue;
      case 'set':
        tx.setData(op.path, op.data, op.version);
        break;
      case 'remove':
        tx.remove(op.path, op.version ?? -1);
        break;
      case 'check':
        tx.check(op.path, op.version);
        break;
    }
    tx.ops[tx.ops.length - 1]!.version = op.version ?? -1;
  }
}

/** The typed results of a committed transaction, or the CoordError of the op that failed it. */
export function transactionOutcome(
  ops: readonly ZkOp[],
  error: unknown,
  results: readonly zookeeper.TransactionResult[] | undefined,
): ZkOpResult[] | CoordError {
  // ZooKeeper answers a failed multi with an error result per op: the failing one carries its code,
  // the ones before it 0 (rolled back), the ones after it RUNTIME_INCONSISTENCY (-2).
  const failedIndex = results?.findIndex((result) => result.err !== undefined && result.err !== 0 && result.err !== -2) ?? -1;
  if (failedIndex >= 0) {
    const failed = ops[failedIndex]!;
    return fromZkCode(results![failedIndex]!.err!, `transaction op ${failedIndex} (${failed.op})`, failed.path, failedIndex);
  }
  if (error) return fromZkError(error, 'transaction', ops[0]?.path ?? '/');
  if (!results || results.length !== ops.length) {
    return new CoordError('ZK_ERROR', `transaction: ${results?.length ?? 0} results for ${ops.length} ops`);
  }
  return ops.map((op, index): ZkOpResult => {
    const result = results[index]!;
    switch (op.op) {
      case 'create':
        return { op: 'create', path: result.path ?? op.path };
      case 'set':
        return { op: 'set', stat: toStat(result.stat!) };
      default:
        return { op: op.op };
    }
  });
}
