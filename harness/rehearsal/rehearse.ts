import { NAMESPACE, STACKS, isStackName } from "../../config/environments";
import { parseStackConfig } from "../../config/load";
import { readState, RigStatus } from "../../rig";
import { pushImage } from "../../rig/registry";
import { rawConfigOf } from "../engine/engineStack";
import { rigBackend } from "./rigBackend";
import { configLeaves, ensureRig, rigStack } from "./rigStack";
import { registryDigest, rigHostFor, rigRepository } from "./rigTarget";

/*
 * A rehearsal is `pulumi up` with the rig for wepppy's LAN: the stack file of this working
 * tree, with the rig's coordinates set on top in memory (as a CI job's `config set --path`
 * steps would; rigStack.ts), runs through the stand-in engine against the rig's backend. The engine answers each
 * resource as its provider would, over SSH to the rig's hosts; only what changed since the
 * last update runs, and what the program stopped declaring is deleted.
 */

export interface Step {
  name: string;
  host: string;
  seconds: number;
  ok: boolean;
  skipped: boolean;
  /** The engine's operation: create, update, replace, delete, same. */
  op: string;
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
  /** Publish this stand-in build (e.g. rig-b, rig-never-healthy) under the stack's image tag first, as CI's main workflow does. */
  publish?: string;
  /** Deploy the compose files of this docker/ directory (another wepppy release's) instead of wepppy's reference copy. */
  composeSource?: string;
  log?: (line: string) => void;
}

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}

async function publishTag(status: RigStatus, tag: string, build: string, log: (l: string) => void): Promise<void> {
  const ref = readState()?.standins.weppcloud[build];
  if (!ref) throw new Error(`no stand-in build "${build}" (the rig has ${Object.keys(readState()?.standins.weppcloud ?? {}).join(", ")})`);
  log(`publishing stand-in build ${build} as ${rigRepository(status)}:${tag}`);
  await pushImage(ref, "rogerlew/wepppy", tag);
}

/** The rig's view of where each rig host is, to name steps by host. */
function hostNames(status: RigStatus): Map<string, string> {
  return new Map(status.hosts.map((h) => [h.address, h.name]));
}

export async function rehearse(options: RehearseOptions): Promise<RehearsalResult> {
  const log = options.log ?? (() => undefined);
  const stack = options.stack;
  if (!isStackName(stack)) throw new Error(`no stack "${stack}": one of ${STACKS.join(", ")}`);
  const started = Date.now();
  const status = await ensureRig(log);
  const extra = Object.entries(options.set ?? {}).flatMap(([dotted, value]) => configLeaves(`${NAMESPACE}:${dotted}`, value));
  const engineStack = await rigStack(stack, status, { extra, composeSource: options.composeSource });
  const configMap = await engineStack.getAllConfig();
  const raw = rawConfigOf(configMap);
  const config = parseStackConfig(stack, raw.values, { secretKeys: raw.secretKeys });
  const host = rigHostFor(status, config.deploy.host);

  if (config.image.source === "registry") {
    const name = `${config.image.repository}:${config.image.tag}`;
    const present = await registryDigest(name, config.registry).then(
      () => true,
      () => false,
    );
    if (options.publish || !present) await publishTag(status, config.image.tag, options.publish ?? "rig-a", log);
  } else if (options.publish) {
    throw new Error(`--publish needs a stack whose image comes from a registry; ${stack}'s is "${config.image.source}"`);
  }

  const result = await engineStack.run({ log, message: "rehearsal" });
  for (const w of result.warnings) log(`  warning: ${w}`);
  const names = hostNames(status);
  const steps: Step[] = result.steps
    .filter((s) => s.type.startsWith("command:") || s.type.startsWith("github:") || !s.ok)
    .map((s) => ({
      name: s.name,
      host: s.type.startsWith("github:") ? "github.com" : (s.host && names.get(s.host)) ?? s.host ?? "local",
      seconds: s.seconds,
      ok: s.ok,
      skipped: s.op === "same" || s.type.startsWith("github:"),
      op: s.op,
      ...(s.detail ? { detail: s.detail } : {}),
    }));
  const outputs = result.outputs;
  const out: RehearsalResult = {
    stack,
    ok: result.ok,
    // Caddy's port on the host is the one the smoke test uses.
    url: `http://${host.address}:${new URL(config.health.smokeUrl).port || 80}${config.site.sitePrefix}/`,
    image: String(outputs.imageRef ?? ""),
    digest: String(outputs.imageDigest ?? ""),
    steps,
    hostCommandsRun: result.hostActions,
    ...(result.error ? { error: result.error } : {}),
  };
  log(`${out.ok ? "ok" : "FAILED"}: ${stack} in ${seconds(started)} s, ${out.hostCommandsRun} host command(s)${out.error ? `: ${out.error.split("\n")[0]}` : ""}`);
  return out;
}

/** Whether the rig's backend holds a stack (for tests and `wepppy-cicd status --rig`). */
export function hasRehearsed(stack: string): boolean {
  return rigBackend().hasStack(stack);
}
