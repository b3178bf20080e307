// The bdev namespace (RPC.md §3.1, §3.5): names and aliases share one global namespace, every bdev is
// reachable by its UUID, claims are exclusive, and removing a bdev hot-removes its users (listeners
// registered with onRemove: namespaces, lvstores on it).
import { EventEmitter } from 'node:events';
import { ERRNO } from '../errno.js';
import type { ClaimType } from '../rpc-types.js';
import { IostatCounters } from './iostat.js';
import { errnoError } from './rpc-error.js';

/** What a bdev's medium is; lvstores found on it by examine are keyed by its identity. */
export type BdevBacking =
  | { readonly kind: 'nvme'; readonly controller: string; readonly traddr: string; readonly nsid: number }
  | { readonly kind: 'aio'; readonly filename: string; readonly readonly: boolean; readonly fallocate: boolean; readonly nowait: boolean; readonly blockSizeOverride: boolean }
  | { readonly kind: 'malloc' }
  | { readonly kind: 'lvol'; readonly lvstoreUuid: string };

export interface Claim {
  readonly type: ClaimType;
  /** Who holds it: "lvstore:<uuid>" or "nvmf:<nqn>". */
  readonly holder: string;
}

export interface SimBdev {
  readonly name: string;
  readonly uuid: string;
  readonly aliases: readonly string[];
  readonly productName: string;
  readonly blockSize: number;
  numBlocks: number;
  claim?: Claim;
  /** Fixed at registration (RPC.md §3.3: set_read_only does not flip `write` until reload). */
  readonly writable: boolean;
  readonly backing: BdevBacking;
  /** Where an lvstore on this bdev is remembered; undefined for media that do not survive (malloc, lvol). */
  readonly mediumIdentity?: string;
  readonly iostat: IostatCounters;
}

export type BdevInit = Omit<SimBdev, 'iostat' | 'claim'>;

type RemoveListener = (bdev: SimBdev) => void;

export class BdevTable {
  /** Canonical names in registration order. */
  private readonly byName = new Map<string, SimBdev>();
  /** Aliases (the UUID included) to bdevs. */
  private readonly byAlias = new Map<string, SimBdev>();
  private readonly removeListeners: RemoveListener[] = [];
  // One listener per bdev_get_bdevs call waiting with a timeout; bounded by connections and their requests.
  private readonly registered = new EventEmitter().setMaxListeners(0);

  /** Registers a bdev; E(-17) when its name or an alias is taken (RPC.md §3.1). */
  register(init: BdevInit): SimBdev {
    const keys = [init.name, ...init.aliases];
    if (new Set(keys).size !== keys.length || keys.some((key) => this.find(key) !== undefined)) throw errnoError(ERRNO.EEXIST);
    const bdev: SimBdev = { ...init, iostat: new IostatCounters() };
    this.byName.set(bdev.name, bdev);
    for (const alias of bdev.aliases) this.byAlias.set(alias, bdev);
    this.registered.emit('bdev', bdev);
    return bdev;
  }

  /** True when `key` is free as a bdev name or alias. */
  isFree(key: string): boolean {
    return this.find(key) === undefined;
  }

  /** Unregisters a bdev after hot-removing its users. */
  unregister(bdev: SimBdev): void {
    if (this.byName.get(bdev.name) !== bdev) return;
    for (const listener of this.removeListeners) listener(bdev);
    this.byName.delete(bdev.name);
    for (const alias of bdev.aliases) this.byAlias.delete(alias);
  }

  /** Registers what runs when a bdev is removed (before it leaves the table). */
  onRemove(listener: RemoveListener): void {
    this.removeListeners.push(listener);
  }

  find(nameOrAlias: string): SimBdev | undefined {
    return this.byName.get(nameOrAlias) ?? this.byAlias.get(nameOrAlias);
  }

  /** The bdev by name or alias; E(-19,"No such device") when absent. */
  get(nameOrAlias: string): SimBdev {
    const bdev = this.find(nameOrAlias);
    if (bdev === undefined) throw errnoError(ERRNO.ENODEV);
    return bdev;
  }

  list(): SimBdev[] {
    return [...this.byName.values()];
  }

  /** The bdev once it is registered, or undefined after timeoutMs (bdev_get_bdevs `timeout`). */
  waitFor(nameOrAlias: string, timeoutMs: number): Promise<SimBdev | undefined> {
    const present = this.find(nameOrAlias);
    if (present !== undefined || timeoutMs <= 0) return Promise.resolve(present);
    return new Promise((resolve) => {
      const onBdev = (bdev: SimBdev): void => {
        if (bdev.name !== nameOrAlias && !bdev.aliases.includes(nameOrAlias)) return;
        clearTimeout(timer);
        this.registered.off('bdev', onBdev);
        resolve(bdev);
      };
      const timer = setTimeout(() => {
        this.registered.off('bdev', onBdev);
        resolve(undefined);
      }, timeoutMs);
      this.registered.on('bdev', onBdev);
    });
  }

  /** Claims `bdev` for `holder`; false when someone already holds it (RPC.md §3.5). */
  claim(bdev: SimBdev, claim: Claim): boolean {
    if (bdev.claim !== undefined) return false;
    bdev.claim = claim;
    return true;
  }

  release(bdev: SimBdev, holder: string): void {
    if (bdev.claim?.holder === holder) delete bdev.claim;
  }
}
