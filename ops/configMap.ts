import type { ConfigMap } from "@pulumi/pulumi/automation";
import { NAMESPACE } from "../config/environments";

/*
 * A stack's config as the Automation API hands it over: one entry per namespaced key, a
 * structured section (`wepppy-cicd:bluegreen`) as its JSON text, as `pulumi config --json`
 * prints it. The release CLI never writes a section whole: it writes leaves (ops/update.ts).
 */

export function configKey(section: string): string {
  return `${NAMESPACE}:${section}`;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A section's parsed value: an object, a scalar's text, or undefined when absent or withheld (a secret in history). */
export function sectionValue(map: ConfigMap, section: string): unknown {
  const entry = map[configKey(section)];
  if (!entry || typeof entry.value !== "string") return undefined;
  try {
    return JSON.parse(entry.value);
  } catch {
    return entry.value;
  }
}

export function sectionObject(map: ConfigMap, section: string): Record<string, unknown> | undefined {
  const value = sectionValue(map, section);
  return isObject(value) ? value : undefined;
}

/** A stack file's raw config (readStackFile) as the engine lists it, marked secret where it is. */
export function configMapFromRaw(raw: { values: Record<string, string>; secretKeys: string[] }): ConfigMap {
  const secret = new Set(raw.secretKeys);
  return Object.fromEntries(Object.entries(raw.values).map(([k, v]) => [k, { value: v, secret: secret.has(k) }]));
}

/** The flat values and secret keys parseStackConfig takes. */
export function rawOf(map: ConfigMap): { values: Record<string, string>; secretKeys: string[] } {
  const values: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, entry] of Object.entries(map)) {
    if (typeof entry.value === "string") values[key] = entry.value;
    if (entry.secret) secretKeys.push(key);
  }
  return { values, secretKeys };
}
