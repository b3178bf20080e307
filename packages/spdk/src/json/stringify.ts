// Compact JSON output for replies and requests (RPC.md §1.2: one compact line per reply, control
// characters escaped): bigint counters written as exact integers, and pre-rendered fragments for the
// one reply whose keys repeat (controller health, §2.3).

/** A JSON text inserted verbatim by stringifyJson (the caller guarantees it is valid, single-line JSON). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** A JSON object rendered from ordered entries, so that a key may repeat (RPC.md §2.3 health info). */
export function objectWithRepeatedKeys(entries: readonly (readonly [string, unknown])[]): RawJson {
  return new RawJson(`{${entries.map(([key, value]) => `${JSON.stringify(key)}:${stringifyJson(value)}`).join(',')}}`);
}

/** JSON.stringify without whitespace, plus bigint (as an integer) and RawJson (verbatim). */
export function stringifyJson(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map((element) => (element === undefined ? 'null' : stringifyJson(element))).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members: string[] = [];
    for (const [key, member] of Object.entries(value)) {
      if (member !== undefined) members.push(`${JSON.stringify(key)}:${stringifyJson(member)}`);
    }
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
