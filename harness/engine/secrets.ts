import type { StoredSecret } from "./backend";
import type { Crypter } from "./crypter";

/*
 * Secret values at rest in the stand-in backend: each secret leaf becomes Pulumi's secret
 * signature with its ciphertext, as the file backend's checkpoints keep them.
 */

const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

function isWireSecret(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG && "value" in (v as object);
}

export function isStoredSecret(v: unknown): v is StoredSecret {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG && typeof (v as { ciphertext?: unknown }).ciphertext === "string";
}

/** Wire inputs (secrets wrapped) -> stored form (secrets encrypted). */
export function sealWire(value: unknown, crypter: Crypter): unknown {
  if (isWireSecret(value)) return { [SIG_KEY]: SECRET_SIG, ciphertext: crypter.encrypt(JSON.stringify(value.value ?? null)) };
  if (Array.isArray(value)) return value.map((v) => sealWire(v, crypter));
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sealWire(v, crypter)]));
  return value;
}

/** Plain values with the named top-level keys secret -> stored form. */
export function sealKeys(value: Record<string, unknown>, secretKeys: Set<string>, crypter: Crypter): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, secretKeys.has(k) ? { [SIG_KEY]: SECRET_SIG, ciphertext: crypter.encrypt(JSON.stringify(v ?? null)) } : v]),
  );
}

/** Stored form -> plain values (what the provider had). */
export function open(value: unknown, crypter: () => Crypter): unknown {
  if (isStoredSecret(value)) return JSON.parse(crypter().decrypt(value.ciphertext));
  if (Array.isArray(value)) return value.map((v) => open(v, crypter));
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, open(v, crypter)]));
  return value;
}

/** Top-level keys of a wire object that are secret or hold a secret. */
export function secretTopKeys(wire: Record<string, unknown>): Set<string> {
  const holds = (v: unknown): boolean =>
    isWireSecret(v) || (Array.isArray(v) ? v.some(holds) : typeof v === "object" && v !== null ? Object.values(v).some(holds) : false);
  return new Set(Object.entries(wire).filter(([, v]) => holds(v)).map(([k]) => k));
}
