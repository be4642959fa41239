import type { ConfigMap, ConfigValue } from "@pulumi/pulumi/automation";
import { NAMESPACE } from "../config/environments";
import type { StackHandle } from "./stackHandle";

/*
 * A stack's config as the Automation API hands it over: one entry per namespaced key,
 * a structured section (`wepppy-cicd:bluegreen`) as its JSON text, as `pulumi config
 * --json` prints it. The release CLI computes the config it wants in memory, has the
 * schema judge it, and only then writes the keys that differ, whole (`config set-all`).
 */

export function configKey(section: string): string {
  return `${NAMESPACE}:${section}`;
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

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A copy of the map with one section replaced (undefined: removed); a secret key stays secret. */
export function withSection(map: ConfigMap, section: string, value: unknown): ConfigMap {
  const key = configKey(section);
  const out = { ...map };
  if (value === undefined) {
    delete out[key];
    return out;
  }
  const text = typeof value === "string" ? value : JSON.stringify(value);
  out[key] = { value: text, secret: Boolean(map[key]?.secret) };
  return out;
}

/** Sets `path` (dotted) inside a section object, creating objects on the way. */
export function setIn(root: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(root);
  let node = copy;
  for (const part of path.slice(0, -1)) {
    if (!isObject(node[part])) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
  return copy;
}

/** `wepppy-cicd:a.b.c` -> top key `wepppy-cicd:a` and path [b, c], as `--path` reads it (dotted names only). */
export function splitPathKey(key: string): { top: string; path: string[] } {
  const colon = key.indexOf(":");
  const [first, ...rest] = key.slice(colon + 1).split(".");
  if (/[[\]"]/.test(key)) throw new Error(`${key}: only dotted config paths are supported here`);
  return { top: `${key.slice(0, colon + 1)}${first}`, path: rest };
}

/** How `config set --path` types a leaf: true/false as booleans, whole numbers as numbers, the rest as text. */
function pathLeaf(text: string): unknown {
  if (text === "true" || text === "false") return text === "true";
  if (/^-?(?:0|[1-9][0-9]{0,14})$/.test(text)) return Number(text);
  return text;
}

/** What `pulumi config set [--path] key value` does to a map (top-level values stay text), for the stand-ins. */
export function setConfigValue(map: ConfigMap, key: string, value: ConfigValue, path = false): ConfigMap {
  const out = { ...map };
  const { top, path: parts } = path ? splitPathKey(key) : { top: key, path: [] as string[] };
  if (parts.length === 0) {
    out[top] = { value: value.value, secret: Boolean(value.secret) };
    return out;
  }
  let root: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(out[top]?.value ?? "{}");
    if (isObject(parsed)) root = parsed;
  } catch {
    // a scalar is replaced by the object the path needs, as Pulumi does
  }
  const secret = Boolean(value.secret || out[top]?.secret);
  out[top] = { value: JSON.stringify(setIn(root, parts, pathLeaf(value.value))), secret };
  return out;
}

/** What `pulumi config rm [--path] key` does to a map, for the stand-ins. */
export function removeConfigValue(map: ConfigMap, key: string, path = false): ConfigMap {
  const out = { ...map };
  const { top, path: parts } = path ? splitPathKey(key) : { top: key, path: [] as string[] };
  if (parts.length === 0) {
    delete out[top];
    return out;
  }
  const root = JSON.parse(out[top]?.value ?? "{}");
  let node = root;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(node?.[part])) return out;
    node = node[part];
  }
  if (isObject(node)) delete node[parts[parts.length - 1]];
  out[top] = { ...out[top], value: JSON.stringify(root) };
  return out;
}

/** A stack file's raw config (readStackFile) as the engine lists it: encrypted values as a placeholder, marked secret. */
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

function sameEntry(a: ConfigValue | undefined, b: ConfigValue | undefined): boolean {
  return a?.value === b?.value && Boolean(a?.secret) === Boolean(b?.secret);
}

/** Same keys, same values, same secrecy (Pulumi's extra `objectValue` is ignored). */
export function sameConfig(a: ConfigMap, b: ConfigMap): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => sameEntry(a[k], b[k]));
}

/** Keys to set (value or secrecy differs) and keys to remove, to turn `from` into `to`. */
export function diffConfig(from: ConfigMap, to: ConfigMap): { set: ConfigMap; remove: string[] } {
  const set: ConfigMap = {};
  for (const [key, entry] of Object.entries(to)) {
    if (typeof entry.value !== "string") continue; // withheld (a secret in history): left as it is
    if (!sameEntry(from[key], entry)) set[key] = { value: entry.value, secret: Boolean(entry.secret) };
  }
  const remove = Object.keys(from).filter((k) => !(k in to));
  return { set, remove };
}

/** Writes what differs between `from` (what the stack has) and `to`; returns the keys touched. */
export async function writeConfig(stack: StackHandle, from: ConfigMap, to: ConfigMap): Promise<string[]> {
  const { set, remove } = diffConfig(from, to);
  for (const key of remove) await stack.removeConfig(key);
  if (Object.keys(set).length > 0) await stack.setAllConfig(set);
  return [...remove, ...Object.keys(set)].sort();
}

/** A config as history keeps it without --show-secrets: secret keys without their value. */
export function withoutSecretValues(map: ConfigMap): ConfigMap {
  return Object.fromEntries(
    Object.entries(map).map(([k, v]) => [k, v.secret ? ({ secret: true } as ConfigValue) : { value: v.value, secret: false }]),
  );
}
