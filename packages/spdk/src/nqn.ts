// NVMe Qualified Names, serial and model numbers as SPDK validates them (RPC.md §3.7). Pure; used by
// spdk-sim and by whoever builds NQNs (the agent's deterministic subsystem names).

export const NQN_BYTES_MIN = 11;
export const NQN_BYTES_MAX = 223;
export const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';
const UUID_NQN_PREFIX = 'nqn.2014-08.org.nvmexpress:uuid:';
export const SERIAL_NUMBER_BYTES_MAX = 20;
export const MODEL_NUMBER_BYTES_MAX = 40;

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const DATE_PREFIX = /^nqn\.\d{4}-\d{2}\./;
const DOMAIN_LABEL = /^[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * True when `nqn` is a valid subsystem or host NQN (RPC.md §3.7): 11..223 bytes and either the
 * discovery NQN, `nqn.2014-08.org.nvmexpress:uuid:<36-char UUID>`, or
 * `nqn.YYYY-MM.<reverse domain>:<non-empty>` (month not range-checked; the first ":" ends the domain).
 */
export function isValidNqn(nqn: string): boolean {
  const bytes = Buffer.byteLength(nqn, 'utf8');
  if (bytes < NQN_BYTES_MIN || bytes > NQN_BYTES_MAX) return false;
  if (nqn === DISCOVERY_NQN) return true;
  if (nqn.startsWith(UUID_NQN_PREFIX)) return UUID.test(nqn.slice(UUID_NQN_PREFIX.length));
  const prefix = DATE_PREFIX.exec(nqn);
  if (prefix === null) return false;
  const rest = nqn.slice(prefix[0].length);
  const colon = rest.indexOf(':');
  if (colon < 0 || colon === rest.length - 1) return false;
  return rest.slice(0, colon).split('.').every((label) => DOMAIN_LABEL.test(label));
}

/** Serial (≤20 bytes) or model (≤40 bytes) number: printable ASCII 0x20–0x7E only (RPC.md §3.7). */
export function isValidPrintableField(value: string, bytesMax: number): boolean {
  return value.length <= bytesMax && /^[\x20-\x7e]*$/.test(value);
}
