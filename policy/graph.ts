import type { PolicyResource } from "@pulumi/policy";

/*
 * What every gate needs to read a resource graph as the policy SDK hands it over: the
 * raw values behind the SDK's unknown-checking proxy, the unknown markers of a preview,
 * the stack a URN belongs to, and the host commands. Only @pulumi/policy is used here,
 * never this program's own code: the pack judges the graph, not the code that made it.
 */

export const COMMAND = "command:remote:Command";
export const COPY_TO_REMOTE = "command:remote:CopyToRemote";
export const STACK_TYPE = "pulumi:pulumi:Stack";

/** The SDK's preview markers for values not known yet (@pulumi/policy proxy.js, one per kind). */
// eslint-disable-next-line @typescript-eslint/no-var-requires
const sdkProxy = require("@pulumi/policy/proxy") as Record<string, unknown>;
const UNKNOWN_KEYS = [
  "unknownBooleanValue",
  "unknownNumberValue",
  "unknownStringValue",
  "unknownArrayValue",
  "unknownAssetValue",
  "unknownArchiveValue",
  "unknownObjectValue",
];
const UNKNOWNS = new Set(
  UNKNOWN_KEYS.map((k) => {
    const marker = sdkProxy[k];
    if (typeof marker !== "string") throw new Error(`@pulumi/policy no longer exports ${k}: the pack cannot tell unknown values apart`);
    return marker;
  }),
);

export function isUnknown(value: unknown): boolean {
  return typeof value === "string" && UNKNOWNS.has(value);
}

/**
 * The object behind the SDK's proxy (which throws on an unknown value), so that a walk
 * over every field can skip what a preview cannot know instead of giving up on it.
 */
export function raw<T>(value: T): T {
  if (value !== null && typeof value === "object" && (value as Record<string, unknown>)["__isSpecialProxy"] === true) {
    return (value as Record<string, unknown>)["__getSpecialProxyTarget"] as T;
  }
  return value;
}

/** A field of a resource's properties, or undefined when it is absent or not known yet. */
export function field(props: Record<string, unknown>, ...path: string[]): unknown {
  let node: unknown = raw(props);
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[key];
    if (isUnknown(node)) return undefined;
  }
  return node;
}

export function text(props: Record<string, unknown>, ...path: string[]): string | undefined {
  const value = field(props, ...path);
  return typeof value === "string" ? value : undefined;
}

/** Every known string in a value, with the path it sits at ("triggers[2]", "connection.host"). */
export function* strings(value: unknown, at = ""): Generator<{ path: string; value: string }> {
  const v = raw(value);
  if (typeof v === "string") {
    if (!isUnknown(v)) yield { path: at, value: v };
  } else if (Array.isArray(v)) {
    for (const [i, item] of v.entries()) yield* strings(item, `${at}[${i}]`);
  } else if (v !== null && typeof v === "object") {
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) yield* strings(item, at ? `${at}.${k}` : k);
  }
}

/** `urn:pulumi:<stack>::<project>::<type>::<name>` → stack. */
export function stackOf(urn: string): string | undefined {
  const m = /^urn:pulumi:([^:]+)::/.exec(urn);
  return m ? m[1] : undefined;
}

/** The stack a set of resources belongs to (all URNs of one analysis name the same stack). */
export function stackOfResources(resources: { urn: string }[]): string | undefined {
  for (const r of resources) {
    const s = stackOf(r.urn);
    if (s) return s;
  }
  return undefined;
}

export function commands(resources: PolicyResource[]): PolicyResource[] {
  return resources.filter((r) => r.type === COMMAND);
}

/** A policy's config over its defaults (the engine passes only what the config file sets). */
export function configOf<T extends object>(defaults: T, given: object): T {
  return { ...defaults, ...(given as Partial<T>) };
}

/** Whether `from` waits for `urn`, directly or through what it depends on. */
export function waitsFor(resources: PolicyResource[], from: PolicyResource, urn: string): boolean {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const seen = new Set<string>();
  const todo = [...from.dependencies.map((d) => d.urn)];
  while (todo.length) {
    const next = todo.pop()!;
    if (next === urn) return true;
    if (seen.has(next)) continue;
    seen.add(next);
    todo.push(...(byUrn.get(next)?.dependencies.map((d) => d.urn) ?? []));
  }
  return false;
}
