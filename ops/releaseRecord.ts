/*
 * The release record of a prod release, as pure functions: which commit the promoted image
 * was built from (its sha-<commit> tag, or the org.opencontainers.image.revision label
 * main's workflow sets), which release came before it, and the notes a GitHub Release
 * carries: the evidence the promotion rested on, a hotfix's reason and skipped checks, and
 * the commit subjects since the previous release. The tags go on that commit, not on
 * whatever the dispatching branch's HEAD is.
 */

export const RELEASE_TAG = /^prod-\d{8}-\d{6}$/;
export const VERSION_TAG = /^\d{4}\.\d{2}\.\d+$/;
export const REVISION_LABEL = "org.opencontainers.image.revision";

/** Refused: what is wrong and what to give instead. Nothing was tagged or published. */
export class ReleaseRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReleaseRecordError";
  }
}

/** What is known about the promoted image: its tags (e.g. testprod's image.tag) and its config labels. */
export interface ImageProvenance {
  ref: string;
  tags?: string[];
  labels?: Record<string, string>;
}

export interface ImageCommit {
  /** 7-40 hex digits as found; resolve it to the full SHA in the repository. */
  commit: string;
  /** "tag sha-<...>" or "label org.opencontainers.image.revision". */
  from: string;
}

const COMMIT_TAG = /^(?:[^\s@]+:)?(?:sha|master)-([0-9a-f]{7,40})$/;
const HEX = /^[0-9a-f]{7,40}$/;

/** The commit an image was built from; refused when nothing says, or its tags and label disagree. */
export function commitOfImage(image: ImageProvenance): ImageCommit {
  const found: ImageCommit[] = [];
  for (const tag of image.tags ?? []) {
    const m = COMMIT_TAG.exec(tag.trim());
    if (m) found.push({ commit: m[1], from: `tag ${tag.split(":").pop()}` });
  }
  const label = image.labels?.[REVISION_LABEL]?.trim().toLowerCase();
  if (label !== undefined && label !== "") {
    if (!HEX.test(label)) throw new ReleaseRecordError(`${image.ref}: its ${REVISION_LABEL} label is "${label}", not a commit SHA`);
    found.push({ commit: label, from: `label ${REVISION_LABEL}` });
  }
  if (found.length === 0) {
    throw new ReleaseRecordError(
      `cannot tell which commit ${image.ref} was built from: it has no sha-<commit> tag and no ${REVISION_LABEL} label (main's workflow sets both); give the commit explicitly`,
    );
  }
  // Abbreviations of one commit agree; anything else is two different builds.
  const longest = found.reduce((a, b) => (b.commit.length > a.commit.length ? b : a));
  const disagree = found.find((f) => !longest.commit.startsWith(f.commit));
  if (disagree) {
    throw new ReleaseRecordError(`${image.ref} names two commits: ${disagree.commit} (${disagree.from}) and ${longest.commit} (${longest.from}); nothing was tagged`);
  }
  return longest;
}

/** The newest prod release tag older than `current` (prod-YYYYMMDD-HHMMSS sorts by time). */
export function previousReleaseTag(tags: string[], current: string): string | undefined {
  return tags
    .filter((t) => RELEASE_TAG.test(t) && t < current)
    .sort()
    .pop();
}

export interface Change {
  commit: string;
  subject: string;
}

export interface EvidenceCheck {
  name: string;
  pass: boolean;
  detail?: string;
}

/** One validation suite's record (issue 13, item 1): what ran against which digest, when, and each check. */
export interface EvidenceRecord {
  suite: string;
  digest?: string;
  started?: string;
  finished?: string;
  checks: EvidenceCheck[];
  /** Where the app (or a stand-in) answered from. */
  source?: string;
}

export interface ReleaseNotesInput {
  tag: string;
  version: string;
  commit: string;
  commitFrom: string;
  image: string;
  previousTag?: string;
  changes: Change[];
  /** More commits than listed. */
  truncated?: boolean;
  evidence: EvidenceRecord[];
  /** A hotfix that bypassed testprod: why, and which checks it skipped. */
  hotfix?: { reason: string; skippedChecks: string[] };
  /** The release's note (e.g. a promotion forced past validation). */
  note?: string;
  actor?: string;
}

/** A line of text as Markdown shows it literally enough: one line, no HTML. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, " ").replace(/</g, "&lt;").replace(/>/g, "&gt;").trim();
}

function suiteLine(e: EvidenceRecord): string {
  const passed = e.checks.filter((c) => c.pass).length;
  const verdict = e.checks.length > 0 && passed === e.checks.length ? "PASS" : "FAIL";
  const when = e.started || e.finished ? ` (${[e.started, e.finished].filter(Boolean).join(" to ")})` : "";
  const failed = e.checks.filter((c) => !c.pass).map((c) => (c.detail ? `${c.name}: ${c.detail}` : c.name));
  const digest = e.digest ? ` on ${e.digest.slice(0, 19)}` : "";
  return `- **${verdict}** ${oneLine(e.suite)}${digest}: ${passed}/${e.checks.length} checks passed${when}${failed.length ? `; failed: ${oneLine(failed.join("; "))}` : ""}${e.source ? ` [answered from ${oneLine(e.source)}]` : ""}`;
}

/** The GitHub Release body. */
export function releaseNotes(r: ReleaseNotesInput): string {
  const lines = [
    `Release ${r.tag}, version ${r.version}${r.actor ? `, by ${oneLine(r.actor)}` : ""}.`,
    "",
    `Image \`${r.image}\`, built from ${r.commit} (${r.commitFrom}).`,
    "",
    "### Evidence",
    "",
    ...(r.evidence.length > 0 ? r.evidence.map(suiteLine) : ["- No validation evidence was recorded for this image."]),
  ];
  if (r.note) lines.push("", `Note: ${oneLine(r.note)}`);
  if (r.hotfix) {
    lines.push("", "### Hotfix", "", `Bypassed testprod: ${oneLine(r.hotfix.reason)}`);
    lines.push(r.hotfix.skippedChecks.length > 0 ? `Skipped: ${r.hotfix.skippedChecks.map(oneLine).join(", ")}` : "Skipped: nothing else");
  }
  lines.push("", r.previousTag ? `### Changes since ${r.previousTag}` : "### Changes (first recorded release)", "");
  if (r.changes.length === 0) lines.push(r.previousTag ? `- No commits since ${r.previousTag}.` : "- No commits.");
  for (const c of r.changes) lines.push(`- ${c.commit.slice(0, 12)} ${oneLine(c.subject)}`);
  if (r.truncated) lines.push(`- ... and earlier commits (see \`git log ${r.previousTag ? `${r.previousTag}..` : ""}${r.tag}\`)`);
  return lines.join("\n") + "\n";
}

/** The annotated tags' message: short, the notes live in the GitHub Release. */
export function tagMessage(tag: string, version: string, image: string): string {
  return `Production release ${tag} (${version}): ${image}`;
}
