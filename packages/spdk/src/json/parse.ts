// A JSON parser for what JSON.parse cannot tell us (RPC.md §1.3–1.5, §2.1, §2.3): which objects had a
// repeated key (SPDK rejects duplicate members), u64 counters above 2^53 (kept exact as bigint), and
// keys that legitimately repeat in replies (temperature_sensor_celsius), collected into arrays.
import { JSON_NESTING_MAX } from '../limits.js';

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export interface JsonParseOptions {
  /**
   * What a repeated key in one object becomes: `last` keeps the last value (as JSON.parse does);
   * `collect` makes the member an array of all its values in order. Either way the object is listed
   * in `objectsWithDuplicateKeys`.
   */
  readonly duplicateKeys?: 'last' | 'collect';
}

export interface JsonParseResult {
  readonly value: JsonValue;
  /** Every object in `value` in which some key occurred more than once. */
  readonly objectsWithDuplicateKeys: ReadonlySet<object>;
}

export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at offset ${offset}`);
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;

/** Parses one complete JSON text (surrounding whitespace allowed). Integers beyond ±2^53 become bigint. */
export function parseJson(text: string, options: JsonParseOptions = {}): JsonParseResult {
  const parser = new Parser(text, options.duplicateKeys ?? 'last');
  const value = parser.document();
  return { value, objectsWithDuplicateKeys: parser.duplicates };
}

class Parser {
  readonly duplicates = new Set<object>();
  private offset = 0;

  constructor(
    private readonly text: string,
    private readonly duplicateKeys: 'last' | 'collect',
  ) {}

  document(): JsonValue {
    const value = this.value(0);
    this.skipWhitespace();
    if (this.offset !== this.text.length) this.fail('unexpected data after the value');
    return value;
  }

  private value(depth: number): JsonValue {
    if (depth > JSON_NESTING_MAX) this.fail(`nesting deeper than ${JSON_NESTING_MAX}`);
    this.skipWhitespace();
    const char = this.text[this.offset];
    if (char === '{') return this.object(depth);
    if (char === '[') return this.array(depth);
    if (char === '"') return this.string();
    if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) return this.number();
    for (const [word, literal] of LITERALS) {
      if (this.text.startsWith(word, this.offset)) {
        this.offset += word.length;
        return literal;
      }
    }
    return this.fail(char === undefined ? 'unexpected end' : `unexpected character ${JSON.stringify(char)}`);
  }

  private object(depth: number): JsonObject {
    const object: JsonObject = {};
    const collected = new Set<string>();
    this.offset++;
    if (this.peekAfterWhitespace() === '}') {
      this.offset++;
      return object;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.offset] !== '"') this.fail('expected a member name');
      const key = this.string();
      this.expect(':');
      const member = this.value(depth + 1);
      const repeated = Object.prototype.hasOwnProperty.call(object, key);
      if (repeated) this.duplicates.add(object);
      if (repeated && this.duplicateKeys === 'collect') {
        const earlier = object[key] as JsonValue;
        setMember(object, key, collected.has(key) ? [...(earlier as JsonValue[]), member] : [earlier, member]);
        collected.add(key);
      } else {
        setMember(object, key, member);
      }
      if (this.endOfContainer('}')) return object;
    }
  }

  private array(depth: number): JsonValue[] {
    const array: JsonValue[] = [];
    this.offset++;
    if (this.peekAfterWhitespace() === ']') {
      this.offset++;
      return array;
    }
    for (;;) {
      array.push(this.value(depth + 1));
      if (this.endOfContainer(']')) return array;
    }
  }

  /** After a member/element: `,` continues (false), the closer ends (true), anything else fails. */
  private endOfContainer(closer: '}' | ']'): boolean {
    const char = this.peekAfterWhitespace();
    this.offset++;
    if (char === ',') return false;
    if (char === closer) return true;
    return this.fail(`expected "," or "${closer}"`);
  }

  private string(): string {
    const start = this.offset;
    let index = start + 1;
    for (;;) {
      const code = this.text.charCodeAt(index);
      if (Number.isNaN(code)) this.fail('unterminated string');
      if (code === 0x22) break;
      index += code === 0x5c ? 2 : 1;
    }
    this.offset = index + 1;
    try {
      return JSON.parse(this.text.slice(start, this.offset)) as string;
    } catch {
      return this.fail('invalid string');
    }
  }

  private number(): number | bigint {
    NUMBER.lastIndex = this.offset;
    const match = NUMBER.exec(this.text);
    if (match === null) return this.fail('invalid number');
    this.offset += match[0].length;
    const isInteger = match[1] === undefined && match[2] === undefined;
    const value = Number(match[0]);
    return isInteger && !Number.isSafeInteger(value) ? BigInt(match[0]) : value;
  }

  private expect(char: string): void {
    if (this.peekAfterWhitespace() !== char) this.fail(`expected "${char}"`);
    this.offset++;
  }

  private peekAfterWhitespace(): string | undefined {
    this.skipWhitespace();
    return this.text[this.offset];
  }

  private skipWhitespace(): void {
    WHITESPACE.lastIndex = this.offset;
    WHITESPACE.exec(this.text);
    this.offset = WHITESPACE.lastIndex;
  }

  private fail(message: string): never {
    throw new JsonSyntaxError(message, this.offset);
  }
}

const LITERALS: readonly (readonly [string, JsonValue])[] = [
  ['true', true],
  ['false', false],
  ['null', null],
];

/** Sets a member without ever touching the prototype (a key "__proto__" is an ordinary member). */
function setMember(object: JsonObject, key: string, value: JsonValue): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

/** True for a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
