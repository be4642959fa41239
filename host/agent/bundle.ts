import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { buildSync } from "esbuild";

/*
 * The agent as one JS file for the hosts (which have Docker and a shell, no node: the
 * bundle runs inside the agent image). Built with esbuild's JS API at evaluation time, the
 * same bytes from the same sources on any machine (paths relative to the project, no
 * timestamps), so its sha256 can be the trigger of the copy that ships it.
 */

export const PROJECT_DIR = path.resolve(__dirname, "..", "..");
export const AGENT_ENTRY = path.join(__dirname, "main.ts");
export const AGENT_DOCKERFILE = path.join(__dirname, "Dockerfile");

export interface AgentBundle {
  code: string;
  sha256: string;
}

let cached: AgentBundle | undefined;

export function buildAgentBundle(o: { fresh?: boolean } = {}): AgentBundle {
  if (cached && !o.fresh) return cached;
  const result = buildSync({
    entryPoints: [path.relative(PROJECT_DIR, AGENT_ENTRY)],
    absWorkingDir: PROJECT_DIR,
    bundle: true,
    platform: "node",
    // Debian bookworm's nodejs, which the agent image installs.
    target: "node18",
    format: "cjs",
    write: false,
    minify: false,
    sourcemap: false,
    legalComments: "none",
    charset: "utf8",
    logLevel: "silent",
    banner: { js: "// wepppy-cicd host agent: generated from host/agent/main.ts by host/agent/bundle.ts; do not edit." },
  });
  const code = result.outputFiles[0].text;
  cached = { code, sha256: createHash("sha256").update(code).digest("hex") };
  return cached;
}

/** Writes the bundle to a file (tests, the rig); returns its sha256. */
export function writeAgentBundle(file: string): string {
  const b = buildAgentBundle();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, b.code, { mode: 0o644 });
  return b.sha256;
}

/**
 * A tag for the agent image that changes exactly when its Dockerfile, base or build args (the
 * compose plugin's URL and digest) change: the host builds only a tag it does not have, so a
 * plugin changed in the stack would otherwise never reach the image. No build args, the tag of
 * the Dockerfile and base alone (hosts keep the image they have).
 */
export function agentImageTag(base: string, buildArgs: Record<string, string> = {}, repository = "wepppy-cicd/agent"): string {
  const h = createHash("sha256").update(fs.readFileSync(AGENT_DOCKERFILE)).update(`\0${base}`);
  for (const [k, v] of Object.entries(buildArgs).sort(([a], [b]) => a.localeCompare(b))) h.update(`\0${k}=${v}`);
  return `${repository}:${h.digest("hex").slice(0, 12)}`;
}
