import * as path from "node:path/posix";
import { DocumentError, Problems, RELATIVE_PATH, SHA256_HEX, literal, list, object, readDocument, required, text } from "./check";
import { canonicalJson, sha256Hex } from "./digest";
import { HostLayout, RELEASE_FILES, releaseDir } from "./layout";

/*
 * A release's files, staged on the host before its deploy and made current only when the
 * deploy succeeds (the agent's releases.ts). The stack copies them to
 * <root>/releases/<key>/: the compose project's files under project/ with their paths in
 * the project directory, plus deploy.json and the env template, and manifest.json last.
 * The key is a digest of the manifest, and the manifest holds the digest of every file:
 * the agent refuses a release whose files do not match it (a copy that stopped half-way).
 */

export const RELEASE_KEY = /^[0-9a-f]{16}$/;

export interface StagedFile {
  /** Relative to the compose project directory, e.g. "caddy/Caddyfile". */
  path: string;
  sha256: string;
}

export interface ReleaseManifest {
  version: 1;
  project: StagedFile[];
  settings: string;
  envTemplate: string;
}

export interface ReleaseInput {
  /** The compose files and what they mount from beside themselves, by path in the project directory. */
  project: Array<{ path: string; content: string | Uint8Array }>;
  /** deploy.json's text (serializeDeploySettings). */
  settings: string;
  /** The env file's text without the image variables the agent adds. */
  envTemplate: string;
}

/** Where each file of a release goes under <root>/releases/<key>/, and the key. */
export interface StagedRelease {
  key: string;
  manifest: ReleaseManifest;
  manifestText: string;
  files: Array<{ target: string; content: string | Uint8Array }>;
}

export function releaseKey(manifest: ReleaseManifest): string {
  return sha256Hex(canonicalJson(manifest)).slice(0, 16);
}

/** Pure: the stack's side of staging (what to copy where); the agent checks the same digests. */
export function stageRelease(layout: HostLayout, input: ReleaseInput): StagedRelease {
  const seen = new Set<string>();
  for (const f of input.project) {
    if (!RELATIVE_PATH.test(f.path)) throw new Error(`release file '${f.path}': expected a relative path of plain segments`);
    if (seen.has(f.path)) throw new Error(`release file '${f.path}' is listed twice`);
    seen.add(f.path);
  }
  const project = [...input.project]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => ({ path: f.path, sha256: sha256Hex(f.content) }));
  const manifest: ReleaseManifest = { version: 1, project, settings: sha256Hex(input.settings), envTemplate: sha256Hex(input.envTemplate) };
  const key = releaseKey(manifest);
  const dir = releaseDir(layout, key);
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  return {
    key,
    manifest,
    manifestText,
    files: [
      ...input.project.map((f) => ({ target: path.join(dir, "project", f.path), content: f.content })),
      { target: path.join(dir, RELEASE_FILES.settings), content: input.settings },
      { target: path.join(dir, RELEASE_FILES.envTemplate), content: input.envTemplate },
      // Last: its presence says every other file was copied.
      { target: path.join(dir, RELEASE_FILES.manifest), content: manifestText },
    ],
  };
}

const readManifest = object<ReleaseManifest>({
  version: required(literal(1)),
  project: required(
    list(
      object<StagedFile>({
        path: required(text(RELATIVE_PATH, "a relative path of plain segments")),
        sha256: required(text(SHA256_HEX, "a sha256 in hex")),
      }),
    ),
  ),
  settings: required(text(SHA256_HEX, "a sha256 in hex")),
  envTemplate: required(text(SHA256_HEX, "a sha256 in hex")),
});

export function parseReleaseManifest(value: unknown, source: string, key?: string): ReleaseManifest {
  const manifest = readDocument(readManifest, value, source);
  if (key !== undefined && releaseKey(manifest) !== key) {
    const p = new Problems();
    p.add("", `its digest is ${releaseKey(manifest)}, not the release key ${key}: the manifest was changed after staging`);
    throw new DocumentError(source, p.list);
  }
  return manifest;
}

