/** Running programs with argument arrays (never a shell string with interpolated values). */
import { execFile, spawn } from "node:child_process";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Text written to the child's stdin. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the child after this many milliseconds. */
  timeoutMs?: number;
  /** Forward the child's stderr to ours as it comes (long builds). */
  streamStderr?: boolean;
}

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly result: RunResult,
  ) {
    super(
      `${argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ")} exited ${result.code}` +
        (result.stderr.trim() ? `: ${result.stderr.trim().split("\n").slice(-8).join("\n")}` : ""),
    );
  }
}

/** Runs argv and resolves with its exit code and output, whatever the exit code. */
export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    }
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => {
      err.push(b);
      if (opts.streamStderr) process.stderr.write(b);
    });
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    child.stdin.on("error", () => undefined);
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Runs argv and rejects with a CommandError unless it exits 0. */
export async function check(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const result = await run(argv, opts);
  if (result.code !== 0) throw new CommandError(argv, result);
  return result;
}

/** Like check() but resolves with trimmed stdout. */
export async function output(argv: string[], opts: RunOptions = {}): Promise<string> {
  return (await check(argv, opts)).stdout.trim();
}

/** True if `name` is an executable on PATH. */
export function which(name: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile("sh", ["-c", 'command -v "$1"', "sh", name], (error, stdout) => {
      resolve(error ? undefined : stdout.trim() || undefined);
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
