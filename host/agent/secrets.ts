import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { HostLayout } from "../contract/layout";
import type { Recreated } from "../contract/records";
import type { DeploySettings } from "../contract/settings";
import { readJsonFile, readTextFile, writeJsonAtomic } from "./files";

/*
 * A secret changes without any compose setting changing: the stack rewrites the file in
 * place (a rename), while each container keeps the inode it bind-mounted. So the agent
 * keeps the sha256 of every secret file as of its last successful deploy (state/secrets.json,
 * 0600) and recreates the services that mount one that changed since.
 *
 * The agent never reads a secret's value when it can help it: the root helper that writes
 * the files (wepppy-root.sh write-secrets) writes their digests beside them
 * (<secrets>/.sha256sums, `sha256sum` lines, readable by the deploy user only), because
 * wepppy's secrets are 0600 to the services' own UID. A secret outside that directory is
 * hashed directly when the agent can read it.
 */

export const SUMS_FILE = ".sha256sums";

/** `.env` (and `.env.next`): the deploy user's alone, since an older layout's secrets are in it. */
export const ENV_FILE_MODE = 0o600;

/**
 * An older compose layout's secrets, as the variables its compose files interpolate (the
 * KEY=value lines the root helper wrote to <secrets>/.env-secrets); empty for today's layout.
 * They go into `.env` beside the release's env template, never into a staged release file.
 */
export function envSecretValues(layout: HostLayout): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (readTextFile(layout.envSecrets) ?? "").split("\n")) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** Path (relative to the project directory) -> hex digest, "missing" or "unreadable". */
export type SecretDigests = Record<string, string>;

export function secretPaths(settings: DeploySettings): string[] {
  return [...new Set(Object.values(settings.secretsByService).flat())].sort();
}

/** `sha256sum` output: "<64 hex>  <name>" (or " *<name>") per line. */
export function parseSums(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (m) out[m[2]] = m[1];
  }
  return out;
}

export function currentSecretDigests(layout: HostLayout, settings: DeploySettings): SecretDigests {
  const sums = parseSums(readTextFile(path.join(layout.secretsDir, SUMS_FILE)) ?? "");
  const out: SecretDigests = {};
  for (const rel of secretPaths(settings)) {
    const abs = path.join(settings.projectDir, rel);
    const inSecretsDir = path.dirname(abs) === layout.secretsDir;
    const fromSums = inSecretsDir ? sums[path.basename(abs)] : undefined;
    if (fromSums) {
      out[rel] = fromSums;
      continue;
    }
    try {
      out[rel] = createHash("sha256").update(fs.readFileSync(abs)).digest("hex");
    } catch (err) {
      out[rel] = (err as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : "unreadable";
    }
  }
  return out;
}

export function recordedSecretDigests(layout: HostLayout): SecretDigests | null {
  const v = readJsonFile(layout.secretDigests);
  return v && typeof v === "object" ? (v as SecretDigests) : null;
}

/**
 * Secrets whose digest differs from the record. With no record (the first deploy of the agent
 * on a host) nothing counts as changed: that deploy sets the baseline.
 */
export function changedSecrets(recorded: SecretDigests | null, current: SecretDigests): string[] {
  if (!recorded) return [];
  return Object.keys(current)
    .filter((p) => current[p] !== "unreadable" && recorded[p] !== current[p])
    .sort();
}

/** The services that mount a changed secret, with the names (never values) of those secrets. */
export function recreations(settings: DeploySettings, changed: string[], among?: string[]): Recreated[] {
  const set = new Set(changed);
  return Object.entries(settings.secretsByService)
    .filter(([service]) => !among || among.includes(service))
    .map(([service, files]) => ({ service, secrets: files.filter((f) => set.has(f)).map((f) => path.basename(f)) }))
    .filter((r) => r.secrets.length > 0)
    .sort((a, b) => (a.service < b.service ? -1 : 1));
}

export function recordSecretDigests(layout: HostLayout, digests: SecretDigests): void {
  writeJsonAtomic(layout.secretDigests, digests, 0o600);
}
