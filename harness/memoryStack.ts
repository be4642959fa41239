import type { ConfigMap, ConfigValue, OutputMap, UpdateSummary, UpOptions, UpResult } from "@pulumi/pulumi/automation";
import { removeConfigValue, setConfigValue, withoutSecretValues } from "../ops/configMap";
import type { StackHandle } from "../ops/stackHandle";

/*
 * A StackHandle held in memory, behaving as the Automation API's Stack does where the
 * release CLI can tell: config set/rm (with --path), `up` appending to a history kept
 * newest first and throwing when the update fails, history without secret values unless
 * showSecrets. What an update does is the caller's: the tests give it, as a dry run could.
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
  /** "throw" (the Automation API's way, default) or "result" (an UpResult with result "failed"). */
  failAs?: "throw" | "result";
  clock?: () => Date;
}

export class MemoryStack implements StackHandle {
  config: ConfigMap;
  updates: UpdateSummary[];
  currentOutputs: Record<string, unknown>;
  /** Every call, in order: "getAllConfig", "setAllConfig", "removeConfig <key>", "up", ... */
  readonly calls: string[] = [];

  constructor(
    readonly name: string,
    private readonly init: MemoryStackInit,
  ) {
    this.config = structuredClone(init.config);
    this.updates = structuredClone(init.history ?? []);
    this.currentOutputs = structuredClone(init.outputs ?? {});
  }

  async getAllConfig(): Promise<ConfigMap> {
    this.calls.push("getAllConfig");
    return structuredClone(this.config);
  }

  async setConfig(key: string, value: ConfigValue, path?: boolean): Promise<void> {
    this.calls.push(`setConfig ${key}`);
    this.config = setConfigValue(this.config, key, value, path);
  }

  async setAllConfig(config: ConfigMap, path?: boolean): Promise<void> {
    this.calls.push(`setAllConfig ${Object.keys(config).sort().join(",")}`);
    for (const [key, value] of Object.entries(config)) this.config = setConfigValue(this.config, key, value, path);
  }

  async removeConfig(key: string, path?: boolean): Promise<void> {
    this.calls.push(`removeConfig ${key}`);
    this.config = removeConfigValue(this.config, key, path);
  }

  async up(opts?: UpOptions): Promise<UpResult> {
    this.calls.push("up");
    const startTime = (this.init.clock ?? (() => new Date()))();
    const outcome: MemoryUpOutcome = await (this.init.up ?? (() => ({ ok: true })))(structuredClone(this.config), opts);
    if (outcome.output) opts?.onOutput?.(outcome.output);
    const version = Math.max(0, ...this.updates.map((u) => u.version)) + 1;
    const summary: UpdateSummary = {
      version,
      kind: "update",
      result: outcome.ok ? "succeeded" : "failed",
      startTime,
      endTime: (this.init.clock ?? (() => new Date()))(),
      message: opts?.message ?? "",
      environment: {},
      config: structuredClone(this.config),
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
    let entries = structuredClone(this.updates);
    if (pageSize) {
      const p = !page || page < 1 ? 1 : page;
      entries = entries.slice((p - 1) * pageSize, p * pageSize);
    }
    return showSecrets ?? true ? entries : entries.map((e) => ({ ...e, config: withoutSecretValues(e.config) }));
  }

  async outputs(): Promise<OutputMap> {
    return Object.fromEntries(Object.entries(this.currentOutputs).map(([k, v]) => [k, { value: structuredClone(v), secret: false }]));
  }
}
