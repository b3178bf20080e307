// Running a host command (nvme-cli, losetup) with a timeout; injectable so the initiator's decisions
// are tested without the commands, and so a failure carries the command line and its stderr.
import { execFile } from 'node:child_process';
import { InitiatorError } from './errors.js';

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export type CommandRunner = (file: string, argv: readonly string[], timeoutMs: number) => Promise<CommandResult>;

const OUTPUT_MAX_BYTES = 1024 * 1024;

/** Runs `file argv…`; a non-zero exit, a signal or the timeout is INITIATOR_COMMAND_FAILED with stderr. */
export const execCommand: CommandRunner = (file, argv, timeoutMs) =>
  new Promise((resolve, reject) => {
    execFile(file, [...argv], { timeout: timeoutMs, maxBuffer: OUTPUT_MAX_BYTES, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (!error) return resolve({ stdout, stderr });
      const detail = stderr.trim() || error.message;
      reject(Object.assign(new InitiatorError('INITIATOR_COMMAND_FAILED', `${file} ${argv.join(' ')}: ${detail}`, { cause: error }), { stderr }));
    });
  });

/** The stderr a failed command left (empty when it did not run at all). */
export function commandStderr(error: unknown): string {
  return typeof error === 'object' && error !== null && typeof (error as { stderr?: unknown }).stderr === 'string' ? (error as { stderr: string }).stderr : '';
}
