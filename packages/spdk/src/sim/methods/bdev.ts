// Generic bdev, AIO and malloc methods (RPC.md §2.1–2.2).
import { randomUUID } from 'node:crypto';
import { realpath, stat } from 'node:fs/promises';
import { ERRNO } from '../../errno.js';
import { defineMethod, defineParamlessMethod, type SimMethod } from '../method.js';
import { arrayOf, bool, oneOf, opt, req, str, u32, u64 } from '../params.js';
import { decodeObjectFailed, errnoError, SimRpcError } from '../rpc-error.js';
import { renderBdev } from '../bdev-json.js';
import { SIM_TICK_RATE_HZ, simTicks } from '../iostat.js';
import type { SimTarget } from '../target.js';
import type { BdevBacking } from '../bdev-table.js';

/** bdev_get_iostat takes at most this many names (RPC.md §2.1). */
export const IOSTAT_NAMES_MAX = 1024;
const UUID = /^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$/;

const decodeError = (): SimRpcError => decodeObjectFailed();

export const bdevMethods: readonly SimMethod[] = [
  defineMethod({
    name: 'bdev_get_bdevs',
    params: { name: opt(str), timeout: opt(u64) },
    decodeError,
    async handler({ name, timeout }, { target }) {
      if (name === undefined) return target.bdevs.list().map((bdev) => renderBdev(bdev, target.lvols));
      const bdev = await target.bdevs.waitFor(name, timeout ?? 0);
      if (bdev === undefined) throw errnoError((timeout ?? 0) > 0 ? ERRNO.ETIMEDOUT : ERRNO.ENODEV);
      return [renderBdev(bdev, target.lvols)];
    },
  }),
  defineMethod({
    name: 'bdev_get_iostat',
    params: { names: opt(arrayOf(str, IOSTAT_NAMES_MAX)), per_channel: opt(bool), reset_mode: opt(oneOf('all', 'maxmin', 'error', 'none')) },
    decodeError,
    handler({ names, per_channel: perChannel, reset_mode: resetMode }, { target }) {
      const bdevs = names === undefined ? target.bdevs.list() : names.map((name) => target.bdevs.get(name));
      if (perChannel === true && names?.length !== 1) throw errnoError(ERRNO.EINVAL);
      const header = { tick_rate: SIM_TICK_RATE_HZ, ticks: simTicks() };
      const entries = bdevs.map((bdev) => bdev.iostat.render(bdev.name));
      for (const bdev of bdevs) bdev.iostat.reset(resetMode ?? 'none');
      if (perChannel !== true) return { ...header, bdevs: entries };
      const { name, ...counters } = entries[0]!;
      return { ...header, name, channels: [{ thread_id: 1, thread_name: 'app_thread', ...counters }] };
    },
  }),
  defineMethod({
    name: 'bdev_examine',
    params: { name: req(str) },
    decodeError: () => decodeObjectFailed(-32602),
    handler() {
      // Auto-examine is on in the default configuration, so manual examine always fails.
      throw errnoError(ERRNO.EINVAL);
    },
  }),
  defineParamlessMethod({
    name: 'bdev_wait_for_examine',
    params: { reject: 'bdev_wait_for_examine requires no parameters' },
    handler: () => true,
  }),
  defineMethod({
    name: 'bdev_aio_create',
    params: { name: req(str), filename: req(str), block_size: opt(u32), readonly: opt(bool), fallocate: opt(bool), uuid: opt(str), nowait: opt(bool) },
    decodeError,
    async handler(params, { target }) {
      const { size } = await statRegularFile(params.filename);
      const blockSize = params.block_size;
      if (blockSize === undefined || blockSize < 512 || (blockSize & (blockSize - 1)) !== 0 || size % blockSize !== 0 || size === 0) throw errnoError(ERRNO.EINVAL);
      const backing: BdevBacking = {
        kind: 'aio',
        filename: params.filename,
        readonly: params.readonly ?? false,
        fallocate: params.fallocate ?? false,
        nowait: params.nowait ?? false,
        blockSizeOverride: true,
      };
      const medium = `aio:${await realpath(params.filename)}`;
      return registerAndExamine(target, params.name, params.uuid, 'AIO disk', blockSize, size / blockSize, backing, medium);
    },
  }),
  defineMethod({
    name: 'bdev_aio_delete',
    params: { name: req(str) },
    decodeError,
    handler: ({ name }, { target }) => deleteOfKind(target, name, 'aio'),
  }),
  defineMethod({
    name: 'bdev_malloc_create',
    params: {
      block_size: req(u32),
      num_blocks: req(u64),
      name: opt(str),
      uuid: opt(str),
      optimal_io_boundary: opt(u32),
      physical_block_size: opt(u32),
      md_size: opt(u32),
      md_interleave: opt(bool),
      dif_type: opt(u32),
      dif_is_head_of_md: opt(bool),
    },
    decodeError,
    handler(params, { target }) {
      if (params.block_size === 0 || params.block_size % 512 !== 0 || params.num_blocks === 0) throw errnoError(ERRNO.EINVAL);
      const name = params.name ?? `Malloc${target.mallocCount}`;
      target.mallocCount++;
      return registerAndExamine(target, name, params.uuid, 'Malloc disk', params.block_size, params.num_blocks, { kind: 'malloc' }, undefined);
    },
  }),
  defineMethod({
    name: 'bdev_malloc_delete',
    params: { name: req(str) },
    decodeError,
    handler: ({ name }, { target }) => deleteOfKind(target, name, 'malloc'),
  }),
];

/** Registers a base bdev (its UUID as alias, §3.1), examines it, and answers its name. */
function registerAndExamine(
  target: SimTarget,
  name: string,
  uuid: string | undefined,
  productName: string,
  blockSize: number,
  numBlocks: number,
  backing: BdevBacking,
  mediumIdentity: string | undefined,
): string {
  if (uuid !== undefined && !UUID.test(uuid)) throw errnoError(ERRNO.EINVAL);
  const bdevUuid = (uuid ?? randomUUID()).toLowerCase();
  const bdev = target.bdevs.register({
    name,
    uuid: bdevUuid,
    aliases: name === bdevUuid ? [] : [bdevUuid],
    productName,
    blockSize,
    numBlocks,
    writable: !(backing.kind === 'aio' && backing.readonly),
    backing,
    ...(mediumIdentity === undefined ? {} : { mediumIdentity }),
  });
  target.examine(bdev);
  return bdev.name;
}

function deleteOfKind(target: SimTarget, name: string, kind: 'aio' | 'malloc'): true {
  const bdev = target.bdevs.find(name);
  if (bdev === undefined || bdev.backing.kind !== kind) throw errnoError(ERRNO.ENODEV);
  target.bdevs.unregister(bdev);
  return true;
}

/** The sim's AIO takes regular files only; open errors answer -errno (e.g. E(-2) for a missing file). */
async function statRegularFile(filename: string): Promise<{ size: number }> {
  try {
    const info = await stat(filename);
    if (!info.isFile()) throw errnoError(ERRNO.EINVAL);
    return { size: info.size };
  } catch (error) {
    if (error instanceof SimRpcError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw errnoError(code === 'ENOENT' ? ERRNO.ENOENT : code === 'EACCES' ? ERRNO.EPERM : ERRNO.EIO);
  }
}
