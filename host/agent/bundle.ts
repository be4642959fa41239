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

/** A tag for the agent image that changes exactly when its Dockerfile or base changes. */
export function agentImageTag(base: string, repository = "wepppy-cicd/agent"): string {
  const h = createHash("sha256").update(fs.readFileSync(AGENT_DOCKERFILE)).update(`\0${base}`).digest("hex").slice(0, 12);
  return `${repository}:${h}`;
}
