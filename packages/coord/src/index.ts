// @ringblock/coord: ZooKeeper for ringblock — a local server launcher, a typed client, cluster
// membership with the committed ring and its fence, and the ring maintenance policy.
export { CoordError, isCoordError, isTransientCoordError, retryTransient, type CoordErrorCode, type CoordErrorDetails, type RetryTransientOptions } from './errors.js';
export { monotonicNow, type Clock } from './clock.js';
export { findFreePort, fourLetterWord, isZooKeeperServing, zooKeeperDataDir } from './net-probe.js';
export { startZooKeeper, zooKeeperClasspath, type ZooKeeperOptions, type ZooKeeperProcess, type ZooKeeperExit } from './zk-server.js';
export { digestAcl, digestId, OPEN_ACL, ZK_PERMS, type ZkAclEntry, type ZkAuth } from './zk-acl.js';
export { jsonBytes, sessionIdHex, type ZkCreateMode, type ZkOp, type ZkOpResult, type ZkStat } from './zk-ops.js';
export type { Watch, WatchOptions } from './zk-watch.js';
export {
  decodeJson,
  ZkClient,
  type JsonParser,
  type ZkClientEvents,
  type ZkConnectOptions,
  type ZkCreateOptions,
  type ZkJson,
  type ZkNodeData,
  type ZkSessionCredentials,
  type ZkState,
  type ZkWatcher,
} from './zk-client.js';
export { CoalescedTask } from './coalesced-task.js';
export * from './records.js';
export * from './paths.js';
export * from './fence.js';
export * from './membership.js';
export { readLiveMembers, registerMember, type RegistrationOptions } from './member-registry.js';
export { checkClusterSecret, secretDigest, type ClusterSecretRecord } from './cluster-secret.js';
export * from './ring-policy.js';
export * from './ring-maintainer.js';
