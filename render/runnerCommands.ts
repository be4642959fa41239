import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { CLEANUP_UNIT, RunnerIdentity, RunnerLayout } from "../config/runnerNames";
import { commandLine, quote } from "./hostCommands";

/*
 * Everything the RunnerHost runs on the runner host and on the deploy targets, as text
 * built by pure functions: the host script's command lines, the systemd units, the deploy
 * account's known_hosts, the deploy key's authorized_keys block and the command that
 * installs it. Values were validated by the schema already and are quoted here as well.
 * No builder takes a secret: the registration token only ever travels on stdin.
 */

/** The runner host's script (its commands are described at its top). */
export const RUNNER_SCRIPT_PATH = path.join(__dirname, "runner", "wepppy-runner.sh");

export function runnerScript(): string {
  return fs.readFileSync(RUNNER_SCRIPT_PATH, "utf8");
}

export function sha256(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

function script(layout: RunnerLayout, words: string[]): string {
  return commandLine(["sudo", "-n", "bash", layout.script, ...words]);
}

/** Installs the host script root-owned from stdin (atomically), so no runner account can change it. */
export function installScriptCommand(layout: RunnerLayout): string {
  const body = [
    "set -euo pipefail",
    'install -d -o root -g root -m 0755 "$(dirname "$1")"',
    'tmp="$(mktemp "$(dirname "$1")/.wepppy-runner.XXXXXX")"',
    'cat > "${tmp}"',
    'chown root:root "${tmp}"',
    'chmod 0755 "${tmp}"',
    'mv -f -- "${tmp}" "$1"',
  ].join("\n");
  return commandLine(["sudo", "-n", "bash", "-c", body, "install-script", layout.script]);
}

export function installUnitCommand(layout: RunnerLayout, unit: string, start = false): string {
  return script(layout, ["install-unit", unit, ...(start ? ["--start", "yes"] : [])]);
}

export function removeUnitCommand(layout: RunnerLayout, unit: string): string {
  return script(layout, ["remove-unit", unit]);
}

export interface EnsureRunnerArgs {
  runner: RunnerIdentity;
  /** https://github.com/<owner>/<repo>: what config.sh registers with. */
  repoUrl: string;
  /** owner/repo and the protected branch: the deploy runner's job gate. */
  repository: string;
  branch: string;
  version: string;
  sha256: string;
  tarballUrl: string;
  /** Whether this runner's account joins the docker group (runner.ci.docker or runner.deploy.docker). */
  docker: boolean;
  drainMinutes: number;
  /** sha256 of the unit as installed: a changed unit restarts the runner (after draining it). */
  unitSha: string;
  /** sha256 of the host script: the command refuses a host whose script is not this one. */
  scriptSha: string;
}

/** Installs or upgrades one runner; the registration token, when it needs one, comes on stdin. */
export function ensureRunnerCommand(layout: RunnerLayout, a: EnsureRunnerArgs): string {
  return script(layout, [
    "ensure",
    "--zone", a.runner.zone,
    "--name", a.runner.name,
    "--user", a.runner.user,
    "--labels", a.runner.customLabels.join(","),
    "--repo-url", a.repoUrl,
    "--repository", a.repository,
    "--branch", a.branch,
    "--version", a.version,
    "--sha256", a.sha256,
    "--tarball-url", a.tarballUrl,
    "--docker", a.docker ? "yes" : "no",
    "--drain-minutes", String(a.drainMinutes),
    "--unit-sha", a.unitSha,
    "--script-sha", a.scriptSha,
  ]);
}

/** Drains, stops and removes one runner and its account (GitHub's record is removed by the stack). */
export function removeRunnerCommand(layout: RunnerLayout, runner: RunnerIdentity, drainMinutes: number): string {
  return script(layout, ["remove", "--name", runner.name, "--user", runner.user, "--drain-minutes", String(drainMinutes)]);
}

/** Writes the deploy account's known_hosts (stdin) and strict ssh config. */
export function deploySshCommand(layout: RunnerLayout, user: string): string {
  return script(layout, ["deploy-ssh", "--user", user]);
}

/** Each runner's service state, version, whether it runs a job, and the free disk: tab-separated lines, read by parseRunnerHealth. */
export function runnerHealthCommand(layout: RunnerLayout): string {
  return script(layout, ["health"]);
}

export interface RunnerHealthEntry {
  name: string;
  zone: string;
  user: string;
  /** The release in place; undefined when none is. */
  version?: string;
  service: "active" | "inactive";
  registered: boolean;
  busy: boolean;
}

export interface RunnerHealth {
  root: string;
  freeDiskBytes: number;
  runners: RunnerHealthEntry[];
}

const yesNo = (v: string, line: number): boolean => {
  if (v === "yes" || v === "no") return v === "yes";
  throw new Error(`wepppy-runner health, line ${line}: "${v}" is neither yes nor no`);
};

/** What `wepppy-runner health` printed (see cmd_health in wepppy-runner.sh). */
export function parseRunnerHealth(text: string): RunnerHealth {
  let root: string | undefined;
  let free: number | undefined;
  const runners: RunnerHealthEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    if (raw.trim() === "") return;
    const [kind, ...f] = raw.split("\t");
    const line = i + 1;
    if (kind === "root" && f.length === 1) root = f[0];
    else if (kind === "free-disk-bytes" && f.length === 1 && /^\d+$/.test(f[0])) free = Number(f[0]);
    else if (kind === "runner" && f.length === 7 && (f[4] === "active" || f[4] === "inactive")) {
      runners.push({ name: f[0], zone: f[1], user: f[2], ...(f[3] === "-" ? {} : { version: f[3] }), service: f[4], registered: yesNo(f[5], line), busy: yesNo(f[6], line) });
    } else throw new Error(`wepppy-runner health, line ${line}: not a health line: ${JSON.stringify(raw.slice(0, 200))}`);
  });
  if (root === undefined || free === undefined) throw new Error("wepppy-runner health printed no root or free-disk-bytes line");
  return { root, freeDiskBytes: free, runners };
}

export function cleanupCommand(layout: RunnerLayout, logDays: number): string {
  return script(layout, ["cleanup", "--log-days", String(logDays)]);
}

export interface UnitOptions {
  layout: RunnerLayout;
  repository: string;
  branch: string;
  noNewPrivileges: boolean;
}

/**
 * One runner's service. Its own account; run.sh keeps the listener alive (with
 * RUNNER_MANUALLY_TRAP_SIG it passes SIGTERM on as the SIGINT the listener stops on); the
 * job hooks and the zone are set here and in .env; the rest of the host is read-only
 * to it, and other homes are out of its sight.
 */
export function renderRunnerUnit(runner: RunnerIdentity, o: UnitOptions): string {
  const home = path.posix.join(o.layout.root, "home", runner.user);
  const lines = [
    "# Written by wepppy-cicd (RunnerHost): changes here are overwritten.",
    "[Unit]",
    `Description=GitHub Actions runner ${runner.name} (${runner.zone} zone, wepppy-cicd)`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `User=${runner.user}`,
    `Group=${runner.user}`,
    `WorkingDirectory=${runner.dir}`,
    `ExecStart=${runner.dir}/run.sh`,
    "Environment=RUNNER_MANUALLY_TRAP_SIG=1",
    `Environment=ACTIONS_RUNNER_HOOK_JOB_STARTED=${o.layout.root}/bin/job-started.sh`,
    `Environment=ACTIONS_RUNNER_HOOK_JOB_COMPLETED=${o.layout.root}/bin/job-completed.sh`,
    `Environment=WEPPPY_RUNNER_ZONE=${runner.zone}`,
    `Environment=WEPPPY_RUNNER_BRANCH=${o.branch}`,
    `Environment=WEPPPY_RUNNER_REPOSITORY=${o.repository}`,
    "KillMode=mixed",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=5min",
    "Restart=on-failure",
    "RestartSec=15s",
    "UMask=0077",
    ...(o.noNewPrivileges ? ["NoNewPrivileges=yes"] : []),
    "PrivateTmp=yes",
    "ProtectSystem=full",
    "ProtectHome=yes",
    `ReadOnlyPaths=${o.layout.root}/bin ${o.layout.root}/versions`,
    `InaccessiblePaths=-${o.layout.root}/cache`,
    `ReadWritePaths=${runner.dir} ${home}`,
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectControlGroups=yes",
    "LockPersonality=yes",
    "RestrictRealtime=yes",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ];
  return `${lines.join("\n")}\n`;
}

export function cleanupUnits(layout: RunnerLayout, logDays: number): { service: string; timer: string } {
  return {
    service: [
      "# Written by wepppy-cicd (RunnerHost).",
      "[Unit]",
      "Description=Remove old GitHub Actions runner logs and empty work directories (wepppy-cicd)",
      "",
      "[Service]",
      "Type=oneshot",
      `ExecStart=/bin/bash ${layout.script} cleanup --log-days ${logDays}`,
      "",
    ].join("\n"),
    timer: [
      "# Written by wepppy-cicd (RunnerHost).",
      "[Unit]",
      `Description=Daily ${CLEANUP_UNIT}.service`,
      "",
      "[Timer]",
      "OnCalendar=daily",
      "RandomizedDelaySec=1h",
      "Persistent=true",
      "",
      "[Install]",
      "WantedBy=timers.target",
      "",
    ].join("\n"),
  };
}

/** A host the deploy runner connects to, with its pinned key. */
export interface DeployTargetHost {
  stack: string;
  host: string;
  address?: string;
  port: number;
  hostKey: string;
}

/** known_hosts lines for every name a deploy job may use for a target: its host name and its address. */
export function renderKnownHosts(targets: DeployTargetHost[]): string {
  const lines = ["# Written by wepppy-cicd (RunnerHost): the deploy targets' pinned host keys."];
  for (const t of targets) {
    const names = [...new Set([t.host, ...(t.address ? [t.address] : [])])].map((n) => (t.port === 22 ? n : `[${n}]:${t.port}`));
    lines.push(`${names.join(",")} ${t.hostKey}`);
  }
  return `${lines.join("\n")}\n`;
}

export const AUTHORIZED_BEGIN = "# BEGIN wepppy-cicd deploy key (managed: changes inside are overwritten)";
export const AUTHORIZED_END = "# END wepppy-cicd deploy key";

/**
 * The deploy key's line: only from the runner host, and `restrict` (no forwarding of any
 * kind, no PTY, no ~/.ssh/rc), which still allows what a deploy does: run commands and
 * copy files (SFTP).
 */
export function renderAuthorizedKeysBlock(publicKey: string, from: string[], comment = "wepppy-cicd deploy runner"): string {
  if (!/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/.test(publicKey)) {
    throw new Error("the deploy key's public half is not an OpenSSH public key line");
  }
  if (from.length === 0) throw new Error("authorized_keys: from= needs at least one address");
  for (const a of from) if (!/^[0-9./]+$/.test(a)) throw new Error(`authorized_keys: ${a} is not an address`);
  return `${AUTHORIZED_BEGIN}\nfrom="${from.join(",")}",restrict ${publicKey} ${comment}\n${AUTHORIZED_END}\n`;
}

/**
 * Puts the block (stdin) into the deploy account's ~/.ssh/authorized_keys in place of an
 * earlier one, keeping every other line, atomically; says so when the same key is also
 * authorized without restrictions elsewhere in the file (that line would still admit it).
 */
export function installAuthorizedKeysCommand(): string {
  const lines = [
    "set -euo pipefail",
    "umask 077",
    'f="${HOME}/.ssh/authorized_keys"',
    'mkdir -p "${HOME}/.ssh"',
    'touch "${f}"',
    'block="$(cat)"',
    'key="$(printf \'%s\\n\' "${block}" | sed -n \'2p\' | sed \'s/^[^ ]* //\' | cut -d\' \' -f1,2)"',
    'tmp="$(mktemp "${HOME}/.ssh/.authorized_keys.XXXXXX")"',
    `awk -v b=${quote(AUTHORIZED_BEGIN)} -v e=${quote(AUTHORIZED_END)} '$0 == b {skip=1; next} $0 == e {skip=0; next} !skip' "\${f}" > "\${tmp}"`,
    'if grep -qF -- "${key}" "${tmp}"; then echo "warning: ${f} also authorizes this deploy key without the from= restriction" >&2; fi',
    'printf \'%s\\n\' "${block}" >> "${tmp}"',
    'chmod 0600 "${tmp}"',
    'if cmp -s "${tmp}" "${f}"; then rm -f "${tmp}"; else mv -f "${tmp}" "${f}"; echo "authorized_keys: deploy key block written"; fi',
  ];
  return `bash -c ${quote(lines.join("\n"))}`;
}

/** Removes the block again (the resource's delete). */
export function removeAuthorizedKeysCommand(): string {
  const lines = [
    "set -euo pipefail",
    'f="${HOME}/.ssh/authorized_keys"',
    '[ -f "${f}" ] || exit 0',
    'tmp="$(mktemp "${HOME}/.ssh/.authorized_keys.XXXXXX")"',
    `awk -v b=${quote(AUTHORIZED_BEGIN)} -v e=${quote(AUTHORIZED_END)} '$0 == b {skip=1; next} $0 == e {skip=0; next} !skip' "\${f}" > "\${tmp}"`,
    'chmod 0600 "${tmp}"',
    'mv -f "${tmp}" "${f}"',
  ];
  return `bash -c ${quote(lines.join("\n"))}`;
}

/**
 * The public half of an OpenSSH private key, read from the key file's own header (the
 * "openssh-key-v1" format keeps the public key unencrypted), as "<type> <base64>".
 */
export function publicKeyOf(privateKey: string): string {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END OPENSSH PRIVATE KEY-----/.exec(privateKey);
  const fail = () => new Error("deployKey: not an OpenSSH private key whose public half can be read (expected the openssh-key-v1 format ssh-keygen writes)");
  if (!m) throw fail();
  const data = Buffer.from(m[1].replace(/\s+/g, ""), "base64");
  const magic = Buffer.from("openssh-key-v1\0", "latin1");
  if (data.length < magic.length || !data.subarray(0, magic.length).equals(magic)) throw fail();
  let at = magic.length;
  const next = (): Buffer => {
    if (at + 4 > data.length) throw fail();
    const n = data.readUInt32BE(at);
    if (at + 4 + n > data.length) throw fail();
    const out = data.subarray(at + 4, at + 4 + n);
    at += 4 + n;
    return out;
  };
  next(); // cipher name
  next(); // kdf name
  next(); // kdf options
  if (at + 4 > data.length || data.readUInt32BE(at) !== 1) throw fail();
  at += 4;
  const blob = next();
  const type = blob.subarray(4, 4 + blob.readUInt32BE(0)).toString("latin1");
  if (!/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa)$/.test(type)) throw fail();
  return `${type} ${blob.toString("base64")}`;
}
