// Errors a spdk-sim handler answers with, built the ways SPDK builds them (RPC.md §1.4): synchronous
// module errors as -errno + strerror, lvol callback failures as -32602 (delete: -32603) + strerror.
import { JSONRPC_ERROR, strerror } from '../errno.js';

export class SimRpcError extends Error {
  override readonly name = 'SimRpcError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** A synchronous module error: code -errno, message strerror(errno). */
export function errnoError(errno: number): SimRpcError {
  return new SimRpcError(-errno, strerror(errno));
}

/** An lvol/blobstore callback failure: -32602 with the strerror text (RPC.md §2.4). */
export function lvolCallbackError(errno: number): SimRpcError {
  return new SimRpcError(JSONRPC_ERROR.INVALID_PARAMS, strerror(errno));
}

/** A bdev_lvol_delete callback failure: -32603 with the strerror text (RPC.md §2.4). */
export function lvolDeleteCallbackError(errno: number): SimRpcError {
  return new SimRpcError(JSONRPC_ERROR.INTERNAL_ERROR, strerror(errno));
}

/** nvmf's catch-all answer (RPC.md §2.5). */
export function nvmfInvalidParameters(): SimRpcError {
  return new SimRpcError(JSONRPC_ERROR.INVALID_PARAMS, 'Invalid parameters');
}

/** "spdk_json_decode_object failed" with the method family's code (RPC.md §1.4, §2). */
export function decodeObjectFailed(code: number = JSONRPC_ERROR.INTERNAL_ERROR): SimRpcError {
  return new SimRpcError(code, 'spdk_json_decode_object failed');
}
