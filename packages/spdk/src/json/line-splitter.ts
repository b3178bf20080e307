// Reply framing on the client side (RPC.md §1.2): each SPDK reply is one compact line ending in "\n"
// (control characters inside strings are escaped), so the client may split on newlines. Bounded: a
// line longer than the largest reply SPDK sends is an error, not an ever-growing buffer.

export class LineTooLongError extends Error {
  override readonly name = 'LineTooLongError';
}

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly lineBytesMax: number) {}

  /** Feeds bytes; returns the complete lines (without "\n"). Throws LineTooLongError past the bound. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline >= 0; newline = chunk.indexOf(0x0a, start)) {
      this.hold(chunk.subarray(start, newline));
      lines.push(Buffer.concat(this.pending, this.pendingBytes).toString('utf8'));
      this.pending = [];
      this.pendingBytes = 0;
      start = newline + 1;
    }
    if (start < chunk.length) this.hold(chunk.subarray(start));
    return lines;
  }

  private hold(bytes: Buffer): void {
    this.pendingBytes += bytes.length;
    if (this.pendingBytes > this.lineBytesMax) throw new LineTooLongError(`reply line longer than ${this.lineBytesMax} bytes`);
    if (bytes.length > 0) this.pending.push(bytes);
  }
}
