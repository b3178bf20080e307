// Local NVMe discovery: PCI functions of class 0x010802 (NVM Express) under <sysfs>/bus/pci/devices,
// whichever driver holds them (SPDK's setup binds them to vfio-pci or uio, away from the kernel's
// nvme driver). Named Nvme0, Nvme1… in address order, so the names are stable across restarts.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { NvmeDeviceSpec } from './backend.js';

const NVME_CLASS = '0x010802';
const DEVICES_MAX = 256;

export async function discoverNvmeDevices(sysfsRoot: string): Promise<NvmeDeviceSpec[]> {
  const dir = path.join(sysfsRoot, 'bus', 'pci', 'devices');
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const address of entries.sort()) {
    if (found.length >= DEVICES_MAX) break;
    const pciClass = await readFile(path.join(dir, address, 'class'), 'utf8').catch(() => '');
    if (pciClass.trim().toLowerCase() === NVME_CLASS) found.push(address);
  }
  return found.map((traddr, index) => ({ name: `Nvme${index}`, traddr }));
}
