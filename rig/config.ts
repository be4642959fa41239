/**
 * Fixed facts of the rig: names, addresses and where it keeps things.
 *
 * Addresses: the rig's own user-defined bridge network (internal: no route off the machine), with
 * fixed addresses so that the host keys pinned in known_hosts and the registry certificate can be
 * made before first contact. Override the directories with WEPPPY_RIG_STATE_DIR / WEPPPY_RIG_CACHE_DIR.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT, WEPPPY_REFERENCE_DIR } from "../config/paths";

export const repoRoot = PROJECT_ROOT;

/** wepppy's real compose files and Caddyfiles (read, never copied into the repo). */
export const referenceDir = WEPPPY_REFERENCE_DIR;

/** Per-rig state: keys, known_hosts, registry credentials, state.json. Removed by `rig down`. */
export const stateDir = process.env.WEPPPY_RIG_STATE_DIR
  ? path.resolve(process.env.WEPPPY_RIG_STATE_DIR)
  : path.join(repoRoot, ".rig");

/** Per-machine cache kept across rigs: registry storage, debootstrap's .debs. */
export const cacheDir = process.env.WEPPPY_RIG_CACHE_DIR
  ? path.resolve(process.env.WEPPPY_RIG_CACHE_DIR)
  : "/var/cache/wepppy-rig";

export const imagesDir = path.join(__dirname, "images");

/** Label on every container, volume and network the rig makes; `rig down` removes what carries it. */
export const rigLabel = "org.wepppy.rig";

export const network = {
  name: "wepppy-rig",
  subnet: "10.213.0.0/24",
  gateway: "10.213.0.1",
};

export const registry = {
  container: "wepppy-rig-registry",
  ip: "10.213.0.2",
  port: 5000,
  /** What image references use, on the rig machine and on the hosts alike. */
  address: "10.213.0.2:5000",
  /** Extra name the hosts have for it in /etc/hosts. */
  alias: "rig-registry",
  /*
   * The stack keeps registry.username secret, and every secret value is cut out of what an
   * update prints: a name that is a common word or part of one ("rig" is in "triggers" and in
   * the images' own "wepppy-rig/") would turn the rig's logs into "t[secret]gers".
   */
  username: "wepppyrigpusher",
};

export const deployUser = "roger";

export interface HostSpec {
  name: string;
  ip: string;
  container: string;
  volume: string;
}

function hostSpec(name: string, ip: string): HostSpec {
  return { name, ip, container: `wepppy-rig-${name}`, volume: `wepppy-rig-${name}-docker` };
}

/** forest runs dev and the runner; forest1 and wepp1 run prod stacks (per the spec). */
export const hosts: HostSpec[] = [
  hostSpec("forest", "10.213.0.11"),
  hostSpec("forest1", "10.213.0.12"),
  hostSpec("wepp1", "10.213.0.13"),
];

/** Address pools of each host's own dockerd, apart from the rig network and the machine's. */
export const innerDocker = {
  bip: "10.200.0.1/24",
  pools: [{ base: "10.201.0.0/16", size: 24 }],
};

export const baseImage = "wepppy-rig/base:bookworm";

/** Docker client: Debian's (matches its dockerd) before any other on PATH. */
export function dockerBin(): string {
  if (process.env.WEPPPY_RIG_DOCKER) return process.env.WEPPPY_RIG_DOCKER;
  return fs.existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
}

export const paths = {
  state: () => path.join(stateDir, "state.json"),
  dockerdPid: () => path.join(stateDir, "dockerd.pid"),
  dockerdLog: () => path.join(stateDir, "dockerd.log"),
  clientKey: () => path.join(stateDir, "ssh", "id_ed25519"),
  knownHosts: () => path.join(stateDir, "ssh", "known_hosts"),
  hostDir: (name: string) => path.join(stateDir, "hosts", name),
  registryDir: () => path.join(stateDir, "registry"),
  registryMount: () => path.join(stateDir, "registry", "mount"),
  registryCa: () => path.join(stateDir, "registry", "ca.crt"),
  credentials: () => path.join(stateDir, "registry", "credentials.json"),
  /** A docker client config of the rig's own, so `docker login` leaves ~/.docker alone. */
  dockerConfig: () => path.join(stateDir, "docker-config"),
  registryStorage: () => path.join(cacheDir, "registry"),
  debootstrapCache: () => path.join(cacheDir, "debootstrap-debs"),
  /** The outer dockerd trusts the registry's CA through this file (removed by `rig down`). */
  outerCertsD: () => `/etc/docker/certs.d/${registry.address}`,
};
