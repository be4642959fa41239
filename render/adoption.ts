import { NAMESPACE } from "../config/environments";
import { StackConfig } from "../config/schema";
import { BLUEGREEN } from "./bluegreen/constants";
import { composeServices, parseComposeText, relativeMounts } from "./composeFile";
import { interpolate } from "./composeInterpolation";
import { ComposeLayout, ENV_SECRET_VARIABLES, ISSUED_ELSEWHERE, composeLayout, envSafeValue, looksSecret, stackSecretNames, unsupplied } from "./composeLayout";
import { HostSnapshot } from "./adoptCommands";
import { hostComposeFiles } from "./deploySettings";

/** .env variables the agent decides on the host at each deploy (blue/green's images and live colour). */
const AGENT_ENV = new Set<string>([...Object.values(BLUEGREEN.imageVariables), BLUEGREEN.liveVariable]);
import { Sealed, seal } from "./sealed";

export type { HostSnapshot };

/*
 * Adoption planning, the pure half of `wepppy-cicd adopt`: from what a host runs today (a
 * HostSnapshot, read by the commands in adoptCommands.ts) and the stack's own config and
 * compose files, the config to set (plain), the secrets to set (secret, byte for byte), and
 * what the first `pulumi up` will then keep and change on the host. It changes nothing.
 *
 * The rule is "lose nothing": the stack takes the host's project name and directory (so
 * compose finds the same containers and volumes), every secret the release reads from where
 * the host keeps it (secret file or .env), and the .env values the release or its services
 * read. What it cannot carry over is `blocking`: the CLI must not report such a plan as safe.
 * No value of a secret appears in any line; secret values are Sealed.
 */

type Json = Record<string, unknown>;

/** The stack, as the first `up` would deploy it. */
export interface StackSide {
  stack: string;
  config: StackConfig;
  /** The compose files the stack deploys (readComposeDocument), named as in compose.files. */
  compose: Array<{ name: string; doc: Json }>;
  /**
   * The stack's env file as it would be written without adoption, plain: defaults.env where it
   * is rendered over it, and envValues() (with WEPPCLOUD_IMAGE resolved, if known).
   */
  envFile: Record<string, string>;
  /** How the stack writes secret files (host/wepppy-deploy.sh write-secrets). */
  secretFiles?: { mode: string; uid: number | "root"; gid: number | "docker" };
}

export interface ConfigToSet {
  /** `pulumi config set --path` key, e.g. wepppy-cicd:compose.projectName. */
  key: string;
  value: string | number;
  why: string;
}

export interface SecretToSet {
  /** `pulumi config set --secret --path` key, e.g. wepppy-cicd:secrets.postgres_password. */
  key: string;
  /** The stack secret. */
  name: string;
  /** Where on the host it was read: secrets/<file> or .env <VARIABLE>. */
  from: string;
  /** The value, byte for byte. Pipe secretConfigStdin(value.reveal()) into `pulumi config set --secret --path KEY`. */
  value: Sealed<string>;
}

export interface AdoptionPlan {
  host: string;
  project: string;
  config: ConfigToSet[];
  secrets: SecretToSet[];
  /** What the first `up` after adoption keeps and changes on the host, one line each. */
  plan: string[];
  warnings: string[];
  /** What the first `up` would lose or break: adopt must exit non-zero while any is left. */
  blocking: string[];
}

/** The Pulumi config path of a key: dotted where each segment allows it, `["..."]` otherwise. */
export function configPath(...segments: string[]): string {
  const [first, ...rest] = segments;
  const tail = rest.map((s) => (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`)).join("");
  return `${NAMESPACE}:${first}${tail}`;
}

/**
 * What to pipe into `pulumi config set --secret --path KEY` so that the value is stored byte for
 * byte: the CLI drops one trailing newline from piped stdin (pulumi/pulumi
 * pkg/cmd/pulumi/config/config_set.go, cmdutil.RemoveTrailingNewline), so one is added.
 * Never pass a secret as the value argument (argv), which is also what the Automation API's
 * setConfig does.
 */
export function secretConfigStdin(value: string): string {
  return `${value}\n`;
}

/** The config key under which adopted plain .env values are kept (the schema must carry it; see the report). */
export const ADOPTED_ENV_SECTION = ["compose", "env"] as const;

/** A plain value renderEnvFile can write as `KEY=value` for compose to read back unchanged. */
function envLineSafe(value: string): boolean {
  return !/[\n\r\0$]/.test(value) && !/\s#/.test(value) && value === value.trim() && !/^["']/.test(value);
}

const PLAIN_SEGMENTS = /^\/(?:[A-Za-z0-9._-]+\/)*[A-Za-z0-9._-]+$/;

function list(items: string[], max = 6): string {
  return items.length > max ? `${items.slice(0, max).join(", ")} and ${items.length - max} more` : items.join(", ");
}

/** Whether a process running as uid:gid (primary group only) may read a file with this mode and owner. */
function canRead(uid: number, gid: number | undefined, mode: string, fileUid: number, fileGid: number | undefined): boolean {
  if (uid === 0) return true;
  const bits = parseInt(mode, 8);
  if (uid === fileUid) return (bits & 0o400) !== 0;
  if (gid !== undefined && gid === fileGid) return (bits & 0o040) !== 0;
  return (bits & 0o004) !== 0;
}

function sameBytes(a: Buffer, b: string): boolean {
  return a.equals(Buffer.from(b, "utf8"));
}

/** Named volumes a document's services use: compose key -> services. */
function usedVolumes(doc: Json): Map<string, string[]> {
  const declared = (doc.volumes && typeof doc.volumes === "object" ? doc.volumes : {}) as Record<string, unknown>;
  const out = new Map<string, string[]>();
  for (const [service, svc] of Object.entries(composeServices(doc))) {
    for (const v of Array.isArray(svc.volumes) ? svc.volumes : []) {
      const source = typeof v === "string" ? v.split(":")[0] : v && typeof v === "object" && (v as Json).type === "volume" ? String((v as Json).source ?? "") : "";
      if (source && source in declared) out.set(source, [...(out.get(source) ?? []), service]);
    }
  }
  return out;
}

function volumeName(doc: Json, key: string, project: string): { name: string; external: boolean } {
  const spec = ((doc.volumes as Json | undefined)?.[key] ?? {}) as Json | null;
  const external = spec?.external === true || (typeof spec?.external === "object" && spec?.external !== null);
  const explicit = typeof spec?.name === "string" ? spec.name : undefined;
  return { name: explicit ?? (external ? key : `${project}_${key}`), external };
}

/** Plans the adoption of what `snapshot` runs by `stack`. Pure; see the file comment. */
export function planAdoption(stack: StackSide, snapshot: HostSnapshot): AdoptionPlan {
  const cfg = stack.config;
  const config: ConfigToSet[] = [];
  const secrets: SecretToSet[] = [];
  const plan: string[] = [];
  const warnings: string[] = [];
  const blocking: string[] = [];
  const set = (segments: string[], value: string | number, current: unknown, why: string) => {
    if (current !== value) config.push({ key: configPath(...segments), value, why });
  };
  const building = cfg.image.source === "build";
  const bluegreen = cfg.bluegreen.enabled;
  const hostEnv = snapshot.env.values.reveal();

  // 1. Project name and directory: compose names containers and volumes after the project.
  const project = snapshot.project.name;
  if (!/^[a-zA-Z0-9_.-]+$/.test(project)) blocking.push(`the host's compose project is named ${JSON.stringify(project)}, which wepppy-cicd:compose.projectName cannot hold`);
  else {
    set(["compose", "projectName"], project, cfg.compose.projectName, "compose finds today's containers and volumes by the project name wctl used");
    plan.push(`project name ${project} (same as wctl${cfg.compose.projectName !== project ? `; the stack had ${cfg.compose.projectName}` : ""})`);
  }
  const dir = snapshot.project.workingDir.replace(/\/+$/, "");
  if (!PLAIN_SEGMENTS.test(dir) || dir.split("/").includes("..")) {
    blocking.push(`compose runs in ${JSON.stringify(dir)} on the host, which wepppy-cicd:compose.projectDir cannot hold (plain path segments only)`);
  } else {
    set(["compose", "projectDir"], dir, cfg.compose.projectDir, "relative mounts (../wepppy/..., ./redis-entrypoint.sh) and secrets/ keep resolving where wctl has them");
    plan.push(`compose runs in ${dir} (same as wctl${cfg.compose.projectDir !== dir ? `; the stack had ${cfg.compose.projectDir}` : ""})`);
    if (!building) {
      const copied = [...new Set([...cfg.compose.files, ...stack.compose.flatMap((c) => relativeMounts(c.doc)), "defaults.env"])];
      const inCheckout = snapshot.checkout && (dir === snapshot.checkout.dir || dir.startsWith(snapshot.checkout.dir + "/"));
      plan.push(`copies the release's ${list(copied)} into ${dir}${inCheckout ? ` (over the checkout's own: git in ${snapshot.checkout!.dir} will show them as local changes where they differ)` : ""}`);
    }
  }

  // 2. Compose files: the host's -f list is what its services are made of.
  const hostFiles = snapshot.project.configFiles;
  const outside = hostFiles.filter((f) => f.startsWith("/") || f.includes("/"));
  if (outside.length > 0) blocking.push(`the host's project was started with compose files outside ${dir}: ${list(outside)}`);
  // wctl's list, or the one the stack itself runs there (an adopt after the stack's first up).
  else if (hostFiles.join(" ") !== cfg.compose.files.join(" ") && hostFiles.join(" ") !== hostComposeFiles(cfg, stack.compose.map((c) => c.doc)).join(" ")) {
    blocking.push(
      `the host runs ${hostFiles.map((f) => `-f ${f}`).join(" ")} and the stack deploys ${cfg.compose.files.map((f) => `-f ${f}`).join(" ")}: what only ${list(hostFiles.filter((f) => !cfg.compose.files.includes(f)).concat(cfg.compose.files.filter((f) => !hostFiles.includes(f))))} defines would change; set wepppy-cicd:compose.files to the host's list (files in compose.sourceDir) and run adopt again`,
    );
  }

  // 3. Services and their images.
  const stackServices = new Map<string, Json>();
  for (const { doc } of stack.compose) for (const [name, svc] of Object.entries(composeServices(doc))) stackServices.set(name, svc);
  const app = cfg.compose.appService;
  const colourNames: string[] = bluegreen ? [BLUEGREEN.services.blue, BLUEGREEN.services.green] : [];
  const kept: string[] = [];
  const rebuilt: string[] = [];
  const moved = new Map<string, string[]>();
  for (const [name, svc] of stackServices) {
    if ("profiles" in svc) continue;
    const running = snapshot.services[name];
    const target = typeof svc.image === "string" ? interpolate(svc.image, stack.envFile) : undefined;
    const after = target ?? "the stack's image";
    if (bluegreen && name === app) {
      plan.push(`${app} (today's single app container${running ? `, ${running.image}` : ""}) gives way to ${colourNames.join(" and ")} running ${after}; the first blue/green deploy removes it as an orphan once they run`);
      continue;
    }
    if (!running) plan.push(`starts ${name} (not running today)`);
    else if (building && svc.build) rebuilt.push(name);
    else if (running.image === after) kept.push(name);
    else {
      const key = `${running.image} -> ${after}`;
      moved.set(key, [...(moved.get(key) ?? []), name]);
    }
  }
  if (kept.length > 0) plan.push(`keeps the image of ${kept.length} service${kept.length === 1 ? "" : "s"} (${list(kept)})`);
  if (rebuilt.length > 0 && cfg.image.source === "build") plan.push(`rebuilds ${list(rebuilt)} on the host from ${cfg.image.checkout} at ${cfg.image.ref}`);
  for (const [change, names] of moved) plan.push(`changes the image of ${list(names)}: ${change}`);
  for (const name of Object.keys(snapshot.services)) {
    if (!stackServices.has(name) && !colourNames.includes(name)) {
      warnings.push(`${name} runs on the host but is in none of the release's compose files: compose leaves it running (an orphan) unless a deploy removes orphans`);
    }
  }

  // 4. Volumes, named as compose names them for the adopted project.
  const volumesHere = new Map(snapshot.volumes.map((v) => [v.name, v]));
  const usedNames = new Set<string>();
  for (const { name: file, doc } of stack.compose) {
    for (const [key, services] of usedVolumes(doc)) {
      const { name, external } = volumeName(doc, key, project);
      usedNames.add(name);
      if (volumesHere.has(name)) plan.push(`keeps volume ${name} (${list(services)})`);
      else if (external) blocking.push(`${file}: volume ${key} is external (${name}) and does not exist on the host: compose would refuse to start ${list(services)}`);
      else {
        const runningUsers = services.filter((s) => s in snapshot.services);
        if (runningUsers.length > 0) {
          blocking.push(`the host runs ${list(runningUsers)} but has no volume ${name}: the first up would start ${runningUsers.length === 1 ? "it" : "them"} on a new, empty volume (is the data kept elsewhere, under another project name?)`);
        } else plan.push(`creates volume ${name} (new, for ${list(services)})`);
      }
    }
  }
  for (const v of snapshot.volumes) if (!usedNames.has(v.name)) plan.push(`leaves volume ${v.name} alone (the release does not use it)`);

  // 5. Secrets: each one the release reads, from where the host keeps it.
  const stackLayout = composeLayout(stack.compose);
  let hostLayout: ComposeLayout | undefined;
  let hostDocs: Json[] = [];
  try {
    const parsed = Object.entries(snapshot.composeFiles).map(([name, text]) => ({ name, doc: parseComposeText(text, `${snapshot.host}:${dir}/${name}`) }));
    hostLayout = composeLayout(parsed);
    hostDocs = parsed.map((p) => p.doc);
  } catch (err) {
    warnings.push(`the host's compose files could not be read (${(err as Error).message}); secrets are looked for in both secrets/ and .env`);
  }
  const names = stackSecretNames(stackLayout);
  const stackEnvSecret = new Set(stackLayout.envSecrets.map((e) => e.secret));
  const usedFiles = new Set<string>();
  const written: string[] = [];
  const adopted = new Set<string>();
  for (const name of names) {
    const fileName = (hostLayout?.secretFiles.find((s) => s.name === name)?.file ?? stackLayout.secretFiles.find((s) => s.name === name)?.file ?? `./secrets/${name}`).replace(/^\.\/secrets\//, "");
    const hostFile = snapshot.secretFiles[fileName];
    if (hostFile) usedFiles.add(fileName);
    const variable =
      hostLayout?.envSecrets.find((e) => e.secret === name)?.variable ?? Object.keys(ENV_SECRET_VARIABLES).find((v) => ENV_SECRET_VARIABLES[v] === name && v in hostEnv);
    const envValue = variable !== undefined ? hostEnv[variable] : undefined;
    const readsFile = hostLayout ? hostLayout.secretFiles.some((s) => s.name === name) : hostFile !== undefined;
    const readsEnv = hostLayout ? hostLayout.envSecrets.some((e) => e.secret === name) : envValue !== undefined;

    let value: string | undefined;
    let from = "";
    if (hostFile && (readsFile || !readsEnv || envValue === undefined)) {
      const bytes = hostFile.content.reveal();
      const text = bytes.toString("utf8");
      if (!sameBytes(bytes, text)) {
        blocking.push(`secrets/${fileName} is not UTF-8 text: Pulumi config holds text, so ${name} cannot be adopted byte for byte`);
        continue;
      }
      value = text;
      from = `secrets/${fileName}`;
      if (envValue !== undefined && envSafeValue(text) !== envValue) {
        warnings.push(`the host has ${name} both in secrets/${fileName} and in .env as ${variable}, with different values; adopting secrets/${fileName}, which the running layout reads`);
      }
    } else if (envValue !== undefined) {
      value = envValue;
      from = `.env ${variable}`;
    }
    if (value === undefined) {
      if (name in cfg.secrets) written.push(`writes ${name} from the stack's config (the host has none)`);
      else if (ISSUED_ELSEWHERE.has(name)) written.push(`writes ${name} empty (issued elsewhere and not set: that feature stays off)`);
      else {
        written.push(`generates ${name} (a new random value: the host has none)`);
        const data = name === "postgres_password" ? "postgres" : name === "redis_password" ? "redis" : undefined;
        // The data volume itself (postgres-data), before any other of its name (postgres-backups sorts first).
        const dataVolume =
          data && (snapshot.volumes.find((v) => v.composeName === `${data}-data`) ?? snapshot.volumes.find((v) => v.composeName?.startsWith(data) || v.name.includes(`${data}-data`)));
        if (data && (data in snapshot.services || dataVolume)) {
          const envName = variable ?? Object.keys(ENV_SECRET_VARIABLES).find((v) => ENV_SECRET_VARIABLES[v] === name);
          blocking.push(`the host runs ${data}${dataVolume ? ` with volume ${dataVolume.name}` : ""} but no ${name} was found (secrets/${fileName}${envName ? ` or .env ${envName}` : ""}): a generated password would not open its data`);
        }
      }
      continue;
    }
    if (stackEnvSecret.has(name) && envSafeValue(value) === undefined) {
      blocking.push(`${name} (from ${from}) cannot be written to .env, which this release's older layout reads it from: it holds whitespace, a quote, '$', '#' or '\\'`);
      continue;
    }
    adopted.add(name);
    if (cfg.secrets[name] === value) continue;
    if (name in cfg.secrets) warnings.push(`the stack's config has another value for ${name} than the host's ${from}; adopting the host's, which the running app uses`);
    secrets.push({ key: configPath("secrets", name), name, from, value: seal(value) });
  }
  if (written.length === 0) plan.push(`writes no secret that differs from the host's (all ${adopted.size} adopted byte for byte)`);
  else plan.push(...written, `keeps ${adopted.size} secret${adopted.size === 1 ? "" : "s"} byte for byte`);
  for (const f of Object.keys(snapshot.secretFiles).sort()) if (!usedFiles.has(f)) plan.push(`leaves secrets/${f} as it is (the release does not read it)`);
  for (const s of snapshot.skipped) warnings.push(`${s}: not read, not adopted`);

  // Owner and mode of the secret files, and whether the services that run as a user can read them.
  const how = stack.secretFiles ?? { mode: "0640", uid: "root" as const, gid: "docker" as const };
  const modes = [...new Set(Object.entries(snapshot.secretFiles).filter(([f]) => usedFiles.has(f)).map(([, f]) => `${f.mode} ${f.uid}:${f.gid}`))];
  const owner = `${how.uid}:${how.gid}`;
  if (modes.length > 0 && !(modes.length === 1 && modes[0] === `${how.mode} ${owner}`)) plan.push(`secret files become ${how.mode} ${owner} (today: ${modes.join(", ")})`);
  // 6. .env: what the release and its services read from it.
  for (const p of snapshot.env.problems) blocking.push(`.env: ${p}: its value cannot be carried over exactly`);
  const usesOf = new Set(stackLayout.uses.map((u) => u.variable));
  // Today's services see .env's values in their environment when their env_file is the project's .env.
  const hostServicesReadEnv = hostDocs.some((doc) =>
    Object.values(composeServices(doc)).some((svc) =>
      (Array.isArray(svc.env_file) ? svc.env_file : svc.env_file === undefined ? [] : [svc.env_file]).some((e) => {
        const file = interpolate(typeof e === "string" ? e : String((e as Json)?.path ?? ""), hostEnv);
        return file === ".env" || file === "./.env";
      }),
    ),
  );
  const adoptedEnv: Record<string, string> = {};
  const changed: string[] = [];
  const added: string[] = [];
  const dropped: string[] = [];
  const currentEnv = ((cfg.compose as Record<string, unknown>).env ?? {}) as Record<string, string>;
  for (const [key, value] of Object.entries(hostEnv).sort(([a], [b]) => a.localeCompare(b))) {
    if (key in ENV_SECRET_VARIABLES) {
      if (!names.includes(ENV_SECRET_VARIABLES[key])) dropped.push(`${key} (the release does not read ${ENV_SECRET_VARIABLES[key]})`);
      else if (!stackEnvSecret.has(ENV_SECRET_VARIABLES[key])) dropped.push(`${key} (the release reads ${ENV_SECRET_VARIABLES[key]} from secrets/)`);
      continue;
    }
    // What the agent itself writes at each deploy (the colours' images, the live colour): not config.
    if (AGENT_ENV.has(key)) continue;
    if (key in stack.envFile) {
      if (stack.envFile[key] === value) continue;
      if ((key === "UID" || key === "GID") && /^[0-9]+$/.test(value)) {
        set(["runAs", key === "UID" ? "uid" : "gid"], Number(value), cfg.runAs[key === "UID" ? "uid" : "gid"], `the host's services run as ${key}=${value} and own their files as it`);
        continue;
      }
      changed.push(looksSecret(key) ? key : `${key}: ${value} -> ${stack.envFile[key]}`);
      continue;
    }
    const read = usesOf.has(key) || hostServicesReadEnv;
    if (!read) {
      dropped.push(`${key} (nothing reads it: not in the compose files, and the services read defaults.env)`);
      continue;
    }
    if (looksSecret(key)) {
      blocking.push(`.env ${key} looks like a secret that the stack has no place for (not one of ENV_SECRET_VARIABLES); ${usesOf.has(key) ? "the compose files use it" : "the services read .env"}, so dropping it would change what they get`);
      continue;
    }
    if (!envLineSafe(value)) {
      blocking.push(`.env ${key}: its value cannot be written back as one plain KEY=value line (a newline, '$', ' #', quotes or surrounding spaces)`);
      continue;
    }
    adoptedEnv[key] = value;
    set([...ADOPTED_ENV_SECTION, key], value, currentEnv[key], usesOf.has(key) ? "the release's compose files use it" : "the services read .env (WEPPPY_ENV_FILE=.env on the host)");
  }
  for (const key of Object.keys(stack.envFile).sort()) if (!(key in hostEnv)) added.push(key);
  if (changed.length > 0) plan.push(`changes in .env: ${changed.join("; ")}`);
  if (added.length > 0) plan.push(`adds to .env: ${list(added, 12)}`);
  if (dropped.length > 0) plan.push(`drops from .env: ${dropped.join("; ")}`);
  if (stack.envFile.WEPPPY_ENV_FILE === ".env" && !hostServicesReadEnv) plan.push("services read .env instead of defaults.env as their env_file (WEPPPY_ENV_FILE=.env)");

  // Whether the services that run as a user can read their secret files, today and after.
  const afterEnv: Record<string, string> = { ...stack.envFile, ...currentEnv, ...adoptedEnv };
  for (const c of config) {
    if (c.key === configPath("runAs", "uid")) afterEnv.UID = String(c.value);
    if (c.key === configPath("runAs", "gid")) afterEnv.GID = String(c.value);
  }
  const writtenUid = how.uid === "root" ? 0 : how.uid;
  const writtenGid = how.gid === "docker" ? snapshot.dockerGid : how.gid;
  for (const [name, svc] of stackServices) {
    if (typeof svc.user !== "string" || "profiles" in svc) continue;
    const mounted = (Array.isArray(svc.secrets) ? svc.secrets : []).map((x) => (typeof x === "string" ? x : String((x as Json)?.source)));
    const files = stackLayout.secretFiles.filter((f) => mounted.includes(f.name));
    if (files.length === 0) continue;
    const user = interpolate(svc.user, afterEnv);
    const m = user ? /^([0-9]+)(?::([0-9]+))?$/.exec(user) : null;
    if (!m) continue;
    const uid = Number(m[1]);
    const gid = m[2] !== undefined ? Number(m[2]) : undefined;
    const after = canRead(uid, gid, how.mode, writtenUid, writtenGid);
    const today = files.every((f) => {
      const h = snapshot.secretFiles[f.file.replace(/^\.\/secrets\//, "")];
      return h ? canRead(uid, gid, h.mode, h.uid, h.gid) : true;
    });
    if (!after && today) {
      warnings.push(`${name} runs as ${user} and reads ${list(files.map((f) => f.name))}, which it can read today; the stack writes secret files ${how.mode} ${owner}${how.gid === "docker" ? ` (docker is gid ${snapshot.dockerGid ?? "unknown"} here)` : ""}, which it could not (issue 12, item 5)`);
    }
  }

  // What the first up would still refuse (checkSupply), with everything adopted.
  // After adoption a secret has a value if it was adopted, is in config, or will be generated.
  const withValue = names.filter((n) => adopted.has(n) || n in cfg.secrets || !ISSUED_ELSEWHERE.has(n));
  const empty = names.filter((n) => !withValue.includes(n));
  for (const m of unsupplied(stackLayout, { env: { ...stack.envFile, ...currentEnv, ...adoptedEnv }, secrets: withValue, emptySecrets: empty })) {
    warnings.push(`the first up will be refused until this is set: ${m.message}`);
  }

  // 7. The checkout: dev builds in it, and it is the developer's.
  if (cfg.image.source === "build" && snapshot.checkout) {
    const c = snapshot.checkout;
    set(["image", "checkout"], c.dir, cfg.image.checkout, "the host's checkout, which compose builds from");
    if (c.branch !== cfg.image.ref) warnings.push(`the checkout ${c.dir} is on ${c.branch} (${c.head.slice(0, 12)}); the stack builds ${cfg.image.ref}: it must leave the checkout alone (issue 12, item 8)`);
    if (c.dirty > 0) warnings.push(`the checkout ${c.dir} has ${c.dirty} local change${c.dirty === 1 ? "" : "s"}; the stack must leave them as they are (issue 12, item 8)`);
  }
  warnings.push(...stackLayout.notes);

  return { host: snapshot.host, project, config, secrets, plan, warnings, blocking };
}
