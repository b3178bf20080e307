export {
  RingblockClient,
  type Block,
  type CallOptions,
  type ClientOptions,
  type ClientStats,
  type PutOptions,
  type Written,
} from './client.js';
export * from './errors.js';
export { BLOCK_SIZE, BLOCK_ID_BYTES_MAX, DEFAULTS } from './limits.js';
export { CONSISTENCY_LEVELS, isValidBlockId, type Consistency } from './validate.js';
export { backoffMs, classifyFailure, isIdempotent, mayRetry, type FailureClass, type Method, type RetryPolicy } from './retry.js';
export { parseRingAnswer, RingAnswerError, type RingAnswer, type RingView } from './ring-view.js';
export { defaultDispatcherFactory, type DispatcherFactory } from './transport.js';
