// The JSON records kept in ZooKeeper (DESIGN §3) and their validation when read back: a znode with
// the wrong shape is reported as BAD_DATA instead of spreading bad state.
import { CoordError } from './errors.js';

/** `members/<name>`: one live node. */
export interface MemberInfo {
  /** Pod name (`blockstore-0`); also the znode name and the ring node name. */
  readonly name: string;
  /** Where peers reach it (`host:port`). */
  readonly addr: string;
  readonly zone?: string;
  readonly capacityBytes: number;
  readonly usedBytes: number;
  /** Epoch milliseconds when the process started. */
  readonly startedAt: number;
  /** Software version. */
  readonly version: string;
  /** `file` | `spdk`. */
  readonly backing: string;
}

/** `config`: created once by the first node; every node uses these, not its own settings. */
export interface ClusterConfig {
  readonly vnodes: number;
  readonly replicationFactor: number;
  readonly blockSize: number;
  readonly downGraceMs: number;
  readonly staleGraceMs: number;
}

/** A node of the committed ring. */
export interface RingNodeInfo {
  readonly name: string;
  readonly addr: string;
  readonly zone?: string;
}

/** `ring`: the committed ring. */
export interface RingRecord {
  readonly epoch: number;
  readonly nodes: readonly RingNodeInfo[];
}

/** Node names appear in znode paths and ring tokens: the block-id alphabet, bounded length. */
export const NODE_NAME_PATTERN = /^[A-Za-z0-9._~:-]{1,255}$/;

export const CLUSTER_CONFIG_KEYS = ['vnodes', 'replicationFactor', 'blockSize', 'downGraceMs', 'staleGraceMs'] as const;

export function isValidNodeName(name: string): boolean {
  return NODE_NAME_PATTERN.test(name) && name !== '.' && name !== '..';
}

export function parseMemberInfo(value: unknown): MemberInfo {
  const record = objectOf(value, 'member');
  const name = stringField(record, 'name');
  if (!isValidNodeName(name)) throw bad(`member name "${name}" is not a valid node name`);
  const zone = optionalStringField(record, 'zone');
  return {
    name,
    addr: stringField(record, 'addr'),
    ...(zone === undefined ? {} : { zone }),
    capacityBytes: countField(record, 'capacityBytes'),
    usedBytes: countField(record, 'usedBytes'),
    startedAt: countField(record, 'startedAt'),
    version: stringField(record, 'version'),
    backing: stringField(record, 'backing'),
  };
}

export function parseClusterConfig(value: unknown): ClusterConfig {
  const record = objectOf(value, 'config');
  const config = Object.fromEntries(CLUSTER_CONFIG_KEYS.map((key) => [key, countField(record, key)])) as unknown as ClusterConfig;
  if (config.vnodes < 1 || config.replicationFactor < 1 || config.blockSize < 1) {
    throw bad('config: vnodes, replicationFactor and blockSize must be at least 1');
  }
  return config;
}

export function parseRingRecord(value: unknown): RingRecord {
  const record = objectOf(value, 'ring');
  const epoch = countField(record, 'epoch');
  if (epoch < 1) throw bad('ring epoch must be at least 1');
  const nodes = record['nodes'];
  if (!Array.isArray(nodes)) throw bad('ring nodes must be an array');
  return { epoch, nodes: canonicalRingNodes(nodes.map(parseRingNode)) };
}

/** Sorted by name (a ring does not depend on order), each reduced to name/addr/zone; rejects duplicates. */
export function canonicalRingNodes(nodes: readonly RingNodeInfo[]): RingNodeInfo[] {
  const sorted = nodes.map(ringNodeOf).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let index = 1; index < sorted.length; index++) {
    if (sorted[index]!.name === sorted[index - 1]!.name) throw bad(`ring lists node "${sorted[index]!.name}" twice`);
  }
  return sorted;
}

export function parseRingNode(value: unknown): RingNodeInfo {
  const record = objectOf(value, 'ring node');
  const name = stringField(record, 'name');
  if (!isValidNodeName(name)) throw bad(`ring node name "${name}" is not a valid node name`);
  const zone = optionalStringField(record, 'zone');
  return { name, addr: stringField(record, 'addr'), ...(zone === undefined ? {} : { zone }) };
}

/**
 * What is written to `members/<name>`: every field of DESIGN §3, `zone` null when the node has
 * none (a reader checking the record's shape finds the key; parseMemberInfo reads null as none).
 */
export function storedMember(info: MemberInfo): Record<string, unknown> {
  return {
    name: info.name,
    addr: info.addr,
    zone: info.zone ?? null,
    capacityBytes: info.capacityBytes,
    usedBytes: info.usedBytes,
    startedAt: info.startedAt,
    version: info.version,
    backing: info.backing,
  };
}

/** What is written to `ring`: `{epoch, nodes: [{name, addr, zone}]}`, `zone` null when none. */
export function storedRing(record: RingRecord): Record<string, unknown> {
  return { epoch: record.epoch, nodes: record.nodes.map((node) => ({ name: node.name, addr: node.addr, zone: node.zone ?? null })) };
}

/** A ring node as stored: name, addr and zone only (a MemberInfo carries more). */
export function ringNodeOf(member: { readonly name: string; readonly addr: string; readonly zone?: string | undefined }): RingNodeInfo {
  return member.zone === undefined || member.zone === '' ? { name: member.name, addr: member.addr } : { name: member.name, addr: member.addr, zone: member.zone };
}

/** Names of the config keys whose values differ. */
export function configDifferences(a: ClusterConfig, b: ClusterConfig): (keyof ClusterConfig)[] {
  return CLUSTER_CONFIG_KEYS.filter((key) => a[key] !== b[key]);
}

function bad(message: string): CoordError {
  return new CoordError('BAD_DATA', message);
}

function objectOf(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function stringField(record: Record<string, unknown>, key: string): string {
  const value = record[key];
  if (typeof value !== 'string' || value.length === 0) throw bad(`"${key}" must be a non-empty string`);
  return value;
}

function optionalStringField(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw bad(`"${key}" must be a string`);
  return value;
}

function countField(record: Record<string, unknown>, key: string): number {
  const value = record[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw bad(`"${key}" must be a non-negative integer`);
  return value;
}
