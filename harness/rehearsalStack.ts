import * as fs from "node:fs";
import * as path from "node:path";
import type { ConfigMap, OutputMap, UpdateSummary, UpOptions, UpResult } from "@pulumi/pulumi/automation";
import { NAMESPACE } from "../config/environments";
import { RawConfig, readStackFile } from "../config/stackFile";
import { readState } from "../rig";
import { stateDir as rigStateDir } from "../rig/config";
import type { RehearsalResult, RehearseOptions } from "./rehearsal/rehearse";
import { loadState } from "./rehearsal/state";
import { configMapFromRaw, isObject, removeConfigValue, setConfigValue, withoutSecretValues } from "../ops/configMap";
import type { StackHandle } from "../ops/stackHandle";

/*
 * The rig's stand-in for the Pulumi engine behind a stack: its config is the stack file's
 * plus what the CLI set (an overlay kept in .rig/rehearsals/<stack>.config.json, 0600), its
 * `up` is a rehearsal with that overlay as `--set` overrides, and its history is kept as
 * Pulumi keeps it (newest first, the config each update ran with, secret values left out)
 * in .rig/rehearsals/<stack>.history.json.
 */

export interface RehearsalStackOptions {
  /** Default: the rig's state directory (.rig, or WEPPPY_RIG_STATE_DIR). */
  stateDir?: string;
  /** Default: the real rehearsal (harness/rehearsal/rehearse). */
  rehearse?: (options: RehearseOptions) => Promise<RehearsalResult>;
  /** Default: readStackFile. */
  stackFile?: (stack: string) => RawConfig;
  /** The stack outputs the last rehearsal left; default: its state file on this rig. */
  outputs?: (stack: string) => Record<string, unknown>;
  clock?: () => Date;
}

interface StoredSummary extends Omit<UpdateSummary, "startTime" | "endTime"> {
  startTime: string;
  endTime: string;
}

function writePrivate(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function readJson<T>(file: string, empty: T): T {
  if (!fs.existsSync(file)) return empty;
  return JSON.parse(fs.readFileSync(file, "utf8")) as T;
}

function parsed(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Leaf paths of an object (arrays and scalars are leaves). */
function leaves(value: Record<string, unknown>, prefix: string[] = []): [string[], unknown][] {
  return Object.entries(value).flatMap(([k, v]) => (isObject(v) && Object.keys(v).length > 0 ? leaves(v, [...prefix, k]) : [[[...prefix, k], v] as [string[], unknown]]));
}

export class RehearsalStack implements StackHandle {
  private readonly dir: string;

  constructor(
    readonly name: string,
    private readonly options: RehearsalStackOptions = {},
  ) {
    this.dir = path.join(options.stateDir ?? rigStateDir, "rehearsals");
  }

  get configFile(): string {
    return path.join(this.dir, `${this.name}.config.json`);
  }

  get historyFile(): string {
    return path.join(this.dir, `${this.name}.history.json`);
  }

  /** The stack file's config as the engine would list it (encrypted values as a placeholder). */
  private fileConfig(): ConfigMap {
    return configMapFromRaw((this.options.stackFile ?? readStackFile)(this.name));
  }

  /** The keys the CLI set, where they differ from the stack file. */
  overlay(): ConfigMap {
    return readJson<ConfigMap>(this.configFile, {});
  }

  async getAllConfig(): Promise<ConfigMap> {
    return { ...this.fileConfig(), ...this.overlay() };
  }

  private store(next: ConfigMap): void {
    const file = this.fileConfig();
    const removed = Object.keys(file).filter((k) => !(k in next));
    if (removed.length > 0) throw new Error(`${removed.join(", ")}: set in ${this.name}'s stack file, so the rig cannot remove it (edit the stack file)`);
    const overlay: ConfigMap = {};
    for (const [key, entry] of Object.entries(next)) {
      if (!key.startsWith(`${NAMESPACE}:`)) throw new Error(`${key}: the rig rehearses only ${NAMESPACE}: keys`);
      const same = file[key] && file[key].value === entry.value && Boolean(file[key].secret) === Boolean(entry.secret);
      if (!same) overlay[key] = { value: entry.value, secret: Boolean(entry.secret) };
    }
    writePrivate(this.configFile, overlay);
  }

  async setConfig(key: string, value: { value: string; secret?: boolean }, path?: boolean): Promise<void> {
    this.store(setConfigValue(await this.getAllConfig(), key, value, path));
  }

  async setAllConfig(config: ConfigMap, path?: boolean): Promise<void> {
    let next = await this.getAllConfig();
    for (const [key, value] of Object.entries(config)) next = setConfigValue(next, key, value, path);
    this.store(next);
  }

  async removeConfig(key: string, path?: boolean): Promise<void> {
    this.store(removeConfigValue(await this.getAllConfig(), key, path));
  }

  /** The overlay as rehearse's `set` (section.path = value), leaf by leaf where the stack file has the section. */
  overrides(): Record<string, unknown> {
    const file = this.fileConfig();
    const set: Record<string, unknown> = {};
    for (const [key, entry] of Object.entries(this.overlay())) {
      const section = key.slice(NAMESPACE.length + 1);
      const mine = parsed(entry.value);
      const theirs = parsed(file[key]?.value);
      if (!isObject(mine) || !isObject(theirs)) {
        set[section] = mine;
        continue;
      }
      const wanted = new Map(leaves(mine).map(([p, v]) => [p.join("."), v]));
      for (const [p] of leaves(theirs)) {
        const dotted = p.join(".");
        if (!wanted.has(dotted) && ![...wanted.keys()].some((w) => w.startsWith(`${dotted}.`))) {
          throw new Error(`${key}.${dotted}: set in ${this.name}'s stack file, so a rehearsal cannot remove it`);
        }
      }
      const filed = new Map(leaves(theirs).map(([p, v]) => [p.join("."), JSON.stringify(v)]));
      for (const [dotted, v] of wanted) if (filed.get(dotted) !== JSON.stringify(v)) set[`${section}.${dotted}`] = v;
    }
    return set;
  }

  async up(opts?: UpOptions): Promise<UpResult> {
    const clock = this.options.clock ?? (() => new Date());
    const config = await this.getAllConfig();
    const set = this.overrides();
    const lines: string[] = [];
    const log = (line: string) => {
      lines.push(line);
      opts?.onOutput?.(`${line}\n`);
    };
    const startTime = clock();
    let ok = false;
    let error: string | undefined;
    try {
      const run = this.options.rehearse ?? (require("./rehearsal/rehearse") as typeof import("./rehearsal/rehearse")).rehearse;
      const result = await run({ stack: this.name, set, log });
      ok = result.ok;
      error = result.error;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      log(`error: ${error}`);
    }
    const history = this.stored();
    const summary: StoredSummary = {
      version: (history[0]?.version ?? 0) + 1,
      kind: "update",
      result: ok ? "succeeded" : "failed",
      startTime: startTime.toISOString(),
      endTime: clock().toISOString(),
      message: opts?.message ?? "",
      environment: { exec: "rig rehearsal" },
      config: withoutSecretValues(config),
    };
    writePrivate(this.historyFile, [summary, ...history]);
    return { stdout: lines.join("\n"), stderr: error ?? "", outputs: await this.outputs(), summary: revive(summary) };
  }

  private stored(): StoredSummary[] {
    return readJson<StoredSummary[]>(this.historyFile, []);
  }

  /** Newest first; secret values were never stored, whatever showSecrets says. */
  async history(pageSize?: number, page?: number, _showSecrets?: boolean): Promise<UpdateSummary[]> {
    let entries = this.stored();
    if (pageSize) {
      const p = !page || page < 1 ? 1 : page;
      entries = entries.slice((p - 1) * pageSize, p * pageSize);
    }
    return entries.map(revive);
  }

  async outputs(): Promise<OutputMap> {
    const read =
      this.options.outputs ??
      ((stack: string) => loadState(this.options.stateDir ?? rigStateDir, stack, readState()?.createdAt ?? "none").outputs);
    return Object.fromEntries(Object.entries(read(this.name)).map(([k, v]) => [k, { value: v, secret: false }]));
  }
}

function revive(s: StoredSummary): UpdateSummary {
  return { ...s, startTime: new Date(s.startTime), endTime: new Date(s.endTime) };
}
