import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { hostLimits, imageSubstitutions, readCredentials, readState, RigStatus, transformCompose } from "../../rig";
import { imagesDir } from "../../rig/config";
import { NAMESPACE } from "../../config/environments";
import { StackConfig } from "../../config/schema";
import { WEPPPY_REFERENCE_DIR } from "../../config/paths";

/*
 * How a stack is pointed at the rig instead of wepppy's LAN: the only differences from
 * the stack file, each an override `pulumi config set --path` could make.
 */

/** The repository testprod's images are published to on the rig (ghcr.io/rogerlew/wepppy there). */
export function rigRepository(status: RigStatus): string {
  return `${status.registry.address}/rogerlew/wepppy`;
}

/** The host that plays a stack's host: forest.bearhive.internal -> forest, and so on. */
export function rigHostFor(status: RigStatus, configuredHost: string) {
  const short = configuredHost.split(".")[0];
  const host = status.hosts.find((h) => h.name === short);
  if (!host) throw new Error(`the rig has no host for ${configuredHost} (it has ${status.hosts.map((h) => h.name).join(", ")})`);
  return host;
}

/** The "<type> <base64>" part of a known_hosts line. */
export function hostKeyOf(knownHostsLine: string): string {
  const parts = knownHostsLine.trim().split(/\s+/);
  return parts.slice(-2).join(" ");
}

/**
 * wepppy's docker/ files as the rig can run them: the compose files adapted for compose v1
 * by the rig's tested transformation, its Caddyfile and defaults.env, and the redis
 * entrypoint wepppy keeps beside its compose file (not in the reference copy).
 */
export async function stageSource(dir: string, files: string[], host: string): Promise<void> {
  const standins = readState()?.standins;
  if (!standins) throw new Error("the rig is not up");
  const limits = await hostLimits(host);
  fs.mkdirSync(path.join(dir, "caddy"), { recursive: true });
  for (const file of files) {
    const text = fs.readFileSync(path.join(WEPPPY_REFERENCE_DIR, file), "utf8");
    fs.writeFileSync(path.join(dir, file), transformCompose(text, { ...limits, imageSubstitutions: imageSubstitutions(standins) }).yaml);
  }
  // status, preflight, cap and weppcloudr are built from wepppy's source on its hosts;
  // here the stand-in app plays them, named the way wepppy's compose lets one override them.
  const app = standins.weppcloud["rig-a"];
  const defaults = fs.readFileSync(path.join(WEPPPY_REFERENCE_DIR, "defaults.env"), "utf8");
  const extra = ["WEPPCLOUD_STATUS_IMAGE", "WEPPCLOUD_PREFLIGHT_IMAGE", "CAP_IMAGE", "WEPPCLOUDR_IMAGE"].map((k) => `${k}=${app}`);
  fs.writeFileSync(path.join(dir, "defaults.env"), `${defaults.trimEnd()}\n\n# rig: images wepppy builds on its hosts\n${extra.join("\n")}\n`);
  fs.copyFileSync(path.join(WEPPPY_REFERENCE_DIR, "caddy", "Caddyfile"), path.join(dir, "caddy", "Caddyfile"));
  fs.copyFileSync(path.join(imagesDir, "redis", "redis-entrypoint.sh"), path.join(dir, "redis-entrypoint.sh"));
}

/** Overrides that point a stack at its rig host, registry and staged files. */
export function rigOverrides(status: RigStatus, config: StackConfig, sourceDir: string): Record<string, unknown> {
  const host = rigHostFor(status, config.deploy.host);
  const credentials = readCredentials();
  const overrides: Record<string, unknown> = {
    "deploy.address": host.address,
    "deploy.sshPort": host.sshPort,
    "deploy.sshUser": host.sshUser,
    "deploy.hostKey": hostKeyOf(host.hostKey),
    deployKey: fs.readFileSync(host.privateKey, "utf8"),
    "compose.command": "docker-compose",
    "compose.sourceDir": sourceDir,
    registry: { username: credentials.username, password: credentials.password },
  };
  if (config.image.source === "registry") overrides["image.repository"] = rigRepository(status);
  return overrides;
}

/** Keys whose override values are secret, as `pulumi config set --secret` would mark them. */
export const RIG_SECRET_KEYS = [`${NAMESPACE}:deployKey`, `${NAMESPACE}:registry`];

/** The digest a tag has in the rig's registry, asked the way a registry client asks. */
export function registryDigest(name: string): Promise<string> {
  const credentials = readCredentials();
  const m = /^([^/]+)\/(.+):([A-Za-z0-9_][A-Za-z0-9_.-]*)$/.exec(name);
  if (!m) return Promise.reject(new Error(`not a <registry>/<repository>:<tag> reference: ${name}`));
  const [, registry, repository, tag] = m;
  if (registry !== credentials.registry) {
    return Promise.reject(new Error(`${name}: only the rig's registry (${credentials.registry}) can be reached here`));
  }
  const [hostname, port] = registry.split(":");
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        method: "HEAD",
        hostname,
        port: Number(port ?? 443),
        path: `/v2/${repository}/manifests/${tag}`,
        ca: fs.readFileSync(credentials.caFile),
        auth: `${credentials.username}:${credentials.password}`,
        timeout: 10_000,
        headers: {
          Accept: [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
          ].join(", "),
        },
      },
      (res) => {
        res.resume();
        const digest = res.headers["docker-content-digest"];
        if (res.statusCode === 200 && typeof digest === "string") resolve(digest);
        else if (res.statusCode === 404) reject(new Error(`${name} is not in the registry`));
        else reject(new Error(`${name}: the registry answered ${res.statusCode}`));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${name}: the registry did not answer in 10 s`)));
    req.on("error", reject);
    req.end();
  });
}
