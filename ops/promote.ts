import { digestRef } from "../config/sections/bluegreen";
import { digestOf } from "../render/images";
import { CommonOptions, OpResult, OpsError, ReleaseRecord, announce, judgeConfig, nextVersion, recordLeaves, releaseId, releaseTag, restoreNote } from "./common";
import { fullHistory, newestSucceeded } from "./history";
import { leavesOf, withLeaves } from "./intent";
import { baseResult, liveFromOutputs, outputsOf } from "./release";
import type { StackHandle } from "./stackHandle";
import { applyAndUp } from "./update";

/*
 * `wepppy-cicd promote`: the digest testprod has live (as its host reported it after its
 * last update) becomes prod's image.digest, as a tagged, versioned prod release, and the
 * update runs; on blue/green the host puts it on the colour not serving, gates it and
 * switches. Only when testprod's audit log shows that digest passed its validation
 * recently enough; --force skips that check, with a reason that the release carries into
 * prod's audit log.
 */

/** One line of a host's audit log (wepppy-deploy audit). */
export interface AuditEntry {
  time?: string;
  action?: string;
  result?: string;
  digest?: string;
  detail?: string;
  [key: string]: unknown;
}

const CLOCK_SKEW_MS = 5 * 60 * 1000;

/** The newest passing validation of the digest within the window, and the newest validation of it at all. */
export function findValidation(entries: AuditEntry[], digest: string, now: Date, windowHours: number): { passing?: AuditEntry; newest?: AuditEntry } {
  const ofDigest = entries
    .filter((e) => e.action === "validate" && e.digest === digest && !Number.isNaN(Date.parse(String(e.time))))
    .sort((a, b) => Date.parse(String(b.time)) - Date.parse(String(a.time)));
  const inWindow = (e: AuditEntry) => {
    const age = now.getTime() - Date.parse(String(e.time));
    return age <= windowHours * 3600 * 1000 && age >= -CLOCK_SKEW_MS;
  };
  return { passing: ofDigest.find((e) => e.result === "ok" && inWindow(e)), newest: ofDigest[0] };
}

const PROSE = /^[^\x00-\x1f`$\\"']+$/;
const NOTE_MAX = 200;

/** The sentence a forced promotion carries into prod's audit log (release.note: plain prose, at most 200 characters). */
export function forcedNote(actor: string, check: string, reason: string): string {
  const prefix = `Forced by ${actor} past the validation check (${check.replace(/[^\x20-\x7e]|[`$\\"']/g, "")}): `;
  if (!PROSE.test(reason)) throw new OpsError("--reason must be plain text: no quotes, backslashes, $ or backticks; nothing was changed");
  if (prefix.length + reason.length > NOTE_MAX) {
    throw new OpsError(`--reason is too long: at most ${NOTE_MAX - prefix.length} characters here (the note it goes into holds ${NOTE_MAX}); nothing was changed`);
  }
  return `${prefix}${reason}`;
}

export interface PromoteOptions extends CommonOptions {
  /** The stack promoted to (prod). */
  prod: StackHandle;
  /** Opens the stack promoted from: prod's image.from (testprod). */
  source: (stack: string) => Promise<StackHandle>;
  /** The source host's audit log entries (the real one: `wepppy-deploy audit -n 500` over SSH). */
  validations: (digest: string, sourceStack: string) => Promise<AuditEntry[]>;
  force?: boolean;
  reason?: string;
}

/** The wepppy commit the source stack's live image was built from: its newest succeeded update's sha-<commit> tag. */
async function sourceCommit(source: StackHandle): Promise<string | undefined> {
  const update = newestSucceeded(await fullHistory(source));
  const tag = update ? leavesOf(update.config)["image.tag"] : undefined;
  return tag ? /^(?:master|sha)-([0-9a-f]{7,40})$/.exec(tag)?.[1] : undefined;
}

function short(digest: string): string {
  return digest.slice(0, 19);
}

export async function promote(options: PromoteOptions): Promise<OpResult> {
  const log = options.log ?? (() => undefined);
  const name = options.prod.name;
  if (options.force && !options.reason) throw new OpsError("--force needs --reason TEXT: why the validation check is skipped goes into prod's audit log");
  const before = await options.prod.getAllConfig();
  const config = judgeConfig(name, before, options.sourceDir);
  if (config.image.source !== "promoted") {
    throw new OpsError(`${name} does not run promoted images (image.source is "${config.image.source}"): nothing to promote to; nothing was changed`);
  }
  const from = config.image.from;
  const source = await options.source(from);
  if (source.name !== from) throw new OpsError(`${name} promotes from ${from}, not ${source.name}; nothing was changed`);

  log(`reading what ${from} has live from its outputs (the host's report after its last update) ...`);
  const live = liveFromOutputs(await outputsOf(source));
  if (!live.image || !digestRef().safeParse(live.image).success) {
    throw new OpsError(`${from} has no live image pinned to a digest in its outputs (imageRef: ${JSON.stringify(live.image ?? null)}): update ${from} first; nothing was changed`);
  }
  const image = live.image;
  const digest = digestOf(image);

  const result: OpResult = { ...baseResult("promote", name), image, digest };
  const prodLive = liveFromOutputs(await outputsOf(options.prod));
  result.previousImage = prodLive.image;
  result.previousLive = prodLive.live;
  result.live = prodLive.live;
  if (prodLive.image === image) {
    result.ok = true;
    result.summary = `${image} is already live on ${name}${prodLive.live ? ` (${prodLive.live})` : ""}; nothing was changed`;
    return result;
  }

  // Validation: a passing `validate` entry for this digest on the source host, recent enough.
  const hours = config.promotion.windowHours;
  let check: string | undefined;
  let unreadable: string | undefined;
  log(`looking for a passing validation of ${short(digest)} in ${from}'s audit log (last ${hours} h) ...`);
  try {
    const { passing, newest } = findValidation(await options.validations(digest, from), digest, options.now, hours);
    if (passing) {
      log(`validated on ${from} at ${passing.time}`);
      result.notes.push(`${from} validated ${short(digest)} at ${passing.time}${options.force ? " (so --force was not needed)" : ""}`);
    } else if (newest) {
      check = `the newest validation of ${short(digest)} on ${from} is ${newest.result === "ok" ? `older than ${hours} h` : `not ok (${String(newest.result).replace(/[^A-Za-z0-9 _-]/g, "")})`}, at ${newest.time}`;
    } else {
      check = `no validation of ${short(digest)} on ${from} in its audit log`;
    }
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    log(`cannot read ${from}'s audit log: ${why}`);
    check = `the audit log of ${from} could not be read`;
    unreadable = why.split("\n")[0];
  }

  let note: string | undefined;
  if (check) {
    if (!options.force) {
      throw new OpsError(
        `refusing to promote ${image} to ${name}: ${check}${unreadable ? ` (${unreadable})` : ""}. Validate it on ${from} first (a passing validation within promotion.windowHours = ${hours} h), ` +
          "or promote anyway with --force --reason TEXT (recorded in prod's audit log); nothing was changed",
      );
    }
    note = forcedNote(options.actor, check.replace(/, at [^ ]+$/, ""), options.reason!);
    result.notes.push(`forced past the validation check: ${check}`);
    log(`--force: ${check}; promoting anyway`);
  }

  const history = await fullHistory(options.prod);
  const record: ReleaseRecord = {
    id: releaseId(name, options.now),
    tag: releaseTag(options.now),
    version: nextVersion(options.now, history, before),
    actor: options.actor,
    ...(note ? { note } : {}),
  };
  // The digest goes in with the commit it was built from (prod deploys that commit's compose files); a hotfix that was live goes out.
  const commit = await sourceCommit(source);
  if (commit) log(`${from} built it from wepppy commit ${commit}`);
  const changes = { "image.digest": image, "image.commit": commit, "image.hotfix": undefined, ...recordLeaves(record) };
  judgeConfig(name, withLeaves(before, changes), options.sourceDir);
  result.release = record;
  log(`${name}: promoting ${image} from ${from}; release ${record.id} (${record.version})${config.bluegreen.enabled ? "; the host puts it on the colour not serving, gates it and switches" : ""}`);
  const outcome = await applyAndUp(options.prod, before, changes, `promote ${record.id}: ${image}`, log);
  result.changed = true;
  result.keys = outcome.keys;
  result.update = { result: outcome.result, startTime: outcome.startTime };
  const after = liveFromOutputs(outcome.outputs ?? {});
  if (outcome.ok) {
    result.ok = true;
    result.live = after.live;
    result.summary = `${name}: ${image} is live${after.live ? ` on ${after.live}` : ""} (release ${record.id}, ${record.version})`;
    if (config.bluegreen.enabled && prodLive.live && after.live && after.live !== prodLive.live && prodLive.image) {
      result.notes.push(`${prodLive.live} keeps ${prodLive.image} for ${config.bluegreen.warmSeconds} s (bluegreen.warmSeconds), so \`wepppy-cicd rollback --stack ${name}\` is a switch until then`);
    }
  } else {
    result.error = outcome.error;
    result.restored = outcome.restored;
    result.summary = `${name}: promotion ${record.id} FAILED: ${image} did not go live`;
    if (config.bluegreen.enabled) result.notes.push(`traffic stays where it was${prodLive.live ? ` (${prodLive.live})` : ""}: the host switches only to a colour that passed its gates`);
    result.notes.push(restoreNote(name, outcome.restored));
  }
  await announce(options, config, result, result.ok ? result.summary : `${result.summary}: ${outcome.error ?? ""}`.slice(0, 1000));
  return result;
}
