import * as path from "node:path/posix";

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

/** Where wepppy-cicd keeps its things on a host. */
export interface HostLayout {
  root: string;
  script: string;
  conf: string;
  backups: string;
  projectDir: string;
  secretsDir: string;
  /** The release being deployed; it becomes `.env` once it passes its gates. */
  envNext: string;
  /** Blue/green: the marker directory Caddy mounts read-only, and where it writes its access log. */
  markerDir: string;
  accessLogDir: string;
}

export function hostLayout(root: string, projectDir: string): HostLayout {
  return {
    root,
    script: path.join(root, "bin", "wepppy-deploy"),
    conf: path.join(root, "deploy.conf"),
    backups: path.join(root, "backups"),
    projectDir,
    secretsDir: path.join(projectDir, "secrets"),
    envNext: path.join(projectDir, ".env.next"),
    markerDir: path.join(root, "bluegreen"),
    accessLogDir: path.join(root, "caddy-log"),
  };
}

/** Runs the shipped host script; `bash` so that the copied file needs no exec bit. */
function script(layout: HostLayout, words: string[], sudo = false): string {
  return commandLine([...(sudo ? ["sudo", "-n"] : []), "bash", layout.script, ...words]);
}

/** Directories owned by the deploy user, so copies and the audit log need no root. */
export function setupCommand(layout: HostLayout, user: string, extraDirs: string[] = []): string {
  const dirs = [layout.root, path.join(layout.root, "bin"), layout.backups, layout.projectDir, ...extraDirs];
  return commandLine(["sudo", "-n", "install", "-d", "-o", user, "-g", "docker", "-m", "0750", ...dirs]);
}

/** Sets each copied file's mode (SFTP leaves new files 0644 and existing ones as they were). */
export function fileModesCommand(files: Array<{ path: string; mode: "0755" | "0644" }>): string {
  const groups = (["0755", "0644"] as const).map((mode) => files.filter((f) => f.mode === mode).map((f) => f.path)).map((paths, i) => (paths.length ? commandLine(["chmod", i === 0 ? "0755" : "0644", "--", ...paths]) : ""));
  return groups.filter(Boolean).join(" && ") || "true";
}

export function writeSecretsCommand(layout: HostLayout): string {
  return script(layout, ["write-secrets", layout.secretsDir], true);
}

export function installFileCommand(layout: HostLayout, target: string): string {
  return script(layout, ["install-file", target], true);
}

export function registryLoginCommand(server: string, username: string): string {
  return commandLine(["docker", "login", "--username", username, "--password-stdin", server]);
}

export function installTimerCommand(layout: HostLayout): string {
  return script(layout, ["install-timer"], true);
}

export function removeTimerCommand(layout: HostLayout): string {
  return script(layout, ["remove-timer"], true);
}

export function buildCommand(layout: HostLayout, checkout: string, ref: string): string {
  return script(layout, ["build", "--checkout", checkout, "--ref", ref]);
}

export interface DeployFlags {
  skipSmoke?: boolean;
  note?: string;
}

export function deployCommand(layout: HostLayout, flags: DeployFlags = {}): string {
  const words = ["deploy"];
  if (flags.skipSmoke) words.push("--skip-smoke");
  if (flags.note) words.push("--note", flags.note);
  return script(layout, words);
}

export function auditCommand(layout: HostLayout, lines = 50): string {
  return script(layout, ["audit", "-n", String(lines)]);
}

export function statusCommand(layout: HostLayout): string {
  return script(layout, ["status"]);
}

export function validateCommand(layout: HostLayout): string {
  return script(layout, ["validate"]);
}

/** Secret values as the host script reads them on stdin: `<name> <base64>` per line. */
export function secretsStream(values: Record<string, string>): string {
  return Object.keys(values)
    .sort()
    .map((name) => `${name} ${Buffer.from(values[name], "utf8").toString("base64")}\n`)
    .join("");
}

/** `KEY=VALUE` lines: wepppy's defaults.env with the stack's values put in place of or after its own. */
export function renderEnvFile(defaults: string, values: Record<string, string>): string {
  const pending = new Map(Object.entries(values));
  const lines = defaults.split("\n").map((line) => {
    const key = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(line)?.[1];
    if (key === undefined || !pending.has(key)) return line;
    const value = pending.get(key)!;
    pending.delete(key);
    return `${key}=${value}`;
  });
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const added = [...pending].map(([k, v]) => `${k}=${v}`);
  if (added.length > 0) lines.push("", "# Set by wepppy-cicd for this environment.", ...added);
  return `${lines.join("\n")}\n`;
}

/** The host script's settings file; every value is one line of validated text. */
export function renderDeployConf(values: Record<string, string | number | boolean>): string {
  return (
    Object.entries(values)
      .map(([key, value]) => {
        const text = String(value);
        if (!/^[A-Z][A-Z0-9_]*$/.test(key)) throw new Error(`deploy.conf: bad key ${key}`);
        if (/[\n\r\0]/.test(text)) throw new Error(`deploy.conf: ${key} holds a line break`);
        return `${key}=${text}`;
      })
      .join("\n") + "\n"
  );
}
