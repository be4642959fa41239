/** Running commands on rig hosts over SSH, with the rig's key and strict host-key checking. */
import * as fs from "node:fs";
import { deployUser, hosts, paths } from "./config";
import { shellQuote, SshTarget, sshArgv } from "./commands";
import { CommandError, run, RunOptions, RunResult } from "./exec";

export function sshTarget(hostName: string): SshTarget {
  const host = hosts.find((h) => h.name === hostName);
  if (!host) throw new Error(`no rig host named ${hostName} (have: ${hosts.map((h) => h.name).join(", ")})`);
  return {
    address: host.ip,
    port: 22,
    user: deployUser,
    privateKey: paths.clientKey(),
    knownHosts: paths.knownHosts(),
  };
}

/**
 * Runs a command on a rig host as the deploy user. `remote` is an argv (quoted for the remote shell)
 * or { script } (shell text, e.g. from a tested builder). Resolves whatever the exit code.
 */
export function sshRun(
  hostName: string,
  remote: string[] | { script: string },
  opts: RunOptions & { sshOptions?: string[]; target?: Partial<SshTarget> } = {},
): Promise<RunResult> {
  const target = { ...sshTarget(hostName), ...(opts.target ?? {}) };
  return run(sshArgv(target, remote, opts.sshOptions ?? []), opts);
}

/** Like sshRun but rejects unless the remote command exits 0. */
export async function sshCheck(
  hostName: string,
  remote: string[] | { script: string },
  opts: RunOptions & { sshOptions?: string[] } = {},
): Promise<RunResult> {
  const target = sshTarget(hostName);
  const argv = sshArgv(target, remote, opts.sshOptions ?? []);
  const r = await run(argv, opts);
  if (r.code !== 0) throw new CommandError(argv, r);
  return r;
}

/** Copies a local file or text to a path on a rig host (as the deploy user). */
export async function putFile(hostName: string, remotePath: string, content: string | Buffer, mode = "0644"): Promise<void> {
  await sshCheck(hostName, { script: putFileScript(remotePath, mode) }, { input: content });
}

/** Shell text: stdin -> remotePath (atomically, via a temp file beside it) with `mode`. */
export function putFileScript(remotePath: string, mode: string): string {
  if (!/^[0-7]{3,4}$/.test(mode)) throw new Error(`bad mode ${mode}`);
  const q = shellQuote(remotePath);
  const dir = remotePath.includes("/") ? remotePath.replace(/\/[^/]*$/, "") || "/" : ".";
  return `set -eu; mkdir -p ${shellQuote(dir)}; tmp=${q}.tmp.$$; cat > "$tmp"; chmod ${mode} "$tmp"; mv -f "$tmp" ${q}`;
}

export function readKnownHosts(): string {
  return fs.readFileSync(paths.knownHosts(), "utf8");
}
