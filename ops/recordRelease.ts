import type { GitRepo } from "./gitRepo";
import type { CreatedRelease, ReleasesApi } from "./githubReleases";
import {
  Change,
  EvidenceRecord,
  ImageProvenance,
  RELEASE_TAG,
  ReleaseRecordError,
  VERSION_TAG,
  commitOfImage,
  previousReleaseTag,
  releaseNotes,
  tagMessage,
} from "./releaseRecord";

/*
 * Records a prod release where it belongs: the release tag (prod-YYYYMMDD-HHMMSS) and the
 * version tag (YYYY.MM.PATCH) on the commit the promoted image was built from, pushed to
 * the repository, and a GitHub Release on the release tag whose notes carry the evidence
 * and the changes since the previous release. Safe to run again: tags already on that
 * commit and an existing release are left as they are; a tag on another commit is refused
 * before anything is pushed.
 */

export interface RecordReleaseOptions {
  /** A checkout of wepppy with its history and tags (the workflow's fetch-depth: 0 checkout). */
  git: GitRepo;
  /** Where the tags are pushed ("origin"); undefined: tags stay local. */
  remote?: string;
  /** Publishes the GitHub Release; undefined: none. */
  releases?: ReleasesApi;
  image: ImageProvenance;
  /** From the release CLI (ops/common.ts releaseTag, nextVersion). */
  tag: string;
  version: string;
  evidence?: EvidenceRecord[];
  hotfix?: { reason: string; skippedChecks: string[] };
  note?: string;
  actor?: string;
  /** Commit subjects listed at most (default 100). */
  changesLimit?: number;
  log?: (line: string) => void;
}

export interface RecordedRelease {
  commit: string;
  commitFrom: string;
  tags: { name: string; result: "created" | "exists" }[];
  previousTag?: string;
  changes: Change[];
  notes: string;
  pushed: boolean;
  release?: CreatedRelease;
}

export async function recordRelease(o: RecordReleaseOptions): Promise<RecordedRelease> {
  const log = o.log ?? (() => undefined);
  if (!RELEASE_TAG.test(o.tag)) throw new ReleaseRecordError(`release tag "${o.tag}" is not prod-YYYYMMDD-HHMMSS`);
  if (!VERSION_TAG.test(o.version)) throw new ReleaseRecordError(`version "${o.version}" is not YYYY.MM.PATCH`);

  const found = commitOfImage(o.image);
  const commit = await o.git.resolveCommit(found.commit);
  log(`${o.image.ref} was built from ${commit} (${found.from})`);

  // Refuse before creating anything when either tag sits on another commit.
  for (const name of [o.tag, o.version]) {
    const at = await o.git.tagCommit(name);
    if (at && at !== commit) throw new ReleaseRecordError(`tag ${name} already points to ${at}, not ${commit} (the commit of ${o.image.ref}): a release tag is never moved; nothing was changed`);
  }

  const previousTag = previousReleaseTag(await o.git.releaseTags(), o.tag);
  const { changes, truncated } = await o.git.changes(previousTag, commit, o.changesLimit ?? 100);
  const notes = releaseNotes({
    tag: o.tag,
    version: o.version,
    commit,
    commitFrom: found.from,
    image: o.image.ref,
    previousTag,
    changes,
    truncated,
    evidence: o.evidence ?? [],
    hotfix: o.hotfix,
    note: o.note,
    actor: o.actor,
  });

  const message = tagMessage(o.tag, o.version, o.image.ref);
  const tags: RecordedRelease["tags"] = [];
  for (const name of [o.tag, o.version]) tags.push({ name, result: await o.git.createTag(name, commit, message) });
  log(`tagged ${commit.slice(0, 12)}: ${tags.map((t) => `${t.name} (${t.result})`).join(", ")}`);

  let pushed = false;
  if (o.remote) {
    await o.git.pushTags(o.remote, [o.tag, o.version]);
    pushed = true;
    log(`pushed ${o.tag} and ${o.version} to ${o.remote}`);
  }

  let release: CreatedRelease | undefined;
  if (o.releases) {
    if (!pushed) throw new ReleaseRecordError("a GitHub Release needs its tag on GitHub: give the remote to push the tags to");
    release = await o.releases.createRelease({ tagName: o.tag, targetCommitish: commit, name: `${o.version} (${o.tag})`, body: notes });
    log(`${release.existed ? "release exists" : "published release"} ${release.htmlUrl}`);
  }
  return { commit, commitFrom: found.from, tags, previousTag, changes, notes, pushed, release };
}
