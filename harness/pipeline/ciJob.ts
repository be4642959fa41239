import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../config/paths";
import { stateDir as rigStateDir } from "../../rig/config";

/*
 * GitHub Actions as the rig plays it: every job starts from a fresh clone of a commit of
 * the pipeline's origin, and nothing carries over from one job to the next but the state
 * backend (a directory standing in for the deploy runner's ~/.pulumi) and what the job
 * is given (the passphrase, as an environment secret). Whatever a job writes to its
 * checkout is gone when it ends, unless it commits and pushes it, as an operator does.
 * The dependency cache (node_modules) is linked, as actions/setup-node's cache would restore it.
 */

export interface CiWorld {
  root: string;
  origin: string;
  backend: string;
  passphraseFile: string;
  /** The commit of this working tree the pipeline runs (its uncommitted tracked changes included). */
  commit: string;
}

export interface StepOutcome {
  argv: string[];
  code: number;
  /** The step's JSON answer (stdout), when it printed one. */
  json?: any;
  stderr: string;
}

export type JobStep = { cli: string[]; env?: Record<string, string> } | { run: (checkout: string) => Promise<void> | void; what: string };

export interface JobOutcome {
  name: string;
  ok: boolean;
  seconds: number;
  steps: StepOutcome[];
  error?: string;
}

function git(args: string[], cwd: string): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** A new origin (the working tree's commit) and an empty backend, under .rig/pipeline (or `root`, for a world of its own). */
export function ciWorld(root = path.join(rigStateDir, "pipeline")): CiWorld {
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(path.join(root, "jobs"), { recursive: true, mode: 0o700 });
  const origin = path.join(root, "origin.git");
  git(["init", "-q", "--bare", "-b", "main", origin], root);
  // `git stash create` makes a commit of the tracked changes without touching the tree (empty when clean).
  const commit = git(["stash", "create"], PROJECT_ROOT) || git(["rev-parse", "HEAD"], PROJECT_ROOT);
  git(["push", "-q", origin, `${commit}:refs/heads/main`], PROJECT_ROOT);
  const passphraseFile = path.join(root, "passphrase");
  fs.writeFileSync(passphraseFile, `${randomBytes(24).toString("base64url")}\n`, { mode: 0o600 });
  return { root, origin, backend: path.join(root, "backend"), passphraseFile, commit };
}

let jobNumber = 0;

function runCli(checkout: string, argv: string[], env: NodeJS.ProcessEnv, log: (l: string) => void): Promise<StepOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(checkout, "bin", "wepppy-cicd.js"), ...argv], { cwd: checkout, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      const lines = (partial + d).split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) log(`      ${l}`);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ argv, code: code ?? 1, json, stderr });
    });
  });
}

/** Runs one job: a fresh clone of origin's main, its steps in order, then the clone is thrown away. */
export async function runJob(world: CiWorld, name: string, steps: JobStep[], log: (line: string) => void): Promise<JobOutcome> {
  const t0 = Date.now();
  jobNumber++;
  const dir = path.join(world.root, "jobs", `${String(jobNumber).padStart(2, "0")}-${name.replace(/[^A-Za-z0-9]+/g, "-")}`);
  fs.mkdirSync(dir, { recursive: true });
  const checkout = path.join(dir, "wepppy-cicd");
  log(`job ${name}: fresh clone of ${git(["rev-parse", "--short", "main"], world.origin)}`);
  git(["clone", "-q", world.origin, checkout], dir);
  git(["config", "user.email", "pipeline@rig.invalid"], checkout);
  git(["config", "user.name", "rig pipeline"], checkout);
  fs.symlinkSync(path.join(PROJECT_ROOT, "node_modules"), path.join(checkout, "node_modules"));
  fs.symlinkSync(fs.realpathSync(path.join(PROJECT_ROOT, "..", "shared")), path.join(dir, "shared"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WEPPPY_RIG_JOB: "1",
    WEPPPY_RIG_STATE_DIR: rigStateDir,
    WEPPPY_RIG_BACKEND: world.backend,
    PULUMI_CONFIG_PASSPHRASE_FILE: world.passphraseFile,
  };
  delete env.PULUMI_CONFIG_PASSPHRASE;
  const outcomes: StepOutcome[] = [];
  const done = (ok: boolean, error?: string): JobOutcome => {
    fs.rmSync(dir, { recursive: true, force: true });
    const seconds = Math.round((Date.now() - t0) / 100) / 10;
    log(`job ${name}: ${ok ? "ok" : "FAILED"} in ${seconds} s${error ? `: ${error}` : ""}`);
    return { name, ok, seconds, steps: outcomes, ...(error ? { error } : {}) };
  };
  try {
    for (const step of steps) {
      if ("run" in step) {
        log(`    ${step.what}`);
        await step.run(checkout);
        continue;
      }
      log(`    wepppy-cicd ${step.cli.join(" ")}`);
      const outcome = await runCli(checkout, step.cli, { ...env, ...(step.env ?? {}) }, log);
      outcomes.push(outcome);
      if (outcome.code !== 0) return done(false, `wepppy-cicd ${step.cli[0]} exited ${outcome.code}${outcome.json?.error ? `: ${oneLine(String(outcome.json.error))}` : ""}`);
    }
    return done(true);
  } catch (err) {
    return done(false, err instanceof Error ? err.message : String(err));
  }
}

/** An operator's commit from a job's checkout, pushed to the pipeline's origin. */
export function commitAndPush(checkout: string, files: string[], message: string): void {
  git(["add", "--", ...files], checkout);
  git(["commit", "-q", "-m", message], checkout);
  git(["push", "-q", "origin", "HEAD:main"], checkout);
}

/** A failed step's whole error on one line: a failing host command's output comes after its first line. */
function oneLine(error: string, max = 2000): string {
  const text = error.split("\n").map((l) => l.trim()).filter(Boolean).join(" | ");
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
