import type { HostLayout } from "../contract/layout";
import { AuditRecord, ReleaseRecord, digestOfRef } from "../contract/records";
import { Agent } from "./agent";
import { isoTime } from "./clock";
import { appendLine, lastLines } from "./files";

/*
 * The audit log: one JSON line per event (AuditRecord), appended with one write. A deploy
 * run writes exactly one record, its verdict, carrying its runId, so that recovery can tell
 * a run that recorded its verdict from one that died first.
 */

export type AuditFields = Omit<AuditRecord, "time" | "env" | "host" | "who" | "digest" | "release" | "seconds"> & {
  /** Who the record is for, when not the agent's caller (a run: its request's who). */
  who?: string;
  release?: ReleaseRecord | null;
  seconds?: number;
  startedMs?: number;
};

export function auditRecord(agent: Agent, env: string, f: AuditFields): AuditRecord {
  const { startedMs, release, seconds, who, ...rest } = f;
  const now = agent.clock.now();
  return {
    time: isoTime(now),
    env,
    host: agent.hostname,
    who: who ?? agent.who,
    ...rest,
    digest: digestOfRef(f.image),
    release: release ? { id: release.id, tag: release.tag ?? null, version: release.version ?? null } : null,
    seconds: seconds ?? (startedMs !== undefined ? Math.round((now - startedMs) / 1000) : 0),
  };
}

export function appendAudit(layout: HostLayout, record: AuditRecord): void {
  // One line whatever a reason quotes: JSON.stringify escapes every line break.
  appendLine(layout.auditLog, JSON.stringify(record));
}

export function audit(agent: Agent, layout: HostLayout, env: string, f: AuditFields): AuditRecord {
  const record = auditRecord(agent, env, f);
  appendAudit(layout, record);
  return record;
}

/** The last n records; torn or foreign lines are skipped (they are evidence of nothing). */
export function readAudit(layout: HostLayout, n: number): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (const line of lastLines(layout.auditLog, n)) {
    try {
      const r = JSON.parse(line);
      if (r && typeof r === "object" && typeof r.action === "string") out.push(r as AuditRecord);
    } catch {
      // not a record
    }
  }
  return out;
}

export function findRunRecord(layout: HostLayout, runId: string): AuditRecord | undefined {
  return readAudit(layout, 5000)
    .reverse()
    .find((r) => r.runId === runId);
}
