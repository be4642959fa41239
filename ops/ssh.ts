import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/*
 * Runs what a @pulumi/command connection describes, with OpenSSH: the same host, port,
 * user and pinned host key the program declared, and the private key it names, or the
 * operator's ssh-agent when it names none (as the provider adds the agent's keys when
 * SSH_AUTH_SOCK is set). A connection without a pinned host key is refused here, as it
 * must be everywhere: StrictHostKeyChecking=yes against a known_hosts of that one key.
 */

export interface Connection {
  host: string;
  port?: number;
  user?: string;
  privateKey?: string;
  hostKey?: string;
  /** Dial attempts before giving up, as @pulumi/command's connection.dialErrorLimit (default 10; -1: no limit). */
  dialErrorLimit?: number;
  /** Seconds per dial attempt (connection.perDialTimeout, default 15). */
  perDialTimeout?: number;
}

export interface RemoteResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  combined: string;
}

export class RemoteError extends Error {}

async function withSshFiles<T>(c: Connection, fn: (options: string[]) => Promise<T>): Promise<T> {
  if (!c.hostKey) throw new RemoteError(`refusing to connect to ${c.host}: no pinned host key`);
  if (!c.privateKey && !process.env.SSH_AUTH_SOCK) {
    throw new RemoteError(`no private key to connect to ${c.host} with: name one (--identity FILE) or run an ssh-agent`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wepppy-ssh-"));
  try {
    const knownHosts = path.join(dir, "known_hosts");
    const port = c.port ?? 22;
    fs.writeFileSync(knownHosts, `${port === 22 ? c.host : `[${c.host}]:${port}`} ${c.hostKey}\n`, { mode: 0o600 });
    const identity: string[] = [];
    if (c.privateKey) {
      const key = path.join(dir, "key");
      fs.writeFileSync(key, c.privateKey.endsWith("\n") ? c.privateKey : `${c.privateKey}\n`, { mode: 0o600 });
      identity.push("-i", key, "-o", "IdentitiesOnly=yes");
    }
    return await fn([
      ...identity,
      "-o", `UserKnownHostsFile=${knownHosts}`,
      "-o", "GlobalKnownHostsFile=/dev/null",
      "-o", "StrictHostKeyChecking=yes",
      "-o", "BatchMode=yes",
      "-o", `ConnectTimeout=${c.perDialTimeout ?? 15}`,
      "-o", "LogLevel=ERROR",
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs argv with stdin, collecting stdout, stderr and both interleaved; each stderr line as it arrives. */
export function spawnCollect(argv: string[], stdin: string | Buffer | undefined, onStderrLine?: (line: string) => void, cwd?: string): Promise<RemoteResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], cwd });
    let stdout = "";
    let stderr = "";
    let combined = "";
    let partial = "";
    child.stdout.on("data", (d) => {
      stdout += d;
      combined += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
      combined += d;
      if (!onStderrLine) return;
      partial += d;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      lines.forEach(onStderrLine);
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr, combined }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(stdin ?? "");
  });
}

/** Why ssh itself failed (exit 255), in words an operator can act on. */
function sshFailure(c: Connection, stderr: string): string {
  const where = `${c.user ?? "root"}@${c.host}:${c.port ?? 22}`;
  if (/host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(stderr)) {
    return `${where}: the host's key is not the pinned one (wepppy-cicd:deploy.hostKey); refusing to connect`;
  }
  if (/connection refused|timed out|no route to host|could not resolve|network is unreachable/i.test(stderr)) {
    return `${where}: host unreachable (${stderr.trim().split("\n").pop()})`;
  }
  if (/permission denied/i.test(stderr)) return `${where}: the deploy key was refused`;
  return `${where}: ssh failed: ${stderr.trim().split("\n").pop()}`;
}

/**
 * ssh failed before the session began (nothing ran on the host): a refused or reset
 * connection, an sshd shedding unauthenticated connections (MaxStartups), a timeout. Only
 * these are dialled again; a session that broke after it began may have run the command.
 */
export function failedToDial(result: { code: number; stdout: string; stderr: string }): boolean {
  return (
    result.code === 255 &&
    result.stdout === "" &&
    /kex_exchange_identification|connection reset by peer|connection refused|connection timed out|operation timed out|no route to host|connection closed by .* port \d+|banner exchange/i.test(result.stderr)
  );
}

/** The provider's dial backoff (pulumi sdk util/retry: 100 ms, x1.5, at most 5 s). */
export function dialDelayMs(attempt: number): number {
  return Math.min(100 * 1.5 ** attempt, 5000);
}

/**
 * Runs one command line through the login shell of the connection's user, as the provider
 * does, dialling again as it does when the connection could not be made (connection.go
 * dialWithRetry: up to dialErrorLimit attempts).
 */
export async function runRemote(
  c: Connection,
  command: string,
  stdin?: string | Buffer,
  onStderrLine?: (line: string) => void,
): Promise<RemoteResult> {
  const limit = c.dialErrorLimit ?? 10;
  return withSshFiles(c, async (options) => {
    const target = `${c.user ?? "root"}@${c.host}`;
    for (let attempt = 1; ; attempt++) {
      const result = await spawnCollect(["ssh", ...options, "-p", String(c.port ?? 22), target, "--", command], stdin, onStderrLine);
      if (failedToDial(result) && (limit < 0 || attempt < limit)) {
        await new Promise((resolve) => setTimeout(resolve, dialDelayMs(attempt - 1)));
        continue;
      }
      if (result.code === 255) throw new RemoteError(`${sshFailure(c, result.stderr)}${failedToDial(result) && attempt > 1 ? ` (after ${attempt} attempts)` : ""}`);
      return result;
    }
  });
}
