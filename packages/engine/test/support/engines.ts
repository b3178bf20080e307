// Opening engines on temporary files for tests, closed in teardown.
import { join } from 'node:path';
import type { EngineOptions } from '../../src/index.js';
import { deviceBytesForGroups, Engine } from '../../src/index.js';
import type { Teardown } from './devices.js';
import { tempDir } from './devices.js';

export interface FreshEngine {
  engine: Engine;
  path: string;
  /** Closes the current engine and opens the device again. */
  reopen(options?: EngineOptions): Promise<Engine>;
}

export async function freshEngine(t: Teardown, groups = 8, options: EngineOptions = {}): Promise<FreshEngine> {
  const path = join(tempDir(t), 'device');
  const fresh: FreshEngine = {
    engine: await Engine.open(path, { create: true, sizeBytes: deviceBytesForGroups(groups), ...options }),
    path,
    async reopen(reopenOptions = options) {
      await fresh.engine.close();
      fresh.engine = await Engine.open(path, reopenOptions);
      return fresh.engine;
    },
  };
  t.teardown(() => fresh.engine.close());
  return fresh;
}

/** An 8-byte big-endian version. */
export function v(n: number): Buffer {
  const version = Buffer.alloc(8);
  version.writeBigUInt64BE(BigInt(n));
  return version;
}

/** A 4 KiB block filled with a pattern derived from `text`. */
export function block(text: string): Buffer {
  const data = Buffer.alloc(4096);
  for (let offset = 0; offset < data.length; offset += text.length + 1) data.write(`${text}|`, offset, 'latin1');
  return data;
}
