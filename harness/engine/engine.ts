import * as os from "node:os";
import type { RawConfig } from "../../config/stackFile";
import { CreateResult, RegisteredResource, ResourceRequest, StepNotStarted, evaluateStack } from "../evaluate";
import { Checkpoint, FileBackend, HistoryConfigValue, HistoryEntry, StateResource } from "./backend";
import { Crypter, crypterFor, newCrypter } from "./crypter";
import type { HostExecutor } from "./executor";
import { Provider, StepContext, assetHash, providerFor } from "./providers";
import { open, sealKeys, sealWire, secretTopKeys } from "./secrets";

/*
 * A stand-in for the Pulumi engine's update (pulumi v3.248.0, pkg/resource/deploy), driven
 * by the SDK's mock runtime: each registration becomes a step, decided against the last
 * checkpoint by URN, and done by the stand-in provider of its type. It follows the engine:
 * - same inputs: nothing runs; a diff in a replace key: replacement, else an Update that
 *   keeps the id (step_generator.go; provider diffs as in providers.ts);
 * - a replacement creates the new resource first and deletes the old one at the end of the
 *   update, with the deletes of removed resources (GenerateDeletes, step_generator.go:2210-
 *   2241); deleteBeforeReplace deletes first (:1922-1926);
 * - the first failed step starts no new step; steps under way finish and are recorded; no
 *   delete runs after a failure, so a replaced old copy stays marked for deletion and the next
 *   update deletes it (step_executor.go:413-458, deployment_executor.go:316-348);
 * - a failed Update keeps the old state exactly, a failed Create records nothing
 *   (pkg/backend/snapshot.go:412-466); the checkpoint is saved after every step;
 * - protected resources are neither replaced nor deleted; retainOnDelete drops without deleting;
 * - the history entry has no version number (diy/backend.go:1370-1382) and keeps the
 *   config of the update with secrets encrypted.
 */

export type Op = "same" | "create" | "update" | "replace" | "delete" | "delete-replaced";

export interface EngineStep {
  urn: string;
  name: string;
  type: string;
  op: Op;
  /** Where its work ran (a connection's host), if anywhere. */
  host?: string;
  seconds: number;
  ok: boolean;
  /** Why nothing was done (unchanged; not reachable here), or how it failed. */
  detail?: string;
}

export interface UpdateOptions {
  stack: string;
  /** The config the program sees: flat keys, decrypted, with the secret keys named. */
  config: RawConfig;
  /** The config as `pulumi config --json` lists it; history keeps it with the secret values encrypted. */
  configMap: Record<string, { value: string; secret?: boolean }>;
  backend: FileBackend;
  passphrase: () => string;
  executor: HostExecutor;
  /** Answers provider functions; `providerInputs` are the explicit provider's inputs, when one was given. */
  invoke: (token: string, args: Record<string, unknown>, providerInputs?: Record<string, unknown>) => Promise<Record<string, unknown>>;
  preview?: boolean;
  /** Steps at once (pulumi up --parallel); default defaultParallel(). */
  parallel?: number;
  message?: string;
  environment?: Record<string, string>;
  log?: (line: string) => void;
  /** The program; default: this project's. */
  program?: () => Promise<Record<string, unknown>>;
}

export interface EngineResult {
  ok: boolean;
  /** The update's error as `pulumi up` prints it (secret config values as [secret]). */
  error?: string;
  steps: EngineStep[];
  outputs: Record<string, unknown>;
  secretOutputs: string[];
  /** Commands run and files copied on hosts. */
  hostActions: number;
  summary: HistoryEntry;
  warnings: string[];
  /** The resource graph the program registered (for a policy pack), when the evaluation finished. */
  graph?: { resources: RegisteredResource[]; outputs: Record<string, unknown> };
}

/** Replaces secret config values in a diagnostic with [secret], as the engine's log filter does. */
export function filterSecrets(text: string, secretValues: string[]): string {
  let out = text;
  for (const v of [...secretValues].sort((a, b) => b.length - a.length)) {
    if (v.length < 3 || v === "true" || v === "false") continue;
    out = out.split(v).join("[secret]");
  }
  return out;
}

function secretConfigValues(config: RawConfig): string[] {
  const leaves = (v: unknown): string[] =>
    typeof v === "string" ? [v] : Array.isArray(v) ? v.flatMap(leaves) : typeof v === "object" && v !== null ? Object.values(v).flatMap(leaves) : v === undefined || v === null ? [] : [String(v)];
  return config.secretKeys.flatMap((k) => {
    const text = config.values[k];
    if (text === undefined) return [];
    try {
      return [text, ...leaves(JSON.parse(text))];
    } catch {
      return [text];
    }
  });
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(
      Object.keys(v)
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** Top-level input keys that differ (ignoreChanges paths taken at their top key). */
function changedKeys(olds: Record<string, unknown>, news: Record<string, unknown>, ignore: string[]): string[] {
  const skip = new Set(ignore.map((p) => p.split(/[.[]/)[0]));
  const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
  return [...keys].filter((k) => !skip.has(k) && !deepEqual(olds[k], news[k])).sort();
}

const ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

/** Inputs as the engine compares them: secrets by their value, assets by their content's hash (asset.go:146-161). */
function comparable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(comparable);
  if (typeof value === "object" && value !== null) {
    const v = value as Record<string, unknown>;
    if (v[SIG_KEY] === ASSET_SIG) return { asset: typeof v.hash === "string" ? v.hash : assetHash(v) };
    if ("value" in v && typeof v[SIG_KEY] === "string") return comparable(v.value);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, comparable(x)]));
  }
  return value;
}

function withAssetHashes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withAssetHashes);
  if (typeof value === "object" && value !== null) {
    const v = value as Record<string, unknown>;
    if (v[SIG_KEY] === ASSET_SIG) return { ...v, hash: assetHash(v) };
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withAssetHashes(x)]));
  }
  return value;
}

function decide(provider: Provider, oldWire: Record<string, unknown>, request: ResourceRequest): { op: Op; changed: string[] } {
  const changed = changedKeys(comparable(oldWire) as Record<string, unknown>, comparable(request.wireInputs) as Record<string, unknown>, request.ignoreChanges);
  if (changed.length === 0) return { op: "same", changed };
  const replaceKeys = new Set([...(provider.replaceKeys === "all" ? changed : provider.replaceKeys), ...request.replaceOnChanges.map((p) => p.split(/[.[]/)[0])]);
  return { op: changed.some((k) => replaceKeys.has(k)) ? "replace" : "update", changed };
}

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}

/** Resources to delete, each before what it depends on or is parented to. */
function deleteOrder(victims: StateResource[]): StateResource[] {
  const left = [...victims];
  const out: StateResource[] = [];
  while (left.length > 0) {
    const i = left.findIndex((r) => !left.some((o) => o !== r && (o.dependencies.includes(r.urn) || o.parent === r.urn)));
    out.push(...left.splice(i < 0 ? left.length - 1 : i, 1));
  }
  return out;
}

/**
 * How many steps run at once: the CLI's --parallel default, 4 per core, or PULUMI_PARALLEL
 * (pkg/cmd/pulumi/operations/up.go defaultParallel).
 */
export function defaultParallel(env: NodeJS.ProcessEnv = process.env): number {
  const given = Number(env.PULUMI_PARALLEL);
  return Number.isInteger(given) && given > 0 ? given : os.availableParallelism() * 4;
}

/** A counting semaphore: at most `n` holders at once, served in arrival order. */
function limiter(n: number): <T>(f: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (f) => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await f();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/** An update holds the stack's lock throughout (diy backend.go Update: Lock, defer Unlock); a preview takes none. */
export async function runUpdate(o: UpdateOptions): Promise<EngineResult> {
  const unlock = o.preview ? () => undefined : o.backend.lock(o.stack);
  try {
    return await runLockedUpdate(o);
  } finally {
    unlock();
  }
}

async function runLockedUpdate(o: UpdateOptions): Promise<EngineResult> {
  const log = o.log ?? (() => undefined);
  const slot = limiter(o.parallel ?? defaultParallel());
  let stepFailed = false;
  const preview = o.preview ?? false;
  const startTime = new Date();
  const previous: Checkpoint = o.backend.checkpoint(o.stack);
  let crypter: Crypter | undefined;
  const stateCrypter = (): Crypter => {
    if (!crypter) crypter = previous.encryptionSalt ? crypterFor(o.passphrase(), previous.encryptionSalt) : newCrypter(o.passphrase());
    return crypter;
  };
  const secretValues = secretConfigValues(o.config);
  const steps: EngineStep[] = [];
  const warnings: string[] = [];
  let hostActions = 0;

  const live = previous.resources.filter((r) => !r.delete);
  const oldByUrn = new Map(live.map((r) => [r.urn, r]));
  /** The working snapshot: every resource that exists, by URN (old ones until touched). */
  const current = new Map<string, StateResource>(live.map((r) => [r.urn, r]));
  /** Old copies of create-before-delete replacements, and those an earlier failed update left. */
  const toDeleteReplaced: StateResource[] = previous.resources.filter((r) => r.delete);
  const registered = new Set<string>();
  /** Each provider's inputs as this program declares them (what the engine configures it with). */
  const providerInputs = new Map<string, Record<string, unknown>>();
  const counts: Record<string, number> = {};
  const count = (op: Op) => (counts[op] = (counts[op] ?? 0) + 1);

  const snapshot = (outputs: Record<string, unknown>, secretOutputs: string[]): Checkpoint => ({
    stack: o.stack,
    encryptionSalt: stateCrypter().salt,
    resources: [...current.values(), ...toDeleteReplaced.map((r) => ({ ...r, delete: true }))],
    outputs,
    secretOutputs,
  });
  const save = () => {
    if (!preview) o.backend.saveCheckpoint(snapshot(previous.outputs, previous.secretOutputs));
  };

  const ctxFor = (onHost: (h: string) => void): StepContext => ({
    executor: o.executor,
    onLine: (line) => log(`    ${line}`),
    hostAction: (what) => {
      hostActions++;
      onHost(what);
    },
  });

  const record = (request: ResourceRequest, id: string, outputs: Record<string, unknown>, secretOutputKeys: Set<string>): StateResource => ({
    urn: request.urn,
    type: request.type,
    name: request.name,
    custom: request.custom,
    id,
    parent: request.parent,
    // An asset is kept with its hash as of this update, as the engine keeps it (the file may change later).
    inputs: sealWire(withAssetHashes(request.wireInputs), stateCrypter()) as Record<string, unknown>,
    outputs: sealKeys(outputs, secretOutputKeys, stateCrypter()),
    dependencies: request.dependencies,
    protect: request.protect,
    retainOnDelete: request.retainOnDelete,
    deleteBeforeReplace: request.deleteBeforeReplace,
  });

  const plain = (r: StateResource) => ({ id: r.id, inputs: open(r.inputs, stateCrypter) as Record<string, any>, outputs: open(r.outputs, stateCrypter) as Record<string, any> });

  async function step(request: ResourceRequest): Promise<CreateResult> {
    registered.add(request.urn);
    // The engine configures a provider from its inputs before any step, a preview's included: its functions work then too.
    if (request.type.startsWith("pulumi:providers:")) providerInputs.set(request.urn, request.inputs);
    const old = oldByUrn.get(request.urn);
    if (!request.custom) {
      current.set(request.urn, record(request, old?.id ?? "", {}, new Set()));
      return { id: request.urn, state: {} };
    }
    const provider = providerFor(request.type);
    if (!provider) throw new Error(`${request.urn}: the rig has no stand-in for resource type ${request.type}`);
    const olds = old ? plain(old) : undefined;
    let { op, changed } = olds ? decide(provider, olds.inputs, request) : { op: "create" as Op, changed: [] as string[] };
    if (olds && op !== "same" && provider.diff) {
      // The provider's own Diff decides (the engine asks the provider; only without one does it compare inputs).
      const d = await provider.diff(olds.inputs, request.inputs);
      op = !d.changes ? "same" : d.replaces.length > 0 || op === "replace" ? "replace" : "update";
    }
    // olds.inputs is the wire form as stored (secrets opened); the provider gets plain inputs.
    const secretKeys = new Set([...secretTopKeys(request.wireInputs), ...request.additionalSecretOutputs]);
    const host = (request.inputs.connection as { host?: string } | undefined)?.host;
    const t0 = Date.now();
    const report = (ok: boolean, detail?: string) => steps.push({ urn: request.urn, name: request.name, type: request.type, op, host, seconds: seconds(t0), ok, detail });

    if (op === "same") {
      current.set(request.urn, { ...old!, parent: request.parent, dependencies: request.dependencies, protect: request.protect, retainOnDelete: request.retainOnDelete });
      count("same");
      report(true, "unchanged");
      return { id: old!.id, state: olds!.outputs };
    }
    if (preview) {
      count(op);
      report(true, `would ${op}${changed.length ? ` (${changed.join(", ")})` : ""}`);
      return { id: old?.id ?? "", state: op === "create" ? request.inputs : { ...olds!.outputs, ...request.inputs } };
    }
    if (provider.unreachable) log(`  ${request.name}: ${op} recorded, not done (${provider.unreachable})`);
    else log(`  ${host ?? "local"}  ${request.name}: ${op}${changed.length ? ` (${changed.join(", ")})` : ""} ...`);
    const ctx = ctxFor(() => undefined);
    // A step waiting for a slot when another fails never starts (step_executor.go: no new step after a failure).
    return slot(() => {
      if (stepFailed) throw new StepNotStarted(request.urn);
      return apply(request, op, old, olds, secretKeys, ctx, report);
    });
  }

  async function apply(request: ResourceRequest, op: Op, old: StateResource | undefined, olds: ReturnType<typeof plain> | undefined, secretKeys: Set<string>, ctx: StepContext, report: (ok: boolean, detail?: string) => void): Promise<CreateResult> {
    const provider = providerFor(request.type)!;
    try {
      let id: string;
      let outputs: Record<string, unknown>;
      if (op === "create") {
        ({ id, outputs } = await provider.create(request, ctx));
      } else if (op === "update") {
        ({ outputs } = await provider.update(olds!, request, ctx));
        id = old!.id;
      } else {
        if (old!.protect) {
          throw new Error(`unable to replace resource "${request.urn}"\nas it is currently marked for protection. To unprotect the resource, remove the \`protect\` flag from the resource in your Pulumi program and run \`pulumi up\``);
        }
        if (request.deleteBeforeReplace) {
          await provider.delete(olds!, ctx);
          current.delete(request.urn);
          save();
        }
        ({ id, outputs } = await provider.create(request, ctx));
        if (!request.deleteBeforeReplace) toDeleteReplaced.push(old!);
      }
      current.set(request.urn, record(request, id, outputs, secretKeys));
      count(op);
      report(true, provider.unreachable);
      save();
      return { id, state: outputs };
    } catch (err) {
      stepFailed = true;
      report(false, filterSecrets(err instanceof Error ? err.message : String(err), secretValues));
      save();
      throw err;
    }
  }

  let ok = true;
  let error: string | undefined;
  let graph: EngineResult["graph"];
  let outputs = previous.outputs;
  let secretOutputs = previous.secretOutputs;
  const stackOutputs: Record<string, Record<string, unknown>> = {};
  for (const s of ["dev", "testprod", "prod"]) {
    if (s === o.stack || !o.backend.hasStack(s)) continue;
    const cp = o.backend.checkpoint(s);
    const c = cp.encryptionSalt ? () => crypterFor(o.passphrase(), cp.encryptionSalt!) : stateCrypter;
    stackOutputs[s] = open(cp.outputs, c) as Record<string, unknown>;
  }
  const invoke = (token: string, args: Record<string, unknown>, provider?: string) => {
    const configured = provider ? providerInputs.get(provider) : undefined;
    const p = provider ? current.get(provider) : undefined;
    return o.invoke(token, args, configured ?? (p ? (open(p.inputs, stateCrypter) as Record<string, unknown>) : undefined));
  };

  try {
    const evaluation = await evaluateStack({ stack: o.stack, config: o.config, preview, invoke, stackOutputs, create: step, program: o.program });
    warnings.push(...evaluation.warnings);
    graph = { resources: evaluation.resources, outputs: evaluation.outputs };
    // What the program no longer declares, and old copies of replacements: deleted at the end.
    const removed = [...oldByUrn.values()].filter((r) => !registered.has(r.urn));
    for (const victim of deleteOrder([...removed, ...toDeleteReplaced])) {
      const replacedCopy = toDeleteReplaced.includes(victim);
      const op: Op = replacedCopy ? "delete-replaced" : "delete";
      const t0 = Date.now();
      const host = (open(victim.outputs, stateCrypter) as { connection?: { host?: string } }).connection?.host;
      if (preview) {
        steps.push({ urn: victim.urn, name: victim.name, type: victim.type, op, host, seconds: 0, ok: true, detail: `would ${op}` });
        continue;
      }
      if (victim.protect && !replacedCopy) throw new Error(`unable to delete resource "${victim.urn}"\nas it is currently marked for protection`);
      if (!victim.retainOnDelete && victim.custom) {
        const provider = providerFor(victim.type);
        try {
          await provider?.delete(plain(victim), ctxFor(() => undefined));
        } catch (err) {
          steps.push({ urn: victim.urn, name: victim.name, type: victim.type, op, host, seconds: seconds(t0), ok: false, detail: filterSecrets(String((err as Error).message), secretValues) });
          throw err;
        }
      }
      if (replacedCopy) toDeleteReplaced.splice(toDeleteReplaced.indexOf(victim), 1);
      else current.delete(victim.urn);
      count(op);
      steps.push({ urn: victim.urn, name: victim.name, type: victim.type, op, host, seconds: seconds(t0), ok: true });
      save();
    }
    outputs = sealKeys(evaluation.outputs, new Set(evaluation.secretOutputs), stateCrypter());
    secretOutputs = evaluation.secretOutputs;
  } catch (err) {
    ok = false;
    const message = err instanceof StepNotStarted ? "update failed" : err instanceof Error ? err.message : String(err);
    error = filterSecrets(message, secretValues);
  }

  const summary: HistoryEntry = {
    kind: preview ? "preview" : "update",
    startTime: startTime.toISOString(),
    endTime: new Date().toISOString(),
    message: o.message ?? "",
    environment: o.environment ?? {},
    config: Object.fromEntries(
      Object.entries(o.configMap).map(([k, v]): [string, HistoryConfigValue] =>
        v.secret ? [k, { secret: true, ciphertext: stateCrypter().encrypt(v.value) }] : [k, { value: v.value, secret: false }],
      ),
    ),
    result: ok ? "succeeded" : "failed",
    resourceChanges: counts,
  };
  if (!preview) {
    o.backend.saveCheckpoint(snapshot(outputs, secretOutputs));
    o.backend.appendHistory(o.stack, summary);
  }
  return {
    ok,
    error,
    steps,
    outputs: open(outputs, stateCrypter) as Record<string, unknown>,
    secretOutputs,
    hostActions,
    summary,
    warnings,
    graph,
  };
}
