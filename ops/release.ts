import type { OutputMap } from "@pulumi/pulumi/automation";
import { digestRef } from "../config/sections/bluegreen";
import * as f from "../config/fields";
import { digestOf } from "../render/images";
import { Action, CommonOptions, OpResult, OpsError, ReleaseRecord, announce, judgeConfig, recordLeaves, recordedUpdate, releaseId, restoreNote } from "./common";
import { fullHistory, newestSucceeded } from "./history";
import { leavesOf, withLeaves } from "./intent";
import type { StackHandle } from "./stackHandle";

/*
 * `wepppy-cicd release`: puts a published commit image on a registry stack (testprod): its
 * image.tag is set and the update runs; the program pins the tag to its digest, and on a
 * blue/green stack the host puts it on the colour not serving, gates it and switches.
 * prod is refused: it runs only what testprod ran (`promote`).
 */

export type ImageRef =
  | { kind: "digest"; ref: string; repository: string; digest: string }
  | { kind: "tag"; ref: string; repository: string; tag: string };

const REPOSITORY = f.imageRepository();
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const COMMIT_TAG = f.commitTag();

/** `<repository>@sha256:<64 hex>` or `<repository>:<tag>`; undefined for anything else. */
export function parseImageRef(ref: string): ImageRef | undefined {
  if (digestRef().safeParse(ref).success) {
    const at = ref.indexOf("@");
    return { kind: "digest", ref, repository: ref.slice(0, at), digest: ref.slice(at + 1) };
  }
  const slash = ref.lastIndexOf("/");
  const colon = ref.indexOf(":", slash + 1);
  if (slash < 0 || colon < 0) return undefined;
  const repository = ref.slice(0, colon);
  const tag = ref.slice(colon + 1);
  if (!REPOSITORY.safeParse(repository).success || !TAG.test(tag)) return undefined;
  return { kind: "tag", ref, repository, tag };
}

export function baseResult(action: Action, stack: string): OpResult {
  return { action, stack, ok: false, changed: false, summary: "", notes: [], warnings: [] };
}

/** What a stack's outputs say is live (the host's report after the last update). */
export function liveFromOutputs(outputs: OutputMap): { image?: string; live?: "blue" | "green"; images?: { blue?: string; green?: string } } {
  const image = outputs.imageRef?.value;
  const bg = outputs.bluegreen?.value as { live?: "blue" | "green"; images?: { blue?: string; green?: string } } | null | undefined;
  return { image: typeof image === "string" && image ? image : undefined, live: bg?.live, images: bg?.images };
}

/** A succeeded update's result: ok, with the image (pinned) and colour its host reported live. */
export function tookLive(result: OpResult, outputs: OutputMap, asked: string): ReturnType<typeof liveFromOutputs> {
  const after = liveFromOutputs(outputs);
  result.ok = true;
  result.image = after.image ?? asked;
  result.digest = digestOf(result.image);
  result.live = after.live;
  return after;
}

export async function outputsOf(stack: StackHandle): Promise<OutputMap> {
  try {
    return await stack.outputs();
  } catch {
    return {};
  }
}

export interface ReleaseOptions extends CommonOptions {
  stack: StackHandle;
  /** `<repository>:sha-<commit>` (a commit tag CI published). */
  image: string;
  /** Pins a tag to its digest, to tell whether it is live already; undefined where nothing can. */
  resolveDigest?: (ref: string) => Promise<string>;
}

/** What can be refused before the stack is even opened: prod, and an image that is no commit tag. */
export function checkRelease(stack: string, image: string): ImageRef & { kind: "tag" } {
  if (stack === "prod") {
    throw new OpsError("prod runs only what testprod ran, so `release` refuses it: put the image on testprod, validate it there, then `wepppy-cicd promote`; nothing was changed");
  }
  return checkReleaseImage(image);
}

/** `<repository>:sha-<commit>` (the tag CI publishes for a commit), or refused. */
export function checkReleaseImage(image: string): ImageRef & { kind: "tag" } {
  const ref = parseImageRef(image);
  if (!ref || ref.kind !== "tag" || !COMMIT_TAG.safeParse(ref.tag).success) {
    throw new OpsError(`--image expects <repository>:sha-<commit> (the tag CI publishes for a commit), got "${image}"; nothing was changed`);
  }
  return ref;
}

export async function release(options: ReleaseOptions): Promise<OpResult> {
  const log = options.log ?? (() => undefined);
  const name = options.stack.name;
  const ref = checkRelease(name, options.image);
  const before = await options.stack.getAllConfig();
  const config = judgeConfig(name, before, options.sourceDir);
  if (config.image.source !== "registry") {
    throw new OpsError(`${name} does not run a registry image (image.source is "${config.image.source}"): release has nothing to set; nothing was changed`);
  }
  if (ref.repository !== config.image.repository) {
    throw new OpsError(`${name} pulls from ${config.image.repository}, not ${ref.repository}: change image.repository in its stack file first; nothing was changed`);
  }
  const outputs = liveFromOutputs(await outputsOf(options.stack));
  // What the stack runs is what its newest succeeded update said, whatever this checkout holds.
  const lastTag = leavesOf(newestSucceeded(await fullHistory(options.stack))?.config ?? before)["image.tag"];
  const result: OpResult = { ...baseResult("release", name), image: ref.ref, previousImage: outputs.image, previousLive: outputs.live, live: outputs.live };
  const pinned = options.resolveDigest ? await options.resolveDigest(ref.ref).then((d) => `${ref.repository}@${d}`, () => undefined) : undefined;
  if (lastTag === ref.tag && (!pinned || digestOf(pinned) === digestOf(outputs.image))) {
    result.ok = true;
    result.summary = `${ref.ref} is already ${name}'s release${outputs.image ? ` (${outputs.image})` : ""}; nothing was changed`;
    return result;
  }

  const record: ReleaseRecord = { id: releaseId(name, options.now), actor: options.actor };
  const changes = { "image.tag": ref.tag, ...recordLeaves(record) };
  judgeConfig(name, withLeaves(before, changes), options.sourceDir); // e.g. an actor that is not a user name: refused, nothing changed
  result.release = record;
  log(`${name}: releasing ${ref.ref} (was ${outputs.image ?? lastTag ?? "nothing"}); release ${record.id}`);
  const outcome = await recordedUpdate(result, options.stack, before, changes, `release ${record.id}: ${ref.ref}`, log);
  if (outcome.ok) {
    const after = tookLive(result, outcome.outputs ?? {}, ref.ref);
    result.summary = `${name}: ${result.image} is live${after.live ? ` on ${after.live}` : ""} (release ${record.id})`;
    if (config.bluegreen.enabled && outputs.live && after.live && after.live !== outputs.live && outputs.image) {
      result.notes.push(`${outputs.live} keeps ${outputs.image} for ${config.bluegreen.warmSeconds} s (bluegreen.warmSeconds), so \`wepppy-cicd rollback --stack ${name}\` is a switch until then`);
    }
  } else {
    result.summary = `${name}: release ${record.id} FAILED: ${ref.ref} did not go live`;
    result.notes.push(
      config.bluegreen.enabled
        ? `traffic stays where it was${outputs.live ? ` (${outputs.live})` : ""}: the host switches only to a colour that passed its gates, and back by itself when a release fails after the switch`
        : `a candidate that fails its gates never replaces the running release; a failure after that is handled as deploy.rollback ("${config.deploy.rollback}") says: see \`wepppy-cicd audit ${name}\``,
      restoreNote(name, outcome.restored),
    );
  }
  await announce(options, config, result, result.ok ? result.summary : `${result.summary}: ${outcome.error ?? ""}`.slice(0, 1000));
  return result;
}
