// Watches that stay armed. A ZooKeeper watch fires once; this re-reads (which re-arms it) after each
// firing, after every reconnection (a read that failed while disconnected armed nothing), and after
// a failed read (bounded backoff). Firings that arrive while a read runs are coalesced into one more
// read. It stops on close, and on session expiry or client close: a dead client's watches are gone;
// the owner builds new ones on a new client.
import { CoalescedTask } from './coalesced-task.js';
import { CoordError, isCoordError } from './errors.js';

/** What a watch needs from its client. */
export interface WatchHost {
  on(event: 'connected', listener: () => void): unknown;
  off(event: 'connected', listener: () => void): unknown;
}

export interface WatchOptions {
  /** Called for a failed read that will be retried, and once for the error that stopped the watch. */
  readonly onError?: (error: CoordError) => void;
  /** Bound of the retry backoff after failed reads (default 2 s). */
  readonly retryDelayMsMax?: number;
}

export interface Watch {
  close(): void;
  readonly closed: boolean;
}

const RETRY_DELAY_MS_MIN = 50;
const RETRY_DELAY_MS_MAX_DEFAULT = 2_000;

export class RearmedWatch<T> implements Watch {
  private readonly task = new CoalescedTask(() => this.readOnce());
  private retryDelayMs = RETRY_DELAY_MS_MIN;
  private retryTimer: NodeJS.Timeout | undefined;
  private first: { resolve(): void; reject(error: unknown): void } | undefined;

  /**
   * @param read performs the reads, registering `watcher` on each, and returns what to deliver.
   * @param deliver receives each successful read's value, in order (never after close).
   */
  constructor(
    private readonly host: WatchHost,
    private readonly read: (watcher: () => void) => Promise<T>,
    private readonly deliver: (value: T) => void,
    private readonly options: WatchOptions = {},
  ) {}

  get closed(): boolean {
    return this.task.closed;
  }

  /** Resolves after the first read was delivered; if that read fails, rejects and closes the watch. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.first = { resolve, reject };
      this.host.on('connected', this.task.trigger);
      this.task.trigger();
    });
  }

  close(): void {
    if (this.task.closed) return;
    this.task.close();
    this.host.off('connected', this.task.trigger);
    clearTimeout(this.retryTimer);
    this.first?.reject(new CoordError('CLOSED', 'the watch was closed before its first read'));
    this.first = undefined;
  }

  private async readOnce(): Promise<void> {
    clearTimeout(this.retryTimer);
    try {
      const value = await this.read(this.task.trigger);
      if (this.task.closed) return;
      this.retryDelayMs = RETRY_DELAY_MS_MIN;
      this.deliver(value);
      this.first?.resolve();
      this.first = undefined;
    } catch (error) {
      this.onReadFailed(error instanceof CoordError ? error : new CoordError('ZK_ERROR', String(error), { cause: error }));
    }
  }

  private onReadFailed(error: CoordError): void {
    if (this.task.closed) return;
    if (this.first) {
      const first = this.first;
      this.first = undefined;
      this.close();
      first.reject(error);
      return;
    }
    this.options.onError?.(error);
    // After these the client is dead for good: retrying cannot help.
    if (isCoordError(error, 'SESSION_EXPIRED', 'CLOSED', 'AUTH_FAILED')) {
      this.close();
      return;
    }
    // A reconnection triggers a read at once; the timer covers errors that are not about the connection.
    this.retryTimer = setTimeout(this.task.trigger, this.retryDelayMs);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.options.retryDelayMsMax ?? RETRY_DELAY_MS_MAX_DEFAULT);
  }
}
