// Logical volume methods (RPC.md §2.4). Decode errors: E(-32603,"spdk_json_decode_object failed").
import { ERRNO } from '../../errno.js';
import { renderLvol, renderLvstore } from '../bdev-json.js';
import type { LvolManager, LvolRef } from '../lvols.js';
import { MD_PAGE_BYTES_DEFAULT, MD_PAGES_PER_CLUSTER_RATIO_DEFAULT } from '../lvstore-geometry.js';
import { defineMethod, type SimMethod } from '../method.js';
import { bool, opt, req, str, u32, u64 } from '../params.js';
import { decodeObjectFailed, errnoError, type SimRpcError } from '../rpc-error.js';

const decodeError = (): SimRpcError => decodeObjectFailed();
const LVSTORE_CLEAR_METHODS: ReadonlySet<string> = new Set(['unmap', 'write_zeroes', 'none']);
const LVOL_CLEAR_METHODS: ReadonlySet<string> = new Set(['default', 'none', 'unmap', 'write_zeroes']);

/** An enum-like string checked by the handler: anything else is E(-22). */
function checkedChoice(value: string | undefined, choices: ReadonlySet<string>, fallback: string): string {
  if (value !== undefined && !choices.has(value)) throw errnoError(ERRNO.EINVAL);
  return value ?? fallback;
}

function isPowerOfTwo(value: number): boolean {
  return value > 0 && (value & (value - 1)) === 0;
}

/** A method taking only `name` (an lvol UUID or alias) that answers `true`. */
function lvolAction(name: string, action: (lvols: LvolManager, ref: LvolRef) => Promise<void>): SimMethod {
  return defineMethod({
    name,
    params: { name: req(str) },
    decodeError,
    async handler(params, { target }) {
      await action(target.lvols, target.lvols.lookup(params.name));
      return true;
    },
  });
}

export const lvolMethods: readonly SimMethod[] = [
  defineMethod({
    name: 'bdev_lvol_create_lvstore',
    params: {
      bdev_name: req(str),
      lvs_name: req(str),
      cluster_sz: opt(u32),
      clear_method: opt(str),
      num_md_pages_per_cluster_ratio: opt(u32),
      md_page_size: opt(u32),
    },
    decodeError,
    handler(params, { target }) {
      const clearMethod = checkedChoice(params.clear_method, LVSTORE_CLEAR_METHODS, 'unmap');
      const mdPageBytes = params.md_page_size ?? MD_PAGE_BYTES_DEFAULT;
      const ratio = params.num_md_pages_per_cluster_ratio ?? MD_PAGES_PER_CLUSTER_RATIO_DEFAULT;
      if (!isPowerOfTwo(mdPageBytes) || mdPageBytes < MD_PAGE_BYTES_DEFAULT || ratio === 0) throw errnoError(ERRNO.EINVAL);
      return target.lvols.createLvstore({
        bdevName: params.bdev_name,
        lvsName: params.lvs_name,
        clusterBytes: params.cluster_sz ?? target.defaultClusterBytes,
        clearMethod,
        mdPagesPerClusterRatio: ratio,
        mdPageBytes,
      });
    },
  }),
  defineMethod({
    name: 'bdev_lvol_get_lvstores',
    params: { uuid: opt(str), lvs_name: opt(str) },
    decodeError,
    handler: ({ uuid, lvs_name: lvsName }, { target }) => target.lvols.listLvstores(uuid, lvsName).map((lvstore) => renderLvstore(lvstore, target.lvols)),
  }),
  defineMethod({
    name: 'bdev_lvol_delete_lvstore',
    params: { uuid: opt(str), lvs_name: opt(str) },
    decodeError,
    async handler({ uuid, lvs_name: lvsName }, { target }) {
      await target.lvols.deleteLvstore(target.lvols.selectLvstore(uuid, lvsName));
      return true;
    },
  }),
  defineMethod({
    name: 'bdev_lvol_create',
    params: { lvol_name: req(str), size_in_mib: req(u64), thin_provision: opt(bool), uuid: opt(str), lvs_name: opt(str), clear_method: opt(str) },
    decodeError,
    handler(params, { target }) {
      checkedChoice(params.clear_method, LVOL_CLEAR_METHODS, 'default');
      const lvstore = target.lvols.selectLvstore(params.uuid, params.lvs_name);
      return target.lvols.createLvol({ lvstore, lvolName: params.lvol_name, sizeMib: params.size_in_mib, thin: params.thin_provision ?? false });
    },
  }),
  defineMethod({
    name: 'bdev_lvol_get_lvols',
    params: { lvs_uuid: opt(str), lvs_name: opt(str) },
    decodeError,
    handler: ({ lvs_uuid: uuid, lvs_name: lvsName }, { target }) => target.lvols.listLvols(uuid, lvsName).map(({ lvol, lvstore }) => renderLvol(lvol, lvstore, target.lvols)),
  }),
  defineMethod({
    name: 'bdev_lvol_resize',
    params: { name: req(str), size_in_mib: req(u64) },
    decodeError,
    async handler({ name, size_in_mib: sizeMib }, { target }) {
      await target.lvols.resize(target.lvols.lookup(name), sizeMib);
      return true;
    },
  }),
  defineMethod({
    name: 'bdev_lvol_snapshot',
    params: { lvol_name: req(str), snapshot_name: req(str) },
    decodeError,
    handler: ({ lvol_name: source, snapshot_name: name }, { target }) => target.lvols.snapshot(target.lvols.lookup(source), name),
  }),
  defineMethod({
    name: 'bdev_lvol_clone',
    params: { snapshot_name: req(str), clone_name: req(str) },
    decodeError,
    handler: ({ snapshot_name: source, clone_name: name }, { target }) => target.lvols.clone(target.lvols.lookup(source), name),
  }),
  lvolAction('bdev_lvol_delete', (lvols, ref) => lvols.delete(ref)),
  lvolAction('bdev_lvol_set_read_only', (lvols, ref) => lvols.setReadOnly(ref)),
];
