import { CommonOptions, OpResult, OpsError, announce, judgeConfig, prodReleaseRecord, recordLeaves, recordedUpdate, restoreNote } from "./common";
import { baseResult, checkReleaseImage, liveFromOutputs, outputsOf, tookLive } from "./release";
import { withLeaves } from "./intent";
import type { StackHandle } from "./stackHandle";

/*
 * `wepppy-cicd hotfix` (spec, Emergency Hotfix; Playbook 4): an image testprod has not run
 * goes on prod, audited. It is a release like a promotion (prod-YYYYMMDD-HHMMSS tag,
 * YYYY.MM.PATCH version, pre-deploy backup, gate, switch, analysis window) without the
 * evidence a promotion rests on; the result names the checks it skipped so that the
 * release record (record-release) says so where everyone reads it.
 */

/** What a promotion requires and a hotfix goes without (ops/promote.ts checks these). */
export const HOTFIX_SKIPS = [
  "validation suites on testprod",
  "soak and error rate on testprod",
  "restore drill within backup.drillHours",
  "rolled-back digest check",
] as const;

export interface HotfixOptions extends CommonOptions {
  stack: StackHandle;
  /** `<repository>:sha-<commit>`. */
  image: string;
  reason: string;
}

export async function hotfix(options: HotfixOptions): Promise<OpResult> {
  const log = options.log ?? (() => undefined);
  const name = options.stack.name;
  const ref = checkReleaseImage(options.image);
  const before = await options.stack.getAllConfig();
  const config = judgeConfig(name, before, options.sourceDir);
  if (config.image.source !== "promoted") {
    throw new OpsError(`${name} does not run promoted images (image.source is "${config.image.source}"): a hotfix bypasses a promotion, so use \`wepppy-cicd release\` there; nothing was changed`);
  }
  const commit = /^(?:sha|master)-([0-9a-f]{7,40})$/.exec(ref.tag)?.[1];
  // health.skipSmoke is set beside it (the workflow's skip_smoke_tests input), and audited by the host.
  const skippedChecks: string[] = [...HOTFIX_SKIPS, ...(config.health.skipSmoke ? ["smoke test on prod (health.skipSmoke)"] : [])];
  const record = await prodReleaseRecord(options.stack, options, before, `hotfix: ${options.reason}`);
  const changes = {
    "image.hotfix.repository": ref.repository,
    "image.hotfix.tag": ref.tag,
    "image.hotfix.reason": options.reason,
    ...recordLeaves(record),
  };
  // A reason with characters the audit log refuses, an actor that is no user name: refused here, nothing changed.
  judgeConfig(name, withLeaves(before, changes), options.sourceDir);

  const outputs = liveFromOutputs(await outputsOf(options.stack));
  const result: OpResult = {
    ...baseResult("hotfix", name),
    image: ref.ref,
    previousImage: outputs.image,
    previousLive: outputs.live,
    live: outputs.live,
    commit,
    release: record,
    hotfix: { reason: options.reason, skippedChecks },
  };
  log(`${name}: hotfix ${ref.ref} bypasses testprod (${options.reason}); release ${record.id} (${record.version}); skipped: ${skippedChecks.join(", ")}`);
  const outcome = await recordedUpdate(result, options.stack, before, changes, `hotfix ${record.id}: ${ref.ref}`, log);
  if (outcome.ok) {
    const after = tookLive(result, outcome.outputs ?? {}, ref.ref);
    result.summary = `${name}: hotfix ${result.image} is live${after.live ? ` on ${after.live}` : ""} (release ${record.id}, ${record.version})`;
    result.notes.push(`skipped: ${skippedChecks.join(", ")}; the next \`wepppy-cicd promote\` replaces the hotfix with what testprod validated`);
  } else {
    result.summary = `${name}: hotfix ${record.id} FAILED: ${ref.ref} did not go live`;
    if (config.bluegreen.enabled) result.notes.push(`traffic stays where it was${outputs.live ? ` (${outputs.live})` : ""}: the host switches only to a colour that passed its gates`);
    result.notes.push(restoreNote(name, outcome.restored));
  }
  await announce(options, config, result, result.ok ? result.summary : `${result.summary}: ${outcome.error ?? ""}`.slice(0, 1000));
  return result;
}
