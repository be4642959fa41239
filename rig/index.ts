/**
 * The throwaway-host rig: three hosts (forest, forest1, wepp1) with sshd and their own Docker
 * engines, and a registry standing in for ghcr.io, on one machine. See rig/README.md.
 *
 *   rigUp()      brings it up (idempotent; cleans up a rig left by a killed run)
 *   rigDown()    removes everything it made but the cached images and the registry storage
 *   rigStatus()  what is up, with the SSH and registry coordinates later work needs
 *   sshRun()     runs a command on a rig host as the deploy user, host key checked strictly
 */
import * as fs from "node:fs";
import {
  baseImage, cacheDir, deployUser, dockerBin, hosts, network, paths, registry, rigLabel, stateDir,
} from "./config";
import { docker, dockerCheck, dockerdResponds, ensureDockerd, ensureMachinePackages, rigDockerdPid, stopRigDockerd } from "./dockerd";
import {
  cachedImages, ensureAgentImage, ensureBaseImage, ensureRigImage, ensureStandinImage, pipe, StandinBuild,
} from "./images";
import { agentImageTag } from "../host/agent/bundle";
import { prepareClientKey, prepareHostFiles, startHost, waitHostDocker, writeKnownHosts } from "./hosts";
import {
  loginOnRigMachine, prepareRegistryFiles, pushImage, registryStorageBytes, startRegistry,
  trustOnRigMachine, untrustOnRigMachine,
} from "./registry";
import { sshRun } from "./ssh";
import { run } from "./exec";

export { sshRun, sshCheck, sshTarget, putFile } from "./ssh";
export { transformCompose, steps as composeTransformSteps } from "./composeTransform";
export type { ComposeTransformOptions, TransformResult } from "./composeTransform";
export type { StandinBuild, FailureMode } from "./images";
export { readCredentials } from "./registry";
export type { RegistryCredentials } from "./registry";

type Log = (message: string) => void;

/** Stand-in weppcloud builds pushed by every `rig up` (registry tag = build id). */
export const standardStandinBuilds: StandinBuild[] = [
  { build: "rig-a" },
  { build: "rig-b" },
  { build: "rig-never-healthy", failureMode: "never-healthy" },
  { build: "rig-healthy-then-5xx", failureMode: "healthy-then-5xx" },
  { build: "rig-slow-start", failureMode: "slow-start", slowStartSeconds: 45 },
  { build: "rig-crash-on-start", failureMode: "crash-on-start" },
  { build: "rig-create-run-fails", failureMode: "create-run-fails" },
];

export interface StandinImages {
  /** Digest references (<registry>/<repo>@sha256:...) of the stand-ins in the rig registry. */
  postgres: string;
  redis: string;
  caddy: string;
  /** weppcloud stand-in builds by build id (see standardStandinBuilds). */
  weppcloud: Record<string, string>;
}

export interface RigState {
  version: 1;
  createdAt: string;
  dockerdStartedByRig: boolean;
  hostImage: string;
  hostKeys: Record<string, string>;
  standins: StandinImages;
  /** The host agent's image, loaded into every host's engine (see ensureAgentImage). */
  agentImage: string;
}

export interface RigHostStatus {
  name: string;
  address: string;
  sshPort: number;
  sshUser: string;
  privateKey: string;
  knownHosts: string;
  /** The pinned known_hosts line for this host. */
  hostKey: string;
  container: string;
  running: boolean;
}

export interface RigStatus {
  up: boolean;
  stateDir: string;
  cacheDir: string;
  dockerd: { responding: boolean; startedByRig: boolean; pid?: number };
  network: { name: string; subnet: string };
  hosts: RigHostStatus[];
  registry: {
    address: string;
    alias: string;
    running: boolean;
    credentialsFile: string;
    caFile: string;
    storageDir: string;
    storageBytes: number;
  };
  baseImages: Array<{ name: string; tag: string; present: boolean }>;
  standins?: StandinImages;
}

export function readState(): RigState | undefined {
  try {
    return JSON.parse(fs.readFileSync(paths.state(), "utf8")) as RigState;
  } catch {
    return undefined;
  }
}

async function containerRunning(name: string): Promise<boolean> {
  const r = await docker(["inspect", "--format", "{{.State.Running}}", name]);
  return r.code === 0 && r.stdout.trim() === "true";
}

/** True if the rig in state.json is whole: all containers running and every host answers SSH. */
async function rigIsHealthy(): Promise<boolean> {
  const state = readState();
  // A rig from before the agent, or with an older agent image, is rebuilt.
  if (!state || state.agentImage !== agentImageTag(baseImage)) return false;
  for (const c of [registry.container, ...hosts.map((h) => h.container)]) {
    if (!(await containerRunning(c))) return false;
  }
  const answers = await Promise.all(hosts.map((h) => sshRun(h.name, ["true"], { timeoutMs: 15_000 })));
  return answers.every((r) => r.code === 0);
}

/** Removes every container, volume and network carrying the rig label, and the rig's files. */
async function removeRigResources(log: Log): Promise<void> {
  const containers = (await docker(["ps", "-aq", "--filter", `label=${rigLabel}`])).stdout.split(/\s+/).filter(Boolean);
  if (containers.length) {
    log(`removing ${containers.length} rig container(s)`);
    await dockerCheck(["rm", "-f", "-v", ...containers]);
  }
  const volumes = (await docker(["volume", "ls", "-q", "--filter", `label=${rigLabel}`])).stdout.split(/\s+/).filter(Boolean);
  if (volumes.length) {
    log(`removing ${volumes.length} rig volume(s)`);
    await dockerCheck(["volume", "rm", "-f", ...volumes]);
  }
  const networks = (await docker(["network", "ls", "-q", "--filter", `label=${rigLabel}`])).stdout.split(/\s+/).filter(Boolean);
  if (networks.length) {
    log(`removing rig network`);
    await dockerCheck(["network", "rm", ...networks]);
  }
  untrustOnRigMachine();
  // The rig stacks' state describes hosts that are gone with them (a rebuilt host is its own case: rebuildHost).
  for (const p of [paths.state(), paths.registryDir(), paths.dockerConfig(), `${stateDir}/hosts`, `${stateDir}/ssh`, `${stateDir}/backend`, `${stateDir}/rehearsals`, `${stateDir}/pipeline`]) {
    fs.rmSync(p, { recursive: true, force: true });
  }
}

/** Removes wepppy-rig/<name>:<hash> images of earlier inputs (not the base, not registry tags). */
async function removeStaleImages(current: string[], log: Log): Promise<void> {
  const r = await docker(["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=wepppy-rig/*"]);
  const stale = r.stdout.split("\n").map((l) => l.trim())
    .filter((t) => t && t !== baseImage && !t.startsWith("wepppy-rig/probe") && !current.includes(t));
  if (stale.length) {
    log(`removing ${stale.length} outdated rig image(s)`);
    await docker(["rmi", ...stale]);
  }
}

export interface RigUpOptions {
  /** Recreate the rig even if the one that is up is whole. */
  fresh?: boolean;
  log?: Log;
}

/** Brings the rig up. Idempotent: a whole rig is kept; a partial or stale one is removed first. */
export async function rigUp(opts: RigUpOptions = {}): Promise<RigStatus> {
  const log = opts.log ?? (() => undefined);
  const t0 = Date.now();
  const lap = (what: string) => log(`${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  fs.mkdirSync(stateDir, { recursive: true });
  await ensureMachinePackages(log);
  const dockerd = await ensureDockerd(log);
  if (!opts.fresh && (await rigIsHealthy())) {
    lap("rig is already up");
    return rigStatus();
  }
  await removeRigResources(log);

  // Images: the base once per machine, then the rig's own images (cached by their inputs' hash).
  const base = await ensureBaseImage(log);
  if (base.built) lap("base image built");
  const [hostImage, registryImage, pgImage, redisImage, caddyImage, weppcloudImage] = await Promise.all(
    (["host", "registry", "postgres", "redis", "caddy", "weppcloud"] as const).map((n) => ensureRigImage(n, log)),
  );
  const standinLocal = await Promise.all(standardStandinBuilds.map((b) => ensureStandinImage(b, log)));
  const agentImage = await ensureAgentImage(log);
  await removeStaleImages(
    [hostImage, registryImage, pgImage, redisImage, caddyImage, weppcloudImage, agentImage, ...standinLocal].map((i) => i.tag),
    log,
  );
  lap("images ready");

  await dockerCheck(["network", "create", "--driver", "bridge", "--internal", "--subnet", network.subnet,
    "--gateway", network.gateway, "--label", `${rigLabel}=network`, network.name]);

  // Registry: TLS + htpasswd, storage in the machine cache.
  const creds = await prepareRegistryFiles(registryImage.tag);
  trustOnRigMachine();
  await startRegistry(registryImage.tag);
  await loginOnRigMachine(creds);
  lap("registry up");

  // Hosts and stand-in pushes at the same time.
  await prepareClientKey();
  const keys = await Promise.all(hosts.map(async (h) => ({ host: h, ...(await prepareHostFiles(h)) })));
  writeKnownHosts(keys);
  const hostsUp = (async () => {
    await Promise.all(hosts.map((h) => startHost(h, hostImage.tag)));
    await Promise.all(hosts.map((h) => waitHostDocker(h)));
    await Promise.all(hosts.map((h) => loadAgentImage(h, agentImage.tag, log)));
    const answers = await Promise.all(hosts.map((h) => sshRun(h.name, ["docker", "info", "--format", "{{.ServerVersion}}"])));
    answers.forEach((r, i) => {
      if (r.code !== 0) throw new Error(`host ${hosts[i].name}: ssh as ${deployUser} failed: ${r.stderr.trim()}`);
    });
    lap("hosts up (sshd, dockerd)");
  })();
  const pushes = (async (): Promise<StandinImages> => {
    const [postgres, redis, caddy] = await Promise.all([
      pushImage(pgImage.tag, "wepppy-rig/postgres", "16"),
      pushImage(redisImage.tag, "wepppy-rig/redis", "latest"),
      pushImage(caddyImage.tag, "wepppy-rig/caddy", "2"),
    ]);
    const weppcloud: Record<string, string> = {};
    for (const [i, b] of standardStandinBuilds.entries()) {
      weppcloud[b.build] = await pushImage(standinLocal[i].tag, "wepppy-rig/weppcloud", b.build);
    }
    lap("stand-ins pushed");
    return { postgres, redis, caddy, weppcloud };
  })();
  const [, standins] = await Promise.all([hostsUp, pushes]);

  const state: RigState = {
    version: 1,
    createdAt: new Date().toISOString(),
    dockerdStartedByRig: dockerd.startedByRig,
    hostImage: hostImage.tag,
    hostKeys: Object.fromEntries(keys.map((k) => [k.host.name, k.publicKey])),
    standins,
    agentImage: agentImage.tag,
  };
  fs.writeFileSync(paths.state(), `${JSON.stringify(state, null, 2)}\n`);
  lap("rig up");
  return rigStatus();
}

/**
 * Replaces one host by a rebuilt one: a new host key, an empty disk and Docker engine, the
 * same address (as when a machine is reinstalled). known_hosts pins the new key.
 */
export async function rebuildHost(name: string, opts: { log?: Log } = {}): Promise<RigStatus> {
  const log = opts.log ?? (() => undefined);
  const state = readState();
  const host = hosts.find((h) => h.name === name);
  if (!state || !host) throw new Error(`no rig host ${name} (the rig has ${hosts.map((h) => h.name).join(", ")})`);
  log(`rebuilding ${name}: new host key, empty disk`);
  await docker(["rm", "-f", host.container]);
  await docker(["volume", "rm", "-f", host.volume]);
  const { publicKey } = await prepareHostFiles(host);
  state.hostKeys[name] = publicKey;
  writeKnownHosts(hosts.map((h) => ({ host: h, publicKey: state.hostKeys[h.name] })));
  await startHost(host, state.hostImage);
  await waitHostDocker(host);
  await loadAgentImage(host, state.agentImage, log);
  fs.writeFileSync(paths.state(), `${JSON.stringify(state, null, 2)}\n`);
  log(`${name} rebuilt`);
  return rigStatus();
}

/** Puts the agent's image into a host's engine, as its own build would (the host cannot reach a mirror). */
async function loadAgentImage(host: (typeof hosts)[number], tag: string, log: Log): Promise<void> {
  log(`${host.name}: loading ${tag}`);
  await pipe([dockerBin(), "save", tag], [dockerBin(), "exec", "-i", host.container, "docker", "load", "-q"]);
}

/**
 * Takes wepppy's deployment and everything wepppy-cicd put on a rig host away (the agent's
 * image stays: the rig loaded it, as the host's own build would have left it), so a test
 * or the pipeline starts from a host it has never touched.
 */
export async function clearDeployment(host: string): Promise<void> {
  const r = await sshRun(host, {
    // The agent's detached runs first: a judged release may still be converging, and its compose would recreate what follows.
    script: `docker ps -aq --filter label=org.wepppy.cicd.agent=detached | xargs -r docker rm -f >/dev/null 2>&1;
     docker ps -aq --filter label=com.docker.compose.project=wepppy | xargs -r docker rm -f >/dev/null 2>&1;
     docker ps -aq --filter name=wepppy | xargs -r docker rm -f >/dev/null 2>&1;
     docker volume ls -q --filter label=com.docker.compose.project=wepppy | xargs -r docker volume rm >/dev/null 2>&1;
     docker network prune -f >/dev/null 2>&1;
     sudo umount /opt/wepppy-cicd/backups 2>/dev/null;
     sudo rm -rf /opt/wepppy/docker /opt/wepppy-cicd /etc/cron.d/wepppy-backup; true`,
  }, { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`${host}: clearing the deployment failed: ${r.stderr.trim()}`);
}

/** Removes the rig: containers, volumes, network, files under .rig/, and the dockerd it started. */
export async function rigDown(opts: { log?: Log } = {}): Promise<void> {
  const log = opts.log ?? (() => undefined);
  if (await dockerdResponds()) await removeRigResources(log);
  else untrustOnRigMachine();
  await stopRigDockerd(log);
  fs.rmSync(paths.state(), { force: true });
}

export async function rigStatus(): Promise<RigStatus> {
  const responding = await dockerdResponds();
  const state = readState();
  const pid = rigDockerdPid();
  let knownHosts: string[] = [];
  try {
    knownHosts = fs.readFileSync(paths.knownHosts(), "utf8").split("\n").filter(Boolean);
  } catch {
    /* no rig */
  }
  const hostStatuses: RigHostStatus[] = [];
  for (const h of hosts) {
    hostStatuses.push({
      name: h.name,
      address: h.ip,
      sshPort: 22,
      sshUser: deployUser,
      privateKey: paths.clientKey(),
      knownHosts: paths.knownHosts(),
      hostKey: knownHosts.find((l) => l.split(" ")[0].split(",").includes(h.ip)) ?? "",
      container: h.container,
      running: responding && (await containerRunning(h.container)),
    });
  }
  const registryRunning = responding && (await containerRunning(registry.container));
  return {
    up: !!state && registryRunning && hostStatuses.every((h) => h.running),
    stateDir,
    cacheDir,
    dockerd: { responding, startedByRig: !!pid, pid },
    network: { name: network.name, subnet: network.subnet },
    hosts: hostStatuses,
    registry: {
      address: registry.address,
      alias: registry.alias,
      running: registryRunning,
      credentialsFile: paths.credentials(),
      caFile: paths.registryCa(),
      storageDir: paths.registryStorage(),
      storageBytes: await registryStorageBytes(),
    },
    baseImages: responding ? await cachedImages() : [{ name: "base", tag: baseImage, present: false }],
    standins: state?.standins,
  };
}

/** Builds and pushes a stand-in weppcloud variant; returns its digest reference. */
export async function pushStandin(b: StandinBuild, log: Log = () => undefined): Promise<string> {
  const local = await ensureStandinImage(b, log);
  return pushImage(local.tag, "wepppy-rig/weppcloud", b.build);
}

/**
 * Substitutions for transformCompose(): the literal images of wepppy's compose files -> stand-ins.
 * (Images given by variables, e.g. WEPPCLOUD_IMAGE, are set by the caller.)
 */
export function imageSubstitutions(standins: StandinImages, fcgiwrapBuild = "rig-a"): Record<string, string> {
  return {
    postgres: standins.postgres,
    redis: standins.redis,
    caddy: standins.caddy,
    "wepppy-fcgiwrap": standins.weppcloud[fcgiwrapBuild],
  };
}

/** The open-files hard limit and CPU count a rig host's containers get (inputs of transformCompose). */
export async function hostLimits(hostName: string): Promise<{ cpus: number; maxNofile: number }> {
  // The host's PID 1 has the limits its dockerd, and so its containers, inherit.
  const r = await sshRun(hostName, { script: "nproc; awk '/^Max open files/ {print $5}' /proc/1/limits" });
  if (r.code !== 0) throw new Error(`host ${hostName}: ${r.stderr}`);
  const [cpus, nofile] = r.stdout.trim().split("\n").map((l) => l.trim());
  return { cpus: Number(cpus), maxNofile: nofile === "unlimited" ? 1048576 : Number(nofile) };
}

export type { Log };
export { run as runLocal };
