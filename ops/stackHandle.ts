import type { ConfigMap, ConfigValue, OutputMap, PreviewOptions, PreviewResult, Stack, UpdateSummary, UpOptions, UpResult } from "@pulumi/pulumi/automation";
import { PROJECT_ROOT } from "../config/paths";
import { OpsError } from "./common";

/*
 * The part of the Automation API's `Stack` the release CLI uses, with the same names and
 * signatures: a real `Stack` is one (checked below), and so are the rig's stand-in
 * (EngineStack) and the in-memory one the tests drive (MemoryStack).
 */

export type { ConfigMap, ConfigValue, OutputMap, PreviewOptions, PreviewResult, UpdateSummary, UpOptions, UpResult };

export interface StackHandle {
  readonly name: string;
  /** Every key, namespaced (`wepppy-cicd:bluegreen` holds its section as JSON text); secrets in clear. */
  getAllConfig(): Promise<ConfigMap>;
  /** Upserts the given keys (`pulumi config set-all`); `path` makes `a:b.c` a path into `a:b`. */
  setAllConfig(config: ConfigMap, path?: boolean): Promise<void>;
  setConfig(key: string, value: ConfigValue, path?: boolean): Promise<void>;
  removeConfig(key: string, path?: boolean): Promise<void>;
  /** `pulumi up`; the real one throws when the update fails, a stand-in may return result "failed". */
  up(opts?: UpOptions): Promise<UpResult>;
  /** `pulumi cancel`: on the file backend, deletes the stack's update locks (what a killed CLI leaves). */
  cancel(): Promise<void>;
  /** `pulumi preview`; with policyPacks, a mandatory violation makes it throw (the CLI exits non-zero). */
  preview(opts?: PreviewOptions): Promise<PreviewResult>;
  /** Newest first. Without showSecrets, secret config values come back without `value`. */
  history(pageSize?: number, page?: number, showSecrets?: boolean): Promise<UpdateSummary[]>;
  outputs(): Promise<OutputMap>;
}

/** Type-level check that the Automation API's Stack is a StackHandle; also how one is handed over. */
export function asStackHandle(stack: Stack): StackHandle {
  return stack;
}

/** The stack as the Pulumi CLI has it (Automation API), in this project's directory. */
export async function openPulumiStack(stack: string): Promise<StackHandle> {
  try {
    // Loaded here: the Automation API is only needed when a real stack is opened.
    const { LocalWorkspace } = require("@pulumi/pulumi/automation") as typeof import("@pulumi/pulumi/automation");
    return asStackHandle(await LocalWorkspace.selectStack({ stackName: stack, workDir: PROJECT_ROOT }));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const missing = /ENOENT/.test(message) && /pulumi/.test(message);
    const why = missing ? "the Pulumi CLI is not installed here (no `pulumi` on PATH)" : message.trim().split("\n").slice(0, 4).join(" ");
    throw new OpsError(
      `cannot open the Pulumi stack "${stack}": ${why}. The release CLI drives the Pulumi CLI through the Automation API; ` +
        `install it and log in to the stacks' backend, or add --rig to run against the rig instead`,
    );
  }
}
