// Received chunks waiting to be decoded. Reading n bytes gives a view into a chunk when they lie in
// one, and copies them into one new buffer otherwise, so a frame spread over many chunks is copied
// once (not once per chunk, as re-concatenating on every push would).
import assert from 'node:assert/strict';

export class ByteQueue {
  private readonly chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed. */
  private headOffset = 0;
  private bytes = 0;

  get length(): number {
    return this.bytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  /** The first `count` bytes, contiguous, without consuming them. */
  peek(count: number): Buffer {
    assert.ok(count >= 0 && count <= this.bytes, `peek ${count} of ${this.bytes} buffered bytes`);
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.headOffset >= count) return first.subarray(this.headOffset, this.headOffset + count);
    const out = Buffer.allocUnsafe(count);
    let copied = 0;
    let offset = this.headOffset;
    for (const chunk of this.chunks) {
      if (copied === count) break;
      copied += chunk.copy(out, copied, offset, Math.min(chunk.length, offset + count - copied));
      offset = 0;
    }
    assert.equal(copied, count);
    return out;
  }

  /** The first `count` bytes, contiguous, consumed. */
  take(count: number): Buffer {
    const bytes = this.peek(count);
    this.skip(count);
    return bytes;
  }

  private skip(count: number): void {
    this.bytes -= count;
    while (count > 0) {
      const first = this.chunks[0]!;
      const available = first.length - this.headOffset;
      if (available > count) {
        this.headOffset += count;
        return;
      }
      count -= available;
      this.chunks.shift();
      this.headOffset = 0;
    }
  }
}
