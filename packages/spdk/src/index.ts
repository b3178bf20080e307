// @ringblock/spdk: SPDK JSON-RPC client with typed wrappers (RPC.md), spdk-sim (a protocol-faithful
// SPDK target emulator) and the pure volume lifecycle FSM (DESIGN §8).
export * from './limits.js';
export * from './errno.js';
export * from './errors.js';
export { parseJson, JsonSyntaxError, isJsonObject, type JsonValue, type JsonObject, type JsonParseOptions, type JsonParseResult } from './json/parse.js';
export { stringifyJson, RawJson, objectWithRepeatedKeys } from './json/stringify.js';
export { JsonValueSplitter, type SplitResult } from './json/value-splitter.js';
export { LineSplitter, LineTooLongError } from './json/line-splitter.js';
export * from './nqn.js';
export * from './rpc-client.js';
export type * from './rpc-types.js';
export * from './reply-checks.js';
export { SpdkApi, TypedRpc } from './methods.js';
export { SpdkSimControl, type SimLvolFile, type SimFaultParams, type SimDelayParams, type SimIostatParams, type SimHealthParams } from './sim-methods.js';
export { startSpdkSim, runSpdkSim, parseDevice, parseSize, type SpdkSim, type SpdkSimOptions } from './sim/start.js';
export { DEFAULT_SIM_DEVICES, type SimNvmeDevice } from './sim/nvme.js';
export type { SimTarget } from './sim/target.js';
export { SocketLockError } from './sim/socket-lock.js';
export { lvstoreGeometry, clustersForMib, CLUSTER_BYTES_DEFAULT, type LvstoreGeometry, type LvstoreGeometryInput } from './sim/lvstore-geometry.js';
export { STATE_FILE_NAME } from './sim/state-file.js';
export { LVOL_FILE_DIR } from './sim/data-files.js';
export { SIM_SPDK_VERSION } from './sim/methods/index.js';
export { FAULT_RULES_MAX, FAULT_COUNT_MAX, DELAY_MS_MAX } from './sim/faults.js';
export * from './volume-fsm.js';
export * from './volumes/record.js';
export * from './volumes/store.js';
export * from './agent/backend.js';
export * from './agent/agent.js';
