/**
 * Putting wepppy's real compose stacks (prod, canary-smoke) on a rig host, adapted for compose v1
 * by transformCompose(), laid out as in wepppy's docker/ directory (compose file, defaults.env,
 * Caddyfiles, redis-entrypoint.sh, secrets/). For the rig's own tests and for rehearsals; the
 * deployment program has its own way of doing this with compose v2.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { secretsInDirectory } from "../render/composeFile";
import { imagesDir, referenceDir } from "./config";
import { shellJoin } from "./commands";
import { parseCompose, transformCompose, TransformResult } from "./composeTransform";
import { hostLimits, imageSubstitutions, readState, StandinImages } from "./index";
import { readCredentials } from "./registry";
import { putFile, sshCheck, sshRun } from "./ssh";

export type StackKind = "prod" | "canary";

const composeFile: Record<StackKind, string> = {
  prod: "docker-compose.prod.yml",
  canary: "docker-compose.canary-smoke.yml",
};

export interface StagedStack {
  host: string;
  dir: string;
  project: string;
  transform: TransformResult;
  /** `docker compose` (v2, as on wepppy's hosts) argv (on the host, in dir) for `args`. */
  compose(args: string[]): string[];
}

/** Names of the file-backed secrets under ./secrets/ that a compose file needs. */
export function secretFiles(doc: Record<string, unknown>): string[] {
  return secretsInDirectory(doc).map((s) => s.file.slice("./secrets/".length));
}

export function rigStandins(): StandinImages {
  const state = readState();
  if (!state) throw new Error("the rig is not up (no .rig/state.json)");
  return state.standins;
}

/** `docker login` on the host as the deploy user, into the rig registry. */
export async function loginOnHost(host: string): Promise<void> {
  const creds = readCredentials();
  await sshCheck(host, ["docker", "login", "--username", creds.username, "--password-stdin", creds.registry], {
    input: `${creds.password}\n`,
  });
}

/**
 * Copies a transformed stack to `dir` on `host` with fresh random secrets and a .env of `env`.
 * Does not start it.
 */
export async function stageStack(
  host: string,
  kind: StackKind,
  dir: string,
  env: Record<string, string>,
  project?: string,
): Promise<StagedStack> {
  const limits = await hostLimits(host);
  const text = fs.readFileSync(path.join(referenceDir, composeFile[kind]), "utf8");
  const transform = transformCompose(text, { ...limits, imageSubstitutions: imageSubstitutions(rigStandins()) });
  const proj = project ?? transform.projectName ?? `wepppy-${kind}`;
  await putFile(host, `${dir}/docker-compose.yml`, transform.yaml);
  if (kind === "prod") {
    await putFile(host, `${dir}/defaults.env`, fs.readFileSync(path.join(referenceDir, "defaults.env")));
    await putFile(host, `${dir}/caddy/Caddyfile`, fs.readFileSync(path.join(referenceDir, "caddy", "Caddyfile")));
    await putFile(host, `${dir}/redis-entrypoint.sh`, fs.readFileSync(path.join(imagesDir, "redis", "redis-entrypoint.sh")), "0755");
  } else {
    await putFile(host, `${dir}/canary-smoke/Caddyfile`, fs.readFileSync(path.join(referenceDir, "canary-smoke", "Caddyfile")));
    await sshCheck(host, ["mkdir", "-p", `${dir}/canary-smoke/static`]);
  }
  for (const name of secretFiles(parseCompose(text))) {
    await putFile(host, `${dir}/secrets/${name}`, crypto.randomBytes(24).toString("hex"), "0600");
  }
  const envText = Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n") + "\n";
  await putFile(host, `${dir}/.env`, envText, "0600");
  return {
    host,
    dir,
    project: proj,
    transform,
    compose: (args) => ["docker", "compose", "--project-directory", dir, "-p", proj, "-f", `${dir}/docker-compose.yml`, ...args],
  };
}

/** Runs compose for a staged stack on its host (in its directory). */
export function composeOnHost(stack: StagedStack, args: string[], timeoutMs = 600_000) {
  return sshRun(stack.host, { script: `cd ${shellJoin([stack.dir])} && ${shellJoin(stack.compose(args))}` }, { timeoutMs });
}
