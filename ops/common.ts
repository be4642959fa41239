import * as path from "node:path";
import type { ConfigMap, UpdateSummary } from "@pulumi/pulumi/automation";
import { stackFileName } from "../config/environments";
import { StackConfigError, parseStackConfig } from "../config/load";
import { StackConfig } from "../config/schema";
import { configKey, rawOf, sectionObject } from "./configMap";
import { leavesOf } from "./intent";
import { NotifyEvent, NotifyOutcome, notify as postNotification } from "./notify";
import type { StackHandle } from "./stackHandle";
import { LeafChanges, UpdateOutcome, applyAndUp } from "./update";
import { fullHistory } from "./history";

/*
 * What release, promote and rollback share: judging the config, the release record, the
 * result they report and the announcement of it. The update itself is ops/update.ts.
 */

export type { Colour } from "../render/bluegreen/constants";
export { digestOf } from "../render/images";
import type { Colour } from "../render/bluegreen/constants";
import { digestOf } from "../render/images";
export type Action = "release" | "promote" | "hotfix" | "rollback";

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
  /** promote, hotfix: the wepppy commit the image was built from (where its release tags go). */
  commit?: string;
  release?: ReleaseRecord;
  /** The config keys written (restored again when the update failed). */
  keys?: string[];
  /** The update this command ran: its result and start time (the file backend numbers no update). */
  update?: { result: string; startTime?: string };
  /** Set when the update failed: whether the config is back to what it was. */
  restored?: boolean;
  /** Further lines for people: what the host does, how long a rollback takes. */
  notes: string[];
  warnings: string[];
  error?: string;
  /** hotfix: why testprod was bypassed, and the checks a promotion makes that it skipped. */
  hotfix?: { reason: string; skippedChecks: string[] };
  /** promote: the evidence the promotion rested on (found), what was missing, and whether --force went past it. */
  evidence?: { found: string[]; missing: string[]; forced: boolean };
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

/**
 * YYYY.MM.PATCH: PATCH is 0 for the month's first prod release, else one more than the
 * highest of that month in the stack's whole history (every update that carried one,
 * failed ones too, so that a number the audit log has seen is never given to another
 * release) and in its current config.
 */
export function nextVersion(now: Date, history: UpdateSummary[], current: ConfigMap): string {
  const month = `${now.getUTCFullYear()}.${pad(now.getUTCMonth() + 1)}.`;
  const patches = [...history.map((h) => leavesOf(h.config ?? {})["release.version"]), leavesOf(current)["release.version"]]
    .filter((v): v is string => typeof v === "string" && v.startsWith(month))
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

/** The release-record leaves (release.*), all of them: unset fields are removed. */
export function recordLeaves(record: ReleaseRecord): Record<"release.id" | "release.tag" | "release.version" | "release.actor" | "release.note", string | undefined> {
  return { "release.id": record.id, "release.tag": record.tag, "release.version": record.version, "release.actor": record.actor, "release.note": record.note };
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

/** The operation's update (ops/update.ts), recorded on its result: the keys written, the update, and on failure its error and whether the config is back. */
export async function recordedUpdate(result: OpResult, stack: StackHandle, before: ConfigMap, changes: LeafChanges, message: string, log: (l: string) => void): Promise<UpdateOutcome> {
  const outcome = await applyAndUp(stack, before, changes, message, log);
  result.changed = true;
  result.keys = outcome.keys;
  result.update = { result: outcome.result, startTime: outcome.startTime };
  if (!outcome.ok) {
    result.error = outcome.error;
    result.restored = outcome.restored;
  }
  return outcome;
}

/** A prod release's record: its id, the prod-YYYYMMDD-HHMMSS tag and the next YYYY.MM.PATCH of the stack's whole history. */
export async function prodReleaseRecord(stack: StackHandle, options: CommonOptions, before: ConfigMap, note?: string): Promise<ReleaseRecord> {
  const history = await fullHistory(stack);
  return {
    id: releaseId(stack.name, options.now),
    tag: releaseTag(options.now),
    version: nextVersion(options.now, history, before),
    actor: options.actor,
    ...(note ? { note } : {}),
  };
}
