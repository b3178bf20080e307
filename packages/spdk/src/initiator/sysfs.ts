// Finding a connected NVMe-oF namespace's block device by subsystem NQN and NSID in sysfs, the way
// libnvme walks the tree: <sysfs>/class/nvme-subsystem/nvme-subsysN/{subsysnqn, nvmeX (controllers),
// nvmeXnY (namespace heads, each with an `nsid`)}; kernels without the subsystem class (before 4.15)
// or without native multipath list namespaces under <sysfs>/class/nvme/nvmeX instead. Read-only,
// bounded, and independent of the real /sys so fixtures can stand in for it.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

const ENTRIES_MAX = 4096;
const CONTROLLER = /^nvme\d+$/;
/** A namespace head (nvme0n1); paths of a multipath head (nvme0c1n1) are not block devices to open. */
const NAMESPACE = /^nvme\d+n\d+$/;

export interface NvmeControllerInfo {
  readonly name: string;
  /** live, connecting, resetting, deleting, … */
  readonly state: string;
  readonly transport: string;
  readonly address: string;
}

export interface NvmeNamespaceDevice {
  /** Kernel name, e.g. nvme2n1. */
  readonly name: string;
  /** The block device to open, e.g. /dev/nvme2n1. */
  readonly device: string;
  readonly nsid: number;
  readonly controllers: readonly NvmeControllerInfo[];
}

export interface SysfsRoots {
  readonly sysfsRoot: string;
  readonly devRoot: string;
}

/** The namespace `nsid` of subsystem `nqn`, or undefined when this host has no such namespace (yet). */
export async function findNvmeNamespace(roots: SysfsRoots, nqn: string, nsid: number): Promise<NvmeNamespaceDevice | undefined> {
  const subsystems = path.join(roots.sysfsRoot, 'class', 'nvme-subsystem');
  const subsystemDirs = await listDir(subsystems);
  if (subsystemDirs !== undefined) {
    for (const entry of subsystemDirs) {
      const dir = path.join(subsystems, entry);
      if ((await readAttr(dir, 'subsysnqn')) !== nqn) continue;
      const found = await namespaceIn(roots, dir, nsid, await controllersIn(dir));
      if (found) return found;
    }
    return undefined;
  }
  // No subsystem class: each controller lists its own namespaces.
  const controllersDir = path.join(roots.sysfsRoot, 'class', 'nvme');
  for (const entry of (await listDir(controllersDir)) ?? []) {
    if (!CONTROLLER.test(entry)) continue;
    const dir = path.join(controllersDir, entry);
    if ((await readAttr(dir, 'subsysnqn')) !== nqn) continue;
    const found = await namespaceIn(roots, dir, nsid, [await controllerInfo(dir, entry)]);
    if (found) return found;
  }
  return undefined;
}

/** The controllers of subsystem `nqn` on this host (connected or reconnecting), for rescans and checks. */
export async function subsystemControllers(sysfsRoot: string, nqn: string): Promise<NvmeControllerInfo[]> {
  const controllersDir = path.join(sysfsRoot, 'class', 'nvme');
  const found: NvmeControllerInfo[] = [];
  for (const entry of (await listDir(controllersDir)) ?? []) {
    if (!CONTROLLER.test(entry)) continue;
    const dir = path.join(controllersDir, entry);
    if ((await readAttr(dir, 'subsysnqn')) === nqn) found.push(await controllerInfo(dir, entry));
  }
  return found;
}

async function namespaceIn(roots: SysfsRoots, dir: string, nsid: number, controllers: NvmeControllerInfo[]): Promise<NvmeNamespaceDevice | undefined> {
  for (const entry of (await listDir(dir)) ?? []) {
    if (!NAMESPACE.test(entry)) continue;
    const text = await readAttr(path.join(dir, entry), 'nsid');
    if (text === undefined || Number(text) !== nsid) continue;
    return { name: entry, device: path.join(roots.devRoot, entry), nsid, controllers };
  }
  return undefined;
}

async function controllersIn(subsystemDir: string): Promise<NvmeControllerInfo[]> {
  const controllers: NvmeControllerInfo[] = [];
  for (const entry of (await listDir(subsystemDir)) ?? []) {
    if (CONTROLLER.test(entry)) controllers.push(await controllerInfo(path.join(subsystemDir, entry), entry));
  }
  return controllers;
}

async function controllerInfo(dir: string, name: string): Promise<NvmeControllerInfo> {
  return {
    name,
    state: (await readAttr(dir, 'state')) ?? 'unknown',
    transport: (await readAttr(dir, 'transport')) ?? 'unknown',
    address: (await readAttr(dir, 'address')) ?? '',
  };
}

async function listDir(dir: string): Promise<string[] | undefined> {
  try {
    const entries = await readdir(dir);
    return entries.sort(byKernelNumber).slice(0, ENTRIES_MAX);
  } catch {
    return undefined;
  }
}

async function readAttr(dir: string, attr: string): Promise<string | undefined> {
  try {
    return (await readFile(path.join(dir, attr), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** nvme2 before nvme10: numbers compared as numbers. */
function byKernelNumber(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
