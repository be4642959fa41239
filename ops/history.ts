import type { UpdateSummary } from "@pulumi/pulumi/automation";
import { intendedImage, leavesOf } from "./intent";
import type { StackHandle } from "./stackHandle";

/*
 * A stack's whole update history. The file backend numbers nothing (every entry's version
 * is 0) and `stack history` gives 10 entries unless asked for a page size, so updates are
 * told apart by their start time and the release they carried, over every page.
 */

const PAGE = 100;

/** Every update, newest first, secrets withheld. */
export async function fullHistory(stack: StackHandle): Promise<UpdateSummary[]> {
  const all: UpdateSummary[] = [];
  for (let page = 1; ; page++) {
    const entries = await stack.history(PAGE, page, false);
    all.push(...entries);
    if (entries.length < PAGE) return all.filter((u) => u.kind === "update");
  }
}

export function startOf(u: UpdateSummary): string {
  const t = u.startTime instanceof Date ? u.startTime : new Date(String(u.startTime));
  return Number.isNaN(t.getTime()) ? String(u.startTime) : t.toISOString();
}

export function releaseOf(u: UpdateSummary): string | undefined {
  return leavesOf(u.config ?? {})["release.id"];
}

/** "2026-12-01T10:00:00.000Z (release prod-..., sha256:abcd1234...)", for lists in messages. */
export function describeUpdate(u: UpdateSummary): string {
  const image = intendedImage(u.config ?? {});
  const short = image?.includes("@sha256:") ? image.slice(image.indexOf("@") + 1, image.indexOf("@") + 20) : image;
  const parts = [releaseOf(u) ? `release ${releaseOf(u)}` : undefined, short].filter(Boolean);
  return `${startOf(u)}${parts.length ? ` (${parts.join(", ")})` : ""}`;
}

export function newestSucceeded(history: UpdateSummary[]): UpdateSummary | undefined {
  return history.find((u) => u.result === "succeeded");
}

/** An update named by its release id, or by its start time (an ISO prefix such as 2026-12-01T10:00). */
export function findUpdate(history: UpdateSummary[], which: string): UpdateSummary | undefined {
  return history.find((u) => releaseOf(u) === which) ?? history.find((u) => startOf(u).startsWith(which));
}
