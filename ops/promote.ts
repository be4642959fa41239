import { digestRef } from "../config/sections/bluegreen";
import { digestOf } from "../render/images";
import { CommonOptions, OpResult, OpsError, announce, judgeConfig, prodReleaseRecord, recordLeaves, recordedUpdate, restoreNote } from "./common";
import type { UpdateSummary } from "@pulumi/pulumi/automation";
import { SourceRequirements, judgeSource, judgeTarget } from "../host/contract/evidence";
import { ROLLBACK_RELEASE_PREFIX } from "../host/contract/records";
import { fullHistory, newestSucceeded, releaseOf, startOf } from "./history";
import { intendedImage, leavesOf, withLeaves } from "./intent";
import { baseResult, liveFromOutputs, outputsOf } from "./release";
import type { StackHandle } from "./stackHandle";

/*
 * `wepppy-cicd promote`: the digest testprod has live (as its host reported it after its
 * last update) becomes prod's image.digest, as a tagged, versioned prod release, and the
 * update runs; on blue/green the host puts it on the colour not serving, gates it and
 * switches. Only on evidence (issue 13, the contract's judgeSource/judgeTarget): in
 * testprod's audit log, every suite prod's promotion.suites requires passed for that digest
 * within promotion.windowHours, and a complete soak of it under prod's promotion limits; in
 * prod's, a passed restore drill within backup.drillHours (run now when the newest is older)
 * and no rollback of that digest (nor in prod's update history). Each missing piece is named;
 * --force skips them, with a reason that the release carries into prod's audit log.
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

/** Digests `wepppy-cicd rollback` took a stack away from: the image of the succeeded update before each succeeded rollback update. */
export function rolledBackInHistory(history: UpdateSummary[]): Array<{ image: string; release: string; at: string }> {
  const updates = history.filter((u) => u.kind === "update" && u.result === "succeeded");
  const out: Array<{ image: string; release: string; at: string }> = [];
  updates.forEach((u, i) => {
    const release = releaseOf(u);
    if (!release?.startsWith(ROLLBACK_RELEASE_PREFIX)) return;
    const before = updates.slice(i + 1).find((x) => intendedImage(x.config ?? {}) !== undefined);
    const image = before ? intendedImage(before.config ?? {}) : undefined;
    if (image && image !== intendedImage(u.config ?? {})) out.push({ image, release, at: startOf(u) });
  });
  return out;
}

const PROSE = /^[^\x00-\x1f`$\\"']+$/;
const NOTE_MAX = 200;

/** The sentence a forced promotion carries into prod's audit log (release.note: plain prose, at most 200 characters). */
export function forcedNote(actor: string, check: string, reason: string): string {
  const what = check.replace(/[^\x20-\x7e]|[`$\\"']/g, "");
  const prefix = `Forced by ${actor} past the evidence check (${what.length > 80 ? `${what.slice(0, 77)}...` : what}): `;
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
  /** The source host's audit log entries (the real one: `wepppy-deploy audit -n 2000` over SSH). */
  validations: (digest: string, sourceStack: string) => Promise<AuditEntry[]>;
  /** The target host's own audit log (drills, rollbacks); undefined: cannot be read, which is missing evidence. */
  targetAudit?: () => Promise<AuditEntry[]>;
  /** Runs a restore drill on the target host (wepppy-deploy drill), when its newest is older than backup.drillHours. */
  drill?: () => Promise<void>;
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
  if (options.force && !options.reason) throw new OpsError("--force needs --reason TEXT: why the evidence check is skipped goes into prod's audit log");
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

  // The evidence: testprod's audit log for the digest, prod's own for drills and rollbacks.
  const p = config.promotion;
  const sourceReq: SourceRequirements = { suites: p.suites, windowHours: p.windowHours, soakSeconds: Math.round(p.soakHours * 3600), maxErrorPercent: p.maxErrorPercent, maxAppErrors: p.maxAppErrors };
  const missing: string[] = [];
  const what: string[] = [];
  const found: string[] = [];
  log(`looking for the evidence of ${short(digest)} in ${from}'s audit log: suites ${p.suites.join(", ") || "none"} passed in the last ${p.windowHours} h${sourceReq.soakSeconds > 0 ? `, a soak of ${p.soakHours} h` : ""} ...`);
  try {
    const j = judgeSource(await options.validations(digest, from), digest, options.now, sourceReq, from);
    missing.push(...j.missing);
    what.push(...j.what);
    found.push(...j.found);
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    log(`cannot read ${from}'s audit log: ${why}`);
    missing.push(`the audit log of ${from} could not be read (${why})`);
    what.push(`audit log of ${from} unreadable`);
  }
  const targetReq = { drillHours: config.backup.drillHours };
  if (options.targetAudit) {
    try {
      let j = judgeTarget(await options.targetAudit(), digest, options.now, targetReq, name);
      if (j.drillStale && options.drill) {
        log(`${name}'s newest restore drill is older than backup.drillHours = ${targetReq.drillHours} h: running one on its host now ...`);
        await options.drill().catch((err) => log(`the drill did not run: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`));
        j = judgeTarget(await options.targetAudit(), digest, options.now, targetReq, name);
      }
      missing.push(...j.missing);
      what.push(...j.what);
      found.push(...j.found);
    } catch (err) {
      const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
      log(`cannot read ${name}'s audit log: ${why}`);
      missing.push(`the audit log of ${name} could not be read (${why}): its restore drills and rollbacks are unknown`);
      what.push(`audit log of ${name} unreadable`);
    }
  } else if (targetReq.drillHours > 0) {
    missing.push(`${name}'s audit log was not read: its restore drills are unknown`);
    what.push("restore drill");
  }
  const back = rolledBackInHistory(await fullHistory(options.prod)).find((r) => digestOf(r.image) === digest);
  if (back) {
    missing.push(`${short(digest)} was rolled back on ${name} by ${back.release} (update of ${back.at})`);
    what.push(`rolled back on ${name}`);
  }
  for (const f of found) log(`evidence: ${f}`);
  result.evidence = { found, missing, forced: false };

  let note: string | undefined;
  if (missing.length > 0) {
    if (!options.force) {
      throw new OpsError(
        `refusing to promote ${image} to ${name}: the evidence is missing:\n${missing.map((m) => `  - ${m}`).join("\n")}\n` +
          `Get it on ${from} (\`wepppy-cicd validate --stack ${from}\`, a soak after its deploy, \`wepppy-cicd status --stack ${from}\` shows it) and a drill on ${name}, ` +
          "or promote anyway with --force --reason TEXT (recorded in prod's audit log); nothing was changed",
      );
    }
    note = forcedNote(options.actor, [...new Set(what)].join(", "), options.reason!);
    result.evidence.forced = true;
    result.notes.push(`forced past the evidence check: ${missing.join("; ")}`);
    log(`--force: ${missing.join("; ")}; promoting anyway`);
  } else {
    result.notes.push(`evidence: ${found.join("; ")}${options.force ? " (so --force was not needed)" : ""}`);
  }

  const record = await prodReleaseRecord(options.prod, options, before, note);
  // The digest goes in with the commit it was built from (prod deploys that commit's compose files); a hotfix that was live goes out.
  const commit = await sourceCommit(source);
  if (commit) log(`${from} built it from wepppy commit ${commit}`);
  result.commit = commit;
  const changes = { "image.digest": image, "image.commit": commit, "image.hotfix": undefined, ...recordLeaves(record) };
  judgeConfig(name, withLeaves(before, changes), options.sourceDir);
  result.release = record;
  log(`${name}: promoting ${image} from ${from}; release ${record.id} (${record.version})${config.bluegreen.enabled ? "; the host puts it on the colour not serving, gates it and switches" : ""}`);
  const outcome = await recordedUpdate(result, options.prod, before, changes, `promote ${record.id}: ${image}`, log);
  const after = liveFromOutputs(outcome.outputs ?? {});
  if (outcome.ok) {
    result.ok = true;
    result.live = after.live;
    result.summary = `${name}: ${image} is live${after.live ? ` on ${after.live}` : ""} (release ${record.id}, ${record.version})`;
    if (config.bluegreen.enabled && prodLive.live && after.live && after.live !== prodLive.live && prodLive.image) {
      result.notes.push(`${prodLive.live} keeps ${prodLive.image} for ${config.bluegreen.warmSeconds} s (bluegreen.warmSeconds), so \`wepppy-cicd rollback --stack ${name}\` is a switch until then`);
    }
  } else {
    result.summary = `${name}: promotion ${record.id} FAILED: ${image} did not go live`;
    if (config.bluegreen.enabled) result.notes.push(`traffic stays where it was${prodLive.live ? ` (${prodLive.live})` : ""}: the host switches only to a colour that passed its gates`);
    result.notes.push(restoreNote(name, outcome.restored));
  }
  await announce(options, config, result, result.ok ? result.summary : `${result.summary}: ${outcome.error ?? ""}`.slice(0, 1000));
  return result;
}
