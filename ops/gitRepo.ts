import { execFile } from "node:child_process";
import { Change, RELEASE_TAG, ReleaseRecordError, VERSION_TAG } from "./releaseRecord";

/*
 * The git side of a release record, through `git` run with an argument vector (execFile,
 * no shell): resolve a commit, list release tags, read commit subjects between two
 * revisions, create annotated tags on a given commit, push them. Every name that reaches
 * git is checked first, so none can be read as an option.
 */

const HEX = /^[0-9a-f]{7,40}$/;
/** A remote's name, or a path/URL of one (a local bare repository standing in for GitHub). */
const REMOTE = /^(?:[A-Za-z0-9._-]+|\/[A-Za-z0-9._/-]+|https:\/\/[A-Za-z0-9.-]+\/[A-Za-z0-9._/-]+)$/;

export interface GitIdentity {
  name: string;
  email: string;
}

export const RELEASE_BOT: GitIdentity = { name: "github-actions[bot]", email: "41898282+github-actions[bot]@users.noreply.github.com" };

function checkTag(tag: string): string {
  if (!RELEASE_TAG.test(tag) && !VERSION_TAG.test(tag)) throw new ReleaseRecordError(`"${tag}" is neither a release tag prod-YYYYMMDD-HHMMSS nor a version YYYY.MM.PATCH`);
  return tag;
}

function checkRevision(rev: string): string {
  if (!HEX.test(rev) && !RELEASE_TAG.test(rev) && !VERSION_TAG.test(rev)) throw new ReleaseRecordError(`"${rev}" is not a commit SHA or a release tag`);
  return rev;
}

export class GitRepo {
  constructor(
    readonly dir: string,
    private readonly identity: GitIdentity = RELEASE_BOT,
  ) {}

  /** Runs git in the repository; an error names the git command and its first lines of stderr. */
  git(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        "git",
        ["-C", this.dir, ...args],
        { env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" }, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (err) {
            const why = (String(stderr).trim() || err.message).split("\n").slice(0, 3).join(" ");
            reject(Object.assign(new Error(`git ${args[0]} failed in ${this.dir}: ${why}`), { code: (err as { code?: unknown }).code }));
          } else resolve(String(stdout));
        },
      );
    });
  }

  /** The full SHA of a commit given by (abbreviated) SHA or tag; refused when the repository lacks it. */
  async resolveCommit(rev: string): Promise<string> {
    checkRevision(rev);
    try {
      return (await this.git(["rev-parse", "--verify", "--quiet", "--end-of-options", `${rev}^{commit}`])).trim();
    } catch {
      throw new ReleaseRecordError(`commit ${rev} is not in the repository at ${this.dir}: fetch it first (git fetch --tags origin)`);
    }
  }

  /** The commit a tag points to, or undefined when there is no such tag. */
  async tagCommit(tag: string): Promise<string | undefined> {
    checkTag(tag);
    try {
      return (await this.git(["rev-parse", "--verify", "--quiet", "--end-of-options", `refs/tags/${tag}^{commit}`])).trim() || undefined;
    } catch {
      return undefined;
    }
  }

  /** Release tags (prod-*) in the repository. */
  async releaseTags(): Promise<string[]> {
    const out = await this.git(["for-each-ref", "--format=%(refname:strip=2)", "refs/tags/prod-*"]);
    return out.split("\n").filter((t) => RELEASE_TAG.test(t));
  }

  /** Commit subjects reachable from `to` but not from `from`, newest first, at most `limit`. */
  async changes(from: string | undefined, to: string, limit = 100): Promise<{ changes: Change[]; truncated: boolean }> {
    checkRevision(to);
    if (from !== undefined) checkRevision(from);
    const range = from ? `${from}..${to}` : to;
    const out = await this.git(["log", `--max-count=${limit + 1}`, "--format=%H%x09%s", "--end-of-options", range]);
    const all = out
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const tab = line.indexOf("\t");
        return { commit: line.slice(0, tab), subject: line.slice(tab + 1) };
      });
    return { changes: all.slice(0, limit), truncated: all.length > limit };
  }

  /**
   * An annotated tag on the commit. Already there on that commit: nothing to do ("exists");
   * on another commit: refused, a release tag is never moved.
   */
  async createTag(tag: string, commit: string, message: string): Promise<"created" | "exists"> {
    checkTag(tag);
    if (!/^[0-9a-f]{40}$/.test(commit)) throw new ReleaseRecordError(`tag ${tag}: "${commit}" is not a full commit SHA`);
    const existing = await this.tagCommit(tag);
    if (existing === commit) return "exists";
    if (existing) throw new ReleaseRecordError(`tag ${tag} already points to ${existing}, not ${commit}: a release tag is never moved; nothing was changed`);
    await this.git(["-c", `user.name=${this.identity.name}`, "-c", `user.email=${this.identity.email}`, "tag", "--annotate", `--message=${message}`, tag, commit]);
    return "created";
  }

  /** Pushes the tags (never forced: a tag the remote has on another commit is refused by it). */
  async pushTags(remote: string, tags: string[]): Promise<void> {
    if (!REMOTE.test(remote)) throw new ReleaseRecordError(`"${remote}" is not a git remote name or URL this pushes to`);
    tags.forEach(checkTag);
    await this.git(["push", "--quiet", "--end-of-options", remote, ...tags.map((t) => `refs/tags/${t}:refs/tags/${t}`)]);
  }
}
