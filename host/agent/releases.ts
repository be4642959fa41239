import * as fs from "node:fs";
import * as path from "node:path";
import { HostLayout, RELEASE_FILES, releaseDir } from "../contract/layout";
import { ReleaseRecord } from "../contract/records";
import { DeploySettings, readDeploySettingsText } from "../contract/settings";
import { RELEASE_KEY, ReleaseManifest, StagedFile, parseReleaseManifest } from "../contract/staging";
import { CommandError } from "./agent";
import { fileDigest, readJsonFile, readTextFile, writeFileAtomic, writeJsonAtomic } from "./files";

/*
 * Staged releases (contract/staging.ts) on the agent's side: checked against their
 * manifest before a deploy uses them, made current only when it succeeds.
 *
 * Why the files are copied into the project directory rather than linked: compose resolves
 * every relative path of wepppy's files against the project directory: ./caddy/Caddyfile,
 * ./redis-entrypoint.sh (the release's), but also ./secrets/* (written by the stack's root
 * helper, not part of a release) and ../wepppy/... (beside the project directory). So the
 * project directory itself cannot be swapped for a release directory, and a symlinked
 * compose file would make compose v1 and v2 disagree on which directory is the project's.
 * Each file is therefore copied in with a temp file and rename(2): a container bind-mounts
 * the inode it found when it was created, so a running container never sees a half-written
 * or a changed file, and the next one created gets the whole new file. A deploy copies its
 * release's files in just before compose needs them; when the deploy fails or is
 * interrupted, the live release's files are copied back (the run's checkpoint says whether
 * it had copied any), so that the current files are always the live release's. The record
 * of what is current (state/current.json, with deploy.json beside it) changes only when a
 * deploy succeeds. Copies also keep working when old release directories are pruned.
 */

export interface StagedRelease {
  key: string;
  dir: string;
  manifest: ReleaseManifest;
  settings: DeploySettings;
  settingsText: string;
  envTemplate: string;
}

export interface CurrentRelease {
  releaseKey: string;
  image: string;
  release: ReleaseRecord | null;
  since: string;
  /** The release that was current before: what a one-colour rollback deploys. */
  previous: { releaseKey: string; image: string; release: ReleaseRecord | null } | null;
}

function stagedPath(dir: string, f: StagedFile): string {
  return path.join(dir, "project", f.path);
}

/** A staged release, every file checked against its manifest; an error says how to stage it again. */
export function loadRelease(layout: HostLayout, key: string): StagedRelease {
  if (!RELEASE_KEY.test(key)) throw new CommandError(`'${key}' is not a release key (16 hex digits)`, 2);
  const dir = releaseDir(layout, key);
  const again = "stage it again (run the update again: the stack copies a release's files before its deploy)";
  const manifestFile = path.join(dir, RELEASE_FILES.manifest);
  const raw = readJsonFile(manifestFile);
  if (raw === undefined) throw new CommandError(`release ${key} is not staged on this host (no ${manifestFile}): ${again}`);
  const manifest = parseReleaseManifest(raw, manifestFile, key);
  const bad: string[] = [];
  for (const f of manifest.project) {
    const d = fileDigest(stagedPath(dir, f));
    if (d !== f.sha256) bad.push(`${f.path} ${d === undefined ? "missing" : "differs"}`);
  }
  const settingsFile = path.join(dir, RELEASE_FILES.settings);
  const envFile = path.join(dir, RELEASE_FILES.envTemplate);
  const settingsText = readTextFile(settingsFile);
  const envTemplate = readTextFile(envFile);
  if (fileDigest(settingsFile) !== manifest.settings) bad.push(`${RELEASE_FILES.settings} ${settingsText === undefined ? "missing" : "differs"}`);
  if (fileDigest(envFile) !== manifest.envTemplate) bad.push(`${RELEASE_FILES.envTemplate} ${envTemplate === undefined ? "missing" : "differs"}`);
  if (bad.length > 0) throw new CommandError(`release ${key} does not match its manifest (${bad.join(", ")}): ${again}`);
  const settings = readDeploySettingsText(settingsText!, settingsFile);
  return { key, dir, manifest, settings, settingsText: settingsText!, envTemplate: envTemplate! };
}

/** Copies the release's project files into the project directory, each by temp file and rename. */
export function installReleaseFiles(release: StagedRelease, projectDir: string): string[] {
  const done: string[] = [];
  for (const f of release.manifest.project) {
    const from = stagedPath(release.dir, f);
    const to = path.join(projectDir, f.path);
    const mode = fs.statSync(from).mode & 0o777;
    writeFileAtomic(to, fs.readFileSync(from), mode);
    done.push(f.path);
  }
  return done;
}

export function readCurrent(layout: HostLayout): CurrentRelease | null {
  const v = readJsonFile(layout.currentRelease);
  return v && typeof v === "object" ? (v as CurrentRelease) : null;
}

/** Records a release as current: deploy.json (the live settings) first, then current.json. */
export function recordCurrent(layout: HostLayout, release: StagedRelease, image: string, record: ReleaseRecord | null, since: string): CurrentRelease {
  const before = readCurrent(layout);
  const previous = before && before.releaseKey !== release.key ? { releaseKey: before.releaseKey, image: before.image, release: before.release } : (before?.previous ?? null);
  const current: CurrentRelease = { releaseKey: release.key, image, release: record, since, previous };
  writeFileAtomic(layout.settings, release.settingsText);
  writeJsonAtomic(layout.currentRelease, current);
  return current;
}

/** Removes old release directories, keeping the newest `keep` and every key in `pinned`. */
export function pruneReleases(layout: HostLayout, pinned: Set<string>, keep = 5): string[] {
  let entries: Array<{ key: string; mtime: number }>;
  try {
    entries = fs
      .readdirSync(layout.releasesDir)
      .filter((k) => RELEASE_KEY.test(k))
      .map((key) => ({ key, mtime: fs.statSync(path.join(layout.releasesDir, key)).mtimeMs }));
  } catch {
    return [];
  }
  entries.sort((a, b) => b.mtime - a.mtime);
  const removed: string[] = [];
  for (const [i, e] of entries.entries()) {
    if (i < keep || pinned.has(e.key)) continue;
    fs.rmSync(path.join(layout.releasesDir, e.key), { recursive: true, force: true });
    removed.push(e.key);
  }
  return removed;
}
