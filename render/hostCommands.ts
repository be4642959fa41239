import * as path from "node:path/posix";
import { HostLayout as ContractLayout, hostLayout as contractLayout } from "../host/contract/layout";
import { renderEnvFile as renderEnv } from "../host/contract/envFile";
import { DeployVerdict } from "../host/contract/records";

/*
 * Every command the stacks run on a host, as plain text built by pure functions
 * (the way Kamal builds its commands). Values were validated by the schema already;
 * they are quoted here as well so that no rule elsewhere is load-bearing.
 */

/** POSIX single-quoting: the word reaches the program exactly as given. */
export function quote(word: string): string {
  return /^[A-Za-z0-9_./:=@+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(words: string[]): string {
  return words.map(quote).join(" ");
}

/** Where wepppy-cicd keeps its things on a host: the host contract's layout (host/contract/layout.ts). */
export type HostLayout = ContractLayout;

export function hostLayout(root: string, projectDir: string): HostLayout {
  return contractLayout(root, projectDir);
}

/** Runs the shipped host script; `bash` so that the copied file needs no exec bit. */
function script(layout: HostLayout, words: string[], sudo = false): string {
  return commandLine([...(sudo ? ["sudo", "-n"] : []), "bash", layout.script, ...words]);
}


/** Sets each copied file's mode (SFTP leaves new files 0644 and existing ones as they were). */
export function fileModesCommand(files: Array<{ path: string; mode: "0755" | "0644" }>): string {
  const groups = (["0755", "0644"] as const).map((mode) => files.filter((f) => f.mode === mode).map((f) => f.path)).map((paths, i) => (paths.length ? commandLine(["chmod", i === 0 ? "0755" : "0644", "--", ...paths]) : ""));
  return groups.filter(Boolean).join(" && ") || "true";
}



export function registryLoginCommand(server: string, username: string): string {
  return commandLine(["docker", "login", "--username", username, "--password-stdin", server]);
}





export function auditCommand(layout: HostLayout, lines = 50): string {
  return script(layout, ["audit", "-n", String(lines)]);
}

export function statusCommand(layout: HostLayout): string {
  return script(layout, ["status"]);
}

/** The stack's validation suites against what is live; {image, digest, ok, evidence} as the last line of stdout. */
export function validateCommand(layout: HostLayout): string {
  return script(layout, ["validate", "--json"]);
}

/** A restore drill of the newest dump; its DrillRecord as the last line of stdout. */
export function drillCommand(layout: HostLayout): string {
  return script(layout, ["drill"]);
}


/** Secret values as the host script reads them on stdin: `<name> <base64>` per line. */
export function secretsStream(values: Record<string, string>): string {
  return Object.keys(values)
    .sort()
    .map((name) => `${name} ${Buffer.from(values[name], "utf8").toString("base64")}\n`)
    .join("");
}

/** `KEY=VALUE` lines: wepppy's defaults.env with the stack's values put in place of or after its own (one implementation, the contract's). */
export function renderEnvFile(defaults: string, values: Record<string, string>): string {
  return renderEnv(defaults, values);
}


// --- the host agent (host/agent/): the commands the program runs once it is wired to it ---

/** Runs the root-only helper (host/wepppy-root.sh, installed at <root>/bin/wepppy-root) with sudo -n. */
function rootHelper(layout: HostLayout, words: string[]): string {
  return commandLine(["sudo", "-n", "bash", layout.rootHelper, ...words]);
}

/** Secrets on stdin (secretsStream), each file owned by the services' UID:GID with `mode` (wepppy reads them as ${UID}:${GID}, 0600). */
export function agentWriteSecretsCommand(layout: HostLayout, owner: { uid: number; gid: number }, mode = "0600"): string {
  return rootHelper(layout, ["write-secrets", layout.secretsDir, `${owner.uid}:${owner.gid}`, mode]);
}

/** An older layout's secrets on stdin (envSecretsText) to <secrets>/.env-secrets, which the agent adds to .env. */
export function agentWriteEnvSecretsCommand(layout: HostLayout): string {
  return rootHelper(layout, ["write-env-secrets", layout.secretsDir]);
}

/** `KEY=value` lines for write-env-secrets (values already checked by layoutSecretValues). */
export function envSecretsText(env: Record<string, string>): string {
  return Object.keys(env)
    .sort()
    .map((k) => `${k}=${env[k]}\n`)
    .join("");
}

/** stdin to a root-owned file under the deploy root or the project directory (e.g. <root>/etc/agent.conf). */
export function agentInstallFileCommand(layout: HostLayout, target: string, owner = "0:0", mode = "0644"): string {
  return rootHelper(layout, ["install-file", target, owner, mode]);
}

export function agentInstallTimerCommand(layout: HostLayout, schedule: "none" | "daily" | "hourly", user: string, environment: string): string {
  return rootHelper(layout, ["install-timer", schedule, user, environment]);
}

/** The deploy root's directories the deploy user owns (the agent's runs, state and releases among them). */
export function agentSetupCommand(layout: HostLayout, user: string, extraDirs: string[] = []): string {
  const dirs = [layout.root, layout.bin, layout.backups, layout.runsDir, layout.releasesDir, layout.stateDir, layout.projectDir, ...extraDirs];
  return commandLine(["sudo", "-n", "install", "-d", "-o", user, "-g", "docker", "-m", "0750", ...dirs]);
}

/** A deploy: the request (renderDeployRequest, as JSON) on stdin; progress on stderr, the verdict as the last line of stdout. */
export function agentDeployCommand(layout: HostLayout, o: { jsonProgress?: boolean } = {}): string {
  return script(layout, ["deploy", ...(o.jsonProgress ? ["--json-progress"] : [])]);
}

export function agentAttachCommand(layout: HostLayout, runId: string): string {
  if (!/^[0-9]{8}T[0-9]{9}Z-[0-9a-f]{8}$/.test(runId)) throw new Error(`'${runId}' is not a run id`);
  return script(layout, ["attach", runId]);
}

/** Run at boot (and after a dockerd restart): finishes or undoes interrupted runs, re-arms retires. */
export function agentRecoverCommand(layout: HostLayout): string {
  return script(layout, ["recover"]);
}

export function agentRollbackCommand(layout: HostLayout, actor?: string): string {
  return script(layout, ["rollback", ...(actor ? ["--actor", actor] : [])]);
}

/**
 * Builds the agent image on the host from <root>/agent/Dockerfile (copied there), tagged
 * agentImageTag(). For compose v2 hosts, give the plugin: { COMPOSE_PLUGIN_URL, COMPOSE_PLUGIN_SHA256 }.
 */
export function agentImageBuildCommand(layout: HostLayout, tag: string, base: string, buildArgs: Record<string, string> = {}): string {
  const args = Object.entries({ BASE: base, ...buildArgs }).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);
  return commandLine(["docker", "build", "-q", "-t", tag, ...args, path.join(layout.root, "agent")]);
}

/** The agent image, built only when the host does not have it yet (its tag is its inputs' digest). */
export function ensureAgentImageCommand(layout: HostLayout, tag: string, base: string, buildArgs: Record<string, string> = {}): string {
  return `${commandLine(["docker", "image", "inspect", tag])} >/dev/null 2>&1 || ${agentImageBuildCommand(layout, tag, base, buildArgs)}`;
}

/** A container with restart policy unless-stopped that runs the agent's recover whenever dockerd starts. */
export function agentBootHookCommand(layout: HostLayout): string {
  return script(layout, ["boot-hook"]);
}

const CONF_VALUE = /^[A-Za-z0-9][A-Za-z0-9._\/:@-]*$/;

/** <root>/etc/agent.conf: what the bootstrap and the root helper read, as KEY=VALUE lines (the shell reads no JSON). */
export function renderAgentConf(o: { image: string; mounts: string[]; projectDir: string }): string {
  for (const v of [o.image, ...o.mounts, o.projectDir]) {
    if (!CONF_VALUE.test(v.replace(/^\//, "x")) || v.includes("..")) throw new Error(`agent.conf: '${v}' is not a plain value`);
  }
  return [`IMAGE=${o.image}`, ...o.mounts.map((m) => `MOUNT=${m}`), `PROJECT=${o.projectDir}`, ""].join("\n");
}

/** The directories the agent's container must see at their own paths: the project directory's parent (wepppy's ../wepppy mounts). */
export function agentMounts(layout: HostLayout): string[] {
  return [path.dirname(layout.projectDir)];
}

/** The verdict a deploy printed: the last line of its stdout, parsed. */
export function parseVerdict(stdout: string): DeployVerdict {
  const line = stdout.trim().split("\n").filter(Boolean).pop() ?? "";
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`the deploy printed no verdict (last line: ${line.slice(0, 200)})`);
  }
  if (!v || typeof v !== "object" || typeof (v as DeployVerdict).runId !== "string") throw new Error("the deploy printed no verdict");
  return v as DeployVerdict;
}
