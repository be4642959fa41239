import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { hostLimits, imageSubstitutions, readCredentials, readState, RigStatus, transformCompose } from "../../rig";
import { baseImage, imagesDir } from "../../rig/config";
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
 * entrypoint wepppy keeps beside its compose file (not in the reference copy). `from` is
 * another release's docker/ directory (an older layout); what it lacks (defaults.env) comes
 * from the reference copy, and a Caddyfile only where it has one.
 */
export async function stageSource(dir: string, files: string[], host: string, from: string = WEPPPY_REFERENCE_DIR): Promise<void> {
  const standins = readState()?.standins;
  if (!standins) throw new Error("the rig is not up");
  const limits = await hostLimits(host);
  // A rehearsal of another layout must not deploy what an earlier one staged here.
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const file of files) {
    const text = fs.readFileSync(path.join(from, file), "utf8");
    fs.writeFileSync(path.join(dir, file), transformCompose(text, { ...limits, imageSubstitutions: imageSubstitutions(standins) }).yaml);
  }
  // status, preflight, cap and weppcloudr are built from wepppy's source on its hosts;
  // here the stand-in app plays them, named the way wepppy's compose lets one override them.
  const app = standins.weppcloud["rig-a"];
  const ownDefaults = path.join(from, "defaults.env");
  const defaults = fs.readFileSync(fs.existsSync(ownDefaults) ? ownDefaults : path.join(WEPPPY_REFERENCE_DIR, "defaults.env"), "utf8");
  const extra = ["WEPPCLOUD_STATUS_IMAGE", "WEPPCLOUD_PREFLIGHT_IMAGE", "CAP_IMAGE", "WEPPCLOUDR_IMAGE"].map((k) => `${k}=${app}`);
  fs.writeFileSync(path.join(dir, "defaults.env"), `${defaults.trimEnd()}\n\n# rig: images wepppy builds on its hosts\n${extra.join("\n")}\n`);
  const caddyfile = path.join(from, "caddy", "Caddyfile");
  if (fs.existsSync(caddyfile)) {
    fs.mkdirSync(path.join(dir, "caddy"));
    fs.copyFileSync(caddyfile, path.join(dir, "caddy", "Caddyfile"));
  }
  fs.copyFileSync(path.join(imagesDir, "redis", "redis-entrypoint.sh"), path.join(dir, "redis-entrypoint.sh"));
}

/**
 * Config leaves that point a stack at its rig host, registry and staged files, as an
 * operator would set them with `pulumi config set --path` (secrets with --secret).
 */
export function rigOverrides(status: RigStatus, config: StackConfig, sourceDir: string): Array<{ key: string; value: string; secret?: boolean }> {
  const host = rigHostFor(status, config.deploy.host);
  const credentials = readCredentials();
  const leaves: Array<{ key: string; value: string; secret?: boolean }> = [
    { key: `${NAMESPACE}:deploy.address`, value: host.address },
    { key: `${NAMESPACE}:deploy.sshPort`, value: String(host.sshPort) },
    { key: `${NAMESPACE}:deploy.sshUser`, value: host.sshUser },
    { key: `${NAMESPACE}:deploy.hostKey`, value: hostKeyOf(host.hostKey) },
    { key: `${NAMESPACE}:deployKey`, value: fs.readFileSync(host.privateKey, "utf8"), secret: true },
    { key: `${NAMESPACE}:compose.sourceDir`, value: sourceDir },
    // The rig stages wepppy's reference files (adapted for compose v1); they are no git checkout.
    { key: `${NAMESPACE}:compose.sourceAt`, value: "checkout" },
    { key: `${NAMESPACE}:registry.username`, value: credentials.username, secret: true },
    { key: `${NAMESPACE}:registry.password`, value: credentials.password, secret: true },
    // The agent image's base: nothing is pulled here, so the rig's own debootstrapped Debian.
    { key: `${NAMESPACE}:agent.base`, value: baseImage },
  ];
  if (config.image.source === "registry") leaves.push({ key: `${NAMESPACE}:image.repository`, value: rigRepository(status) });
  return leaves;
}

export interface RegistryAuth {
  username: string;
  password: string;
}

/**
 * The digest a tag has in the rig's registry, asked the way the docker provider's
 * getRegistryImage asks: with the credentials of a matching registryAuth block, else
 * anonymously (which the rig's registry, like a private ghcr.io package, refuses).
 */
export function registryDigest(name: string, auth?: RegistryAuth): Promise<string> {
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
        ...(auth ? { auth: `${auth.username}:${auth.password}` } : {}),
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
        else if (res.statusCode === 401) {
          reject(new Error(`Got error when attempting to fetch image version ${name} from registry: 401 Unauthorized${auth ? " (the registryAuth credentials were refused)" : " (no registryAuth for this registry: the lookup was anonymous)"}`));
        } else reject(new Error(`${name}: the registry answered ${res.statusCode}`));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${name}: the registry did not answer in 10 s`)));
    req.on("error", reject);
    req.end();
  });
}

/** The docker provider's registryAuth block for a registry (inputs as the provider received them). */
export function registryAuthFrom(providerInputs: Record<string, unknown> | undefined, registry: string): RegistryAuth | undefined {
  let blocks = providerInputs?.registryAuth;
  if (typeof blocks === "string") blocks = JSON.parse(blocks);
  if (!Array.isArray(blocks)) return undefined;
  const hostOf = (a: string) => a.replace(/^https?:\/\//, "").split("/")[0];
  const block = blocks.find((b) => typeof b?.address === "string" && hostOf(b.address) === registry);
  return block && typeof block.username === "string" && typeof block.password === "string" ? { username: block.username, password: block.password } : undefined;
}

/** How the rig answers the program's provider functions. */
export async function rigInvoke(token: string, args: Record<string, unknown>, providerInputs?: Record<string, unknown>): Promise<Record<string, unknown>> {
  if (token === "docker:index/getRegistryImage:getRegistryImage") {
    const name = String(args.name);
    const digest = await registryDigest(name, registryAuthFrom(providerInputs, name.split("/")[0]));
    return { id: name, name, sha256Digest: digest };
  }
  if (token === "github:index/getUser:getUser") {
    // The GitHub API cannot be reached from here: a login's id is derived from the login.
    const id = parseInt(createHash("sha256").update(String(args.username)).digest("hex").slice(0, 8), 16);
    return { id: String(id), login: args.username, username: args.username };
  }
  if (token === "github:index/getActionsRegistrationToken:getActionsRegistrationToken") {
    // GitHub cannot be reached: a one-hour token of the shape GitHub gives, new on every call as GitHub's is.
    return { repository: args.repository, token: `RIG${randomBytes(18).toString("hex").toUpperCase()}`, expiresAt: Math.floor(Date.now() / 1000) + 3600 };
  }
  throw new Error(`a rehearsal cannot answer ${token}`);
}
