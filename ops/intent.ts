import type { ConfigMap } from "@pulumi/pulumi/automation";
import { NAMESPACE } from "../config/environments";
import { isObject } from "./configMap";

/*
 * What a stack must have live, as config leaves the release CLI owns: the image (a
 * registry stack's commit tag; a promoted stack's digest, or its hotfix) and the release
 * record. A release, promotion or rollback writes these leaves one by one (`config set
 * --path`), so an operator's `pulumi config set --path` on the same sections keeps working.
 * With the file backend they live in the stack file of the checkout that ran the update,
 * which a CI job throws away; the update history keeps them, and `wepppy-cicd config sync`
 * restores them from the newest succeeded update into a fresh checkout.
 */

export const INTENT_LEAVES = [
  "image.tag",
  "image.digest",
  "image.commit",
  "image.hotfix.repository",
  "image.hotfix.tag",
  "image.hotfix.reason",
  "release.id",
  "release.tag",
  "release.version",
  "release.actor",
  "release.note",
] as const;

export type IntentLeaf = (typeof INTENT_LEAVES)[number];
export type Leaves = Partial<Record<IntentLeaf, string>>;

/** Sections that go as a whole when none of their leaves is left (an empty one would be invalid). */
export const WHOLE: Record<"release" | "image.hotfix", IntentLeaf[]> = {
  release: ["release.id", "release.tag", "release.version", "release.actor", "release.note"],
  "image.hotfix": ["image.hotfix.repository", "image.hotfix.tag", "image.hotfix.reason"],
};

export function leafKey(leaf: IntentLeaf | keyof typeof WHOLE): string {
  return `${NAMESPACE}:${leaf}`;
}

function sectionOf(map: ConfigMap, section: string): Record<string, unknown> | undefined {
  const entry = map[`${NAMESPACE}:${section}`];
  if (!entry || typeof entry.value !== "string") return undefined;
  try {
    const value = JSON.parse(entry.value);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The intent leaves a config holds (only the ones the stack's image source uses). */
export function leavesOf(map: ConfigMap): Leaves {
  const out: Leaves = {};
  for (const leaf of INTENT_LEAVES) {
    const [section, ...path] = leaf.split(".");
    let node: unknown = sectionOf(map, section);
    for (const p of path) node = isObject(node) ? node[p] : undefined;
    if (typeof node === "string") out[leaf] = node;
  }
  return out;
}

/** The image a config says must be live: `<repository>:<tag>`, a digest reference, or a hotfix tag. */
export function intendedImage(map: ConfigMap): string | undefined {
  const image = sectionOf(map, "image");
  if (!image) return undefined;
  if (image.source === "registry" && typeof image.tag === "string") return `${typeof image.repository === "string" ? image.repository : "ghcr.io/rogerlew/wepppy"}:${image.tag}`;
  if (image.source === "promoted") {
    const hotfix = isObject(image.hotfix) ? image.hotfix : undefined;
    if (hotfix && typeof hotfix.tag === "string") return `${typeof hotfix.repository === "string" ? hotfix.repository : "ghcr.io/rogerlew/wepppy"}:${hotfix.tag}`;
    if (typeof image.digest === "string") return image.digest;
  }
  return undefined;
}

/** The leaf changes that turn `from` into `to` (undefined: remove the leaf). */
export function leafChanges(from: Leaves, to: Leaves): Partial<Record<IntentLeaf, string | undefined>> {
  const out: Partial<Record<IntentLeaf, string | undefined>> = {};
  for (const leaf of INTENT_LEAVES) if (from[leaf] !== to[leaf]) out[leaf] = to[leaf];
  return out;
}

/** A leaf, or a whole subtree to remove (a hotfix or a release record goes as a whole, never half). */
export type ChangeKey = IntentLeaf | keyof typeof WHOLE;
export type Changes = Partial<Record<ChangeKey, string | undefined>>;

/** The changes as they are written: a section whose leaves all go is removed whole (an empty one would be invalid). */
export function normalized(requested: Changes, present: Leaves): Changes {
  const changes: Changes = { ...requested };
  for (const [whole, leaves] of Object.entries(WHOLE) as Array<[keyof typeof WHOLE, IntentLeaf[]]>) {
    if (leaves.some((l) => l in changes) && leaves.every((l) => (l in changes ? changes[l] === undefined : present[l] === undefined))) {
      for (const l of leaves) delete changes[l];
      changes[whole] = undefined;
    }
  }
  return changes;
}

/** The config as it will be once the changes are written (for judging it before anything is written). */
export function withLeaves(map: ConfigMap, requested: Changes): ConfigMap {
  const out: ConfigMap = { ...map };
  for (const [leaf, value] of Object.entries(normalized(requested, leavesOf(map))) as Array<[ChangeKey, string | undefined]>) {
    const [section, ...path] = leaf.split(".");
    const key = `${NAMESPACE}:${section}`;
    const root = sectionOf(out, section) ?? {};
    let node: Record<string, unknown> | undefined = root;
    for (const p of path.slice(0, -1)) {
      if (!isObject(node![p])) {
        if (value === undefined) {
          node = undefined;
          break;
        }
        node![p] = {};
      }
      node = node![p] as Record<string, unknown>;
    }
    if (path.length === 0) {
      if (value === undefined) delete out[key];
      continue;
    }
    if (node && value === undefined) delete node[path[path.length - 1]];
    else if (node) node[path[path.length - 1]] = value;
    if (Object.keys(root).length === 0) delete out[key];
    else out[key] = { value: JSON.stringify(root), secret: Boolean(map[key]?.secret) };
  }
  return out;
}
