import * as fs from "node:fs";
import * as path from "node:path";
import type { DeploySettings } from "../contract/settings";
import { Agent } from "./agent";
import { isoTime } from "./clock";
import { tail } from "./exec";
import { Say, serviceContainer } from "./gates";

/*
 * Backups: pg_dump -Fc inside the Postgres container, written straight to a file on the
 * host, then verified by reading it whole (pg_restore into /dev/null reads every block;
 * --list reads only the table of contents and passes a truncated dump).
 */

export interface BackupFile {
  file: string;
  bytes: number;
  time: string;
}

export type BackupOutcome = { ok: true; backup: BackupFile | null; note?: string } | { ok: false; reason: string };

async function dbContainer(agent: Agent, settings: DeploySettings): Promise<string | undefined> {
  if (!settings.dbService) return undefined;
  const c = await serviceContainer(agent, settings, settings.dbService);
  return c?.running ? c.id : undefined;
}

export async function verifyDump(agent: Agent, settings: DeploySettings, file: string): Promise<string | null> {
  const c = await dbContainer(agent, settings);
  if (!c) return `no running ${settings.dbService || "database"} container to verify with`;
  let size = 0;
  try {
    size = fs.statSync(file).size;
  } catch {
    return `${file} does not exist`;
  }
  if (size === 0) return `${file} is empty`;
  const r = await agent.docker.exec(c, ["pg_restore", "-f", "/dev/null"], { stdinFile: file });
  return r.code === 0 ? null : `${file} does not read back whole: ${tail(r.stderr, 3)}`;
}

function stamp(ms: number): string {
  return isoTime(ms).replace(/[-:]/g, "");
}

export async function backup(agent: Agent, settings: DeploySettings, reason: string, say: Say): Promise<BackupOutcome> {
  const c = await dbContainer(agent, settings);
  if (!c) {
    if (reason === "pre-deploy") return { ok: true, backup: null, note: `no ${settings.dbService || "database"} container running yet: nothing to back up (first deploy)` };
    return { ok: false, reason: `no running ${settings.dbService || "database"} container` };
  }
  fs.mkdirSync(settings.backup.dir, { recursive: true, mode: 0o750 });
  const file = path.join(settings.backup.dir, `${reason}-${stamp(agent.clock.now())}.dump`);
  const partial = `${file}.partial`;
  await say(`backup: pg_dump -Fc to ${file}`);
  const dump = await agent.docker.exec(c, ["sh", "-c", 'pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Fc'], { stdoutFile: partial });
  if (dump.code !== 0) {
    fs.rmSync(partial, { force: true });
    return { ok: false, reason: `pg_dump failed: ${tail(dump.stderr, 3)}` };
  }
  const bad = await verifyDump(agent, settings, partial);
  if (bad) {
    fs.renameSync(partial, `${file}.unverified`);
    return { ok: false, reason: `the dump does not read back whole (kept as ${file}.unverified): ${bad}` };
  }
  fs.renameSync(partial, file);
  pruneBackups(settings, agent.clock.now());
  const bytes = fs.statSync(file).size;
  await say(`backup verified: ${file} (${bytes} bytes)`);
  return { ok: true, backup: { file, bytes, time: isoTime(agent.clock.now()) } };
}

/** Dumps, newest first. */
export function listBackups(settings: DeploySettings): BackupFile[] {
  let names: string[];
  try {
    names = fs.readdirSync(settings.backup.dir).filter((n) => n.endsWith(".dump"));
  } catch {
    return [];
  }
  return names
    .map((n) => {
      const file = path.join(settings.backup.dir, n);
      const st = fs.statSync(file);
      return { file, bytes: st.size, time: isoTime(st.mtimeMs), mtime: st.mtimeMs };
    })
    .sort((a, b) => b.mtime - a.mtime)
    .map(({ file, bytes, time }) => ({ file, bytes, time }));
}

/** Keeps the newest keepCount dumps and none older than keepDays. */
export function pruneBackups(settings: DeploySettings, now: number): string[] {
  const removed: string[] = [];
  const cutoff = now - settings.backup.keepDays * 86400_000;
  listBackups(settings).forEach((b, i) => {
    if (i >= settings.backup.keepCount || Date.parse(b.time) < cutoff) {
      fs.rmSync(b.file, { force: true });
      removed.push(b.file);
    }
  });
  return removed;
}
