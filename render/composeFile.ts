import * as fs from "node:fs";
import { parse } from "yaml";

/*
 * Facts the program reads from wepppy's own compose files rather than restating them,
 * so that a secret or service added in wepppy is picked up on the next deploy.
 */

export interface ComposeSecret {
  name: string;
  /** The path compose reads, as written (relative to the compose file's directory). */
  file: string;
}

export function readComposeDocument(file: string): Record<string, unknown> {
  const doc = parse(fs.readFileSync(file, "utf8"));
  if (typeof doc !== "object" || doc === null) throw new Error(`${file}: not a compose file`);
  return doc as Record<string, unknown>;
}

/** Compose file secrets kept in the deployment's secrets/ directory (others, like /dev/null, are not ours). */
export function secretsInDirectory(doc: Record<string, unknown>, dir = "./secrets/"): ComposeSecret[] {
  const secrets = (doc.secrets ?? {}) as Record<string, { file?: unknown }>;
  return Object.entries(secrets)
    .filter(([, spec]) => typeof spec?.file === "string" && spec.file.startsWith(dir))
    .map(([name, spec]) => ({ name, file: spec.file as string }));
}

export function serviceNames(doc: Record<string, unknown>): string[] {
  return Object.keys((doc.services ?? {}) as Record<string, unknown>);
}

/** `${VAR:-default}` / `${VAR-default}` → default; a plain `${VAR}` has no default. */
export function interpolationDefault(text: string): string | undefined {
  const m = /^\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}$/.exec(text);
  if (m) return m[1];
  return text.includes("$") ? undefined : text;
}

type Volume = string | { type?: string; source?: string };

/** The source of a short-syntax volume: up to the first ':' outside a `${...}`. */
export function volumeSource(spec: string): string {
  let depth = 0;
  for (let i = 0; i < spec.length; i++) {
    if (spec.startsWith("${", i)) depth++;
    else if (spec[i] === "}" && depth > 0) depth--;
    else if (spec[i] === ":" && depth === 0) return spec.slice(0, i);
  }
  return spec;
}

/**
 * Files and directories the compose files bind-mount from beside themselves (`./...`):
 * they must be on the host next to the compose files (Caddyfile, entrypoint scripts).
 */
export function relativeMounts(doc: Record<string, unknown>): string[] {
  const out = new Set<string>();
  for (const service of Object.values((doc.services ?? {}) as Record<string, { volumes?: Volume[] }>)) {
    for (const volume of service?.volumes ?? []) {
      const raw = typeof volume === "string" ? volumeSource(volume) : volume.type === "bind" ? volume.source : undefined;
      const source = raw === undefined ? undefined : interpolationDefault(raw);
      if (source?.startsWith("./")) out.add(source.slice(2));
    }
  }
  return [...out].sort();
}

/** Services that mount a given compose secret, e.g. those that talk to Postgres. */
export function servicesWithSecret(doc: Record<string, unknown>, secret: string): string[] {
  const services = (doc.services ?? {}) as Record<string, { secrets?: Array<string | { source?: string }> }>;
  return Object.entries(services)
    .filter(([, s]) => (s?.secrets ?? []).some((x) => (typeof x === "string" ? x : x?.source) === secret))
    .map(([name]) => name);
}
