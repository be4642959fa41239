import { sshRun } from "../../rig";
import type { AuditRecord } from "../../host/contract/records";
import { hostLayout } from "../../host/contract/layout";

/*
 * What rig jobs set for themselves where the stack files say hours (WEPPPY_RIG_SET, read by
 * rigStack.ts): prod judges a release, and each of its canary steps, in seconds; testprod
 * soaks a release for 18 s with its test-support API on (the create-run suite needs it), and
 * prod's promote requires that soak. The rig pipeline and the rig tests use the same values,
 * so what one proves the other runs.
 */
export const RIG_SOAK_HOURS = 0.005;

export const RIG_JOB_SETTINGS = {
  testprod: { "features.TEST_SUPPORT_ENABLED": true, "promotion.soakHours": RIG_SOAK_HOURS, "promotion.soakIntervalSeconds": 3 },
  prod: { "bluegreen.analysis.seconds": 3, "bluegreen.analysis.stepSeconds": 3, "bluegreen.warmSeconds": 3600, "health.intervalSeconds": 2, "promotion.soakHours": RIG_SOAK_HOURS },
} as const;

/** The WEPPPY_RIG_SET value for a job on `stack`. */
export function rigJobSettings(stack: keyof typeof RIG_JOB_SETTINGS): string {
  return JSON.stringify({ [stack]: RIG_JOB_SETTINGS[stack] });
}

/** A rig host's newest audit records, parsed (the host's `wepppy-deploy audit`). */
/** The agent's entry point on a rig host (the stacks' default host root). */
export const RIG_AGENT_SCRIPT = hostLayout("/opt/wepppy-cicd", "/opt/wepppy").script;

export async function rigAudit(host: string, n = 50): Promise<AuditRecord[]> {
  const r = await sshRun(host, ["bash", RIG_AGENT_SCRIPT, "audit", "-n", String(n)]);
  return r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
}

/**
 * Waits for testprod's soak verdict on `digest` (a promotion waits for it, as the person
 * approving one would). Undefined when none came within `seconds`.
 */
export async function waitForSoak(digest: string, seconds = 180): Promise<AuditRecord | undefined> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const record = (await rigAudit("forest1")).reverse().find((e) => e.action === "soak" && e.digest === digest);
    if (record) return record;
    await new Promise((r) => setTimeout(r, 3000));
  }
  return undefined;
}
