// Frames out to a socket, batched: the socket is corked from the first frame of an event-loop turn
// until setImmediate, so everything queued in that turn (the replica calls of many client requests,
// or the answers of one group commit) leaves in a single writev.
import type { Duplex } from 'node:stream';

export class FrameWriter {
  private flushScheduled = false;

  constructor(private readonly socket: Duplex) {}

  send(frame: readonly Buffer[]): void {
    const socket = this.socket;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      socket.cork();
      setImmediate(() => {
        this.flushScheduled = false;
        socket.uncork();
      });
    }
    for (const buffer of frame) socket.write(buffer);
  }
}
