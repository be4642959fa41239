import * as os from "node:os";
import { NAMESPACE, STACKS, isStackName } from "../config/environments";
import { ensureRig, rigStack } from "../harness/rehearsal/rigStack";
import { rigHostAccess } from "../harness/rigHostAccess";
import { Action, OpResult, OpsError } from "../ops/common";
import { HostAccess, configuredHostAccess } from "../ops/hostAccess";
import { StackHandle, openPulumiStack } from "../ops/stackHandle";

/*
 * The CLI's composition root: the Pulumi stack (Automation API, the Pulumi CLI) by default,
 * the rig's stand-in engine and hosts with --rig. Nothing else in the operator core knows
 * which one it has.
 */

export interface Backend {
  rig: boolean;
  open(stack: string): Promise<StackHandle>;
  /** Pins a tag to a digest (the rig: its registry); undefined where nothing can. */
  resolveDigest?: (ref: string) => Promise<string>;
  /** How a stack's host is reached: its configured host with the operator's key (or agent), or the rig's. */
  host(stack: string, identityFile?: string): Promise<HostAccess>;
}

export function checkStackName(stack: string): string {
  if (!isStackName(stack)) throw new OpsError(`no stack "${stack}": one of ${STACKS.join(", ")}`);
  return stack;
}

export function backend(rig: boolean, log: (line: string) => void = () => undefined): Backend {
  if (!rig) {
    return {
      rig,
      open: (stack) => openPulumiStack(checkStackName(stack)),
      // The stack's own deploy key, decrypted by the Pulumi CLI: what a CI job (promote reading testprod's evidence) has.
      host: async (stack, identity) =>
        configuredHostAccess(stack, identity, async () => (await (await openPulumiStack(checkStackName(stack))).getAllConfig())[`${NAMESPACE}:deployKey`]?.value),
    };
  }
  return {
    rig,
    // A rig pipeline job (WEPPPY_RIG_JOB=1) works on its own clone's stack file; elsewhere the working tree is left alone.
    open: async (stack) => rigStack(checkStackName(stack), await ensureRig(log)),
    host: async (stack) => rigHostAccess(stack, await ensureRig(log)),
    resolveDigest: async (ref) => {
      const { readCredentials } = require("../rig") as typeof import("../rig");
      const { registryDigest } = require("../harness/rehearsal/rigTarget") as typeof import("../harness/rehearsal/rigTarget");
      return registryDigest(ref, readCredentials());
    },
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
  if (result.update) lines.push(`  update ${result.update.startTime ?? ""}: ${result.update.result}`);
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
export function refusal(action: Action, stack: string, err: Error): OpResult {
  return { action, stack, ok: false, changed: false, summary: err.message.split("\n")[0], notes: [], warnings: [], error: err.message };
}
