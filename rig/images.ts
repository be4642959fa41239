/**
 * Images made without pulls: a Debian base from debootstrap + docker import, and from it the rig's
 * own images (rig/images/<name>/Dockerfile). Each is tagged with a hash of its build inputs, so it is
 * built once per machine and found again by tag.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { baseImage, cacheDir, dockerBin, imagesDir, paths } from "./config";
import { baseImportChanges, baseRootfsFiles, debootstrapArgv, parseDebianMirror } from "./commands";
import { check } from "./exec";
import { dockerCheck, imageExists, imageId } from "./dockerd";
import { AGENT_DOCKERFILE, agentImageTag } from "../host/agent/bundle";

export type RigImageName = "host" | "registry" | "postgres" | "redis" | "caddy" | "weppcloud";
export const rigImageNames: RigImageName[] = ["host", "registry", "postgres", "redis", "caddy", "weppcloud"];

export function debianMirror(): string {
  const files = ["/etc/apt/sources.list"];
  try {
    for (const f of fs.readdirSync("/etc/apt/sources.list.d")) files.push(path.join("/etc/apt/sources.list.d", f));
  } catch {
    /* none */
  }
  for (const f of files) {
    try {
      const m = parseDebianMirror(fs.readFileSync(f, "utf8"));
      if (m) return m;
    } catch {
      /* unreadable */
    }
  }
  return "http://deb.debian.org/debian";
}

/** Builds wepppy-rig/base:bookworm with debootstrap unless an image has that tag. */
export async function ensureBaseImage(log: (m: string) => void): Promise<{ built: boolean }> {
  if (await imageExists(baseImage)) return { built: false };
  const mirror = debianMirror();
  const rootfs = path.join(cacheDir, "rootfs-build");
  fs.rmSync(rootfs, { recursive: true, force: true });
  fs.mkdirSync(paths.debootstrapCache(), { recursive: true });
  log(`debootstrap --variant=minbase bookworm from ${mirror} (once per machine)`);
  await check(debootstrapArgv(rootfs, mirror, paths.debootstrapCache()));
  for (const [rel, content] of Object.entries(baseRootfsFiles())) {
    fs.mkdirSync(path.dirname(path.join(rootfs, rel)), { recursive: true });
    fs.writeFileSync(path.join(rootfs, rel), content);
  }
  log(`docker import -> ${baseImage}`);
  const changes = baseImportChanges().flatMap((c) => ["--change", c]);
  await pipe(
    ["tar", "-C", rootfs, "--numeric-owner", "--exclude=./var/cache/apt/archives/*.deb",
      "--exclude=./var/lib/apt/lists/*", "-c", "."],
    [dockerBin(), "import", ...changes, "-", baseImage],
  );
  fs.rmSync(rootfs, { recursive: true, force: true });
  return { built: true };
}

/** Runs `a | b`, rejecting unless both exit 0. */
export function pipe(a: string[], b: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const pa = spawn(a[0], a.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const pb = spawn(b[0], b.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    pa.stdout.pipe(pb.stdin);
    let err = "";
    pa.stderr.on("data", (d) => (err += d));
    pb.stderr.on("data", (d) => (err += d));
    let done = 0;
    let failed = false;
    const finish = (name: string) => (code: number | null) => {
      if (code !== 0 && !failed) {
        failed = true;
        reject(new Error(`${name} exited ${code}: ${err.trim()}`));
      }
      if (++done === 2 && !failed) resolve();
    };
    pa.on("close", finish(a[0]));
    pb.on("close", finish(b[0]));
  });
}

/** Hash of everything that goes into an image: its build dir's files, build args, the base image. */
export function buildInputsHash(dir: string, baseId: string, buildArgs: Record<string, string> = {}): string {
  const h = crypto.createHash("sha256");
  h.update(`base ${baseId}\n`);
  for (const [k, v] of Object.entries(buildArgs).sort()) h.update(`arg ${k}=${v}\n`);
  const walk = (d: string): string[] =>
    fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)],
    );
  for (const f of walk(dir).sort()) {
    const st = fs.statSync(f);
    h.update(`file ${path.relative(dir, f)} ${st.mode & 0o111 ? "x" : "-"}\n`);
    h.update(fs.readFileSync(f));
  }
  return h.digest("hex").slice(0, 12);
}

/** Local tag of a rig image for its current inputs. */
export async function rigImageTag(name: RigImageName, buildArgs: Record<string, string> = {}): Promise<string> {
  const baseId = await imageId(baseImage);
  return `wepppy-rig/${name}:${buildInputsHash(path.join(imagesDir, name), baseId, buildArgs)}`;
}

/** Builds rig/images/<name> unless an image with its inputs' tag exists. Returns the tag. */
export async function ensureRigImage(
  name: RigImageName,
  log: (m: string) => void,
  buildArgs: Record<string, string> = {},
): Promise<{ tag: string; built: boolean }> {
  const tag = await rigImageTag(name, buildArgs);
  if (await imageExists(tag)) return { tag, built: false };
  log(`building ${tag}`);
  const args = Object.entries(buildArgs).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);
  // --network host: the build's apt-get reaches the Debian mirror as the machine's own apt does.
  await dockerCheck(["build", "--network", "host", "--quiet", ...args, "-t", tag, path.join(imagesDir, name)]);
  return { tag, built: true };
}

export const failureModes = ["none", "never-healthy", "healthy-then-5xx", "slow-start", "crash-on-start", "create-run-fails"] as const;
export type FailureMode = (typeof failureModes)[number];

export interface StandinBuild {
  /** The build's identity, reported by /version and X-Weppcloud-Build. */
  build: string;
  failureMode?: FailureMode;
  slowStartSeconds?: number;
}

export function standinBuildArgs(b: StandinBuild): Record<string, string> {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(b.build)) throw new Error(`bad stand-in build id: ${b.build}`);
  return {
    WEPPCLOUD_BUILD: b.build,
    FAILURE_MODE: b.failureMode ?? "none",
    SLOW_START_SECONDS: String(b.slowStartSeconds ?? 45),
  };
}

/** Builds a stand-in weppcloud variant (one small layer on the cached stand-in layers). */
export async function ensureStandinImage(b: StandinBuild, log: (m: string) => void) {
  return ensureRigImage("weppcloud", log, standinBuildArgs(b));
}

/** Which of the rig's cached images are present on the outer engine. */
export async function cachedImages(): Promise<Array<{ name: string; tag: string; present: boolean }>> {
  const out: Array<{ name: string; tag: string; present: boolean }> = [];
  const basePresent = await imageExists(baseImage);
  out.push({ name: "base", tag: baseImage, present: basePresent });
  for (const name of rigImageNames) {
    if (!basePresent) {
      out.push({ name, tag: `wepppy-rig/${name}:?`, present: false });
      continue;
    }
    const tag = await rigImageTag(name);
    out.push({ name, tag, present: await imageExists(tag) });
  }
  return out;
}

/**
 * The host agent's image (host/agent/Dockerfile on the rig's base), built here because the
 * rig's hosts sit on an internal network and cannot reach a Debian mirror; a real host
 * builds it itself from the same Dockerfile (the stack's agent-image command). Tagged as
 * the stack tags it, so the host's `docker image inspect || docker build` finds it.
 */
export async function ensureAgentImage(log: (m: string) => void): Promise<{ tag: string; built: boolean }> {
  const tag = agentImageTag(baseImage);
  if (await imageExists(tag)) return { tag, built: false };
  log(`building the host agent's image ${tag}`);
  const ctx = fs.mkdtempSync(path.join(cacheDir, "agent-ctx-"));
  try {
    fs.copyFileSync(AGENT_DOCKERFILE, path.join(ctx, "Dockerfile"));
    await dockerCheck(["build", "--network", "host", "--quiet", "--build-arg", `BASE=${baseImage}`, "-t", tag, ctx]);
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
  return { tag, built: true };
}
