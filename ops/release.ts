import type { ConfigMap, OutputMap } from "@pulumi/pulumi/automation";
import { StackConfig } from "../config/schema";
import { digestRef } from "../config/sections/bluegreen";
import * as f from "../config/fields";
import {
  Action,
  Colour,
  CommonOptions,
  OpResult,
  OpsError,
  ReleaseRecord,
  announce,
  applyAndUp,
  digestOf,
  judgeConfig,
  otherColour,
  releaseId,
  restoreNote,
  withRelease,
} from "./common";
import type { StackHandle } from "./stackHandle";

/*
 * `wepppy-cicd release`: puts an image on a stack. A blue/green stack gets it on its idle
 * colour, pinned to a digest, and traffic moves there once it passes its gates; a
 * one-colour registry stack gets its image tag set. prod is refused: it runs only what
 * testprod ran (`promote`).
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

const REF_EXPECTED = "<repository>@sha256:<64 hex digits> or <repository>:<tag>";

/** A tag pinned to the digest it has now; refused when it cannot be. */
export async function pinImage(ref: ImageRef, resolveDigest: ((ref: string) => Promise<string>) | undefined, log: (l: string) => void): Promise<string> {
  if (ref.kind === "digest") return ref.ref;
  if (!resolveDigest) {
    throw new OpsError(`cannot pin ${ref.ref} to a digest here: give the image as <repository>@sha256:<digest> (e.g. from \`docker buildx imagetools inspect ${ref.ref}\`); nothing was changed`);
  }
  log(`pinning ${ref.ref} to its digest ...`);
  let digest: string;
  try {
    digest = await resolveDigest(ref.ref);
  } catch (err) {
    throw new OpsError(`cannot pin ${ref.ref} to a digest: ${err instanceof Error ? err.message : err}; nothing was changed`);
  }
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new OpsError(`cannot pin ${ref.ref}: the registry answered "${digest}", not a sha256 digest; nothing was changed`);
  return `${ref.repository}@${digest}`;
}

async function outputValue(stack: StackHandle, name: string): Promise<unknown> {
  try {
    const outputs: OutputMap = await stack.outputs();
    return outputs[name]?.value;
  } catch {
    return undefined;
  }
}

/** The image a blue/green stack serves: its live colour's, or (unset) what its last update resolved. */
export async function liveImage(stack: StackHandle, config: StackConfig): Promise<string | undefined> {
  const configured = config.bluegreen.images[config.bluegreen.live];
  if (configured) return configured;
  const ref = await outputValue(stack, "imageRef");
  return typeof ref === "string" && ref ? ref : undefined;
}

export function baseResult(action: Action, stack: string): OpResult {
  return { action, stack, ok: false, changed: false, summary: "", notes: [], warnings: [] };
}

export interface IdleRelease {
  action: Action;
  stack: StackHandle;
  before: ConfigMap;
  config: StackConfig;
  /** Pinned: `<repository>@sha256:...`. */
  image: string;
  record: ReleaseRecord;
  options: CommonOptions;
  /** Lines added to the result before the update (e.g. a forced promotion). */
  notes?: string[];
}

/** The blue/green move release and promote share: the image on the idle colour, which becomes live. */
export async function releaseToIdle(r: IdleRelease): Promise<OpResult> {
  const log = r.options.log ?? (() => undefined);
  const name = r.stack.name;
  const live: Colour = r.config.bluegreen.live;
  const idle = otherColour(live);
  const current = await liveImage(r.stack, r.config);
  const result: OpResult = { ...baseResult(r.action, name), live, previousLive: live, image: r.image, previousImage: current, digest: digestOf(r.image), notes: [...(r.notes ?? [])] };
  if (current === r.image) {
    result.ok = true;
    result.summary = `${r.image} is already live on ${name} (${live}); nothing was changed`;
    return result;
  }
  // The live colour's image is recorded where the config left it to the stack's resolved
  // image (a first release), so that a rollback has an image to go back to.
  const images: Partial<Record<Colour, string>> = { [idle]: r.image };
  if (!r.config.bluegreen.images[live] && current && digestRef().safeParse(current).success) images[live] = current;
  const after = withRelease(r.before, { live: idle, images, release: r.record });
  judgeConfig(name, after, r.options.sourceDir); // e.g. an actor that is not a user name: refused, nothing changed
  result.release = r.record;
  log(`${name}: releasing ${r.image} on ${idle} (${live} is live${current ? ` with ${current}` : ""}); release ${r.record.id}`);
  const outcome = await applyAndUp(r.stack, r.before, after, `${r.action} ${r.record.id}: ${r.image} on ${idle}`, log);
  result.changed = true;
  result.keys = outcome.keys;
  result.update = { version: outcome.version, result: outcome.result };
  if (outcome.ok) {
    result.ok = true;
    result.live = idle;
    result.summary = `${name}: ${r.image} is live on ${idle} (release ${r.record.id}${r.record.version ? `, ${r.record.version}` : ""})`;
    if (current) {
      result.notes.push(
        `${live} keeps ${current} for ${r.config.bluegreen.warmSeconds} s (bluegreen.warmSeconds), so \`wepppy-cicd rollback --stack ${name}\` is a switch until then`,
      );
    }
  } else {
    result.error = outcome.error;
    result.restored = outcome.restored;
    result.summary = `${name}: release ${r.record.id} FAILED: ${r.image} did not go live on ${idle}`;
    result.notes.push(
      `traffic is on ${live}${current ? ` (${current})` : ""}: the host switches only after ${idle} passes its gates, and switches back to ${live} by itself when a release fails after the switch; there is nothing to undo on the host`,
      restoreNote(name, outcome.restored),
    );
  }
  await announce(r.options, r.config, result, result.ok ? result.summary : `${result.summary}: ${outcome.error ?? ""}`.slice(0, 1000));
  return result;
}

export interface ReleaseOptions extends CommonOptions {
  stack: StackHandle;
  /** `<repository>@sha256:<digest>`, or `<repository>:<tag>` pinned through resolveDigest. */
  image: string;
  resolveDigest?: (ref: string) => Promise<string>;
}

/** What can be refused before the stack is even opened: prod, and an image that is no reference. */
export function checkRelease(stack: string, image: string): ImageRef {
  if (stack === "prod") {
    throw new OpsError("prod runs only what testprod ran, so `release` refuses it: put the image on testprod, validate it there, then `wepppy-cicd promote`; nothing was changed");
  }
  const ref = parseImageRef(image);
  if (!ref) throw new OpsError(`--image expects ${REF_EXPECTED}, got "${image}"; nothing was changed`);
  return ref;
}

export async function release(options: ReleaseOptions): Promise<OpResult> {
  const log = options.log ?? (() => undefined);
  const name = options.stack.name;
  const ref = checkRelease(name, options.image);
  const before = await options.stack.getAllConfig();
  const config = judgeConfig(name, before, options.sourceDir);
  const record: ReleaseRecord = { id: releaseId(name, options.now), actor: options.actor };

  if (config.bluegreen.enabled) {
    const image = await pinImage(ref, options.resolveDigest, log);
    return releaseToIdle({ action: "release", stack: options.stack, before, config, image, record, options });
  }
  if (config.image.source !== "registry") {
    throw new OpsError(
      `${name} runs neither blue/green (bluegreen.enabled is false) nor a registry image (image.source is "${config.image.source}"): release has nothing to set; nothing was changed`,
    );
  }

  // A one-colour registry stack: the program pins image.tag itself on `up`.
  if (ref.kind !== "tag" || !COMMIT_TAG.safeParse(ref.tag).success) {
    throw new OpsError(`${name} runs a registry tag (image.source registry): --image expects <repository>:sha-<commit>, got "${options.image}"; nothing was changed`);
  }
  const current = `${config.image.repository}:${config.image.tag}`;
  const result: OpResult = { ...baseResult("release", name), image: ref.ref, previousImage: current };
  if (ref.repository === config.image.repository && ref.tag === config.image.tag) {
    result.ok = true;
    result.summary = `${ref.ref} is already ${name}'s image; nothing was changed`;
    return result;
  }
  const image = { tag: ref.tag, ...(ref.repository !== config.image.repository ? { repository: ref.repository } : {}) };
  const after = withRelease(before, { image, release: record });
  judgeConfig(name, after, options.sourceDir);
  result.release = record;
  log(`${name}: releasing ${ref.ref} (was ${current}); release ${record.id}`);
  const outcome = await applyAndUp(options.stack, before, after, `release ${record.id}: ${ref.ref}`, log);
  result.changed = true;
  result.keys = outcome.keys;
  result.update = { version: outcome.version, result: outcome.result };
  if (outcome.ok) {
    result.ok = true;
    const pinned = outcome.outputs?.imageRef?.value;
    if (typeof pinned === "string" && pinned) result.image = pinned;
    result.digest = digestOf(result.image) || String(outcome.outputs?.imageDigest?.value ?? "");
    result.summary = `${name}: ${result.image} is live (release ${record.id})`;
  } else {
    result.error = outcome.error;
    result.restored = outcome.restored;
    result.summary = `${name}: release ${record.id} FAILED: ${ref.ref} did not go live`;
    result.notes.push(
      `a candidate that fails its gates never replaces ${current}; a failure after that is handled as deploy.rollback ("${config.deploy.rollback}") says: see \`wepppy-cicd audit ${name}\``,
      restoreNote(name, outcome.restored),
    );
  }
  await announce(options, config, result, result.ok ? result.summary : `${result.summary}: ${outcome.error ?? ""}`.slice(0, 1000));
  return result;
}
