import { spawn } from "node:child_process";
import type { ConfigMap, ConfigValue, LocalWorkspace, OutputMap, PreviewOptions, PreviewResult, Stack, UpdateSummary, UpOptions, UpResult } from "@pulumi/pulumi/automation";
import { PROJECT_ROOT } from "../config/paths";
import { secretConfigStdin } from "../render/adoption";
import { OpsError } from "./common";
import { redactSecrets } from "./redact";

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

/**
 * A real stack whose secret config values never go on a command line. The Automation API's
 * setConfig and setAllConfig pass every value as an argument to the `pulumi` process
 * (automation/localWorkspace.js: `config set KEY --secret -- VALUE`, `set-all --secret K=V`),
 * where any local user sees it in the process list. Secret values go on stdin instead
 * (`pulumi config set [--path] --secret KEY`, which reads stdin when no value is given and
 * drops one trailing newline: secretConfigStdin adds one, so the value is kept byte for byte);
 * plain values and everything else are the Automation API's own.
 */
export class PulumiCliStack implements StackHandle {
  constructor(readonly stack: Stack) {}

  get name(): string {
    return this.stack.name;
  }

  getAllConfig(): Promise<ConfigMap> {
    return this.stack.getAllConfig();
  }

  async setConfig(key: string, value: ConfigValue, path?: boolean): Promise<void> {
    if (value.secret) await this.setSecret(key, value.value, path);
    else await this.stack.setConfig(key, value, path);
  }

  async setAllConfig(config: ConfigMap, path?: boolean): Promise<void> {
    const entries = Object.entries(config);
    const plain = Object.fromEntries(entries.filter(([, v]) => !v.secret));
    // Plain values first, then secrets, as `config set-all` applies them.
    if (Object.keys(plain).length > 0) await this.stack.setAllConfig(plain, path);
    for (const [key, v] of entries.filter(([, v]) => v.secret)) await this.setSecret(key, v.value, path);
  }

  removeConfig(key: string, path?: boolean): Promise<void> {
    return this.stack.removeConfig(key, path);
  }

  up(opts?: UpOptions): Promise<UpResult> {
    return this.stack.up(opts);
  }

  preview(opts?: PreviewOptions): Promise<PreviewResult> {
    return this.stack.preview(opts);
  }

  cancel(): Promise<void> {
    return this.stack.cancel();
  }

  history(pageSize?: number, page?: number, showSecrets?: boolean): Promise<UpdateSummary[]> {
    return this.stack.history(pageSize, page, showSecrets);
  }

  outputs(): Promise<OutputMap> {
    return this.stack.outputs();
  }

  /** `pulumi config set --stack NAME [--path] --secret --non-interactive -- KEY` with the value on stdin, in the workspace's directory and environment. */
  private setSecret(key: string, value: string, path?: boolean): Promise<void> {
    const ws = this.stack.workspace as LocalWorkspace;
    const command = ws.pulumiCommand?.command ?? "pulumi";
    const args = ["config", "set", "--stack", this.stack.name, ...(path ? ["--path"] : []), "--secret", "--non-interactive", "--", key];
    const env: NodeJS.ProcessEnv = { ...process.env, ...(ws.pulumiHome ? { PULUMI_HOME: ws.pulumiHome } : {}), ...(ws.envVars ?? {}), PULUMI_AUTOMATION_API: "true" };
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { cwd: ws.workDir, env, stdio: ["pipe", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", (err) => reject(new OpsError(`pulumi config set --secret ${key}: ${err.message}`)));
      child.on("close", (code) => {
        if (code === 0) resolve();
        else reject(new OpsError(`pulumi config set --secret ${key} exited ${code}: ${redactSecrets(stderr, [value, value.trim()]).trim().split("\n").slice(-3).join(" ")}`));
      });
      child.stdin.on("error", () => undefined);
      child.stdin.end(secretConfigStdin(value));
    });
  }
}

/** The stack as the Pulumi CLI has it (Automation API), in this project's directory. */
export async function openPulumiStack(stack: string): Promise<StackHandle> {
  try {
    // Loaded here: the Automation API is only needed when a real stack is opened.
    const { LocalWorkspace } = require("@pulumi/pulumi/automation") as typeof import("@pulumi/pulumi/automation");
    return new PulumiCliStack(await LocalWorkspace.selectStack({ stackName: stack, workDir: PROJECT_ROOT }));
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
