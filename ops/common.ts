import * as path from "node:path";
import type { ConfigMap, OutputMap, UpdateSummary } from "@pulumi/pulumi/automation";
import { stackFileName } from "../config/environments";
import { StackConfigError, parseStackConfig } from "../config/load";
import { StackConfig } from "../config/schema";
import { configKey, rawOf, sameConfig, sectionObject, withSection, writeConfig } from "./configMap";
import { NotifyEvent, NotifyOutcome, notify as postNotification } from "./notify";
import type { StackHandle } from "./stackHandle";

/*
 * What release, promote and rollback share: reading and judging the config, the release
 * record, and the update itself (write the config, `up`, put the config back if it fails,
 * announce the outcome).
 */

export type { Colour } from "../render/bluegreen/constants";
export { otherColour } from "../render/bluegreen/constants";
export { digestOf } from "../render/bluegreen/colours";
import type { Colour } from "../render/bluegreen/constants";
import { digestOf } from "../render/bluegreen/colours";
export type Action = "release" | "promote" | "rollback";

/** Refused before anything was changed: bad input, bad config, a rule. Exit status 1. */
export class OpsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OpsError";
  }
}

export interface ReleaseRecord {
  id: string;
  tag?: string;
  version?: string;
  actor?: string;
  note?: string;
}

export interface OpResult {
  action: Action;
  stack: string;
  ok: boolean;
  /** Whether the stack's config or hosts were touched (false: nothing to do, or refused). */
  changed: boolean;
  /** One line for people. */
  summary: string;
  /** Blue/green stacks: the colour live after the command (before it, when it failed). */
  live?: Colour;
  previousLive?: Colour;
  /** The image the command put live (pinned), and the one that was live before. */
  image?: string;
  previousImage?: string;
  digest?: string;
  release?: ReleaseRecord;
  /** The config keys written (restored again when the update failed). */
  keys?: string[];
  update?: { version?: number; result: string };
  /** Set when the update failed: whether the config is back to what it was. */
  restored?: boolean;
  /** Further lines for people: what the host does, how long a rollback takes. */
  notes: string[];
  warnings: string[];
  error?: string;
}

export interface CommonOptions {
  log?: (line: string) => void;
  /** The time the command runs at (release ids, tags, versions, validation windows). */
  now: Date;
  /** Who runs it (release.actor): a Unix user name. */
  actor: string;
  /**
   * Where the compose files are looked for when the config is judged; the rig's stacks
   * keep the stack file's sourceDir (a wepppy checkout beside this one), which the rig
   * replaces with its own staged copy, so the reference copy stands in.
   */
  sourceDir?: string;
  notify?: (url: string | undefined, event: NotifyEvent) => Promise<NotifyOutcome>;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** YYYYMMDD-HHMMSS in UTC. */
export function stamp(now: Date): string {
  return `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}-${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
}

export function releaseId(stack: string, now: Date): string {
  return `${stack}-${stamp(now)}`;
}

export function releaseTag(now: Date): string {
  return `prod-${stamp(now)}`;
}

function versionsIn(config: ConfigMap): string[] {
  const version = sectionObject(config, "release")?.version;
  return typeof version === "string" ? [version] : [];
}

/**
 * YYYY.MM.PATCH: PATCH is 0 for the month's first prod release, else one more than the
 * highest of that month in the stack's history (every update that carried one, failed
 * ones too, so that a number the audit log has seen is never given to another release)
 * and in its current config.
 */
export function nextVersion(now: Date, history: UpdateSummary[], current: ConfigMap): string {
  const month = `${now.getUTCFullYear()}.${pad(now.getUTCMonth() + 1)}.`;
  const patches = [...history.flatMap((h) => versionsIn(h.config ?? {})), ...versionsIn(current)]
    .filter((v) => v.startsWith(month))
    .map((v) => Number(v.slice(month.length)))
    .filter((n) => Number.isInteger(n));
  return `${month}${patches.length === 0 ? 0 : Math.max(...patches) + 1}`;
}

/** Judges a config as `pulumi up` would before it registers anything. */
export function judgeConfig(stack: string, map: ConfigMap, sourceDir?: string): StackConfig {
  const raw = rawOf(map);
  if (sourceDir) {
    const compose = sectionObject(map, "compose");
    if (compose) raw.values[configKey("compose")] = JSON.stringify({ ...compose, sourceDir: path.resolve(sourceDir) });
  }
  try {
    return parseStackConfig(stack, raw.values, { secretKeys: raw.secretKeys, source: stackFileName(stack) });
  } catch (err) {
    if (err instanceof StackConfigError) throw new OpsError(`${stack}'s config is not valid, nothing was changed:\n${err.message}`);
    throw err;
  }
}

/** The image a config makes live: the live colour's digest, or the registry tag of a one-colour stack. */
export function liveImageOf(config: ConfigMap): string | undefined {
  const bluegreen = sectionObject(config, "bluegreen");
  if (bluegreen?.enabled === true) {
    const live = bluegreen.live === "green" ? "green" : "blue";
    const images = bluegreen.images as Record<string, unknown> | undefined;
    const image = images?.[live];
    return typeof image === "string" ? image : undefined;
  }
  const image = sectionObject(config, "image");
  if (image?.source === "registry" && typeof image.tag === "string") {
    return `${image.repository ?? "ghcr.io/rogerlew/wepppy"}:${image.tag}`;
  }
  return undefined;
}

/** A copy of the config with the bluegreen and release sections changed as given. */
export function withRelease(
  map: ConfigMap,
  changes: { live?: Colour; images?: Partial<Record<Colour, string>>; image?: Record<string, unknown>; release: ReleaseRecord },
): ConfigMap {
  let out = map;
  if (changes.live || changes.images) {
    const bluegreen = { ...(sectionObject(map, "bluegreen") ?? {}) };
    if (changes.live) bluegreen.live = changes.live;
    if (changes.images) bluegreen.images = { ...((bluegreen.images as object | undefined) ?? {}), ...changes.images };
    out = withSection(out, "bluegreen", bluegreen);
  }
  if (changes.image) out = withSection(out, "image", { ...(sectionObject(map, "image") ?? {}), ...changes.image });
  const release = Object.fromEntries(Object.entries(changes.release).filter(([, v]) => v !== undefined));
  return withSection(out, "release", release);
}

/** Pulumi's onOutput hands over chunks; people want whole lines. */
function lineWriter(log: (line: string) => void) {
  let partial = "";
  return {
    write(chunk: string) {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) log(`  ${line.trimEnd()}`);
    },
    flush() {
      if (partial.trim()) log(`  ${partial.trimEnd()}`);
      partial = "";
    },
  };
}

function lastLines(text: string, n = 12): string {
  return text.trim().split("\n").slice(-n).join("\n");
}

export interface UpdateOutcome {
  ok: boolean;
  keys: string[];
  version?: number;
  result: string;
  error?: string;
  restored?: boolean;
  outputs?: OutputMap;
}

/**
 * Writes `after` over `before`, runs the update, and when anything fails puts back
 * exactly the config that was read (and checks that it is back).
 */
export async function applyAndUp(stack: StackHandle, before: ConfigMap, after: ConfigMap, message: string, log: (l: string) => void): Promise<UpdateOutcome> {
  let keys: string[] = [];
  const out = lineWriter(log);
  try {
    keys = await writeConfig(stack, before, after);
    log(`${stack.name}: set ${keys.join(", ")}`);
    log(`${stack.name}: running the update (pulumi up) ...`);
    const result = await stack.up({ message, onOutput: (chunk) => out.write(chunk) });
    out.flush();
    if (result.summary.result !== "succeeded") {
      const why = lastLines(result.stderr || result.stdout) || `the update ended "${result.summary.result}"`;
      throw new Error(why);
    }
    return { ok: true, keys, version: result.summary.version, result: result.summary.result, outputs: result.outputs };
  } catch (err) {
    out.flush();
    const error = lastLines(err instanceof Error ? err.message : String(err));
    log(`${stack.name}: the update failed; putting the config back as it was`);
    let restored = false;
    try {
      const now = await stack.getAllConfig();
      await writeConfig(stack, now, before);
      restored = sameConfig(await stack.getAllConfig(), before);
    } catch (restoreErr) {
      log(`${stack.name}: could not put the config back: ${restoreErr instanceof Error ? restoreErr.message : restoreErr}`);
    }
    return { ok: false, keys, result: "failed", error, restored };
  }
}

/** Announces the outcome; a failed notification is a warning on the result, never a failure. */
export async function announce(options: CommonOptions, config: StackConfig, result: OpResult, detail: string): Promise<void> {
  const send = options.notify ?? ((url, event) => postNotification(url, event));
  const event: NotifyEvent = {
    event: result.ok ? result.action : "failure",
    action: result.action,
    stack: result.stack,
    ok: result.ok,
    image: result.image ?? "",
    digest: result.digest ?? digestOf(result.image),
    releaseId: result.release?.id ?? "",
    tag: result.release?.tag ?? "",
    version: result.release?.version ?? "",
    detail,
    time: options.now.toISOString(),
  };
  const outcome = await send(config.notify.webhook, event).catch((err) => ({ sent: false, warning: `notification not delivered: ${err instanceof Error ? err.name : "error"}` }));
  if (outcome.warning) {
    result.warnings.push(outcome.warning);
    options.log?.(`warning: ${outcome.warning}`);
  } else if (outcome.sent) {
    options.log?.("notification sent (notify.webhook)");
  }
}

/** The restore line every failed update reports. */
export function restoreNote(stack: string, restored: boolean | undefined): string {
  return restored
    ? `${stack}'s config is back to what it was before the command`
    : `${stack}'s config could NOT be put back: check it with \`wepppy-cicd status --stack ${stack}\` before anything else`;
}
