import * as fs from "node:fs";
import type { HostLayout } from "../contract/layout";
import { DrillRecord, EXIT } from "../contract/records";
import type { DeploySettings } from "../contract/settings";
import { Agent, CommandError } from "./agent";
import { audit } from "./audit";
import { verifyDump } from "./backups";
import { isoTime } from "./clock";
import { tail } from "./exec";
import { Say, serviceContainer } from "./gates";
import { serving } from "./truth";

/*
 * A restore drill (spec: Rollback & Safety; issue 13 item 7): reading a dump whole proves it
 * is readable, not that it restores. The dump is restored into a scratch database of its
 * own beside the live one, each table's rows are counted in both, and the newest timestamp
 * of any row in both; the scratch database is dropped whatever happens. Size, duration and
 * result are audited (action drill). It fails when the dump does not restore, a table of the
 * live database is missing from it, or it restores empty while the live database is not;
 * counts that differ are recorded (writes since the dump), not failed.
 */

/** One JSON object from Postgres itself: every table's exact count, and the newest timestamp/date in any column. */
export const STATS_SQL = `
SELECT json_build_object(
  'tables', COALESCE((
    SELECT json_object_agg(t.name, t.n ORDER BY t.name) FROM (
      SELECT format('%I.%I', n.nspname, c.relname) AS name,
             (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint AS n
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
    ) t), '{}'::json),
  'newest', (
    SELECT max((xpath('/row/m/text()', query_to_xml(format('SELECT max(%I)::timestamptz AS m FROM %I.%I', a.attname, n.nspname, c.relname), false, true, '')))[1]::text::timestamptz)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
      AND a.atttypid IN ('timestamp'::regtype, 'timestamptz'::regtype, 'date'::regtype)
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  )
)`;

const PSQL = 'psql -X -At -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "${DB:-$POSTGRES_DB}" -c "$SQL"';
const FRESH = 'dropdb -U "$POSTGRES_USER" --if-exists "$INTO" && createdb -U "$POSTGRES_USER" "$INTO"';
const RESTORE = 'pg_restore --no-owner --no-privileges -U "$POSTGRES_USER" -d "$INTO"';
const DROP = 'dropdb -U "$POSTGRES_USER" --if-exists "$INTO"';

export interface DbStats {
  tables: Record<string, number>;
  newest: string | null;
}

/** Reads what STATS_SQL prints; throws naming what is wrong. */
export function parseStats(text: string): DbStats {
  const line = text.trim().split("\n").pop() ?? "";
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`the table counts are not JSON: ${line.slice(0, 120)}`);
  }
  const o = v as { tables?: unknown; newest?: unknown };
  if (typeof o !== "object" || o === null || typeof o.tables !== "object" || o.tables === null || Array.isArray(o.tables)) throw new Error("the table counts have no tables");
  const tables: Record<string, number> = {};
  for (const [k, n] of Object.entries(o.tables as Record<string, unknown>)) {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) throw new Error(`the count of ${k} is not a whole number`);
    tables[k] = n;
  }
  const newest = typeof o.newest === "string" && !Number.isNaN(Date.parse(o.newest)) ? new Date(o.newest).toISOString().replace(/\.000Z$/, "Z") : null;
  return { tables, newest };
}

async function stats(agent: Agent, container: string, db?: string): Promise<DbStats> {
  const r = await agent.docker.exec(container, ["sh", "-c", PSQL], { env: { SQL: STATS_SQL, ...(db ? { DB: db } : {}) } });
  if (r.code !== 0) throw new Error(`counting the rows of ${db ?? "the live database"} failed: ${tail(r.stderr, 3)}`);
  return parseStats(r.stdout);
}

const sum = (t: Record<string, number>) => Object.values(t).reduce((a, b) => a + b, 0);

/** Compares the live database's counts with the restored ones: what a drill records and judges. */
export function compareStats(live: DbStats, restored: DbStats): Pick<DrillRecord, "tables" | "rows" | "differing" | "newest" | "equal"> & { problems: string[] } {
  const names = [...new Set([...Object.keys(live.tables), ...Object.keys(restored.tables)])].sort();
  const differing = names
    .filter((t) => live.tables[t] !== restored.tables[t])
    .map((t) => ({ table: t, live: live.tables[t] ?? null, restored: restored.tables[t] ?? null }));
  const problems: string[] = [];
  const missing = differing.filter((d) => d.restored === null).map((d) => d.table);
  if (missing.length > 0) problems.push(`${missing.length} table(s) of the live database are not in the dump: ${missing.slice(0, 5).join(", ")}`);
  if (sum(restored.tables) === 0 && sum(live.tables) > 0) problems.push(`the dump restored no rows; the live database has ${sum(live.tables)}`);
  return {
    tables: names.length,
    rows: { live: sum(live.tables), restored: sum(restored.tables) },
    differing: differing.slice(0, 20),
    newest: { live: live.newest, restored: restored.newest },
    equal: differing.length === 0,
    problems,
  };
}

function scratchName(ms: number): string {
  return `wepppy_drill_${isoTime(ms).replace(/[-:]/g, "").toLowerCase()}`;
}

/** `drill FILE`: restores the dump into a scratch database, compares, drops it; audited. */
export async function drill(agent: Agent, layout: HostLayout, settings: DeploySettings, file: string, say: Say): Promise<DrillRecord> {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new CommandError(`drill: no dump '${file}' (see: wepppy-deploy backups)`, EXIT.usage);
  }
  const startedMs = agent.clock.now();
  const scratch = scratchName(startedMs);
  const record: DrillRecord = {
    version: 1,
    file,
    bytes: st.size,
    dumpTime: isoTime(st.mtimeMs),
    started: isoTime(startedMs),
    finished: "",
    seconds: 0,
    scratch,
    result: "failed",
    tables: 0,
    rows: { live: 0, restored: 0 },
    differing: [],
    newest: { live: null, restored: null },
    equal: false,
  };
  const db = settings.dbService ? await serviceContainer(agent, settings, settings.dbService) : undefined;
  let reason: string | undefined;
  if (!db?.running) reason = `no running ${settings.dbService || "database"} container to restore into`;
  else {
    await say(`drill: reading ${file} whole`);
    reason = (await verifyDump(agent, settings, file)) ?? undefined;
    if (!reason) {
      const env = { INTO: scratch };
      try {
        await say(`drill: restoring ${file} (${st.size} bytes) into scratch database ${scratch}`);
        const fresh = await agent.docker.exec(db.id, ["sh", "-c", FRESH], { env });
        const restored = fresh.code === 0 ? await agent.docker.exec(db.id, ["sh", "-c", RESTORE], { env, stdinFile: file }) : fresh;
        if (restored.code !== 0) reason = `the dump does not restore: ${tail(restored.stderr, 3)}`;
        else {
          const cmp = compareStats(await stats(agent, db.id), await stats(agent, db.id, scratch));
          Object.assign(record, { tables: cmp.tables, rows: cmp.rows, differing: cmp.differing, newest: cmp.newest, equal: cmp.equal });
          if (cmp.problems.length > 0) reason = cmp.problems.join("; ");
        }
      } catch (err) {
        reason = (err as Error).message;
      } finally {
        const dropped = await agent.docker.exec(db.id, ["sh", "-c", DROP], { env });
        if (dropped.code !== 0) await say(`warning: could not drop the scratch database ${scratch}: ${tail(dropped.stderr, 2)}`);
      }
    }
  }
  const finishedMs = agent.clock.now();
  record.finished = isoTime(finishedMs);
  record.seconds = Math.round((finishedMs - startedMs) / 1000);
  record.result = reason ? "failed" : "passed";
  if (reason) record.reason = reason.slice(0, 500);
  const image = (await serving(agent, layout, settings)).liveImage;
  audit(agent, layout, settings.environment, {
    action: "drill",
    result: reason ? "failed" : "ok",
    image,
    startedMs,
    file,
    into: scratch,
    drill: record,
    ...(reason ? { reason: record.reason, gate: "drill" } : {}),
    note: reason
      ? `restore drill of ${file} failed`
      : `restore drill of ${file}: ${record.tables} tables, ${record.rows.restored} rows restored (live ${record.rows.live})${record.equal ? ", every count equal" : `, ${record.differing.length} table(s) differ`}`,
  });
  await say(reason ? `drill failed: ${reason}` : `drill passed: ${record.tables} tables, ${record.rows.restored} rows restored, live has ${record.rows.live}; newest row ${record.newest.restored ?? "-"} (live ${record.newest.live ?? "-"})`);
  return record;
}
