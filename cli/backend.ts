import * as os from "node:os";
import { STACKS, isStackName } from "../config/environments";
import { WEPPPY_REFERENCE_DIR } from "../config/paths";
import { Action, OpResult, OpsError } from "../ops/common";
import { RehearsalStack } from "../harness/rehearsalStack";
import { StackHandle, openPulumiStack } from "../ops/stackHandle";
import { HostAccess, configuredHostAccess } from "../ops/hostAccess";
import { rigHostAccess } from "../harness/rigHostAccess";

/*
 * How the CLI picks its backend: the Pulumi stack (Automation API) by default, the rig's
 * stand-in with --rig; and how it reports an OpResult.
 */

export interface Backend {
  rig: boolean;
  open(stack: string): Promise<StackHandle>;
  /** Where compose files are looked for when a config is judged (the rig: wepppy's reference copy). */
  sourceDir?: string;
  /** Pins a tag to a digest (the rig: its registry); undefined where nothing can. */
  resolveDigest?: (ref: string) => Promise<string>;
  /** How a stack's host is reached: its configured host with the operator's key, or the rig's. */
  host(stack: string, identityFile?: string): HostAccess;
}

export function checkStackName(stack: string): string {
  if (!isStackName(stack)) throw new OpsError(`no stack "${stack}": one of ${STACKS.join(", ")}`);
  return stack;
}

export function backend(rig: boolean): Backend {
  if (!rig) return { rig, open: (stack) => openPulumiStack(checkStackName(stack)), host: configuredHostAccess };
  return {
    rig,
    open: async (stack) => new RehearsalStack(checkStackName(stack)),
    sourceDir: WEPPPY_REFERENCE_DIR,
    host: (stack) => rigHostAccess(stack),
    resolveDigest: (ref) => (require("../harness/rehearsal/rigTarget") as typeof import("../harness/rehearsal/rigTarget")).registryDigest(ref),
  };
}

/** release.actor: the operator's login name. */
export function currentActor(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? "unknown";
  }
}

/** The lines a person reads; --json prints the object instead. */
export function formatResult(result: OpResult): string[] {
  const lines = [`${result.ok ? (result.changed ? "ok" : "ok (nothing to do)") : "FAILED"}: ${result.summary}`];
  if (result.release) {
    const r = result.release;
    lines.push(`  release ${r.id}${r.tag ? `  tag ${r.tag}` : ""}${r.version ? `  version ${r.version}` : ""}${r.actor ? `  by ${r.actor}` : ""}`);
    if (r.note) lines.push(`  note: ${r.note}`);
  }
  if (result.update?.version !== undefined) lines.push(`  update ${result.update.version}: ${result.update.result}`);
  for (const n of result.notes) lines.push(`  ${n}`);
  if (result.error) {
    const error = result.error.split("\n");
    if (error[0] === result.summary) error.shift();
    lines.push(...error.map((l) => `  ${result.changed ? "error: " : ""}${l}`));
  }
  for (const w of result.warnings) lines.push(`  warning: ${w}`);
  return lines;
}

/** A refusal as --json prints it: the same object shape, nothing changed. */
export function refusal(action: Action, stack: string, err: OpsError): OpResult {
  return { action, stack, ok: false, changed: false, summary: err.message.split("\n")[0], notes: [], warnings: [], error: err.message };
}
