// Ordering of version texts (the ETag without quotes, `<16 hex>-<node>`) as packages/node/src/version.ts
// orders the bytes: the 8-byte HLC timestamp, then the node name bytewise. Kept here, without the node
// package, so the checker stays a pure module; a test pins it to `compareVersions`.

const VERSION_TEXT = /^([0-9a-f]{16})-([A-Za-z0-9._-]{1,63})$/;

export function isVersionText(text: string): boolean {
  return VERSION_TEXT.test(text);
}

/** Negative, zero or positive like `compareVersions(versionFromText(a), versionFromText(b))`. */
export function compareVersionText(a: string, b: string): number {
  const left = VERSION_TEXT.exec(a);
  const right = VERSION_TEXT.exec(b);
  if (!left || !right) throw new RangeError(`not a version: ${left ? b : a}`);
  if (left[1] !== right[1]) return left[1]! < right[1]! ? -1 : 1;
  return Buffer.compare(Buffer.from(left[2]!, 'utf8'), Buffer.from(right[2]!, 'utf8'));
}

/** The version inside an ETag header (`"…"`), or undefined. */
export function versionFromEtag(etag: string | null): string | undefined {
  const text = etag?.replace(/^W\//, '').replace(/^"|"$/g, '');
  return text !== undefined && isVersionText(text) ? text : undefined;
}
