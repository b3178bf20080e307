// Request framing as SPDK's server does it (RPC.md §1.2): a streaming parser over the byte stream, not
// newline-delimited. Every complete top-level JSON value is one request; whitespace between values is
// ignored. The splitter only finds value boundaries; parseJson then checks the value's syntax.

export type SplitResult =
  /** A complete top-level value (its text, still to be parsed). */
  | { readonly kind: 'value'; readonly text: string }
  /** Bytes that cannot start or continue a JSON value: a parse error (the server closes). */
  | { readonly kind: 'syntax_error' }
  /** The incomplete value outgrew the receive buffer: SPDK drops the connection. */
  | { readonly kind: 'overflow' };

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

/** Ends a bare top-level scalar (number, true, false, null). */
function isDelimiter(byte: number): boolean {
  return isWhitespace(byte) || byte === OPEN_BRACE || byte === CLOSE_BRACE || byte === OPEN_BRACKET || byte === CLOSE_BRACKET || byte === QUOTE || byte === 0x2c || byte === 0x3a;
}

export class JsonValueSplitter {
  private buffer: Buffer = Buffer.alloc(0);
  /** Offset in `buffer` of the value being scanned, or -1 while between values. */
  private valueStart = -1;
  private scanOffset = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** The value being scanned is a bare scalar (no brackets or quotes around it). */
  private scalar = false;

  /** @param bufferBytesMax the receive buffer: an incomplete value may not grow beyond it. */
  constructor(private readonly bufferBytesMax: number) {}

  /** Feeds bytes; returns the values completed by them, in order, ending at the first error. */
  push(chunk: Buffer): SplitResult[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const results: SplitResult[] = [];
    for (;;) {
      const result = this.next();
      if (result === undefined) break;
      results.push(result);
      if (result.kind !== 'value') return results;
    }
    this.compact();
    if (this.buffer.length > this.bufferBytesMax) results.push({ kind: 'overflow' });
    return results;
  }

  /** Bytes held for an incomplete value. */
  get bufferedBytes(): number {
    return this.buffer.length;
  }

  private next(): SplitResult | undefined {
    const buffer = this.buffer;
    for (; this.scanOffset < buffer.length; this.scanOffset++) {
      const byte = buffer[this.scanOffset]!;
      if (this.valueStart < 0) {
        if (isWhitespace(byte)) continue;
        if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET || byte === 0x2c || byte === 0x3a) return { kind: 'syntax_error' };
        this.startValue(byte);
        if (this.scalar) continue;
        if (byte === QUOTE) continue;
        this.depth = 1;
        continue;
      }
      if (this.scalar) {
        if (isDelimiter(byte)) return this.finishValue(this.scanOffset);
        continue;
      }
      if (this.inString) {
        this.scanString(byte);
        if (!this.inString && this.depth === 0) return this.finishValue(this.scanOffset + 1);
        continue;
      }
      if (byte === QUOTE) this.inString = true;
      else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) this.depth++;
      else if ((byte === CLOSE_BRACE || byte === CLOSE_BRACKET) && --this.depth === 0) return this.finishValue(this.scanOffset + 1);
    }
    return undefined;
  }

  private startValue(byte: number): void {
    this.valueStart = this.scanOffset;
    this.scalar = byte !== OPEN_BRACE && byte !== OPEN_BRACKET && byte !== QUOTE;
    this.inString = byte === QUOTE;
    this.escaped = false;
    this.depth = 0;
  }

  private scanString(byte: number): void {
    if (this.escaped) this.escaped = false;
    else if (byte === BACKSLASH) this.escaped = true;
    else if (byte === QUOTE) this.inString = false;
  }

  /** Emits buffer[valueStart, end) and resumes scanning at `end`. */
  private finishValue(end: number): SplitResult {
    const text = this.buffer.toString('utf8', this.valueStart, end);
    this.valueStart = -1;
    this.scalar = false;
    this.scanOffset = end;
    return { kind: 'value', text };
  }

  /** Drops the bytes of values already emitted. */
  private compact(): void {
    const keepFrom = this.valueStart < 0 ? this.scanOffset : this.valueStart;
    if (keepFrom === 0) return;
    this.buffer = this.buffer.subarray(keepFrom);
    this.scanOffset -= keepFrom;
    if (this.valueStart >= 0) this.valueStart -= keepFrom;
  }
}
