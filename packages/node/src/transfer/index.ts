// Bulk transfer of blocks between peers, for migration and repair (DESIGN §6): a checksummed
// binary stream format (codec, decoder), limits (byte rate, transfers in flight), the receiving
// routes and the resumable sender.
export { type Arc, arcDistance, furthest, onArc, remainingArc } from './arc.js';
export {
  BLOCK_BYTES, FRAME_HEADER_BYTES, FRAME_PAYLOAD_BYTES_MAX, FRAME_RECORDS_MAX, STREAM_HEADER_BYTES, TRANSFER_FORMAT_VERSION,
  TRANSFER_ID_BYTES, TRANSFER_MAGIC, TransferEncoder, encodeStreamHeader,
} from './codec.js';
export type { ChecksumHasher, OutgoingRecord, StreamHeader, StreamTrailer, TransferRecord } from './codec.js';
export { TransferDecoder, type DecodedItem, type DecoderOptions } from './decoder.js';
export { TransferError, isTransferError, type TransferErrorCode, type TransferErrorDetails } from './errors.js';
export { ByteRateLimiter, ConcurrencyLimit, systemClock, type ByteRateOptions, type Clock, type ConcurrencyOptions } from './limiter.js';
export { AdaptivePacer, COMPARE_CHARGE_BYTES_PER_RECORD, loopDelayMs, pacedBurstBytes, type PacerOptions } from './pacer.js';
export { type TransferSink } from './apply.js';
export { DEFAULT_RECEIVE_LIMITS, transferRoutes, type ReceiveLimits, type ReceiveProgress, type TransferRouteOptions } from './receiver.js';
export { TRANSFER_PATH, type ReceiveSummary } from './protocol.js';
export { fetchProgress, transferClient, type PeerCall } from './client.js';
export {
  DEFAULT_BATCH_RECORDS, DEFAULT_REQUEST_BYTES_MAX, DEFAULT_REQUEST_MS, sendRange, type SendProgress, type SendRangeOptions, type SendResult,
  type TransferSource,
} from './sender.js';
export { DEFAULT_ATTEMPTS_MAX, TransferTask, type TransferTaskOptions, type TransferTaskResult } from './task.js';
