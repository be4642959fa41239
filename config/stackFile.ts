import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { PROJECT_ROOT } from "./paths";
import { stackFileName } from "./environments";

/** What the Pulumi engine hands a program: flat keys to text, plus which keys are secret. */
export interface RawConfig {
  values: Record<string, string>;
  secretKeys: string[];
}

/** Stands in for a value encrypted with `pulumi config set --secret`, which needs the CLI to decrypt. */
export const SECURE_PLACEHOLDER = "<secure value from the stack file>";

function isSecure(value: unknown): value is { secure: string } {
  return typeof value === "object" && value !== null && Object.keys(value).length === 1 && "secure" in value;
}

/** Replaces `{secure: ...}` leaves with the placeholder; reports whether any was found. */
function stripSecure(value: unknown): { value: unknown; secret: boolean } {
  if (isSecure(value)) return { value: SECURE_PLACEHOLDER, secret: true };
  if (Array.isArray(value)) {
    const items = value.map(stripSecure);
    return { value: items.map((i) => i.value), secret: items.some((i) => i.secret) };
  }
  if (typeof value === "object" && value !== null) {
    let secret = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = stripSecure(v);
      out[k] = r.value;
      secret ||= r.secret;
    }
    return { value: out, secret };
  }
  return { value, secret: false };
}

/** Encodes one config value the way the engine does: objects and lists as JSON, scalars as text. */
function encode(value: unknown): string {
  return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
}

export function rawConfigFromYaml(text: string, source: string): RawConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const config = (doc as { config?: unknown } | null)?.config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new Error(`${source}: config: expected a map of keys to values`);
  }
  const values: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    const stripped = stripSecure(value);
    values[key] = encode(stripped.value);
    if (stripped.secret) secretKeys.push(key);
  }
  return { values, secretKeys };
}

export function readStackFile(stack: string, dir = PROJECT_ROOT): RawConfig {
  const file = path.join(dir, stackFileName(stack));
  return rawConfigFromYaml(fs.readFileSync(file, "utf8"), stackFileName(stack));
}

/**
 * Sets `section.path.to.key` values on top of a raw config, as
 * `pulumi config set --path` would: how the rig points a stack at its own hosts.
 */
export function withOverrides(raw: RawConfig, overrides: Record<string, unknown>, namespace: string): RawConfig {
  const values = { ...raw.values };
  for (const [dotted, value] of Object.entries(overrides)) {
    const [section, ...rest] = dotted.split(".");
    const key = `${namespace}:${section}`;
    if (rest.length === 0) {
      values[key] = encode(value);
      continue;
    }
    let root: Record<string, unknown> = {};
    if (values[key] !== undefined) {
      try {
        root = JSON.parse(values[key]);
      } catch {
        // A scalar where a section belongs: the override replaces it and the schema judges.
      }
    }
    let node = root;
    for (const part of rest.slice(0, -1)) {
      if (typeof node[part] !== "object" || node[part] === null) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[rest[rest.length - 1]] = value;
    values[key] = JSON.stringify(root);
  }
  return { values, secretKeys: raw.secretKeys };
}
