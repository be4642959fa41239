import type { ConfigMap, UpdateSummary } from "@pulumi/pulumi/automation";
import { sectionObject, withSection } from "./configMap";
import {
  Colour,
  CommonOptions,
  OpResult,
  OpsError,
  ReleaseRecord,
  announce,
  applyAndUp,
  digestOf,
  judgeConfig,
  liveImageOf,
  otherColour,
  restoreNote,
  stamp,
} from "./common";
import { baseResult } from "./release";
import type { StackHandle } from "./stackHandle";

/*
 * `wepppy-cicd rollback`: re-applies the config of an earlier succeeded update (the
 * newest one that ran another image, or --to N) and runs the update. Secrets are never
 * taken from history (it has none): the stack keeps its current ones. On a blue/green
 * stack the colours are not shuffled: the earlier image goes live on the colour that
 * still has it (else on the idle one), and the image that was live stays where it is.
 */

export interface RollbackTarget {
  target: UpdateSummary;
  /** The image the stack's newest succeeded update made live (what is being rolled back). */
  currentImage?: string;
  targetImage?: string;
}

function describeUpdates(updates: UpdateSummary[]): string {
  const ok = updates.filter((u) => u.result === "succeeded");
  if (ok.length === 0) return "it has no succeeded updates";
  return `its succeeded updates are ${ok
    .slice(0, 20)
    .map((u) => `${u.version}${liveImageOf(u.config ?? {}) ? ` (${shortImage(liveImageOf(u.config ?? {})!)})` : ""}`)
    .join(", ")}${ok.length > 20 ? ", ..." : ""}`;
}

function shortImage(image: string): string {
  const digest = digestOf(image);
  return digest ? digest.slice(0, 19) : image;
}

/** Which update a rollback goes back to: `to`, or the newest succeeded one older than the current that ran another image. */
export function pickRollbackTarget(stack: string, history: UpdateSummary[], current: ConfigMap, to?: number): RollbackTarget {
  const updates = history.filter((u) => u.kind === "update").sort((a, b) => b.version - a.version);
  const succeeded = updates.filter((u) => u.result === "succeeded");
  const deployed = succeeded[0];
  const currentImage = liveImageOf(deployed?.config ?? current) ?? liveImageOf(current);
  if (to !== undefined) {
    const target = updates.find((u) => u.version === to);
    if (!target || target.result !== "succeeded") {
      const what = target ? `update ${to} of ${stack} ${target.result === "failed" ? "failed" : `is "${target.result}"`}` : `${stack} has no update ${to}`;
      throw new OpsError(`${what}: a rollback goes to a succeeded update, and ${describeUpdates(updates)}; nothing was changed`);
    }
    return { target, currentImage, targetImage: liveImageOf(target.config ?? {}) };
  }
  if (!currentImage) {
    throw new OpsError(`${stack}'s config does not say which image it runs (no blue/green images, no registry tag): give the update to go back to with --to N; ${describeUpdates(updates)}; nothing was changed`);
  }
  const target = succeeded.find((u) => (!deployed || u.version < deployed.version) && liveImageOf(u.config ?? {}) !== undefined && liveImageOf(u.config ?? {}) !== currentImage);
  if (!target) {
    throw new OpsError(`no earlier succeeded update of ${stack} ran another image than ${currentImage}: ${describeUpdates(updates)}; nothing was changed`);
  }
  return { target, currentImage, targetImage: liveImageOf(target.config ?? {}) };
}

/**
 * The config to apply: the target update's, except that keys history holds without a
 * value (secrets) keep their current value, secret keys added since are kept, and the
 * release record is the rollback's own.
 */
export function rollbackConfig(current: ConfigMap, target: ConfigMap): ConfigMap {
  const out: ConfigMap = {};
  for (const [key, entry] of Object.entries(target)) {
    if (typeof entry.value === "string") out[key] = { value: entry.value, secret: Boolean(entry.secret) };
    else if (current[key]) out[key] = current[key];
  }
  for (const [key, entry] of Object.entries(current)) if (!(key in out) && entry.secret) out[key] = entry;
  return out;
}

/** Blue/green: the target image live on the colour that has it now (else the idle one); the other colour keeps its image. */
function placeColours(current: ConfigMap, next: ConfigMap, targetImage: string): { map: ConfigMap; colour: Colour; previousLive: Colour } {
  const now = sectionObject(current, "bluegreen") ?? {};
  const nowLive: Colour = now.live === "green" ? "green" : "blue";
  const nowImages = (now.images ?? {}) as Partial<Record<Colour, string>>;
  const wanted = sectionObject(next, "bluegreen") ?? {};
  const wantedLive: Colour = wanted.live === "green" ? "green" : "blue";
  const colour: Colour =
    nowImages[wantedLive] === targetImage ? wantedLive : nowImages[otherColour(wantedLive)] === targetImage ? otherColour(wantedLive) : otherColour(nowLive);
  const images: Partial<Record<Colour, string>> = { [colour]: targetImage };
  const keep = nowImages[otherColour(colour)];
  if (keep) images[otherColour(colour)] = keep;
  return { map: withSection(next, "bluegreen", { ...wanted, live: colour, images }), colour, previousLive: nowLive };
}

export interface RollbackOptions extends CommonOptions {
  stack: StackHandle;
  /** Go back to this update (its version in the stack's history). */
  to?: number;
  /** Whether a colour still runs an image (real one: the host's status over SSH); undefined: cannot tell. */
  warmth?: (colour: Colour, image: string) => Promise<boolean | undefined>;
}

export async function rollback(options: RollbackOptions): Promise<OpResult> {
  const log = options.log ?? (() => undefined);
  const name = options.stack.name;
  const before = await options.stack.getAllConfig();
  const config = judgeConfig(name, before, options.sourceDir);
  log(`${name}: reading the update history ...`);
  const history = await options.stack.history(undefined, undefined, false);
  const { target, currentImage, targetImage } = pickRollbackTarget(name, history, before, options.to);
  const result: OpResult = { ...baseResult("rollback", name), image: targetImage, previousImage: currentImage, digest: digestOf(targetImage) };
  if (targetImage && targetImage === currentImage) {
    result.ok = true;
    result.summary = `update ${target.version} ran ${targetImage}, which is already live on ${name}; nothing was changed`;
    return result;
  }

  const targetRelease = sectionObject(target.config ?? {}, "release") ?? {};
  const record: ReleaseRecord = {
    id: `rollback-to-${target.version}-${stamp(options.now)}`,
    actor: options.actor,
    ...(typeof targetRelease.tag === "string" ? { tag: targetRelease.tag } : {}),
    ...(typeof targetRelease.version === "string" ? { version: targetRelease.version } : {}),
  };
  let after = withSection(rollbackConfig(before, target.config ?? {}), "release", record);
  let colour: Colour | undefined;
  const blueGreen = config.bluegreen.enabled && sectionObject(after, "bluegreen")?.enabled === true;
  if (blueGreen && targetImage) {
    const placed = placeColours(before, after, targetImage);
    after = placed.map;
    colour = placed.colour;
    result.live = placed.previousLive;
    result.previousLive = placed.previousLive;
  }
  const next = judgeConfig(name, after, options.sourceDir);
  result.release = record;

  // Is it a switch, or a start that waits for the health gate?
  const gate = `up to ${next.health.tries} × ${next.health.intervalSeconds} s = ${next.health.tries * next.health.intervalSeconds} s for the health gate (health.tries × health.intervalSeconds), plus pulling the image if the host no longer has it`;
  if (colour && targetImage) {
    const warm = await (options.warmth ?? (async () => undefined))(colour, targetImage).catch(() => undefined);
    result.notes.push(
      warm === true
        ? `${colour} still runs ${targetImage}: the rollback is a switch of traffic`
        : `${colour} ${warm === false ? "no longer runs" : "may not be running"} ${targetImage} (its warm time may be over): the rollback starts it and waits, ${gate}, before traffic switches`,
    );
  } else {
    result.notes.push(`the rollback redeploys ${targetImage ?? `update ${target.version}'s config`}: ${gate}`);
  }
  for (const line of result.notes) log(line);

  log(`${name}: rolling back to update ${target.version}${targetImage ? ` (${targetImage})` : ""}; release ${record.id}`);
  const outcome = await applyAndUp(options.stack, before, after, `rollback ${record.id}: to update ${target.version}`, log);
  result.changed = true;
  result.keys = outcome.keys;
  result.update = { version: outcome.version, result: outcome.result };
  if (outcome.ok) {
    result.ok = true;
    if (colour) result.live = colour;
    result.summary = `${name}: rolled back to update ${target.version}${targetImage ? `: ${targetImage} is live${colour ? ` on ${colour}` : ""}` : ""} (release ${record.id})`;
  } else {
    result.error = outcome.error;
    result.restored = outcome.restored;
    result.summary = `${name}: rollback to update ${target.version} FAILED`;
    if (colour) result.notes.push(`traffic stays on ${result.previousLive}${currentImage ? ` (${currentImage})` : ""}: the host switches only to a colour that passes its gates`);
    result.notes.push(restoreNote(name, outcome.restored));
  }
  await announce(options, next, result, result.ok ? result.summary : `${result.summary}: ${outcome.error ?? ""}`.slice(0, 1000));
  return result;
}
