// The ZooKeeper layout of DESIGN §3, in one place.
import { CoordError } from './errors.js';
import { isValidNodeName } from './records.js';

export const ROOT_PATH = '/ringblock';

export interface ClusterPaths {
  /** `/ringblock/<cluster>` */
  readonly base: string;
  readonly config: string;
  readonly members: string;
  readonly ring: string;
  readonly migration: string;
  readonly volumes: string;
  /** `agents/<host>` (ephemeral): a storage agent serving that host's volumes. */
  readonly agents: string;
  /** `decommissioned/<name>`: a node being moved out of the ring (its data first). */
  readonly decommissioned: string;
  /** `tasks/<id>`: long operations started through the API. */
  readonly tasks: string;
  /** `token-check`: a salted digest of the cluster token (cluster-secret.ts). */
  readonly tokenCheck: string;
  member(name: string): string;
}

export function clusterPaths(cluster: string): ClusterPaths {
  if (!isValidNodeName(cluster)) throw new CoordError('BAD_ARGUMENT', `cluster name "${cluster}" must be 1-255 characters of [A-Za-z0-9._~:-]`);
  const base = `${ROOT_PATH}/${cluster}`;
  const members = `${base}/members`;
  return {
    base,
    config: `${base}/config`,
    members,
    ring: `${base}/ring`,
    migration: `${base}/migration`,
    volumes: `${base}/volumes`,
    agents: `${base}/agents`,
    decommissioned: `${base}/decommissioned`,
    tasks: `${base}/tasks`,
    tokenCheck: `${base}/token-check`,
    member: (name) => {
      if (!isValidNodeName(name)) throw new CoordError('BAD_ARGUMENT', `node name "${name}" must be 1-255 characters of [A-Za-z0-9._~:-]`);
      return `${members}/${name}`;
    },
  };
}
