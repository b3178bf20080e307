// The host side's one error class: stable codes a caller (the peer's start-up, /health) branches on.

export type InitiatorErrorCode =
  /** A configuration value or export record the initiator cannot use (nothing was run). */
  | 'INITIATOR_BAD_INPUT'
  /** nvme-cli or losetup ran and failed (exit status, stderr kept in the message). */
  | 'INITIATOR_COMMAND_FAILED'
  /** The command succeeded but the namespace's block device did not appear in sysfs in time. */
  | 'INITIATOR_DEVICE_NOT_FOUND';

export class InitiatorError extends Error {
  override readonly name = 'InitiatorError';

  constructor(
    readonly code: InitiatorErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}
