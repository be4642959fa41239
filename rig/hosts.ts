/**
 * The rig's hosts: containers on the outer engine, each with sshd (pinned host key, key-only login
 * for `roger`) and its own dockerd on its own /var/lib/docker volume.
 *
 * Why containers rather than network namespaces: each host gets, from one `docker run`, its own root
 * filesystem (its /opt/wepppy, /wc1, /etc are its own, with no per-host mount-namespace plumbing),
 * its own network namespace and address, its own process tree and a dockerd that is unambiguously
 * its own (socket, data root, exec root, iptables); cleanup is `docker rm -f` plus the volume, even
 * after a killed run. This is how Kamal's integration tests make their servers. The netns route
 * needs a bind-mount layout per host, three dockerds with distinct sockets/roots on the machine
 * itself, and leaves veths/mounts behind when killed. What containers lack: systemd (no units can be
 * installed and started as on the real hosts) and --privileged (see hostRunArgv).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { HostSpec, hosts, paths, registry } from "./config";
import { hostRunArgv, innerDaemonConfig, knownHostsLine } from "./commands";
import { check, sleep } from "./exec";
import { docker, dockerCheck } from "./dockerd";

/** The rig's client key (one deploy key for all hosts, like a CI deploy key). */
export async function prepareClientKey(): Promise<void> {
  fs.mkdirSync(path.dirname(paths.clientKey()), { recursive: true, mode: 0o700 });
  if (!fs.existsSync(paths.clientKey())) {
    await check(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wepppy-rig-deploy", "-f", paths.clientKey()]);
  }
}

/** Host key, authorized_keys, daemon.json and registry trust in .rig/hosts/<name> (mounted at /rig). */
export async function prepareHostFiles(host: HostSpec): Promise<{ publicKey: string }> {
  const dir = paths.hostDir(host.name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = path.join(dir, "ssh_host_ed25519_key");
  await check(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", `root@${host.name}`, "-f", key]);
  fs.copyFileSync(`${paths.clientKey()}.pub`, path.join(dir, "authorized_keys"));
  fs.writeFileSync(path.join(dir, "daemon.json"), `${JSON.stringify(innerDaemonConfig(), null, 2)}\n`);
  for (const name of [registry.address, `${registry.alias}:${registry.port}`]) {
    fs.mkdirSync(path.join(dir, "certs.d", name), { recursive: true });
    fs.copyFileSync(paths.registryCa(), path.join(dir, "certs.d", name, "ca.crt"));
  }
  fs.copyFileSync(paths.registryCa(), path.join(dir, "registry-ca.crt"));
  return { publicKey: fs.readFileSync(`${key}.pub`, "utf8").trim() };
}

export function writeKnownHosts(entries: Array<{ host: HostSpec; publicKey: string }>): string[] {
  const lines = entries.map((e) => knownHostsLine([e.host.ip, e.host.name], e.publicKey));
  fs.writeFileSync(paths.knownHosts(), `${lines.join("\n")}\n`, { mode: 0o600 });
  return lines;
}

export async function startHost(host: HostSpec, image: string): Promise<void> {
  await dockerCheck(["volume", "create", "--label", "org.wepppy.rig=host-docker", host.volume]);
  await dockerCheck(hostRunArgv(host, image, paths.hostDir(host.name), hosts));
}

/** Waits until the host's own dockerd answers; fails early with its logs if the host stopped. */
export async function waitHostDocker(host: HostSpec, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await docker(["exec", host.container, "docker", "info", "--format", "{{.ServerVersion}}"]);
    if (r.code === 0) return;
    const st = await docker(["inspect", "--format", "{{.State.Running}}", host.container]);
    if (st.stdout.trim() !== "true") break;
    await sleep(300);
  }
  const logs = await docker(["logs", "--tail", "30", host.container]);
  const inner = await docker(["exec", host.container, "tail", "-n", "30", "/var/log/dockerd.log"]);
  throw new Error(`host ${host.name}: its dockerd did not come up\n${logs.stdout}${logs.stderr}\n${inner.stdout}`);
}
