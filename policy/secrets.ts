import type { PolicyResource } from "@pulumi/policy";
import { STACK_TYPE, isUnknown, raw, strings } from "./graph";

/*
 * Which values of a stack are secret, and where they must not turn up. The policy SDK
 * hands policies every value with its secret marker removed, so secretness is read from
 * what the graph says about itself instead: a property a resource declares secret
 * (additionalSecretOutputs, which also carries the provider schema's own secret outputs,
 * e.g. a RandomPassword's result), and the stack's secret config where the engine passes
 * it. Each such value is then looked for, as written and base64-encoded, in every plain
 * property: a command line, a trigger, a file sent in plain text, a stack output.
 * Messages name where a secret came from and where it went, never the value.
 */

export interface SecretSettings {
  /** Values shorter than this are not looked for (a user name, a port). */
  minLength: number;
  /** Fields of a secret object that hold public things (a connection's host, its pinned host key). */
  publicFields: string[];
  /** GitHub secrets whose value is not sensitive (the registry user name). */
  notSensitiveSecretNames: string[];
  /** Stack outputs that are secret on purpose (the SDK shows policies no secret marker). */
  secretOutputs: string[];
}

export const SECRET_DEFAULTS: SecretSettings = {
  minLength: 8,
  publicFields: ["host", "hostKey", "port", "user", "username", "agentSocketPath", "dialErrorLimit", "perDialTimeout"],
  notSensitiveSecretNames: ["REGISTRY_USERNAME"],
  secretOutputs: [],
};

/** A value known to be secret, and where it was found (for messages; the value never is in one). */
export interface KnownSecret {
  where: string;
  value: string;
}

/** Outputs a command makes secret because they may echo it: sinks, not sources. */
const PRINTED = new Set(["stdout", "stderr"]);

/** String leaves of a secret value, skipping the fields that name public things. */
function leaves(value: unknown, where: string, publicFields: Set<string>, out: KnownSecret[]): void {
  const v = raw(value);
  if (typeof v === "string") {
    if (!isUnknown(v)) out.push({ where, value: v });
  } else if (Array.isArray(v)) {
    v.forEach((item, i) => leaves(item, `${where}[${i}]`, publicFields, out));
  } else if (v !== null && typeof v === "object") {
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
      if (!publicFields.has(k)) leaves(item, `${where}.${k}`, publicFields, out);
    }
  }
}

/** Values the graph declares secret: each resource's additionalSecretOutputs (except what a command prints). */
export function declaredSecrets(resources: PolicyResource[], settings: SecretSettings): KnownSecret[] {
  const publicFields = new Set(settings.publicFields);
  const out: KnownSecret[] = [];
  for (const r of resources) {
    const props = raw(r.props) as Record<string, unknown>;
    const name = props.secretName;
    if (typeof name === "string" && settings.notSensitiveSecretNames.includes(name)) continue;
    for (const key of r.opts.additionalSecretOutputs ?? []) {
      if (PRINTED.has(key) || !(key in props)) continue;
      leaves(props[key], `${r.name} ${key}`, publicFields, out);
    }
  }
  return out;
}

/** `project:config:key` → `project:key`, as the SDK's config reader does. */
function cleanKey(key: string): string {
  const i = key.indexOf(":");
  return i > 0 && key.startsWith("config:", i + 1) ? key.slice(0, i) + ":" + key.slice(i + 1 + "config:".length) : key;
}

/** The values of a stack's secret config keys (objects: their non-public fields). */
export function secretConfigValues(config: Record<string, string>, secretKeys: string[], settings: Pick<SecretSettings, "publicFields"> = SECRET_DEFAULTS): KnownSecret[] {
  const publicFields = new Set(settings.publicFields);
  const byKey = new Map(Object.entries(config).map(([k, v]) => [cleanKey(k), v]));
  const out: KnownSecret[] = [];
  for (const key of new Set(secretKeys.map(cleanKey))) {
    const text = byKey.get(key);
    if (text === undefined) continue;
    let value: unknown = text;
    try {
      const parsed = JSON.parse(text);
      if (parsed !== null && typeof parsed === "object") value = parsed;
    } catch {
      // a plain string
    }
    leaves(value, `config ${key}`, publicFields, out);
  }
  return out;
}

/** What is looked for: the value, each body line of a PEM key, and their base64. */
export interface Needle {
  needle: string;
  where: string;
  form: "as written" | "base64";
}

export function needles(secrets: KnownSecret[], minLength: number): Needle[] {
  const seen = new Map<string, Needle>();
  const add = (text: string, where: string) => {
    const t = text.trim();
    if (t.length < minLength) return;
    for (const [needle, form] of [
      [t, "as written"],
      [Buffer.from(t, "utf8").toString("base64"), "base64"],
    ] as const) {
      if (!seen.has(needle)) seen.set(needle, { needle, where, form });
    }
  };
  for (const s of secrets) {
    add(s.value, s.where);
    // A PEM key is also looked for line by line: its body lines are what a leak carries.
    if (/-----BEGIN [A-Z ]+-----/.test(s.value)) for (const line of s.value.split("\n")) if (!line.trim().startsWith("-----")) add(line, s.where);
  }
  return [...seen.values()];
}

export interface Finding {
  resource: PolicyResource;
  path: string;
  source: Needle;
}

/**
 * Resources whose properties leave the program: custom resources (they have a provider),
 * providers, and the stack (its outputs). A component's properties are the program's own
 * values, its registered outputs included, and go nowhere by themselves.
 */
export function leavesTheProgram(r: PolicyResource): boolean {
  return r.provider !== undefined || r.type === STACK_TYPE || r.type.startsWith("pulumi:providers:");
}

/** Plain properties of a resource: all but those it declares secret (for the stack: secretOutputs). */
export function plainProperties(r: PolicyResource, settings: SecretSettings): [string, unknown][] {
  const secret = new Set(r.type === STACK_TYPE ? settings.secretOutputs : r.opts.additionalSecretOutputs ?? []);
  return Object.entries(raw(r.props) as Record<string, unknown>).filter(([k]) => !secret.has(k));
}

/** Where a needle turns up in the given properties of a resource. */
export function findIn(r: PolicyResource, props: [string, unknown][], found: Needle[]): Finding[] {
  const out: Finding[] = [];
  for (const [key, value] of props) {
    for (const s of strings(value, key)) {
      const hit = found.find((n) => s.value.includes(n.needle));
      if (hit) out.push({ resource: r, path: s.path, source: hit });
    }
  }
  return out;
}
