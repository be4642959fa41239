import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import type { Connection } from "../../ops/ssh";
import { randomPassword } from "../localProviders";
import type { HostExecutor } from "./executor";
import { TokenLatchInputs, tokenLatchCrud } from "../../program/components/githubRest";

/*
 * What each provider does for a step, as the real ones do at the versions pinned:
 * - command:remote:Command (pulumi-command v1.2.1): only `triggers` replaces (inputs.go:10,
 *   and the SDK's replaceOnChanges triggers[*]); an Update runs `update`, else `create`,
 *   keeps the id and runs no delete (commandController.go:70-80); delete runs the state's
 *   `delete` over the state's connection (:86-92); stdout and stderr are outputs with one
 *   trailing newline trimmed (commandOutputs.go:103-106); a failure's error quotes the
 *   command and its whole output whatever `logging` says (:100-102).
 * - command:remote:CopyToRemote: triggers replace; an Update copies only when the asset's
 *   hash or remotePath changed (copyController.go:148); there is no delete.
 * - random:index/randomPassword:RandomPassword: every input replaces; the value is made once.
 * Anything this machine cannot reach (the GitHub API) is recorded, not done.
 */

export interface ProviderRequest {
  type: string;
  name: string;
  urn: string;
  inputs: Record<string, any>;
  wireInputs: Record<string, unknown>;
}

export interface StepContext {
  executor: HostExecutor;
  /** Lines of a command's stderr as they arrive (only where logging allows). */
  onLine?: (line: string) => void;
  /** Counted host actions (commands run, files copied). */
  hostAction: (what: string) => void;
}

export interface Provider {
  /** Top-level input keys whose change replaces the resource; "all" for every input. */
  replaceKeys: string[] | "all";
  /** Reached only through the network this machine lacks: recorded, not done. */
  unreachable?: string;
  /**
   * The provider's own Diff, when it has one (a dynamic provider's `diff`): no changes makes
   * the step a same, whatever the inputs say; `replaces` names what replaces.
   */
  diff?(olds: Record<string, any>, news: Record<string, any>): Promise<{ changes: boolean; replaces: string[] }>;
  create(req: ProviderRequest, ctx: StepContext): Promise<{ id: string; outputs: Record<string, unknown> }>;
  update(old: { id: string; inputs: Record<string, any>; outputs: Record<string, any> }, req: ProviderRequest, ctx: StepContext): Promise<{ outputs: Record<string, unknown> }>;
  delete(old: { id: string; inputs: Record<string, any>; outputs: Record<string, any> }, ctx: StepContext): Promise<void>;
}

/** Go's %q of a string, as the command provider quotes the command in its error. */
export function goQuote(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export class CommandFailed extends Error {
  constructor(
    // Not `code`: the SDK reads an error's `code` as a gRPC status, and 1 is CANCELLED
    // ("Resource monitor is terminating"), after which no registration ever settles.
    readonly exitCode: number,
    readonly command: string,
    readonly output: string,
  ) {
    // The provider's own text (commandOutputs.go:101 + x/crypto ssh ExitError).
    super(`Process exited with status ${exitCode}: running ${goQuote(command)}:\n${output}`);
    this.name = "CommandFailed";
  }
}

function hex8(): string {
  return randomBytes(4).toString("hex");
}

function trimOne(text: string): string {
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}

async function runCommand(command: string, inputs: Record<string, any>, connection: Connection, ctx: StepContext): Promise<{ stdout: string; stderr: string }> {
  ctx.hostAction(command);
  const stdin = typeof inputs.stdin === "string" && inputs.stdin.length > 0 ? inputs.stdin : undefined;
  const quiet = inputs.logging === "none" || inputs.logging === "stdout";
  const r = await ctx.executor.run(connection, command, stdin, quiet ? undefined : ctx.onLine);
  if (r.code !== 0) throw new CommandFailed(r.code, command, r.combined);
  return { stdout: trimOne(r.stdout), stderr: trimOne(r.stderr) };
}

const command: Provider = {
  replaceKeys: ["triggers"],
  async create(req, ctx) {
    const outputs: Record<string, unknown> = { ...req.inputs, stdout: "", stderr: "" };
    if (typeof req.inputs.create === "string") Object.assign(outputs, await runCommand(req.inputs.create, req.inputs, req.inputs.connection, ctx));
    return { id: `${req.name}${hex8()}`, outputs };
  },
  async update(old, req, ctx) {
    const outputs: Record<string, unknown> = { ...req.inputs, stdout: old.outputs.stdout ?? "", stderr: old.outputs.stderr ?? "" };
    const line = typeof req.inputs.update === "string" ? req.inputs.update : typeof req.inputs.create === "string" ? req.inputs.create : undefined;
    if (line !== undefined) Object.assign(outputs, await runCommand(line, req.inputs, req.inputs.connection, ctx));
    return { outputs };
  },
  async delete(old, ctx) {
    if (typeof old.outputs.delete === "string") await runCommand(old.outputs.delete, old.outputs, old.outputs.connection, ctx);
  },
};

/** The asset's hash, as the engine compares assets: sha256 of the file's bytes. */
export function assetHash(wireSource: unknown): string {
  const source = (wireSource ?? {}) as { path?: string; text?: string };
  if (typeof source.path === "string") return createHash("sha256").update(fs.readFileSync(source.path)).digest("hex");
  if (typeof source.text === "string") return createHash("sha256").update(source.text).digest("hex");
  throw new Error("only file and string assets are rehearsed");
}

async function copyAsset(req: ProviderRequest, ctx: StepContext): Promise<void> {
  const source = (req.wireInputs.source ?? {}) as { path?: string; text?: string };
  const from = typeof source.path === "string" ? { file: source.path } : typeof source.text === "string" ? { text: source.text } : undefined;
  if (!from) throw new Error(`${req.name}: only file and string assets are rehearsed`);
  ctx.hostAction(`copy ${req.inputs.remotePath}`);
  await ctx.executor.copy(req.inputs.connection, from, String(req.inputs.remotePath));
}

const copy: Provider = {
  replaceKeys: ["triggers"],
  async create(req, ctx) {
    await copyAsset(req, ctx);
    return { id: hex8(), outputs: { ...req.inputs, sourceHash: assetHash(req.wireInputs.source) } };
  },
  async update(old, req, ctx) {
    const hash = assetHash(req.wireInputs.source);
    if (hash !== old.outputs.sourceHash || req.inputs.remotePath !== old.outputs.remotePath) await copyAsset(req, ctx);
    return { outputs: { ...req.inputs, sourceHash: hash } };
  },
  async delete() {
    // CopyToRemote has no Delete: the remote file stays.
  },
};

const password: Provider = {
  replaceKeys: "all",
  async create(req) {
    return { id: "none", outputs: { ...req.inputs, result: randomPassword(req.inputs) } };
  },
  async update(old, req) {
    return { outputs: { ...req.inputs, result: old.outputs.result } };
  },
  async delete() {},
};

/** Recorded with its inputs as outputs; nothing is done (the API is not reachable from here). */
function recordOnly(why: string): Provider {
  return {
    replaceKeys: [],
    unreachable: why,
    async create(req) {
      return { id: `${req.name}-${hex8()}`, outputs: { ...req.inputs } };
    },
    async update(_old, req) {
      return { outputs: { ...req.inputs } };
    },
    async delete() {},
  };
}

/**
 * The registration token latch (program/components/githubRest.ts) makes no API call, so its
 * dynamic provider runs here as the engine's dynamic provider host runs it: its own diff
 * (only a new generation changes it, replacing), create and delete.
 */
const tokenLatch: Provider = {
  replaceKeys: ["generation"],
  async diff(olds, news) {
    const d = await tokenLatchCrud.diff("", olds as TokenLatchInputs, news as TokenLatchInputs);
    return { changes: d.changes !== false, replaces: d.replaces ?? [] };
  },
  async create(req) {
    const r = await tokenLatchCrud.create(req.inputs as TokenLatchInputs);
    return { id: r.id, outputs: { ...r.outs } };
  },
  async update(old) {
    return { outputs: { ...old.outputs } };
  },
  async delete() {
    await tokenLatchCrud.delete();
  },
};

export function providerFor(type: string): Provider | undefined {
  if (type === "command:remote:Command") return command;
  if (type === "command:remote:CopyToRemote") return copy;
  if (type === "random:index/randomPassword:RandomPassword") return password;
  if (type.startsWith("github:")) return recordOnly("GitHub API not reachable here");
  if (type.startsWith("pulumi:providers:")) return recordOnly("provider configuration");
  if (type === "pulumi-nodejs:dynamic/github:RegistrationTokenLatch") return tokenLatch;
  // Dynamic providers over GitHub's REST API (pulumi-nodejs:dynamic:Resource, or a module's type).
  if (type === "pulumi-nodejs:dynamic:Resource" || type.startsWith("pulumi-nodejs:dynamic/")) return recordOnly("dynamic provider (GitHub API not reachable here)");
  return undefined;
}
