import type { HostAccess } from "./hostAccess";
import { auditCommand, statusCommand } from "../render/hostCommands";
import { runRemote } from "./ssh";
import { isObject } from "./configMap";
import type { AuditEntry } from "./promote";

/*
 * What the release CLI asks a stack's host, over SSH (the access the CLI resolved: the
 * stack's configured host, or with --rig the rig's):
 * `wepppy-deploy status` (one JSON object) and `wepppy-deploy audit -n N` (JSON lines).
 */

/** The host's status object, passed through as the host prints it. */
export async function readHostStatus(access: HostAccess): Promise<Record<string, unknown>> {
  const result = await runRemote(access.connection, statusCommand(access.layout));
  if (result.code !== 0) {
    throw new Error(`wepppy-deploy status failed on ${access.connection.host} (exit ${result.code}): ${result.stderr.trim().split("\n").slice(-3).join(" ")}`);
  }
  const line = result.stdout.trim().split("\n").filter(Boolean).pop() ?? "";
  let status: unknown;
  try {
    status = JSON.parse(line);
  } catch {
    throw new Error(`wepppy-deploy status on ${access.connection.host} did not print a JSON object: ${line.slice(0, 200)}`);
  }
  if (!isObject(status)) throw new Error(`wepppy-deploy status on ${access.connection.host} did not print a JSON object`);
  return { ...status, via: access.via };
}

/** Audit log lines; lines that are not JSON objects are skipped. */
export function parseAuditLines(text: string): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line);
      if (isObject(entry)) out.push(entry as AuditEntry);
    } catch {
      // a torn or foreign line: not evidence of anything
    }
  }
  return out;
}

export async function readAuditEntries(access: HostAccess, lines = 500): Promise<AuditEntry[]> {
  const result = await runRemote(access.connection, auditCommand(access.layout, lines));
  if (result.code !== 0) throw new Error(`wepppy-deploy audit failed on ${access.connection.host} (exit ${result.code})`);
  return parseAuditLines(result.stdout);
}

