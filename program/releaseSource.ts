import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { StackConfig } from "../config/schema";

/*
 * Which wepppy files a release deploys. With compose.sourceAt "commit" they are those of the
 * commit its image was built from (testprod: the sha-<commit> of image.tag; prod: image.commit,
 * which promote sets; a hotfix: its tag's commit), read from the git checkout that
 * compose.sourceDir lies in, so that a rollback to an older release runs that release's
 * compose files and not today's. With "checkout", sourceDir's files as they are.
 */

const TAG_COMMIT = /^(?:master|sha)-([0-9a-f]{7,40})$/;

/** The commit a stack's image was built from, where its config says. */
export function imageCommit(image: StackConfig["image"]): string | undefined {
  if (image.source === "registry") return TAG_COMMIT.exec(image.tag)?.[1];
  if (image.source === "promoted") return image.hotfix ? TAG_COMMIT.exec(image.hotfix.tag)?.[1] : image.commit;
  return undefined;
}

function git(dir: string, args: string[], input?: Buffer): Buffer {
  return execFileSync("git", ["-C", dir, ...args], { input, stdio: ["pipe", "pipe", "pipe"], maxBuffer: 512 * 1024 * 1024 });
}

export interface ReleaseSource {
  /** The directory holding the release's docker/ files. */
  dir: string;
  /** The commit they are from (undefined: the checkout as it is). */
  commit?: string;
}

/**
 * The release's files: for sourceAt "commit", the sourceDir subtree at the image's commit,
 * extracted once per commit under `cacheRoot`. Throws, naming what to do, when the commit is
 * unknown or the checkout does not have it.
 */
export function releaseSource(config: StackConfig, sourceDir: string, cacheRoot = path.join(os.tmpdir(), "wepppy-cicd-release-source")): ReleaseSource {
  if (config.compose.sourceAt === "checkout" || config.image.source === "build") return { dir: sourceDir };
  const wanted = imageCommit(config.image);
  if (!wanted) {
    throw new Error(
      `compose.sourceAt is "commit", but the image names no commit (testprod: an image.tag sha-<commit>; prod: image.commit, which wepppy-cicd promote sets): set it, or set compose.sourceAt: checkout to deploy ${sourceDir} as it is`,
    );
  }
  let top: string;
  try {
    top = git(sourceDir, ["rev-parse", "--show-toplevel"]).toString().trim();
  } catch {
    throw new Error(`compose.sourceAt is "commit", but ${sourceDir} is not in a git checkout of wepppy: check wepppy out there (with its history), or set compose.sourceAt: checkout`);
  }
  let commit: string;
  try {
    commit = git(top, ["rev-parse", "--verify", "--quiet", `${wanted}^{commit}`]).toString().trim();
  } catch {
    throw new Error(`the wepppy checkout at ${top} has no commit ${wanted} (the image's): fetch it (git -C ${top} fetch origin; a CI checkout needs fetch-depth: 0), nothing was deployed`);
  }
  const prefix = path.relative(fs.realpathSync(top), fs.realpathSync(sourceDir));
  const target = path.join(cacheRoot, commit);
  const dir = prefix ? path.join(target, prefix) : target;
  if (!fs.existsSync(path.join(target, ".complete"))) {
    const tmp = `${target}.${process.pid}.tmp`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    const tar = git(top, ["archive", "--format=tar", commit, ...(prefix ? ["--", prefix] : [])]);
    execFileSync("tar", ["-x", "-C", tmp], { input: tar, stdio: ["pipe", "ignore", "pipe"] });
    fs.writeFileSync(path.join(tmp, ".complete"), `${commit}\n`);
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(tmp, target);
  }
  if (!fs.existsSync(dir)) throw new Error(`commit ${commit} of ${top} has no ${prefix || "files"}: compose.sourceDir does not exist at the image's commit`);
  return { dir, commit };
}
