import { spawn } from "node:child_process";
import * as fs from "node:fs";

/*
 * Runs a program with an argv (never a shell) and returns what it did as data. stdin can be
 * text or a file, stdout can go to a file (pg_dump's output is never held in memory).
 */

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  stdinFile?: string;
  stdoutFile?: string;
  timeoutMs?: number;
  /** Aborted: the program is asked to stop (SIGTERM), and killed if it has not within 10 s. */
  signal?: AbortSignal;
}

export type Runner = (argv: string[], options?: RunOptions) => Promise<CmdResult>;

const MAX_OUTPUT = 16 * 1024 * 1024;

export const runCommand: Runner = (argv, options = {}) =>
  new Promise((resolve) => {
    const stdinFd = options.stdinFile ? fs.openSync(options.stdinFile, "r") : undefined;
    const stdoutFd = options.stdoutFile ? fs.openSync(options.stdoutFile, "w", 0o640) : undefined;
    const close = () => {
      if (stdinFd !== undefined) fs.closeSync(stdinFd);
      if (stdoutFd !== undefined) fs.closeSync(stdoutFd);
    };
    let child;
    try {
      child = spawn(argv[0], argv.slice(1), {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: [stdinFd ?? (options.input !== undefined ? "pipe" : "ignore"), stdoutFd ?? "pipe", "pipe"],
      });
    } catch (err) {
      close();
      resolve({ code: 127, stdout: "", stderr: (err as Error).message });
      return;
    }
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += d.toString("utf8");
    });
    child.stderr?.on("data", (d: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += d.toString("utf8");
    });
    const timer = options.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), options.timeoutMs) : undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    };
    if (options.signal?.aborted) stop();
    else options.signal?.addEventListener("abort", stop, { once: true });
    child.on("error", (err) => {
      stderr += err.message;
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener("abort", stop);
      close();
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (options.input !== undefined && child.stdin) {
      child.stdin.on("error", () => undefined);
      child.stdin.end(options.input);
    }
  });

/** The last lines of a command's output, for an error message. */
export function tail(text: string, lines = 8): string {
  return text.trim().split("\n").slice(-lines).join(" | ");
}
