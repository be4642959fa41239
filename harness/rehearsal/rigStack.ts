import * as fs from "node:fs";
import * as path from "node:path";
import { NAMESPACE, stackFileName } from "../../config/environments";
import { parseStackConfig } from "../../config/load";
import { PROJECT_ROOT, WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { rigStatus, rigUp, RigStatus } from "../../rig";
import { stateDir as rigStateDir } from "../../rig/config";
import { EngineStack, rawConfigOf } from "../engine/engineStack";
import { SshExecutor } from "../engine/executor";
import { ProjectStackFile } from "../engine/projectStack";
import { rigBackend, rigPassphrase } from "./rigBackend";
import { rigHostFor, rigInvoke, rigOverrides, stageSource } from "./rigTarget";

/*
 * A stack as a CI job on the rig has it: the checkout's stack file (this working tree's,
 * as committed) held in memory with the rig's coordinates set on top, as the job's own
 * `pulumi config set --path` steps would; the rig's backend for state and history. What
 * the command writes to config is gone when it ends, as a job's checkout is.
 */

export async function ensureRig(log: (line: string) => void = () => undefined): Promise<RigStatus> {
  let status = await rigStatus();
  if (!status.up) {
    log("rig is down: bringing it up");
    status = await rigUp({ log: (l) => log(`  rig: ${l}`) });
  }
  return status;
}

/**
 * Settings a rig job sets for itself (its own `pulumi config set --path` steps), given as
 * WEPPPY_RIG_SET={"prod": {"bluegreen.analysis.seconds": 3, ...}}, per stack: how a test makes prod judge a
 * release in seconds where the stack file says ten minutes.
 */
export function jobSettings(stack: string, env: NodeJS.ProcessEnv = process.env): ConfigLeaf[] {
  if (!env.WEPPPY_RIG_SET) return [];
  const parsed = JSON.parse(env.WEPPPY_RIG_SET) as Record<string, Record<string, unknown>>;
  // Per stack: a job opens other stacks too (promote reads testprod), whose files must not get prod's settings.
  return Object.entries(parsed[stack] ?? {}).flatMap(([k, v]) => configLeaves(`${NAMESPACE}:${k}`, v));
}

/** One `pulumi config set --path` (a value) or `config rm --path` (none) on a stack file. */
export interface ConfigLeaf {
  key: string;
  value?: string;
  secret?: boolean;
}

/**
 * The `--path` leaves that give `key` the value `value`, as an operator sets it with the CLI:
 * an object one leaf per key; a list removed, then one leaf per index (`key[0].host`), since a
 * list given whole to `config set --path` is stored as its JSON text, a string; a number or
 * boolean as its text (the CLI's own typing of leaves).
 */
export function configLeaves(key: string, value: unknown): ConfigLeaf[] {
  if (Array.isArray(value)) return [{ key }, ...value.flatMap((v, i) => configLeaves(`${key}[${i}]`, v))];
  if (typeof value === "object" && value !== null) return Object.entries(value).flatMap(([k, v]) => configLeaves(`${key}.${k}`, v));
  return [{ key, value: typeof value === "string" ? value : JSON.stringify(value) }];
}

export interface RigStackOptions {
  /** The checkout; default: this working tree. */
  workDir?: string;
  /** More leaves to set, as `--set` does. */
  extra?: ConfigLeaf[];
  /**
   * Write the rig's coordinates into the checkout's stack file and keep working on it (a
   * rig pipeline job's own clone); default: in memory, leaving the working tree alone.
   */
  onDisk?: boolean;
  /** Stage the compose files from this docker/ directory (an older release's) instead of wepppy's reference copy. */
  composeSource?: string;
}

export async function rigStack(stack: string, status: RigStatus, options: RigStackOptions = {}): Promise<EngineStack> {
  const workDir = options.workDir ?? PROJECT_ROOT;
  const stackFile = path.join(workDir, stackFileName(stack));
  const text = fs.readFileSync(stackFile, "utf8");
  const onDisk = options.onDisk ?? process.env.WEPPPY_RIG_JOB === "1";
  const file = new ProjectStackFile(onDisk ? stackFile : undefined, { text, passphrase: rigPassphrase });
  const filed = rawConfigOf(file.all());
  const composeSource = path.resolve(options.composeSource ?? WEPPPY_REFERENCE_DIR);
  filed.values[`${NAMESPACE}:compose`] = JSON.stringify({ ...JSON.parse(filed.values[`${NAMESPACE}:compose`] ?? "{}"), sourceDir: composeSource });
  const asFiled = parseStackConfig(stack, filed.values, { secretKeys: filed.secretKeys });
  const host = rigHostFor(status, asFiled.deploy.host);
  const sourceDir = path.join(rigStateDir, "rehearsals", stack, "source");
  await stageSource(sourceDir, asFiled.compose.files, host.name, composeSource);
  for (const leaf of [...rigOverrides(status, asFiled, sourceDir), ...jobSettings(stack), ...(options.extra ?? [])]) {
    if (leaf.value === undefined) file.remove(leaf.key, true);
    else file.set(leaf.key, { value: leaf.value, secret: leaf.secret }, true);
  }
  if (onDisk) file.save();
  return new EngineStack(stack, {
    workDir,
    ...(onDisk ? {} : { stackFileText: file.toString() }),
    backend: rigBackend(),
    executor: new SshExecutor(),
    invoke: rigInvoke,
    passphrase: rigPassphrase,
    environment: { exec: "rig" },
  });
}
