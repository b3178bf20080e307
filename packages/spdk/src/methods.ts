// Typed wrappers for the SPDK methods the storage agent uses (RPC.md §1.6, §2). Each sends exactly the
// params it is given (SPDK decodes strictly, §1.5) and checks the kind of the reply. Never batches
// (RPC.md §1.2 [ver]); methods that reject any params are sent without a `params` member (§1.5).
import type { JsonValue } from './json/parse.js';
import { expectInteger, expectObject, expectObjectArray, expectString, expectStringArray, expectTrue, type ReplyCheck } from './reply-checks.js';
import type { SpdkCallOptions, SpdkRpcCaller } from './rpc-client.js';
import type * as T from './rpc-types.js';

/** Base of the typed wrappers: one call, its reply checked. */
export class TypedRpc {
  constructor(readonly rpc: SpdkRpcCaller) {}

  protected async invoke<R>(method: string, params: object | undefined, check: ReplyCheck<R>, options?: SpdkCallOptions): Promise<R> {
    return check(await this.rpc.call(method, params, options), method);
  }
}

export class SpdkApi extends TypedRpc {
  // -------------------------------------------------------------- framework (§1.6)

  /** Resolves true once the framework is initialized (RUNTIME); the readiness probe. */
  frameworkWaitInit(options?: SpdkCallOptions): Promise<true> {
    return this.invoke('framework_wait_init', undefined, expectTrue, options);
  }

  /** STARTUP only (app run with --wait-for-rpc). */
  frameworkStartInit(options?: SpdkCallOptions): Promise<true> {
    return this.invoke('framework_start_init', undefined, expectTrue, options);
  }

  spdkGetVersion(options?: SpdkCallOptions): Promise<T.SpdkVersion> {
    return this.invoke('spdk_get_version', undefined, expectObject<T.SpdkVersion>(), options);
  }

  /** Method names, unordered. */
  rpcGetMethods(params?: T.RpcGetMethodsParams, options?: SpdkCallOptions): Promise<string[]> {
    return this.invoke('rpc_get_methods', params, expectStringArray, options);
  }

  // -------------------------------------------------------------- generic bdev (§2.1)

  /** All bdevs in registration order, or the one named (E(-19) when absent). */
  bdevGetBdevs(params?: T.BdevGetBdevsParams, options?: SpdkCallOptions): Promise<T.Bdev[]> {
    return this.invoke('bdev_get_bdevs', params, expectObjectArray<T.Bdev>(), options);
  }

  bdevGetIostat(params?: T.BdevGetIostatParams, options?: SpdkCallOptions): Promise<T.BdevIostatReply> {
    return this.invoke('bdev_get_iostat', params, expectObject<T.BdevIostatReply>(), options);
  }

  /** Fails E(-22) while auto-examine is on (the default configuration). */
  bdevExamine(params: { readonly name: string }, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('bdev_examine', params, expectTrue, options);
  }

  /** Resolves once every bdev was examined (lvstores loaded). */
  bdevWaitForExamine(options?: SpdkCallOptions): Promise<true> {
    return this.invoke('bdev_wait_for_examine', undefined, expectTrue, options);
  }

  // -------------------------------------------------------------- AIO and malloc (§2.2)

  /** Returns the bdev name, after examine (an lvstore on the file is loaded by then). */
  bdevAioCreate(params: T.BdevAioCreateParams, options?: SpdkCallOptions): Promise<string> {
    return this.invoke('bdev_aio_create', params, expectString, options);
  }

  bdevAioDelete(params: { readonly name: string }, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('bdev_aio_delete', params, expectTrue, options);
  }

  bdevMallocCreate(params: T.BdevMallocCreateParams, options?: SpdkCallOptions): Promise<string> {
    return this.invoke('bdev_malloc_create', params, expectString, options);
  }

  bdevMallocDelete(params: { readonly name: string }, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('bdev_malloc_delete', params, expectTrue, options);
  }

  // -------------------------------------------------------------- NVMe bdev (§2.3)

  /** Returns the bdev names "<name>n<nsid>", after examine. */
  bdevNvmeAttachController(params: T.BdevNvmeAttachControllerParams, options?: SpdkCallOptions): Promise<string[]> {
    return this.invoke('bdev_nvme_attach_controller', params, expectStringArray, options);
  }

  bdevNvmeDetachController(params: T.BdevNvmeDetachControllerParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('bdev_nvme_detach_controller', params, expectTrue, options);
  }

  bdevNvmeGetControllers(params?: { readonly name?: string }, options?: SpdkCallOptions): Promise<T.NvmeController[]> {
    return this.invoke('bdev_nvme_get_controllers', params, expectObjectArray<T.NvmeController>(), options);
  }

  /** Repeated `temperature_sensor_celsius` keys are returned as one array. */
  async bdevNvmeGetControllerHealthInfo(params: { readonly name: string }, options?: SpdkCallOptions): Promise<T.NvmeControllerHealth> {
    const health = await this.invoke('bdev_nvme_get_controller_health_info', params, expectObject<Record<string, JsonValue>>(), options);
    const sensors = health.temperature_sensor_celsius;
    const list = sensors === undefined ? [] : Array.isArray(sensors) ? sensors : [sensors];
    return { ...health, temperature_sensor_celsius: list } as unknown as T.NvmeControllerHealth;
  }

  // -------------------------------------------------------------- logical volumes (§2.4)

  /** Returns the lvstore UUID; the reply comes after the data area is unmapped (slow on big devices). */
  bdevLvolCreateLvstore(params: T.BdevLvolCreateLvstoreParams, options?: SpdkCallOptions): Promise<string> {
    return this.invoke('bdev_lvol_create_lvstore', params, expectString, options);
  }

  bdevLvolGetLvstores(params?: T.LvstoreSelector, options?: SpdkCallOptions): Promise<T.Lvstore[]> {
    return this.invoke('bdev_lvol_get_lvstores', params, expectObjectArray<T.Lvstore>(), options);
  }

  /** Destroys all its lvols (hot-removing their namespaces), then releases the base bdev. */
  bdevLvolDeleteLvstore(params: T.LvstoreSelector, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('bdev_lvol_delete_lvstore', params, expectTrue, options);
  }

  /** Returns the lvol UUID, which is also its bdev name. */
  bdevLvolCreate(params: T.BdevLvolCreateParams, options?: SpdkCallOptions): Promise<string> {
    return this.invoke('bdev_lvol_create', params, expectString, options);
  }

  bdevLvolGetLvols(params?: T.BdevLvolGetLvolsParams, options?: SpdkCallOptions): Promise<T.Lvol[]> {
    return this.invoke('bdev_lvol_get_lvols', params, expectObjectArray<T.Lvol>(), options);
  }

  /** Never shrink an exported volume: SPDK shrinks it and then answers "Device or resource busy". */
  bdevLvolResize(params: T.BdevLvolResizeParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('bdev_lvol_resize', params, expectTrue, options);
  }

  /** Returns the snapshot UUID. */
  bdevLvolSnapshot(params: T.BdevLvolSnapshotParams, options?: SpdkCallOptions): Promise<string> {
    return this.invoke('bdev_lvol_snapshot', params, expectString, options);
  }

  /** Returns the clone UUID. */
  bdevLvolClone(params: T.BdevLvolCloneParams, options?: SpdkCallOptions): Promise<string> {
    return this.invoke('bdev_lvol_clone', params, expectString, options);
  }

  /** Refused E(-32603,"Operation not permitted") for a snapshot with two or more clones. */
  bdevLvolDelete(params: { readonly name: string }, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('bdev_lvol_delete', params, expectTrue, options);
  }

  /** Irreversible. */
  bdevLvolSetReadOnly(params: { readonly name: string }, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('bdev_lvol_set_read_only', params, expectTrue, options);
  }

  // -------------------------------------------------------------- NVMe-oF target (§2.5)

  /** Not idempotent: check nvmfGetTransports first. */
  nvmfCreateTransport(params: T.NvmfCreateTransportParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('nvmf_create_transport', params, expectTrue, options);
  }

  /** E(-19) for a trtype not created. */
  nvmfGetTransports(params?: { readonly trtype?: string }, options?: SpdkCallOptions): Promise<T.NvmfTransport[]> {
    return this.invoke('nvmf_get_transports', params, expectObjectArray<T.NvmfTransport>(), options);
  }

  nvmfCreateSubsystem(params: T.NvmfCreateSubsystemParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('nvmf_create_subsystem', params, expectTrue, options);
  }

  nvmfDeleteSubsystem(params: { readonly nqn: string }, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('nvmf_delete_subsystem', params, expectTrue, options);
  }

  /** Sorted by NQN; the discovery subsystem is normally first. */
  nvmfGetSubsystems(params?: { readonly nqn?: string }, options?: SpdkCallOptions): Promise<T.NvmfSubsystem[]> {
    return this.invoke('nvmf_get_subsystems', params, expectObjectArray<T.NvmfSubsystem>(), options);
  }

  nvmfSubsystemAddListener(params: T.NvmfSubsystemAddListenerParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('nvmf_subsystem_add_listener', params, expectTrue, options);
  }

  nvmfSubsystemRemoveListener(params: T.NvmfSubsystemRemoveListenerParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('nvmf_subsystem_remove_listener', params, expectTrue, options);
  }

  /** Returns the NSID; claims the bdev exclusive_write. */
  nvmfSubsystemAddNs(params: T.NvmfSubsystemAddNsParams, options?: SpdkCallOptions): Promise<number> {
    return this.invoke('nvmf_subsystem_add_ns', params, expectInteger, options);
  }

  nvmfSubsystemRemoveNs(params: T.NvmfSubsystemRemoveNsParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('nvmf_subsystem_remove_ns', params, expectTrue, options);
  }

  nvmfSubsystemAddHost(params: T.NvmfSubsystemAddHostParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('nvmf_subsystem_add_host', params, expectTrue, options);
  }

  nvmfSubsystemAllowAnyHost(params: T.NvmfSubsystemAllowAnyHostParams, options?: SpdkCallOptions): Promise<true> {
    return this.invoke('nvmf_subsystem_allow_any_host', params, expectTrue, options);
  }
}
