// Strict parameter decoding as SPDK's generated decoders do it (RPC.md §1.5): an unknown key, a
// duplicate key, a missing required key or a wrong JSON type fails the whole call. Relaxed decoding
// (a few nvmf methods) ignores unknown keys. Integers must be JSON integers ("4096" is rejected).
import { isJsonObject, type JsonObject, type JsonValue } from '../json/parse.js';

/** Marker for a value that does not decode. */
export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

export interface DecodeContext {
  /** Objects of the request in which a key repeats (from parseJson). */
  readonly objectsWithDuplicateKeys: ReadonlySet<object>;
}

export type Decoder<T> = (value: JsonValue, context: DecodeContext) => T | Invalid;

export interface Field<T, Required extends boolean> {
  readonly decode: Decoder<T>;
  readonly required: Required;
}

export type Schema = Readonly<Record<string, Field<unknown, boolean>>>;
type FieldType<F> = F extends Field<infer T, boolean> ? T : never;
type RequiredKeys<S extends Schema> = { [K in keyof S]: S[K]['required'] extends true ? K : never }[keyof S];
type OptionalKeys<S extends Schema> = Exclude<keyof S, RequiredKeys<S>>;
export type Decoded<S extends Schema> = { [K in RequiredKeys<S>]: FieldType<S[K]> } & { [K in OptionalKeys<S>]?: FieldType<S[K]> };

export function req<T>(decode: Decoder<T>): Field<T, true> {
  return { decode, required: true };
}

export function opt<T>(decode: Decoder<T>): Field<T, false> {
  return { decode, required: false };
}

export const str: Decoder<string> = (value) => (typeof value === 'string' ? value : INVALID);
export const bool: Decoder<boolean> = (value) => (typeof value === 'boolean' ? value : INVALID);

/** A JSON integer in [minimum, maximum] (u16, u32, i32). */
export function integer(minimum: number, maximum: number): Decoder<number> {
  return (value) => (typeof value === 'number' && Number.isInteger(value) && value >= minimum && value <= maximum ? value : INVALID);
}

export const u16 = integer(0, 0xffff);
export const u32 = integer(0, 0xffff_ffff);
export const i32 = integer(-0x8000_0000, 0x7fff_ffff);

/** A JSON integer in [0, 2^bits), exact as bigint (u64 counters; NVMe health counters are 128-bit). */
export function unsignedExact(bits: number): Decoder<bigint> {
  const limit = 1n << BigInt(bits);
  return (value) => {
    if (typeof value === 'bigint') return value >= 0n && value < limit ? value : INVALID;
    return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : INVALID;
  };
}

export const u64Exact = unsignedExact(64);

/** A u64 as a number (exact up to 2^53; beyond, close enough for size comparisons). */
export const u64: Decoder<number> = (value, context) => {
  const exact = u64Exact(value, context);
  return exact === INVALID ? INVALID : Number(exact);
};

/** One of the given strings (SPDK's enum decoders fail the decode on anything else). */
export function oneOf<V extends string>(...values: V[]): Decoder<V> {
  return (value) => (typeof value === 'string' && (values as string[]).includes(value) ? (value as V) : INVALID);
}

export function arrayOf<T>(element: Decoder<T>, lengthMax: number): Decoder<T[]> {
  return (value, context) => {
    if (!Array.isArray(value) || value.length > lengthMax) return INVALID;
    const decoded: T[] = [];
    for (const item of value) {
      const one = element(item, context);
      if (one === INVALID) return INVALID;
      decoded.push(one);
    }
    return decoded;
  };
}

/** A nested object decoded by `schema` (strict unless relaxed). */
export function object<S extends Schema>(schema: S, relaxed = false): Decoder<Decoded<S>> {
  return (value, context) => decodeObject(value, schema, context, relaxed);
}

/** Decodes `value` (undefined = absent params = {}) by `schema`; INVALID on any violation. */
export function decodeObject<S extends Schema>(value: JsonValue | undefined, schema: S, context: DecodeContext, relaxed: boolean): Decoded<S> | Invalid {
  if (value !== undefined && !isJsonObject(value)) return INVALID;
  const input: JsonObject = value ?? {};
  if (context.objectsWithDuplicateKeys.has(input)) return INVALID;
  const decoded: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(input)) {
    const field = Object.prototype.hasOwnProperty.call(schema, key) ? schema[key] : undefined;
    if (field === undefined) {
      if (relaxed) continue;
      return INVALID;
    }
    const one: unknown = field.decode(member, context);
    if (one === INVALID) return INVALID;
    decoded[key] = one;
  }
  for (const [key, field] of Object.entries(schema)) if (field.required && !(key in decoded)) return INVALID;
  return decoded as Decoded<S>;
}
