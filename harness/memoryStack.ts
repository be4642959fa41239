import type { ConfigMap, ConfigValue, OutputMap, PreviewOptions, PreviewResult, UpdateSummary, UpOptions, UpResult } from "@pulumi/pulumi/automation";
import type { Crypter } from "./engine/crypter";
import { ProjectStackFile } from "./engine/projectStack";
import type { StackHandle } from "../ops/stackHandle";

/*
 * A StackHandle held in memory, for the operator core's unit tests, answering as the
 * Automation API's Stack does on the file backend: config set/rm with `--path` semantics
 * (the same stack-file code as the rig's EngineStack), `up` appending to a history kept
 * newest first and throwing when the update fails, history entries without a version
 * number, 10 a page unless paged, secrets shown unless showSecrets is false. What an
 * update does is the caller's: the tests give it, as a dry run could.
 */

export interface MemoryUpOutcome {
  ok: boolean;
  /** The stack outputs after a successful update (merged over the previous ones). */
  outputs?: Record<string, unknown>;
  output?: string;
  error?: string;
}

export interface MemoryStackInit {
  config: ConfigMap;
  /** Newest first, as Pulumi lists it; config values as the engine stored them (secrets included). */
  history?: UpdateSummary[];
  outputs?: Record<string, unknown>;
  up?: (config: ConfigMap, opts?: UpOptions) => Promise<MemoryUpOutcome> | MemoryUpOutcome;
  /** What a preview (with the policy pack, when asked) finds; default: nothing wrong. A failed one throws, as the CLI exits non-zero. */
  preview?: (config: ConfigMap, opts?: PreviewOptions) => Promise<MemoryUpOutcome> | MemoryUpOutcome;
  /** "throw" (the Automation API's way, default) or "result" (an UpResult with result "failed"). */
  failAs?: "throw" | "result";
  clock?: () => Date;
}

/** Memory only: values marked secure are kept as they are (nothing here is at rest). */
const inMemory: Crypter = { salt: "memory", encrypt: (p) => p, decrypt: (c) => c };

function withoutSecretValues(map: ConfigMap): ConfigMap {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, v.secret ? ({ secret: true } as ConfigValue) : { value: v.value, secret: false }]));
}

export class MemoryStack implements StackHandle {
  private file: ProjectStackFile;
  updates: UpdateSummary[];
  currentOutputs: Record<string, unknown>;
  /** Every call, in order: "getAllConfig", "setAllConfig", "removeConfig <key>", "up", ... */
  readonly calls: string[] = [];

  constructor(
    readonly name: string,
    private readonly init: MemoryStackInit,
  ) {
    this.file = new ProjectStackFile(undefined, { crypter: inMemory, text: "config: {}\n" });
    // As a stack file holds them: sections as maps, secret values as secure leaves.
    for (const [k, v] of Object.entries(init.config)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(v.value);
      } catch {
        parsed = undefined;
      }
      if (!v.secret && typeof parsed === "object" && parsed !== null) this.file.setStored(k, parsed);
      else this.file.set(k, v);
    }
    this.updates = structuredClone(init.history ?? []);
    this.currentOutputs = structuredClone(init.outputs ?? {});
  }

  get config(): ConfigMap {
    return this.file.all();
  }

  async getAllConfig(): Promise<ConfigMap> {
    this.calls.push("getAllConfig");
    return this.file.all();
  }

  async setConfig(key: string, value: ConfigValue, path?: boolean): Promise<void> {
    this.calls.push(`setConfig ${key}`);
    this.file.set(key, value, path);
  }

  async setAllConfig(config: ConfigMap, path?: boolean): Promise<void> {
    this.calls.push(`setAllConfig ${Object.keys(config).sort().join(",")}`);
    const entries = Object.entries(config);
    for (const [k, v] of entries.filter(([, v]) => !v.secret)) this.file.set(k, v, path);
    for (const [k, v] of entries.filter(([, v]) => v.secret)) this.file.set(k, v, path);
  }

  async removeConfig(key: string, path?: boolean): Promise<void> {
    this.calls.push(`removeConfig ${key}`);
    this.file.remove(key, path);
  }

  async cancel(): Promise<void> {
    this.calls.push("cancel");
  }

  async preview(opts?: PreviewOptions): Promise<PreviewResult> {
    this.calls.push(opts?.policyPacks?.length ? `preview --policy-pack ${opts.policyPacks.join(" ")}` : "preview");
    const outcome: MemoryUpOutcome = await (this.init.preview ?? (() => ({ ok: true })))(structuredClone(this.file.all()), opts);
    if (outcome.output) opts?.onOutput?.(outcome.output);
    if (!outcome.ok) throw new Error(`code: 255\n stdout: ${outcome.output ?? ""}\n stderr: ${outcome.error ?? "preview failed"}\n`);
    return { stdout: outcome.output ?? "", stderr: "", changeSummary: {} };
  }

  async up(opts?: UpOptions): Promise<UpResult> {
    this.calls.push("up");
    const clock = this.init.clock ?? (() => new Date());
    const startTime = clock();
    const config = this.file.all();
    const outcome: MemoryUpOutcome = await (this.init.up ?? (() => ({ ok: true })))(structuredClone(config), opts);
    if (outcome.output) opts?.onOutput?.(outcome.output);
    const summary: UpdateSummary = {
      version: 0,
      kind: "update",
      result: outcome.ok ? "succeeded" : "failed",
      startTime,
      endTime: clock(),
      message: opts?.message ?? "",
      environment: {},
      config,
    };
    this.updates.unshift(summary);
    if (outcome.ok) this.currentOutputs = { ...this.currentOutputs, ...(outcome.outputs ?? {}) };
    if (!outcome.ok && (this.init.failAs ?? "throw") === "throw") {
      throw new Error(`code: 255\n stdout: ${outcome.output ?? ""}\n stderr: ${outcome.error ?? "update failed"}\n`);
    }
    return { stdout: outcome.output ?? "", stderr: outcome.error ?? "", outputs: await this.outputs(), summary: structuredClone(summary) };
  }

  async history(pageSize?: number, page?: number, showSecrets?: boolean): Promise<UpdateSummary[]> {
    this.calls.push(`history ${showSecrets ?? true ? "showSecrets" : "noSecrets"}`);
    const size = pageSize ? Math.floor(pageSize) : 10;
    const p = !page || page < 1 ? 1 : Math.floor(page);
    const entries = structuredClone(this.updates).slice((p - 1) * size, p * size);
    return showSecrets ?? true ? entries : entries.map((e) => ({ ...e, config: withoutSecretValues(e.config) }));
  }

  async outputs(): Promise<OutputMap> {
    return Object.fromEntries(Object.entries(this.currentOutputs).map(([k, v]) => [k, { value: structuredClone(v), secret: false }]));
  }
}
