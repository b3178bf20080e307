// @ringblock/engine: the local durable store of fixed 4 KiB blocks on a device path.
export {
  Engine, DEFAULT_CHECKPOINT_INTERVAL_MS, DEFAULT_CHECKPOINT_RECORDS, DEFAULT_LINGER_MS, DEFAULT_WIPE_LINGER_MS, DEFAULT_MAX_BATCH_OPS, DEFAULT_MAX_QUEUED_OPS,
  DEFAULT_MAX_WIPES_PER_ROUND, DEFAULT_RESERVE_SLOTS,
} from './engine.js';
export type { BlockHead, BlockRecord } from './reader.js';
export type {
  CorruptBlock, EngineOptions, EngineStats, GetOptions, GrowResult, NamespaceOption, RangeOptions, ScrubOptions, WriteOptions,
  ScrubReport, WriteResult,
} from './engine.js';
export type { CompareVersions, EngineMetrics } from './core.js';
export type { ReadCacheStats } from './read-cache.js';
export { compareBytes } from './core.js';
export type { NamespaceCount } from './counters.js';
export type { BlockDevice } from './device.js';
export { FileDevice } from './device.js';
export { InlineReadPolicy, type ReadPolicyCounts } from './read-policy.js';
export { EngineError, isEngineError } from './errors.js';
export type { EngineErrorCode } from './errors.js';
export type { Hasher } from './hash.js';
export { loadHasher } from './hash.js';
export { KeyIndex, INDEX_BYTES_PER_ENTRY } from './key-index.js';
export * from './layout.js';
export {
  checkRecordHeader, decodeRecordHeader, encodeRecordHeader, MAX_ID_BYTES, MAX_VERSION_BYTES, RECORD_MAGIC, RECORD_PUT,
  RECORD_TOMBSTONE,
} from './record.js';
export type { DecodedRecordHeader, HeaderState, RecordHeaderFields, RecordKind } from './record.js';
export type { RecoveryReport } from './recovery.js';
export { collectRangeChunk, positionAt, ringWindow } from './range.js';
export { RangeSnapshot } from './range-snapshot.js';
export type { RangeChunk, RingWindow } from './range.js';
export { SlotAllocator } from './slot-allocator.js';
export {
  decodeSuperblockCopy, encodeSuperblock, SUPERBLOCK_COPY_OFFSETS, SUPERBLOCK_MAGIC,
} from './superblock.js';
export type { Superblock, SuperblockCopy } from './superblock.js';
export { isValidId } from './validate.js';
