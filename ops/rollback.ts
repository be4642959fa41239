import type { UpdateSummary } from "@pulumi/pulumi/automation";
import { ROLLBACK_RELEASE_PREFIX } from "../host/contract/records";
import { digestOf } from "../render/images";
import { CommonOptions, OpResult, OpsError, ReleaseRecord, announce, judgeConfig, recordLeaves, recordedUpdate, restoreNote, stamp } from "./common";
import { describeUpdate, findUpdate, fullHistory, newestSucceeded, releaseOf, startOf } from "./history";
import { Changes, INTENT_LEAVES, intendedImage, leavesOf, withLeaves } from "./intent";
import { baseResult, liveFromOutputs, outputsOf } from "./release";
import type { StackHandle } from "./stackHandle";

/*
 * `wepppy-cicd rollback`: re-applies what an earlier succeeded update said must be live
 * (its image leaves: a registry stack's tag, a promoted stack's digest or hotfix) and runs
 * the update. The target is the newest succeeded update, older than the newest one, that
 * ran another image; or the one named with --to (its release id or its start time): the
 * file backend numbers no update, so they are told apart by time and release, over the
 * whole history. Secrets and everything else stay as they are. On blue/green the host
 * switches to a colour that still runs the image (a rollback in the warm time is a switch),
 * else starts it on the colour not serving and gates it first.
 */

export interface RollbackTarget {
  target: UpdateSummary;
  /** The image the newest succeeded update made live (what is being rolled back). */
  currentImage?: string;
  targetImage?: string;
}

function describeUpdates(updates: UpdateSummary[]): string {
  const ok = updates.filter((u) => u.result === "succeeded");
  if (ok.length === 0) return "it has no succeeded updates";
  return `its succeeded updates are ${ok.slice(0, 10).map(describeUpdate).join("; ")}${ok.length > 10 ? `; and ${ok.length - 10} older` : ""}`;
}

/** Which update a rollback goes back to: `to` (a release id or start time), or the newest older succeeded one that ran another image. */
export function pickRollbackTarget(stack: string, history: UpdateSummary[], to?: string): RollbackTarget {
  const updates = history.filter((u) => u.kind === "update");
  const deployed = newestSucceeded(updates);
  const currentImage = deployed ? intendedImage(deployed.config ?? {}) : undefined;
  if (to !== undefined) {
    const target = findUpdate(updates, to);
    if (!target || target.result !== "succeeded") {
      const what = target ? `the update ${describeUpdate(target)} of ${stack} ${target.result === "failed" ? "failed" : `is "${target.result}"`}` : `${stack} has no update with release id or start time "${to}"`;
      throw new OpsError(`${what}: a rollback goes to a succeeded update, and ${describeUpdates(updates)}; nothing was changed`);
    }
    return { target, currentImage, targetImage: intendedImage(target.config ?? {}) };
  }
  if (!deployed || !currentImage) {
    throw new OpsError(`${stack} has no succeeded update that says which image it runs: ${describeUpdates(updates)}; nothing was changed`);
  }
  const older = updates.slice(updates.indexOf(deployed) + 1);
  const target = older.find((u) => u.result === "succeeded" && intendedImage(u.config ?? {}) !== undefined && intendedImage(u.config ?? {}) !== currentImage);
  if (!target) throw new OpsError(`no earlier succeeded update of ${stack} ran another image than ${currentImage}: ${describeUpdates(updates)}; nothing was changed`);
  return { target, currentImage, targetImage: intendedImage(target.config ?? {}) };
}

/** The target's image leaves, replacing the ones there are now (a hotfix comes and goes as a whole). */
export function rollbackChanges(target: UpdateSummary, record: ReleaseRecord): Changes {
  const was = leavesOf(target.config ?? {});
  const changes: Changes = {};
  for (const leaf of INTENT_LEAVES.filter((l) => l.startsWith("image."))) changes[leaf] = was[leaf];
  return { ...changes, ...recordLeaves(record) };
}

export interface RollbackOptions extends CommonOptions {
  stack: StackHandle;
  /** Go back to this update: its release id, or its start time (an ISO prefix). */
  to?: string;
}

export async function rollback(options: RollbackOptions): Promise<OpResult> {
  const log = options.log ?? (() => undefined);
  const name = options.stack.name;
  const before = await options.stack.getAllConfig();
  const config = judgeConfig(name, before, options.sourceDir);
  log(`${name}: reading the whole update history ...`);
  const history = await fullHistory(options.stack);
  const { target, currentImage, targetImage } = pickRollbackTarget(name, history, options.to);
  const outputs = liveFromOutputs(await outputsOf(options.stack));
  const result: OpResult = { ...baseResult("rollback", name), image: targetImage, previousImage: outputs.image ?? currentImage, digest: digestOf(targetImage), previousLive: outputs.live, live: outputs.live };
  const which = releaseOf(target) ? `release ${releaseOf(target)}` : `the update of ${startOf(target)}`;
  if (targetImage && (targetImage === currentImage || (digestOf(targetImage) && digestOf(targetImage) === digestOf(outputs.image)))) {
    result.ok = true;
    result.summary = `${which} ran ${targetImage}, which is already live on ${name}; nothing was changed`;
    return result;
  }

  const was = leavesOf(target.config ?? {});
  const record: ReleaseRecord = {
    id: `${ROLLBACK_RELEASE_PREFIX}${stamp(options.now)}`,
    actor: options.actor,
    ...(was["release.tag"] ? { tag: was["release.tag"] } : {}),
    ...(was["release.version"] ? { version: was["release.version"] } : {}),
    note: `rollback to ${which}`.slice(0, 200),
  };
  const changes = rollbackChanges(target, record);
  const next = judgeConfig(name, withLeaves(before, changes), options.sourceDir);
  result.release = record;

  const gate = `up to ${next.health.tries} × ${next.health.intervalSeconds} s = ${next.health.tries * next.health.intervalSeconds} s for the health gate (health.tries × health.intervalSeconds), plus pulling the image if the host no longer has it`;
  // No question to the host first: its own progress says whether it switched to a warm colour
  // or gates a cold one, and on 2 cores an SSH status beside the update slowed the update.
  result.notes.push(
    config.bluegreen.enabled && targetImage
      ? `if a colour still runs ${targetImage}, the host switches traffic to it at once; else it starts it on the colour not serving and waits, ${gate}, before traffic switches`
      : `the rollback redeploys ${targetImage ?? `${which}'s image`}: ${gate}`,
  );
  for (const line of result.notes) log(line);

  log(`${name}: rolling back to ${which}${targetImage ? ` (${targetImage})` : ""}; release ${record.id}`);
  const outcome = await recordedUpdate(result, options.stack, before, changes, `rollback ${record.id}: to ${which}`, log);
  const after = liveFromOutputs(outcome.outputs ?? {});
  if (outcome.ok) {
    result.ok = true;
    result.live = after.live;
    result.image = after.image ?? targetImage;
    result.digest = digestOf(result.image);
    result.summary = `${name}: rolled back to ${which}${result.image ? `: ${result.image} is live${after.live ? ` on ${after.live}` : ""}` : ""} (release ${record.id})`;
  } else {
    result.summary = `${name}: rollback to ${which} FAILED`;
    if (config.bluegreen.enabled) result.notes.push(`traffic stays where it was${outputs.live ? ` (${outputs.live}${outputs.image ? `, ${outputs.image}` : ""})` : ""}: the host switches only to a colour that passes its gates`);
    result.notes.push(restoreNote(name, outcome.restored));
  }
  await announce(options, next, result, result.ok ? result.summary : `${result.summary}: ${outcome.error ?? ""}`.slice(0, 1000));
  return result;
}
