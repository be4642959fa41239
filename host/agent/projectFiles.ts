import * as fs from "node:fs";
import * as path from "node:path";
import { fileDigest, writeFileAtomic } from "./files";
import type { StagedRelease } from "./releases";

/*
 * A deploy puts its release's files into the project directory just before compose needs
 * them, and keeps what each replaced in its run directory (displaced/): a failed or
 * interrupted deploy puts those back, so that the current files are the live release's
 * whether or not that release is still staged (the first deploy after the bash script had
 * no staged release at all). Each file is displaced before it is replaced, so a copy that
 * dies half-way is undone exactly.
 */

const ABSENT = ".absent";

export function installWithDisplacement(release: StagedRelease, projectDir: string, displacedDir: string): string[] {
  const changed: string[] = [];
  for (const f of release.manifest.project) {
    const target = path.join(projectDir, f.path);
    const before = fileDigest(target);
    if (before === f.sha256) continue;
    const keep = path.join(displacedDir, f.path);
    if (!fs.existsSync(keep) && !fs.existsSync(keep + ABSENT)) {
      if (before === undefined) writeFileAtomic(keep + ABSENT, "");
      else writeFileAtomic(keep, fs.readFileSync(target), fs.statSync(target).mode & 0o777);
    }
    const from = path.join(release.dir, "project", f.path);
    writeFileAtomic(target, fs.readFileSync(from), fs.statSync(from).mode & 0o777);
    changed.push(f.path);
  }
  return changed;
}

function walk(dir: string, base = dir): string[] {
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return names.flatMap((d) => (d.isDirectory() ? walk(path.join(dir, d.name), base) : [path.relative(base, path.join(dir, d.name))]));
}

/** Puts every displaced file back (and removes the ones the release added). */
export function restoreDisplaced(projectDir: string, displacedDir: string): string[] {
  const restored: string[] = [];
  for (const rel of walk(displacedDir)) {
    if (rel.endsWith(ABSENT)) {
      const target = path.join(projectDir, rel.slice(0, -ABSENT.length));
      fs.rmSync(target, { force: true });
      restored.push(rel.slice(0, -ABSENT.length));
    } else {
      const from = path.join(displacedDir, rel);
      writeFileAtomic(path.join(projectDir, rel), fs.readFileSync(from), fs.statSync(from).mode & 0o777);
      restored.push(rel);
    }
  }
  return restored;
}
