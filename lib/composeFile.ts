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
