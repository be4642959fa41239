import * as crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../config/paths";
import { rigBackend } from "../../harness/rehearsal/rigBackend";
import { rigStatus, rigUp, RigStatus } from "../../rig";
import { run, sleep } from "../../rig/exec";

let checked = false;

/**
 * The rig, brought up if it is not (rigUp is idempotent and quick when the rig is whole), once
 * per process; later calls read its status afresh: a test may rebuild a host (new host key).
 */
export async function ensureRig(): Promise<RigStatus> {
  const status = checked ? await rigStatus() : await rigUp({ log: (m) => process.stderr.write(`      rig: ${m}\n`) });
  checked = true;
  if (!status.up) throw new Error("rig did not come up");
  return status;
}

export function randomName(prefix: string): string {
  return `${prefix}-${crypto.randomBytes(4).toString("hex")}`;
}

/** curl from the rig machine (only ever to rig host addresses). */
export function curl(args: string[]) {
  return run(["curl", "-sS", "--max-time", "5", ...args]);
}

/** Polls `f` until it returns true or `timeoutMs` passes. */
export async function waitFor(what: string, f: () => Promise<boolean>, timeoutMs = 60_000, everyMs = 500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await f()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** The CLI as an operator (or a CI job) runs it; exit code and stdout, whatever the outcome. */
export function cli(args: string[], env: Record<string, string> = {}): { code: number; stdout: string } {
  try {
    const stdout = execFileSync("node", [path.join(PROJECT_ROOT, "bin", "wepppy-cicd.js"), ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { status: number; stdout: string };
    return { code: e.status, stdout: e.stdout };
  }
}

/** Forgets what the rig's backend knows of the stacks (their state and history), as a new backend would. */
export function forgetStacks(stacks: string[]): void {
  const dir = path.join(rigBackend().dir, ".pulumi");
  for (const stack of stacks) {
    fs.rmSync(path.join(dir, "stacks", "wepppy-cicd", `${stack}.json`), { force: true });
    fs.rmSync(path.join(dir, "history", "wepppy-cicd", stack), { recursive: true, force: true });
  }
}

let tagCounter = 0;
/** A fresh commit tag (sha-<40 hex>) for each release of this run. */
export function newTag(): string {
  tagCounter++;
  return `sha-${Date.now().toString(16)}${String(tagCounter).padStart(4, "0")}`.padEnd(44, "0").slice(0, 44);
}

/** What Caddy serves for weppcloud on a host, asked as the public proxy asks. */
export async function servedBuild(address: string): Promise<string> {
  const r = await curl(["-H", "X-Forwarded-Proto: https", `http://${address}:8080/weppcloud/version`]);
  try {
    return JSON.parse(r.stdout).build as string;
  } catch {
    return `not served (${r.stderr.trim() || r.stdout.slice(0, 80)})`;
  }
}
