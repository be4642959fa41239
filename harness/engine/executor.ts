import * as fs from "node:fs";
import * as path from "node:path";
import { Connection, runRemote, spawnCollect } from "../../ops/ssh";

/*
 * Where the stand-in providers do their work. SshExecutor does it on the connection's host,
 * as @pulumi/command does (pinned host key, the login shell runs the command, stdin only
 * when there is some). Its copy writes the way the provider's SFTP Create does: a new file
 * gets 0666 under the session's umask (0644 under sshd's 022), an existing one is truncated
 * in place and keeps its mode and owner, missing parents are made 0755
 * (pulumi-command v1.2.1 copyController.go:260-284; pkg/sftp client.go:250-260;
 * sftp-server.c:742-781); for a text asset the parents are made whether or not the file
 * exists (copyController.go:47). It is not scp, which would carry the local mode over.
 * LocalExecutor does the same on this machine under a root directory, for the unit tier.
 */

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived, as the provider's error quotes them. */
  combined: string;
}

export interface HostExecutor {
  run(connection: Connection, command: string, stdin: string | undefined, onLine?: (line: string) => void): Promise<ExecResult>;
  copy(connection: Connection, source: CopySource, remotePath: string): Promise<void>;
}

/** What a CopyToRemote sends: a file asset's path or a string asset's text. */
export type CopySource = { file: string } | { text: string };

function bytesOf(source: CopySource): Buffer {
  return "file" in source ? fs.readFileSync(source.file) : Buffer.from(source.text, "utf8");
}

/** The local stand-in host's commands run as the SSH client's do (ops/ssh.ts), in its root. */
function collect(argv: string[], stdin: string | Buffer | undefined, cwd: string | undefined, onLine?: (line: string) => void): Promise<ExecResult> {
  return spawnCollect(argv, stdin, onLine, cwd);
}

/** The shell line that writes stdin to a path with SFTP Create's modes. */
export function sftpCreateLine(remotePath: string, alwaysMakeParents = false): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const dir = path.posix.dirname(remotePath);
  const parents = alwaysMakeParents ? `mkdir -p -- ${q(dir)}` : `{ [ -e ${q(remotePath)} ] || mkdir -p -- ${q(dir)}; }`;
  return `umask 022 && ${parents} && cat > ${q(remotePath)}`;
}

export class SshExecutor implements HostExecutor {
  async run(connection: Connection, command: string, stdin: string | undefined, onLine?: (line: string) => void): Promise<ExecResult> {
    const r = await runRemote(connection, command, stdin, onLine);
    return r;
  }

  async copy(connection: Connection, source: CopySource, remotePath: string): Promise<void> {
    const r = await runRemote(connection, sftpCreateLine(remotePath, "text" in source), bytesOf(source));
    if (r.code !== 0) throw new Error(`sftp: cannot create ${remotePath}: ${r.stderr.trim().split("\n").pop() ?? `exit ${r.code}`}`);
  }
}

/** Runs commands with bash on this machine in `root`, and copies into `root` (the unit tier's "host"). */
export class LocalExecutor implements HostExecutor {
  /** Every command and copy, in order, with the connection host it was meant for. */
  readonly log: Array<{ host: string; kind: "run" | "copy"; text: string }> = [];

  constructor(readonly root: string) {}

  async run(connection: Connection, command: string, stdin: string | undefined, onLine?: (line: string) => void): Promise<ExecResult> {
    this.log.push({ host: connection.host, kind: "run", text: command });
    return collect(["bash", "-c", command], stdin, this.root, onLine);
  }

  async copy(connection: Connection, source: CopySource, remotePath: string): Promise<void> {
    this.log.push({ host: connection.host, kind: "copy", text: remotePath });
    const target = path.join(this.root, remotePath);
    const r = await collect(["bash", "-c", sftpCreateLine(target, "text" in source)], bytesOf(source), this.root);
    if (r.code !== 0) throw new Error(`sftp: cannot create ${remotePath}: ${r.stderr.trim()}`);
  }
}
