/** The outer Docker engine (Debian's docker.io), started by the rig as root if it is not running. */
import * as fs from "node:fs";
import { spawn } from "node:child_process";
import { dockerBin, paths, stateDir } from "./config";
import { check, output, run, RunOptions, sleep, which } from "./exec";

export function docker(args: string[], opts?: RunOptions) {
  return run([dockerBin(), ...args], opts);
}
export function dockerCheck(args: string[], opts?: RunOptions) {
  return check([dockerBin(), ...args], opts);
}
export function dockerOut(args: string[], opts?: RunOptions) {
  return output([dockerBin(), ...args], opts);
}

export async function dockerdResponds(): Promise<boolean> {
  const r = await docker(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 10_000 }).catch(() => undefined);
  return !!r && r.code === 0;
}

/** Debian packages the rig machine needs; installed with apt-get when a command is missing. */
const machineNeeds: Array<[string, string]> = [
  ["dockerd", "docker.io"],
  ["debootstrap", "debootstrap"],
  ["ssh", "openssh-client"],
  ["ssh-keygen", "openssh-client"],
  ["openssl", "openssl"],
  ["curl", "curl"],
];

export async function ensureMachinePackages(log: (m: string) => void): Promise<void> {
  const missing = new Set<string>();
  for (const [cmd, pkg] of machineNeeds) {
    if (!(await which(cmd))) missing.add(pkg);
  }
  if (missing.size === 0) return;
  if (process.getuid && process.getuid() !== 0) {
    throw new Error(`the rig needs these Debian packages (run as root to have it install them): ${[...missing].join(" ")}`);
  }
  log(`installing Debian packages: ${[...missing].join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  await check(["apt-get", "update", "-qq"], { env });
  await check(["apt-get", "install", "-y", "-qq", ...missing], { env });
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True if `pid` is alive and is a dockerd (guards against a recycled pid). */
function isDockerdPid(pid: number): boolean {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0];
    return cmd === "dockerd" || cmd.endsWith("/dockerd");
  } catch {
    return false;
  }
}

/** The pid of the dockerd the rig started, if it is still running. */
export function rigDockerdPid(): number | undefined {
  const pid = readPid(paths.dockerdPid());
  return pid && isDockerdPid(pid) ? pid : undefined;
}

/**
 * Makes sure a Docker engine answers. Starts Debian's dockerd in the background (own session, log
 * and pid file under .rig/) if none does. Returns whether the engine is the rig's.
 */
export async function ensureDockerd(log: (m: string) => void): Promise<{ startedByRig: boolean; pid?: number }> {
  const ours = rigDockerdPid();
  if (await dockerdResponds()) return { startedByRig: !!ours, pid: ours };
  if (ours) {
    log(`dockerd ${ours} (the rig's) does not answer; waiting for it`);
  } else {
    fs.mkdirSync(stateDir, { recursive: true });
    const logFd = fs.openSync(paths.dockerdLog(), "a");
    const child = spawn("dockerd", [], { detached: true, stdio: ["ignore", logFd, logFd] });
    fs.closeSync(logFd);
    if (!child.pid) throw new Error("could not start dockerd");
    fs.writeFileSync(paths.dockerdPid(), `${child.pid}\n`);
    child.unref();
    log(`started dockerd (pid ${child.pid}, log ${paths.dockerdLog()})`);
  }
  for (let i = 0; i < 120; i++) {
    if (await dockerdResponds()) return { startedByRig: true, pid: rigDockerdPid() };
    const pid = rigDockerdPid();
    if (!pid) break;
    await sleep(500);
  }
  throw new Error(`dockerd did not come up; see ${paths.dockerdLog()}`);
}

/** Stops the dockerd the rig started (by its recorded pid only). */
export async function stopRigDockerd(log: (m: string) => void): Promise<void> {
  const pid = rigDockerdPid();
  if (pid) {
    log(`stopping dockerd (pid ${pid})`);
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 120 && isDockerdPid(pid); i++) await sleep(250);
    if (isDockerdPid(pid)) {
      log(`dockerd ${pid} ignored SIGTERM for 30 s; SIGKILL`);
      process.kill(pid, "SIGKILL");
      for (let i = 0; i < 40 && isDockerdPid(pid); i++) await sleep(250);
    }
  }
  fs.rmSync(paths.dockerdPid(), { force: true });
}

export async function imageExists(ref: string): Promise<boolean> {
  return (await docker(["image", "inspect", "--format", "{{.Id}}", ref])).code === 0;
}

export async function imageId(ref: string): Promise<string> {
  return dockerOut(["image", "inspect", "--format", "{{.Id}}", ref]);
}
