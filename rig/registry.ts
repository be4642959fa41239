/**
 * The rig's registry: Debian's docker-registry in its own container on the rig network, standing in
 * for ghcr.io. TLS with a throwaway CA (so `docker login`/pull work as against ghcr.io, with no
 * insecure-registries setting on any engine: the engines trust the CA through certs.d), htpasswd
 * auth, storage in the machine cache so pushed stand-ins survive `rig down`.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { paths, registry } from "./config";
import { registryCertArgvs, registryCertExtFile, registryConfigYaml, registryRunArgv } from "./commands";
import { check, run, sleep } from "./exec";
import { docker, dockerCheck, dockerOut } from "./dockerd";

export interface RegistryCredentials {
  registry: string;
  username: string;
  password: string;
  /** CA that signed the registry's certificate. */
  caFile: string;
}

export function readCredentials(): RegistryCredentials {
  return JSON.parse(fs.readFileSync(paths.credentials(), "utf8")) as RegistryCredentials;
}

/** New CA, certificate, password and htpasswd under .rig/registry; config in its /rig mount. */
export async function prepareRegistryFiles(registryImage: string): Promise<RegistryCredentials> {
  const dir = paths.registryDir();
  const mount = paths.registryMount();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(mount, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, "registry.ext"), registryCertExtFile());
  for (const argv of registryCertArgvs(dir)) await check(argv);
  fs.copyFileSync(path.join(dir, "registry.crt"), path.join(mount, "registry.crt"));
  fs.copyFileSync(path.join(dir, "registry.key"), path.join(mount, "registry.key"));
  fs.chmodSync(path.join(mount, "registry.key"), 0o600);
  fs.writeFileSync(path.join(mount, "config.yml"), registryConfigYaml());
  const password = crypto.randomBytes(18).toString("base64url");
  // bcrypt htpasswd from the registry image's own htpasswd; the password goes through stdin.
  const htpasswd = await dockerOut(
    ["run", "--rm", "-i", "--network", "none", registryImage, "htpasswd", "-niB", registry.username],
    { input: `${password}\n` },
  );
  fs.writeFileSync(path.join(mount, "htpasswd"), `${htpasswd}\n`, { mode: 0o600 });
  const creds: RegistryCredentials = {
    registry: registry.address,
    username: registry.username,
    password,
    caFile: paths.registryCa(),
  };
  fs.writeFileSync(paths.credentials(), `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(paths.credentials(), 0o600);
  return creds;
}

/** The outer engine trusts the rig CA for the registry's address (removed by `rig down`). */
export function trustOnRigMachine(): void {
  fs.mkdirSync(paths.outerCertsD(), { recursive: true });
  fs.copyFileSync(paths.registryCa(), path.join(paths.outerCertsD(), "ca.crt"));
}

export function untrustOnRigMachine(): void {
  fs.rmSync(paths.outerCertsD(), { recursive: true, force: true });
}

export async function startRegistry(registryImage: string): Promise<void> {
  fs.mkdirSync(paths.registryStorage(), { recursive: true });
  await dockerCheck(registryRunArgv(registryImage, paths.registryMount(), paths.registryStorage()));
  // Up when /v2/ answers 401 (auth required) over TLS with the rig CA.
  for (let i = 0; i < 100; i++) {
    const r = await run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
      "--cacert", paths.registryCa(), `https://${registry.address}/v2/`]);
    if (r.stdout.trim() === "401") return;
    await sleep(200);
  }
  const logs = await docker(["logs", "--tail", "20", registry.container]);
  throw new Error(`registry did not answer on https://${registry.address}/v2/\n${logs.stdout}${logs.stderr}`);
}

/** `docker login` into the rig's own DOCKER_CONFIG (the user's ~/.docker is left alone). */
export async function loginOnRigMachine(creds: RegistryCredentials): Promise<void> {
  fs.mkdirSync(paths.dockerConfig(), { recursive: true, mode: 0o700 });
  await dockerCheck(["--config", paths.dockerConfig(), "login", "--username", creds.username, "--password-stdin", creds.registry], {
    input: `${creds.password}\n`,
  });
}

/**
 * Pushes a local image as <registry>/<repository>:<tag> and returns the digest reference
 * (<registry>/<repository>@sha256:...), the form deployments pin.
 */
export async function pushImage(localRef: string, repository: string, tag: string): Promise<string> {
  const remote = `${registry.address}/${repository}:${tag}`;
  await dockerCheck(["tag", localRef, remote]);
  const r = await dockerCheck(["--config", paths.dockerConfig(), "push", remote]);
  const m = /digest: (sha256:[0-9a-f]{64})/.exec(r.stdout);
  if (!m) throw new Error(`no digest in the output of docker push ${remote}:\n${r.stdout}`);
  return `${registry.address}/${repository}@${m[1]}`;
}

/** Size in bytes of the registry's storage directory. */
export async function registryStorageBytes(): Promise<number> {
  const r = await run(["du", "-sb", paths.registryStorage()]);
  return r.code === 0 ? Number(r.stdout.split(/\s+/)[0]) : 0;
}

/**
 * A stand-in weppcloud build with its own name and digest (one tiny layer on `base`),
 * published under rogerlew/wepppy:<tag>, as CI publishes a commit's image.
 */
export async function publishDerivedBuild(base: string, build: string, tag: string): Promise<string> {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(build)) throw new Error(`not a build name: ${build}`);
  const local = `wepppy-derived/weppcloud:${build}`;
  // The stand-in's own Python rewrites its JSON (the build name was checked above: a plain word).
  const rewrite = `import json; p = "/etc/weppcloud-standin.json"; d = json.load(open(p)); d["build"] = "${build}"; json.dump(d, open(p, "w"))`;
  const dockerfile = `FROM ${base}\nRUN python3 -c '${rewrite}'\n`;
  const r = await docker(["build", "-q", "-t", local, "-"], { input: dockerfile });
  if (r.code !== 0) throw new Error(`docker build of ${build} failed: ${r.stderr}`);
  return pushImage(local, "rogerlew/wepppy", tag);
}
