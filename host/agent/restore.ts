import * as fs from "node:fs";
import type { HostLayout } from "../contract/layout";
import { EXIT } from "../contract/records";
import { DeploySettings, restoreStops } from "../contract/settings";
import { Agent, CommandError } from "./agent";
import { audit } from "./audit";
import { verifyDump } from "./backups";
import { tail } from "./exec";
import { serviceContainer } from "./gates";
import { acquireLock, releaseLock } from "./lock";
import { serving } from "./truth";

/*
 * A database restore: into the live database (the services that hold the Postgres password
 * stopped first, started again whatever happens), or into a scratch database (--into) to
 * look at a dump without touching the live one. The dump is read whole before anything
 * is dropped.
 */
export async function restore(agent: Agent, layout: HostLayout, settings: DeploySettings, file: string, into: string | undefined): Promise<string> {
  if (!fs.existsSync(file)) throw new CommandError(`restore: no dump '${file}' (see: wepppy-deploy backups)`, EXIT.usage);
  if (into !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(into)) throw new CommandError("restore: --into expects a database name ([a-z_][a-z0-9_]*)", EXIT.usage);
  const started = agent.clock.now();
  const image = (await serving(agent, layout, settings)).liveImage;
  const holder = await acquireLock(agent, layout, { action: "restore", waitSeconds: settings.lockWaitSeconds });
  const record = (result: "ok" | "failed", reason?: string, note?: string) =>
    audit(agent, layout, settings.environment, { action: "restore", result, image, file, ...(into ? { into } : {}), startedMs: started, ...(reason ? { reason } : {}), ...(note ? { note } : {}) });
  try {
    const bad = await verifyDump(agent, settings, file);
    if (bad) {
      record("failed", bad);
      throw new CommandError(bad);
    }
    const db = (await serviceContainer(agent, settings, settings.dbService))!;
    if (into) {
      const env = { INTO: into };
      const fresh = await agent.docker.exec(db.id, ["sh", "-c", 'dropdb -U "$POSTGRES_USER" --if-exists "$INTO" && createdb -U "$POSTGRES_USER" "$INTO"'], { env });
      const r = fresh.code === 0 ? await agent.docker.exec(db.id, ["sh", "-c", 'pg_restore --no-owner -U "$POSTGRES_USER" -d "$INTO"'], { env, stdinFile: file }) : fresh;
      if (r.code !== 0) {
        record("failed", `pg_restore into ${into} failed: ${tail(r.stderr, 3)}`);
        throw new CommandError(`pg_restore into ${into} failed: ${tail(r.stderr, 3)}`);
      }
      record("ok", undefined, `into scratch database ${into}`);
      return `restored ${file} into scratch database ${into}`;
    }
    const stop = restoreStops(settings);
    const compose = agent.compose(settings, layout.envFile);
    agent.out.say(`[wepppy-deploy] stopping ${stop.join(" ")} for the restore`);
    await compose.stop(stop, 30);
    const r = await agent.docker.exec(db.id, ["sh", "-c", 'pg_restore --clean --if-exists --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB"'], { stdinFile: file });
    await compose.start(stop);
    if (r.code !== 0) {
      record("failed", `pg_restore failed: ${tail(r.stderr, 3)}`, `services restarted on the database as it is: ${stop.join(" ")}`);
      throw new CommandError("pg_restore failed; services restarted on the database as it is");
    }
    record("ok", undefined, `restarted ${stop.join(" ")}`);
    return `restored ${file}`;
  } finally {
    releaseLock(layout, holder);
  }
}
