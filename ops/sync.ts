import { fullHistory, describeUpdate, newestSucceeded } from "./history";
import { leafChanges, leavesOf } from "./intent";
import type { StackHandle } from "./stackHandle";
import { writeLeaves } from "./update";

/*
 * `wepppy-cicd config sync`: a CI job (or an operator) starts from a fresh checkout, whose
 * stack file holds what was committed, not what the last release, promotion or rollback
 * wrote: with the file backend that lives only in the update history. This writes the
 * intent leaves of the newest *succeeded* update into the checkout, leaf by leaf. (`pulumi
 * config refresh` would take the newest update whatever its result, a failed one
 * included, and every other key with it: diy/backend.go:1101-1112.)
 */

export interface SyncResult {
  stack: string;
  /** The update the intent was taken from (start time and release), or null when there is none. */
  from: string | null;
  /** Keys written or removed in the checkout. */
  changed: string[];
}

export async function syncConfig(stack: StackHandle, log: (line: string) => void = () => undefined): Promise<SyncResult> {
  const deployed = newestSucceeded(await fullHistory(stack));
  if (!deployed) {
    log(`${stack.name}: no succeeded update yet: the checkout's config stands`);
    return { stack: stack.name, from: null, changed: [] };
  }
  const changes = leafChanges(leavesOf(await stack.getAllConfig()), leavesOf(deployed.config ?? {}));
  const changed = Object.keys(changes).length > 0 ? await writeLeaves(stack, changes) : [];
  log(`${stack.name}: ${changed.length ? `restored ${changed.join(", ")}` : "the checkout already holds"} what the update of ${describeUpdate(deployed)} ran`);
  return { stack: stack.name, from: describeUpdate(deployed), changed };
}
