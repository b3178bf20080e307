// The `members` directory (DESIGN §3): registering this node's ephemeral znode, and reading the
// live set.
//
// Name taken. A second live process with the same name must not serve. After a SIGKILL the old
// process's znode stays until its session expires (ZooKeeper cannot tell a dead owner from a live
// one before that), so registration waits, bounded, for the znode to vanish and then fails with
// NAME_TAKEN. A znode owned by our own session (a create retried after a lost answer) counts as
// registered; a persistent znode of that name never vanishes and fails at once.
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import { CoordError, isCoordError } from './errors.js';
import type { ClusterPaths } from './paths.js';
import { parseMemberInfo, storedMember, type MemberInfo } from './records.js';
import type { ZkClient, ZkWatcher } from './zk-client.js';

export interface RegistrationOptions {
  readonly client: ZkClient;
  readonly path: string;
  readonly info: MemberInfo;
  readonly cluster: string;
  /** How long to wait for another session's znode to vanish. */
  readonly waitMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** Checked after each wait: true ends the wait with CLOSED. */
  readonly stopped: () => boolean;
}

/** Creates the ephemeral member znode, waiting (bounded) for another session's znode of the name to go. */
export async function registerMember(options: RegistrationOptions): Promise<void> {
  const { client, path, info } = options;
  const deadline = options.clock() + options.waitMs;
  let warned = false;
  for (;;) {
    try {
      await client.createJson(path, storedMember(info), { mode: 'ephemeral' });
      return;
    } catch (error) {
      if (!isCoordError(error, 'NODE_EXISTS')) throw error;
    }
    let changed!: () => void;
    const changedOrTimeout = new Promise<void>((resolve) => (changed = resolve));
    const stat = await client.exists(path, () => changed());
    if (stat === undefined) continue;
    if (stat.ephemeralOwner === client.sessionId) {
      await client.setJson(path, storedMember(info), -1);
      return;
    }
    const remainingMs = deadline - options.clock();
    if (stat.ephemeralOwner === undefined || remainingMs <= 0) throw nameTaken(options, stat.ephemeralOwner);
    if (!warned) {
      warned = true;
      options.log.warn({ owner: stat.ephemeralOwner, waitMs: Math.round(remainingMs) }, 'a member znode with this name exists (a previous run whose session has not expired yet?); waiting for it to go');
    }
    const timer = setTimeout(changed, remainingMs);
    await changedOrTimeout;
    clearTimeout(timer);
    if (options.stopped()) throw new CoordError('CLOSED', 'stopped while waiting to register');
  }
}

function nameTaken(options: RegistrationOptions, owner: string | undefined): CoordError {
  const holder = owner === undefined ? 'a persistent znode, not a live session' : `session ${owner}`;
  return new CoordError(
    'NAME_TAKEN',
    `a node named ${options.info.name} is already registered in cluster ${options.cluster} (${holder}); refusing to serve (waited ${Math.round(options.waitMs)} ms for it to go)`,
    { path: options.path },
  );
}

/** The live members by name, registering `watcher` on the directory and on every member znode. */
export async function readLiveMembers(client: ZkClient, paths: ClusterPaths, watcher: ZkWatcher, log: Logger): Promise<Map<string, MemberInfo>> {
  const names = (await client.children(paths.members, watcher)).sort();
  const infos = await Promise.all(
    names.map(async (name) => {
      try {
        return (await client.getJson(paths.member(name), parseMemberInfo, watcher)).value;
      } catch (error) {
        // Gone since the listing (the directory watch fires), or unreadable: not a live member.
        if (isCoordError(error, 'NO_NODE')) return undefined;
        if (isCoordError(error, 'BAD_DATA', 'BAD_ARGUMENT')) {
          log.warn({ err: error, member: name }, 'ignoring an unreadable member znode');
          return undefined;
        }
        throw error;
      }
    }),
  );
  return new Map(infos.filter((info): info is MemberInfo => info !== undefined).map((info) => [info.name, info]));
}
