import * as fs from "node:fs";
import * as path from "node:path";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { NAMESPACE } from "../config/environments";
import { PROJECT_ROOT } from "../config/paths";
import { StackConfig } from "../config/schema";
import { AdoptionPlan, StackSide, configPath, planAdoption } from "../render/adoption";
import { composeProjects, discoverCommand, hostSnapshot, parseDiscovery, parseProjectFiles, pickProject, projectFilesCommand } from "../render/adoptCommands";
import { readComposeDocument } from "../render/composeFile";
import { looksSecret } from "../render/composeLayout";
import { envTemplateValues } from "../render/deploySettings";
import { readEnvText } from "../render/envFile";
import { OpsError, judgeConfig } from "./common";
import { isObject } from "./configMap";
import { intendedImage } from "./intent";
import { redactSecrets } from "./redact";
import type { StackHandle } from "./stackHandle";

/*
 * `wepppy-cicd adopt <stack>`: the orchestration around render/adoption.ts. Over SSH it runs
 * the two read-only commands of render/adoptCommands.ts (what compose projects, containers and
 * volumes the host has; then the project's .env, compose files and secrets/, whose bytes come
 * back on stdout only), plans the adoption against the stack as its first `up` would deploy it,
 * and stores the plan in the stack's config, leaf by leaf (`pulumi config set --path`, secrets
 * with --secret and their value on stdin: see ops/stackHandle.ts). It changes nothing on the
 * host. It refuses, storing nothing, when the plan says the first up would lose or break
 * something, or when the adopted config would not be a valid stack config. Adopting again
 * stores nothing new: the plan leaves out what the config already holds.
 *
 * No secret value leaves this file but through StackHandle.setAllConfig: the result names
 * keys and where each secret was read, and every message is redacted of the values read.
 */

/** Runs one command line on the stack's host (over SSH, pinned host key) and hands back what it printed. */
export interface HostRunner {
  /** Who and where, for messages: roger@forest1. */
  name: string;
  run(command: string): Promise<{ code: number; stdout: string; stderr: string }>;
}

export interface AdoptOptions {
  stack: StackHandle;
  host: HostRunner;
  /** Read with `sudo -n` (secret files only root or another user can read). */
  sudo?: boolean;
  /** Plan and judge only: store nothing. */
  dryRun?: boolean;
  /** Pins the stack's image tag to a digest, for the plan's image lines (the rig: its registry). */
  resolveDigest?: (ref: string) => Promise<string>;
  log?: (line: string) => void;
}

export interface AdoptResult {
  action: "adopt";
  stack: string;
  ok: boolean;
  /** Whether config was written. */
  changed: boolean;
  dryRun: boolean;
  summary: string;
  /** The host as the stack names it, and the compose project adopted there. */
  host: string;
  project?: { name: string; workingDir: string; configFiles: string[] };
  /** What was stored (or, refused or dry run, would have been): plain leaves with their values, secret leaves by key and origin only. */
  stored: { config: Array<{ key: string; value: string | number; why: string }>; secrets: Array<{ key: string; name: string; from: string }> };
  /** What the first `up` after adoption keeps and changes on the host. */
  plan: string[];
  warnings: string[];
  /** Why adopt refused: what the first up would lose or break. */
  blocking: string[];
  error?: string;
  hint?: string;
}

const noop = () => undefined;

/** The stack as its first `up` would deploy it (StackSide): compose files, env file, how secret files are written. */
export function stackSide(stack: string, config: StackConfig, image: string | undefined, runAs = config.runAs): StackSide {
  const sourceDir = path.resolve(PROJECT_ROOT, config.compose.sourceDir);
  const compose = config.compose.files.map((name) => ({ name, doc: readComposeDocument(path.join(sourceDir, name)) as Record<string, unknown> }));
  const building = config.image.source === "build";
  const defaultsFile = path.join(sourceDir, "defaults.env");
  const defaults = !building && fs.existsSync(defaultsFile) ? readEnvText(fs.readFileSync(defaultsFile, "utf8")).values : {};
  return {
    stack,
    config,
    compose,
    envFile: { ...defaults, ...envTemplateValues(config), ...(!building && image ? { WEPPCLOUD_IMAGE: image } : {}) },
    // As the agent writes them (render/hostCommands.ts agentWriteSecretsCommand): 0600, the services' UID:GID.
    secretFiles: { mode: "0600", uid: runAs.uid, gid: runAs.gid },
  };
}

/** `ns:a.b["c.d"]` -> ["a", "b", "c.d"] (the form configPath writes). */
function segmentsOf(key: string): string[] {
  if (!key.startsWith(`${NAMESPACE}:`)) throw new Error(`adopt: ${key} is not a ${NAMESPACE} key`);
  const rest = key.slice(NAMESPACE.length + 1);
  const out: string[] = [];
  let i = 0;
  while (i < rest.length) {
    const m = (out.length === 0 ? /^([A-Za-z_][A-Za-z0-9_-]*)/ : /^(?:\.([A-Za-z_][A-Za-z0-9_-]*)|\[("(?:[^"\\]|\\.)*")\])/).exec(rest.slice(i));
    if (!m) throw new Error(`adopt: cannot read the config path ${key}`);
    out.push(m[1] ?? (JSON.parse(m[2]) as string));
    i += m[0].length;
  }
  if (out.length === 0) throw new Error(`adopt: cannot read the config path ${key}`);
  return out;
}

/** How `pulumi config set --path` types a plaintext leaf below the top level (config/map.go). */
function typed(value: string | number): unknown {
  if (typeof value === "number") return value;
  if (value === "true" || value === "false") return value === "true";
  if (/^(0|-?[1-9][0-9]*)$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
  return value;
}

/** The config once the leaves are set as `config set --path` sets them (for judging it before anything is written). */
export function withAdopted(map: ConfigMap, leaves: Array<{ key: string; value: string | number; secret: boolean }>): ConfigMap {
  const out: ConfigMap = { ...map };
  for (const leaf of leaves) {
    const [section, ...rest] = segmentsOf(leaf.key);
    const key = `${NAMESPACE}:${section}`;
    let root: Record<string, unknown> = {};
    try {
      const parsed = out[key] ? JSON.parse(out[key].value) : {};
      if (isObject(parsed)) root = parsed;
    } catch {
      // a scalar at the top is replaced by a map, as the CLI does
    }
    let node = root;
    for (const p of rest.slice(0, -1)) {
      if (!isObject(node[p])) node[p] = {};
      node = node[p] as Record<string, unknown>;
    }
    if (rest.length === 0) out[key] = { value: String(leaf.value), secret: leaf.secret || Boolean(out[key]?.secret) };
    else {
      node[rest[rest.length - 1]] = leaf.secret ? String(leaf.value) : typed(leaf.value);
      out[key] = { value: JSON.stringify(root), secret: leaf.secret || Boolean(out[key]?.secret) };
    }
  }
  return out;
}

/** A leaf's value as a config holds it (undefined when absent). */
function leafOf(map: ConfigMap, key: string): unknown {
  const [section, ...rest] = segmentsOf(key);
  const entry = map[`${NAMESPACE}:${section}`];
  if (!entry || typeof entry.value !== "string") return undefined;
  if (rest.length === 0) return entry.value;
  let node: unknown;
  try {
    node = JSON.parse(entry.value);
  } catch {
    return undefined;
  }
  for (const p of rest) node = isObject(node) ? node[p] : undefined;
  return node;
}

async function read(host: HostRunner, command: string, what: string): Promise<string> {
  const r = await host.run(command);
  if (r.code !== 0) {
    const why = r.stderr.trim().split("\n").slice(-3).join(" ") || `exit status ${r.code}`;
    throw new OpsError(`adopt: ${host.name}: ${what} failed: ${why}`);
  }
  return r.stdout;
}

function result(stack: string, host: string, over: Partial<AdoptResult>): AdoptResult {
  return { action: "adopt", stack, ok: false, changed: false, dryRun: false, summary: "", host, stored: { config: [], secrets: [] }, plan: [], warnings: [], blocking: [], ...over };
}

function storedOf(plan: AdoptionPlan): AdoptResult["stored"] {
  return {
    config: plan.config.map((c) => ({ key: c.key, value: c.value, why: c.why })),
    secrets: plan.secrets.map((s) => ({ key: s.key, name: s.name, from: s.from })),
  };
}

/** Adopts what the stack's host runs today into the stack's config (see the file comment). */
export async function adopt(options: AdoptOptions): Promise<AdoptResult> {
  const log = options.log ?? noop;
  const name = options.stack.name;
  const before = await options.stack.getAllConfig();
  const config = judgeConfig(name, before);
  const hostName = config.deploy.host;
  const dryRun = Boolean(options.dryRun);
  const seen: string[] = [];
  const redact = (text: string) => redactSecrets(text, seen);
  try {
    // 1. What runs there, as compose labelled it (never a container's environment: older layouts keep secrets in it).
    log(`${name}: asking ${options.host.name} which compose projects run there (docker ps/inspect labels, volumes; nothing is changed)`);
    const discovery = parseDiscovery(await read(options.host, discoverCommand({ sudo: options.sudo }), "the discovery"));
    const project = pickProject(composeProjects(discovery), { appService: config.compose.appService, projectName: config.compose.projectName, host: hostName });
    const workingDir = project.workingDir.replace(/\/+$/, "");
    if (!workingDir.startsWith("/")) throw new OpsError(`adopt: ${hostName}: project ${project.name} has no working directory label (com.docker.compose.project.working_dir); it was not started by compose`);
    // compose v1 labels the -f files as given (relative to the working directory), v2 absolute.
    const files = project.configFiles.map((f) => (f.startsWith("/") ? f : path.posix.join(workingDir, f)));
    log(`${name}: ${project.name} runs ${Object.keys(project.services).length} services from ${workingDir} (${project.configFiles.join(", ")}); reading its .env, compose files and secrets/ through stdout`);
    const files_ = parseProjectFiles(await read(options.host, projectFilesCommand(workingDir, files, { sudo: options.sudo }), "reading the project's files"));
    const snapshot = hostSnapshot(hostName, discovery, project, files_);
    for (const f of Object.values(snapshot.secretFiles)) {
      const text = f.content.reveal().toString("utf8");
      seen.push(text, text.trim());
    }
    for (const [k, v] of Object.entries(snapshot.env.values.reveal())) if (looksSecret(k)) seen.push(v);
    const summaryOf = { name: snapshot.project.name, workingDir: snapshot.project.workingDir, configFiles: snapshot.project.configFiles };

    // 2. The plan, against the stack as its first up would deploy it; the secret files' owner follows an adopted UID/GID.
    let image = intendedImage(before);
    if (image && !image.includes("@") && options.resolveDigest) {
      image = await options.resolveDigest(image).then(
        (digest) => `${image!.slice(0, image!.lastIndexOf(":"))}@${digest}`,
        () => image,
      );
    }
    let plan = planAdoption(stackSide(name, config, image), snapshot);
    const adoptedId = (k: "uid" | "gid") => plan.config.find((c) => c.key === configPath("runAs", k))?.value;
    const runAs = { uid: Number(adoptedId("uid") ?? config.runAs.uid), gid: Number(adoptedId("gid") ?? config.runAs.gid) };
    if (runAs.uid !== config.runAs.uid || runAs.gid !== config.runAs.gid) plan = planAdoption(stackSide(name, config, image, runAs), snapshot);
    const stored = storedOf(plan);
    const base = { project: summaryOf, stored, plan: plan.plan, warnings: plan.warnings, blocking: plan.blocking, dryRun };
    if (plan.blocking.length > 0) {
      return result(name, hostName, {
        ...base,
        summary: `${name}: adopt refused, nothing stored: the first up would lose or break ${plan.blocking.length === 1 ? "this" : `these ${plan.blocking.length}`} on ${hostName}`,
        error: plan.blocking.map((b) => `- ${b}`).join("\n"),
        hint: "do not run `pulumi up` on this host until adopt succeeds; fix each line on the host or in the stack's config and run adopt again",
      });
    }

    // 3. The config as it will be, judged as `pulumi up` judges it before registering anything.
    const leaves = [
      ...plan.config.map((c) => ({ key: c.key, value: c.value, secret: false })),
      ...plan.secrets.map((s) => ({ key: s.key, value: s.value.reveal(), secret: true })),
    ];
    try {
      judgeConfig(name, withAdopted(before, leaves));
    } catch (err) {
      const why = redact(err instanceof Error ? err.message : String(err)).split("\n").slice(1);
      return result(name, hostName, {
        ...base,
        blocking: why,
        summary: `${name}: adopt refused, nothing stored: with what the host has, the stack's config would not be valid`,
        error: why.join("\n"),
        hint: "fix the stack's config (or the host's values it names) and run adopt again",
      });
    }

    // 4. Stored leaf by leaf (plain first, then secrets, as `config set-all` does), then read back.
    const nothing = leaves.length === 0;
    if (nothing) log(`${name}: the config already holds everything the host has: nothing to store`);
    else if (dryRun) log(`${name}: dry run: would store ${plan.config.length} plain and ${plan.secrets.length} secret leaves`);
    else {
      log(`${name}: storing ${plan.config.length} plain leaf(s) and ${plan.secrets.length} secret leaf(s) (config set --path${plan.secrets.length ? "; secrets with --secret, on stdin" : ""})`);
      await options.stack.setAllConfig(Object.fromEntries(leaves.map((l) => [l.key, { value: String(l.value), secret: l.secret }])), true);
      const now = await options.stack.getAllConfig();
      const wrong: string[] = [];
      for (const l of leaves) {
        const got = leafOf(now, l.key);
        const want = l.secret ? l.value : typed(l.value);
        const section = now[`${NAMESPACE}:${segmentsOf(l.key)[0]}`];
        if (got !== want) wrong.push(`${l.key} reads back ${l.secret ? "differently" : JSON.stringify(got)}`);
        else if (l.secret && !section?.secret) wrong.push(`${l.key} was stored, but not as a secret`);
      }
      if (wrong.length > 0) throw new OpsError(`adopt: ${name}'s config does not hold what was stored: ${wrong.join("; ")}; run adopt again, and do not run \`pulumi up\` until it succeeds`);
      judgeConfig(name, now);
    }
    const counts = `${plan.config.length} plain leaf(s) and ${plan.secrets.length} secret(s)`;
    return result(name, hostName, {
      ...base,
      ok: true,
      changed: !dryRun && !nothing,
      summary: nothing
        ? `${name}: ${hostName}'s ${snapshot.project.name} is adopted already; nothing to store`
        : `${name}: ${dryRun ? "would adopt" : "adopted"} ${hostName}'s ${snapshot.project.name} (${snapshot.project.workingDir}): ${dryRun ? "" : "stored "}${counts}`,
    });
  } catch (err) {
    const message = redact(err instanceof Error ? err.message : String(err));
    if (err instanceof OpsError) throw new OpsError(message);
    throw new Error(message);
  }
}
