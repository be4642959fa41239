/**
 * Pure builders of the command lines and config text the rig uses (Kamal style: what runs on a host
 * is produced here and unit-tested in test/unit/rig-commands.test.ts; nothing here runs anything).
 */
import { HostSpec, innerDocker, network, registry, rigLabel } from "./config";

/** Quotes one argument for a POSIX shell (the remote side of ssh always goes through one). */
export function shellQuote(arg: string): string {
  if (arg !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(argv: string[]): string {
  return argv.map(shellQuote).join(" ");
}

export interface SshTarget {
  address: string;
  port: number;
  user: string;
  privateKey: string;
  knownHosts: string;
}

/**
 * ssh argv for running `remote` on a rig host. Host keys are checked strictly against the rig's own
 * known_hosts (never accept-new, never the user's files); only the given key is offered; no password.
 * `remote` is an argv (quoted here) or, for a script, { script } (passed as one string).
 */
export function sshArgv(target: SshTarget, remote: string[] | { script: string }, extraOptions: string[] = []): string[] {
  const remoteText = Array.isArray(remote) ? shellJoin(remote) : remote.script;
  return [
    "ssh",
    "-i", target.privateKey,
    "-o", "IdentitiesOnly=yes",
    "-o", `UserKnownHostsFile=${target.knownHosts}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "StrictHostKeyChecking=yes",
    "-o", "CheckHostIP=no",
    "-o", "BatchMode=yes",
    "-o", "PasswordAuthentication=no",
    "-o", "KbdInteractiveAuthentication=no",
    "-o", "ConnectTimeout=10",
    "-o", "LogLevel=ERROR",
    ...extraOptions,
    "-p", String(target.port),
    "-l", target.user,
    target.address,
    "--",
    remoteText,
  ];
}

/** A known_hosts line pinning `publicKeyLine` ("ssh-ed25519 AAAA... comment") for the given names. */
export function knownHostsLine(names: string[], publicKeyLine: string, port = 22): string {
  const [type, key] = publicKeyLine.trim().split(/\s+/);
  if (!type || !key) throw new Error(`not a public key line: ${publicKeyLine}`);
  const hostNames = names.map((n) => (port === 22 ? n : `[${n}]:${port}`));
  return `${hostNames.join(",")} ${type} ${key}`;
}

/** /etc/docker/daemon.json of a host's own dockerd. */
export function innerDaemonConfig(): Record<string, unknown> {
  return {
    // Address pools apart from the rig network (10.213.0.0/24) and the machine's own networks.
    bip: innerDocker.bip,
    "default-address-pools": innerDocker.pools,
    // Lookups of names the inner DNS does not know go to loopback and fail at once: the hosts have
    // no resolver, and nothing may be asked of one off the machine.
    dns: ["127.0.0.1"],
    "storage-driver": "overlay2",
    "log-driver": "json-file",
    "log-opts": { "max-size": "10m", "max-file": "2" },
  };
}

/** `docker run` argv (after the docker binary) for one rig host. */
export function hostRunArgv(host: HostSpec, image: string, hostDir: string, allHosts: HostSpec[]): string[] {
  const addHosts = [
    `${registry.alias}:${registry.ip}`,
    ...allHosts.filter((h) => h.name !== host.name).map((h) => `${h.name}:${h.ip}`),
  ];
  return [
    "run", "--detach",
    "--name", host.container,
    "--hostname", host.name,
    "--label", `${rigLabel}=host`,
    "--label", `${rigLabel}.host=${host.name}`,
    "--network", network.name,
    "--ip", host.ip,
    "--dns", "127.0.0.1",
    ...addHosts.flatMap((h) => ["--add-host", h]),
    // What a nested dockerd needs on this machine; --privileged fails here (runc cannot apply the
    // capability bounding set without CAP_SYS_RESOURCE), so: all capabilities but that one.
    "--cap-add", "ALL",
    "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--cgroupns", "host",
    "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--volume", `${host.volume}:/var/lib/docker`,
    "--volume", `${hostDir}:/rig:ro`,
    image,
  ];
}

/** Debian docker-registry (distribution 2.8) config: TLS, htpasswd auth, filesystem storage. */
export function registryConfigYaml(): string {
  return [
    "version: 0.1",
    "log:",
    "  level: info",
    "  accesslog:",
    "    disabled: false",
    "storage:",
    "  filesystem:",
    "    rootdirectory: /var/lib/docker-registry",
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 0.0.0.0:${registry.port}`,
    "  tls:",
    "    certificate: /rig/registry.crt",
    "    key: /rig/registry.key",
    "  headers:",
    "    X-Content-Type-Options: [nosniff]",
    "auth:",
    "  htpasswd:",
    "    realm: wepppy-rig",
    "    path: /rig/htpasswd",
    "",
  ].join("\n");
}

export function registryRunArgv(image: string, mountDir: string, storageDir: string): string[] {
  return [
    "run", "--detach",
    "--name", registry.container,
    "--hostname", registry.alias,
    "--label", `${rigLabel}=registry`,
    "--network", network.name,
    "--ip", registry.ip,
    "--dns", "127.0.0.1",
    "--volume", `${mountDir}:/rig:ro`,
    "--volume", `${storageDir}:/var/lib/docker-registry`,
    image,
  ];
}

/**
 * openssl argvs that make a throwaway CA and the registry's server certificate (IP and name SANs)
 * in `dir`. Run in order.
 */
export function registryCertArgvs(dir: string): string[][] {
  return [
    ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
      "-subj", "/CN=wepppy-rig CA", "-keyout", `${dir}/ca.key`, "-out", `${dir}/ca.crt`,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-sha256",
      "-subj", `/CN=${registry.alias}`, "-keyout", `${dir}/registry.key`, "-out", `${dir}/registry.csr`],
    ["openssl", "x509", "-req", "-sha256", "-days", "30", "-in", `${dir}/registry.csr`,
      "-CA", `${dir}/ca.crt`, "-CAkey", `${dir}/ca.key`, "-CAcreateserial", "-out", `${dir}/registry.crt`,
      "-extfile", `${dir}/registry.ext`],
  ];
}

export function registryCertExtFile(): string {
  return [
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    `subjectAltName=IP:${registry.ip},DNS:${registry.alias},DNS:localhost`,
    "",
  ].join("\n");
}

/**
 * The Debian mirror apt uses, from the text of /etc/apt/sources.list or a deb822 .sources file
 * (first "debian" archive that is not the security one). Undefined if none.
 */
export function parseDebianMirror(text: string): string | undefined {
  const candidates: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#")) continue;
    let m = /^URIs:\s*(\S+)/i.exec(line);
    if (m) candidates.push(...line.replace(/^URIs:\s*/i, "").split(/\s+/));
    m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m) candidates.push(m[1]);
  }
  const found = candidates.find((u) => /^https?:\/\//.test(u) && /\/debian\/?$/.test(u));
  return found?.replace(/\/$/, "");
}

export function debootstrapArgv(target: string, mirror: string, debCache: string): string[] {
  return ["debootstrap", "--variant=minbase", `--cache-dir=${debCache}`, "bookworm", target, mirror];
}

/** Files the rig adds to the debootstrapped tree before `docker import` (path -> content). */
export function baseRootfsFiles(): Record<string, string> {
  return {
    // The mirror is a dated snapshot: its Release files may be past Valid-Until.
    "etc/apt/apt.conf.d/99wepppy-rig":
      'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\nAcquire::Languages "none";\n' +
      'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n',
    // Image builds: no fsync per file, no docs, manuals or translations.
    "etc/dpkg/dpkg.cfg.d/99wepppy-rig":
      "force-unsafe-io\npath-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n" +
      "path-exclude=/usr/share/man/*\npath-exclude=/usr/share/locale/*\npath-exclude=/usr/share/info/*\n",
    "etc/hostname": "wepppy-rig\n",
  };
}

/** `docker import --change` instructions for the base image. */
export function baseImportChanges(): string[] {
  return [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["/bin/bash"]',
  ];
}
