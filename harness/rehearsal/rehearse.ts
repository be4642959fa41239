import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { NAMESPACE, STACKS, isStackName } from "../../config/environments";
import { parseStackConfig } from "../../config/load";
import { StackConfig } from "../../config/schema";
import { RawConfig, readStackFile, withOverrides } from "../../config/stackFile";
import { readState, rigStatus, rigUp, RigStatus } from "../../rig";
import { stateDir as rigStateDir } from "../../rig/config";
import { pushImage } from "../../rig/registry";
import { CreateResult, ResourceRequest, evaluateStack } from "../evaluate";
import { createLocally } from "../localProviders";
import { WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { Connection, RemoteError, copyToRemote, runRemote } from "../../ops/ssh";
import { RIG_SECRET_KEYS, registryDigest, rigHostFor, rigOverrides, rigRepository, stageSource } from "./rigTarget";
import { RehearsalState, ResourceRecord, inputsHash, loadState, resourceKey, saveState } from "./state";

/*
 * A rehearsal is `pulumi up` with the rig for wepppy's LAN: the stack is evaluated under
 * the mock engine with the stack file's own values (pointed at the rig), and each resource
 * the program declares is answered by doing what its provider does: host commands run
 * over SSH with the declared connection, files are copied, passwords generated. Like the
 * engine, it keeps state, so only what changed since the last rehearsal runs, and
 * resources the program stopped declaring are deleted.
 */

export interface Step {
  name: string;
  host: string;
  seconds: number;
  ok: boolean;
  skipped: boolean;
  /** Why it was skipped or how it failed. */
  detail?: string;
}

export interface RehearsalResult {
  stack: string;
  ok: boolean;
  url: string;
  image: string;
  digest: string;
  steps: Step[];
  hostCommandsRun: number;
  error?: string;
}

export interface RehearseOptions {
  stack: string;
  /** Extra `section.key` values, as `pulumi config set --path` would set them. */
  set?: Record<string, unknown>;
  /** Publish this stand-in build (e.g. rig-b, rig-never-healthy) under the stack's tag first, as CI's main workflow does. */
  publish?: string;
  log?: (line: string) => void;
}

const COMMAND = "command:remote:Command";
const COPY = "command:remote:CopyToRemote";

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}

/** The rig's identity: a rehearsal's state is only valid on the rig it ran on. */
function rigIdentity(): string {
  return readState()?.createdAt ?? "none";
}

async function publishTag(status: RigStatus, tag: string, build: string, log: (l: string) => void): Promise<void> {
  const ref = readState()?.standins.weppcloud[build];
  if (!ref) throw new Error(`no stand-in build "${build}" (the rig has ${Object.keys(readState()?.standins.weppcloud ?? {}).join(", ")})`);
  log(`publishing stand-in build ${build} as ${rigRepository(status)}:${tag}`);
  await pushImage(ref, "rogerlew/wepppy", tag);
}

export async function rehearse(options: RehearseOptions): Promise<RehearsalResult> {
  const log = options.log ?? (() => undefined);
  const stack = options.stack;
  if (!isStackName(stack)) throw new Error(`no stack "${stack}": one of ${STACKS.join(", ")}`);
  const started = Date.now();
  const steps: Step[] = [];
  let hostCommandsRun = 0;

  let status = await rigStatus();
  if (!status.up) {
    log("rig is down: bringing it up");
    status = await rigUp({ log: (l) => log(`  rig: ${l}`) });
  }

  // The stack file's own config decides the host and files; the rig only redirects them.
  const fileConfig = readStackFile(stack);
  const asFiled: StackConfig = parseStackConfig(stack, withOverrides(fileConfig, { "compose.sourceDir": WEPPPY_REFERENCE_DIR }, NAMESPACE).values);
  const host = rigHostFor(status, asFiled.deploy.host);
  const sourceDir = path.join(rigStateDir, "rehearsals", stack, "source");
  await stageSource(sourceDir, asFiled.compose.files, host.name);
  const raw: RawConfig = withOverrides(fileConfig, { ...rigOverrides(status, asFiled, sourceDir), ...(options.set ?? {}) }, NAMESPACE);
  raw.secretKeys = [...raw.secretKeys, ...RIG_SECRET_KEYS];
  const config = parseStackConfig(stack, raw.values, { secretKeys: raw.secretKeys });

  if (config.image.source === "registry") {
    const name = `${config.image.repository}:${config.image.tag}`;
    const present = await registryDigest(name).then(
      () => true,
      () => false,
    );
    if (options.publish || !present) await publishTag(status, config.image.tag, options.publish ?? "rig-a", log);
  } else if (options.publish) {
    throw new Error(`--publish needs a stack whose image comes from a registry; ${stack}'s is "${config.image.source}"`);
  }

  const rig = rigIdentity();
  const previous = loadState(rigStateDir, stack, rig);
  const next: RehearsalState = { stack, rig, updatedAt: "", resources: {}, outputs: {} };
  const stackOutputs = Object.fromEntries(STACKS.map((s) => [s, loadState(rigStateDir, s, rig).outputs]).filter(([, o]) => Object.keys(o as object).length > 0));

  async function run(name: string, connection: Connection, command: string, stdin: string | undefined, quiet: boolean) {
    const t0 = Date.now();
    hostCommandsRun++;
    log(`  ${host.name}  ${name} ...`);
    const result = await runRemote(connection, command, stdin, quiet ? undefined : (line) => log(`    ${line}`));
    if (result.code !== 0) {
      const why = quiet ? `exit ${result.code} (output withheld: it may carry secrets)` : `exit ${result.code}: ${result.stderr.trim().split("\n").slice(-12).join("\n")}`;
      steps.push({ name, host: host.name, seconds: seconds(t0), ok: false, skipped: false, detail: why });
      throw new Error(`${name} failed on ${host.name}: ${why}`);
    }
    steps.push({ name, host: host.name, seconds: seconds(t0), ok: true, skipped: false });
    return result;
  }

  async function create(request: ResourceRequest): Promise<CreateResult> {
    const key = resourceKey(request.type, request.name);
    const hash = inputsHash(request.inputs);
    const before = previous.resources[key];
    const keep = (record: ResourceRecord) => {
      next.resources[key] = record;
      return { id: record.id, state: record.state };
    };
    if (!request.custom) return keep({ type: request.type, name: request.name, inputsHash: hash, id: `${request.name}-id`, state: {} });
    if (before && before.inputsHash === hash) {
      if (request.type === COMMAND || request.type === COPY) {
        steps.push({ name: request.name, host: host.name, seconds: 0, ok: true, skipped: true, detail: "unchanged" });
      }
      return keep(before);
    }
    const local = createLocally(request);
    if (local) return keep({ type: request.type, name: request.name, inputsHash: hash, id: randomUUID(), state: local.state });

    const connection = request.inputs.connection as Connection;
    if (request.type === COMMAND) {
      const quiet = request.inputs.logging === "none";
      const undo = before?.delete;
      if (undo && request.deleteBeforeReplace) await run(`${request.name} (delete old)`, undo.connection as unknown as Connection, undo.command, undefined, false);
      const result = await run(request.name, connection, String(request.inputs.create ?? "true"), request.inputs.stdin, quiet);
      if (undo && !request.deleteBeforeReplace) await run(`${request.name} (delete old)`, undo.connection as unknown as Connection, undo.command, undefined, false);
      return keep({
        type: request.type,
        name: request.name,
        inputsHash: hash,
        id: randomUUID(),
        state: { ...request.inputs, stdout: result.stdout, stderr: result.stderr },
        delete: request.inputs.delete ? { command: request.inputs.delete, connection: request.inputs.connection } : undefined,
      });
    }
    if (request.type === COPY) {
      const source = (request.wireInputs.source ?? {}) as { path?: string };
      if (!source.path) throw new Error(`${request.name}: only file assets are rehearsed`);
      const t0 = Date.now();
      hostCommandsRun++;
      log(`  ${host.name}  ${request.name} -> ${request.inputs.remotePath}`);
      await copyToRemote(connection, source.path, String(request.inputs.remotePath));
      steps.push({ name: request.name, host: host.name, seconds: seconds(t0), ok: true, skipped: false });
      return keep({ type: request.type, name: request.name, inputsHash: hash, id: randomUUID(), state: request.inputs });
    }
    // GitHub objects and providers: the GitHub API cannot be reached from here.
    if (request.type.startsWith("github:")) {
      steps.push({ name: request.name, host: "github.com", seconds: 0, ok: true, skipped: true, detail: "GitHub API not reachable here" });
    }
    return keep({ type: request.type, name: request.name, inputsHash: hash, id: randomUUID(), state: request.inputs });
  }

  const invoke = async (token: string, args: Record<string, unknown>) => {
    if (token === "docker:index/getRegistryImage:getRegistryImage") {
      const digest = await registryDigest(String(args.name));
      return { id: String(args.name), name: args.name, sha256Digest: digest };
    }
    if (token === "github:index/getUser:getUser") {
      steps.push({ name: `github user ${args.username}`, host: "github.com", seconds: 0, ok: true, skipped: true, detail: "GitHub API not reachable here" });
      return { id: "0", login: args.username, username: args.username };
    }
    throw new Error(`a rehearsal cannot answer ${token}`);
  };

  let error: string | undefined;
  let outputs: Record<string, unknown> = {};
  try {
    const evaluation = await evaluateStack({ stack, config: raw, preview: false, invoke, stackOutputs, create });
    outputs = evaluation.outputs;
    for (const w of evaluation.warnings) log(`  warning: ${w}`);
    // What the program no longer declares is deleted, newest first, as the engine does.
    for (const [key, record] of Object.entries(previous.resources).reverse()) {
      if (next.resources[key]) continue;
      if (record.delete) await run(`${record.name} (delete)`, record.delete.connection as unknown as Connection, record.delete.command, undefined, false);
    }
    next.outputs = outputs;
  } catch (err) {
    error = err instanceof RemoteError || err instanceof Error ? err.message : String(err);
    // Like the engine: what completed is kept; what failed runs again next time.
    for (const [key, record] of Object.entries(previous.resources)) if (!next.resources[key]) next.resources[key] = record;
    next.outputs = previous.outputs;
  }
  next.updatedAt = new Date().toISOString();
  saveState(rigStateDir, next);

  const image = String(outputs.imageRef ?? previous.outputs.imageRef ?? "");
  const result: RehearsalResult = {
    stack,
    ok: error === undefined,
    // Caddy's port on the host is the one the smoke test uses.
    url: `http://${host.address}:${new URL(config.health.smokeUrl).port || 80}${config.site.sitePrefix}/`,
    image,
    digest: String(outputs.imageDigest ?? previous.outputs.imageDigest ?? ""),
    steps,
    hostCommandsRun,
    ...(error ? { error } : {}),
  };
  log(`${result.ok ? "ok" : "FAILED"}: ${stack} in ${seconds(started)} s, ${hostCommandsRun} host command(s)${error ? `: ${error}` : ""}`);
  return result;
}

/** Where the rehearsal of a stack keeps its state (for tests and `wepppy-cicd status`). */
export function rehearsalStateFile(stack: string): string {
  return path.join(rigStateDir, "rehearsals", `${stack}.json`);
}

export function hasRehearsed(stack: string): boolean {
  return fs.existsSync(rehearsalStateFile(stack));
}
