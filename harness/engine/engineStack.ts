import * as path from "node:path";
import type { ConfigMap, ConfigValue, OutputMap, PreviewOptions, PreviewResult, UpdateSummary, UpOptions, UpResult } from "@pulumi/pulumi/automation";
import { stackFileName } from "../../config/environments";
import type { RawConfig } from "../../config/stackFile";
import type { StackHandle } from "../../ops/stackHandle";
import { FileBackend, HistoryEntry } from "./backend";
import { crypterFor, passphraseFromEnv } from "./crypter";
import { EngineResult, runUpdate } from "./engine";
import type { HostExecutor } from "./executor";
import { policyPackViolations, policyViolationText } from "./policyPack";
import { ProjectStackFile } from "./projectStack";

/*
 * The Automation API's Stack over the stand-in engine, for one working directory (a CI
 * job's fresh checkout, or an operator's): config lives in that directory's stack file and
 * nowhere else; state and history live in the backend directory. So whatever a job writes
 * to its checkout is gone for the next job, as it is in GitHub Actions.
 * - history(pageSize, page, showSecrets): newest first, 10 a page when no size is given,
 *   secrets shown unless showSecrets is false (then a secret key has no value), version 0
 *   on every entry (automation/stack.js:1206-1224; diy/state.go:574-602; stack_history.go);
 * - up() throws when the update fails, with the CLI's output in the message, as the
 *   Automation API's CommandError does (automation/errors.js).
 */

export interface EngineStackOptions {
  /** The working directory: the checkout holding Pulumi.yaml and the stack files. */
  workDir: string;
  /**
   * Keep the stack file in memory, starting from this text (a CI job's checkout: whatever
   * the job sets is gone when it ends); default: the file in workDir, read and written.
   */
  stackFileText?: string;
  backend: FileBackend;
  executor: HostExecutor;
  invoke: (token: string, args: Record<string, unknown>, providerInputs?: Record<string, unknown>) => Promise<Record<string, unknown>>;
  passphrase?: () => string;
  /** Environment recorded with each update (e.g. the CI job's name). */
  environment?: Record<string, string>;
  /** The last update's full result, for callers that want its steps. */
  onResult?: (result: EngineResult) => void;
  /** The program; default: this project's. */
  program?: () => Promise<Record<string, unknown>>;
}

export function rawConfigOf(map: ConfigMap): RawConfig {
  const values: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [k, v] of Object.entries(map)) {
    if (typeof v.value !== "string") continue;
    values[k] = v.value;
    if (v.secret) secretKeys.push(k);
  }
  return { values, secretKeys };
}

export class EngineStack implements StackHandle {
  private readonly passphrase: () => string;

  constructor(
    readonly name: string,
    private readonly options: EngineStackOptions,
  ) {
    this.passphrase = options.passphrase ?? (() => passphraseFromEnv());
  }

  get stackFile(): string {
    return path.join(this.options.workDir, stackFileName(this.name));
  }

  private memory?: ProjectStackFile;

  private file(): ProjectStackFile {
    if (this.options.stackFileText !== undefined) {
      this.memory ??= new ProjectStackFile(undefined, { text: this.options.stackFileText, passphrase: this.passphrase });
      return this.memory;
    }
    return new ProjectStackFile(this.stackFile, { passphrase: this.passphrase });
  }

  async getAllConfig(): Promise<ConfigMap> {
    return this.file().all();
  }

  async setConfig(key: string, value: ConfigValue, path?: boolean): Promise<void> {
    const f = this.file();
    f.set(key, value, path);
    f.save();
  }

  async setAllConfig(config: ConfigMap, path?: boolean): Promise<void> {
    const f = this.file();
    const entries = Object.entries(config);
    // The CLI applies --plaintext values first, then --secret ones (config.go:923-974).
    for (const [k, v] of entries.filter(([, v]) => !v.secret)) f.set(k, v, path);
    for (const [k, v] of entries.filter(([, v]) => v.secret)) f.set(k, v, path);
    f.save();
  }

  async removeConfig(key: string, path?: boolean): Promise<void> {
    const f = this.file();
    f.remove(key, path);
    f.save();
  }

  /** Runs the update; `config` replaces what the stack file holds (a rehearsal's in-memory overrides). */
  async run(opts: UpOptions & { preview?: boolean; config?: ConfigMap; log?: (line: string) => void } = {}): Promise<EngineResult> {
    const configMap = opts.config ?? (await this.getAllConfig());
    const lines: string[] = [];
    const log = (line: string) => {
      lines.push(line);
      opts.log?.(line);
      opts.onOutput?.(`${line}\n`);
    };
    const result = await runUpdate({
      stack: this.name,
      config: rawConfigOf(configMap),
      configMap: configMap as Record<string, { value: string; secret?: boolean }>,
      backend: this.options.backend,
      passphrase: this.passphrase,
      executor: this.options.executor,
      invoke: this.options.invoke,
      preview: opts.preview,
      message: opts.message,
      environment: this.options.environment,
      program: this.options.program,
      log,
    });
    for (const s of result.steps.filter((s) => !s.ok)) log(`error: ${s.name}: ${s.detail ?? "failed"}`);
    if (!result.ok) log(`error: ${result.error ?? "update failed"}`);
    this.options.onResult?.(result);
    (result as EngineResult & { output: string }).output = lines.join("\n");
    return result;
  }

  async up(opts?: UpOptions): Promise<UpResult> {
    const result = await this.run(opts);
    const stdout = (result as EngineResult & { output?: string }).output ?? "";
    if (!result.ok) {
      // automation/errors.js CommandError: the CLI's exit code and output.
      throw new Error(`code: 255\n stdout: ${stdout}\n stderr: ${result.error ?? ""}\n`);
    }
    return { stdout, stderr: "", outputs: await this.outputs(), summary: this.summaryOf(result.summary, true) };
  }

  async cancel(): Promise<void> {
    this.options.backend.cancel(this.name);
  }

  /**
   * `pulumi preview`: nothing runs on a host and nothing is recorded. With policy packs, the
   * pack judges the graph and a mandatory violation fails the preview as the CLI's does
   * (exit 255, the violations in its output); advisory ones are printed. (With
   * --skip-preview, as the Automation API's up runs, the real CLI judges stack policies at the
   * end of the update too; the operator core previews with the pack first, so this stand-in
   * judges only here.)
   */
  async preview(opts: PreviewOptions = {}): Promise<PreviewResult> {
    const config = await this.getAllConfig();
    const result = await this.run({ preview: true, message: opts.message, onOutput: opts.onOutput });
    let stdout = (result as EngineResult & { output?: string }).output ?? "";
    if (!result.ok) throw new Error(`code: 255\n stdout: ${stdout}\n stderr: ${result.error ?? "preview failed"}\n`);
    if (opts.policyPacks?.length && result.graph) {
      const violations = await policyPackViolations(this.name, result.graph, config, opts.policyPacks, opts.policyPackConfigs);
      if (violations.length > 0) {
        const text = policyViolationText(violations);
        opts.onOutput?.(`${text}\n`);
        stdout = `${stdout}\n${text}`;
      }
      if (violations.some((v) => v.enforcementLevel === "mandatory")) {
        throw new Error(`code: 255\n stdout: ${stdout}\n stderr: error: preview failed: mandatory policy violations\n`);
      }
    }
    return { stdout, stderr: "", changeSummary: result.summary.resourceChanges as PreviewResult["changeSummary"] };
  }

  private summaryOf(entry: HistoryEntry, showSecrets: boolean): UpdateSummary {
    const checkpoint = this.options.backend.checkpoint(this.name);
    const config: ConfigMap = {};
    for (const [k, v] of Object.entries(entry.config)) {
      if (!v.secret) config[k] = { value: v.value ?? "", secret: false };
      else if (showSecrets && v.ciphertext && checkpoint.encryptionSalt) config[k] = { value: crypterFor(this.passphrase(), checkpoint.encryptionSalt).decrypt(v.ciphertext), secret: true };
      else config[k] = { secret: true } as ConfigValue;
    }
    return {
      version: 0,
      kind: entry.kind,
      startTime: new Date(entry.startTime),
      endTime: new Date(entry.endTime),
      message: entry.message,
      environment: entry.environment,
      config,
      result: entry.result,
      resourceChanges: entry.resourceChanges,
    } as UpdateSummary;
  }

  async history(pageSize?: number, page?: number, showSecrets?: boolean): Promise<UpdateSummary[]> {
    const size = pageSize ? Math.floor(pageSize) : 10;
    const p = !page || page < 1 ? 1 : Math.floor(page);
    const entries = this.options.backend.allHistory(this.name).slice((p - 1) * size, p * size);
    return entries.map((e) => this.summaryOf(e, showSecrets ?? true));
  }

  async outputs(): Promise<OutputMap> {
    const cp = this.options.backend.checkpoint(this.name);
    const crypter = () => crypterFor(this.passphrase(), cp.encryptionSalt!);
    const { open } = require("./secrets") as typeof import("./secrets");
    const opened = open(cp.outputs, crypter) as Record<string, unknown>;
    const secret = new Set(cp.secretOutputs);
    return Object.fromEntries(Object.entries(opened).map(([k, v]) => [k, { value: v, secret: secret.has(k) }]));
  }
}
