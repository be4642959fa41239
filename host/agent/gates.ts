import type { DeploySettings } from "../contract/settings";
import { Agent } from "./agent";
import { ContainerInfo, containerOf } from "./docker";
import * as fs from "node:fs";
import * as path from "node:path";
import { hostLayout } from "../contract/layout";
import { isoTime } from "./clock";

/*
 * The gates: the app container's own /health (Caddy answers /health itself, so a probe
 * through Caddy proves nothing about the app), Postgres' pg_isready and Redis' PING, each
 * run inside its container. Redis' password is read inside the container only
 * (REDISCLI_AUTH from its environment or its secret file), never passed in. One probe
 * function serves the gate, the analysis window and the warm check.
 */

export type Say = (message: string) => void | Promise<void>;

export interface GateFailure {
  gate: string;
  reason: string;
  /** Where the container's last log lines are kept on the host (never in the reason: they may quote secrets). */
  logFile?: string;
}

const HEALTH_TIMEOUT_MS = 8000;

/** One probe of the app's /health inside its container: "OK" or the JSON string "OK". */
export async function appHealthy(agent: Agent, container: string, port: number, maxSeconds = 5): Promise<boolean> {
  const r = await agent.docker.exec(container, ["curl", "-fsS", "--max-time", String(maxSeconds), `http://localhost:${port}/health`], {
    timeoutMs: HEALTH_TIMEOUT_MS,
  });
  if (r.code !== 0) return false;
  const body = r.stdout.replace(/[\r\n ]/g, "");
  return body === "OK" || body === '"OK"';
}

/** Polls the app until /health answers, the container exits, or the tries run out. */
export async function gateApp(agent: Agent, settings: DeploySettings, container: string, say: Say, tries = settings.health.tries): Promise<GateFailure | null> {
  let reason = "";
  for (let i = 1; i <= tries; i++) {
    const c = await agent.docker.inspect(container);
    const status = c?.status ?? "missing";
    if (status === "exited" || status === "dead" || status === "missing") {
      reason = `container ${container} ${status} after ${i} probe(s)`;
      break;
    }
    if (await appHealthy(agent, container, settings.app.port)) {
      await say(`app healthy (probe ${i} of ${tries})`);
      return null;
    }
    reason = `no "OK" from /health after ${i} probe(s), ${settings.health.intervalSeconds} s apart`;
    if (i < tries) {
      await say(`app not healthy yet (probe ${i} of ${tries})`);
      await agent.clock.sleep(settings.health.intervalSeconds * 1000);
    }
  }
  // The app's own log lines may quote secrets or users' data: they stay on the host, 0600,
  // and the reason (which reaches CI logs, the audit log and the webhook) says where.
  const dir = hostLayout(agent.root, settings.projectDir).logsDir;
  const file = path.join(dir, `gate-${isoTime(agent.clock.now()).replace(/[-:]/g, "")}-${container.slice(0, 12)}.log`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
  fs.writeFileSync(file, await agent.docker.logsTail(container, 200), { mode: 0o600 });
  return { gate: "app", reason: `${reason}; the app's last log lines are on the host in ${file}`, logFile: file };
}

const PG_READY = 'pg_isready -q -U "$POSTGRES_USER" -d "$POSTGRES_DB"';
const REDIS_PING = 'REDISCLI_AUTH="${REDIS_PASSWORD:-$(cat /run/secrets/redis_password 2>/dev/null)}" redis-cli -h 127.0.0.1 ping';

export async function postgresReady(agent: Agent, container: string): Promise<boolean> {
  return (await agent.docker.exec(container, ["sh", "-c", PG_READY], { timeoutMs: HEALTH_TIMEOUT_MS })).code === 0;
}

export async function redisAnswers(agent: Agent, container: string): Promise<boolean> {
  const r = await agent.docker.exec(container, ["sh", "-c", REDIS_PING], { timeoutMs: HEALTH_TIMEOUT_MS });
  return r.code === 0 && r.stdout.trim() === "PONG";
}

/** The project's containers, found by compose's labels. */
export function projectContainers(agent: Agent, settings: DeploySettings): Promise<ContainerInfo[]> {
  return agent.docker.containers(settings.compose.project);
}

export async function serviceContainer(agent: Agent, settings: DeploySettings, service: string): Promise<ContainerInfo | undefined> {
  return containerOf(await projectContainers(agent, settings), service);
}

/** Postgres and Redis, each polled up to `tries` times. */
export async function gateServices(agent: Agent, settings: DeploySettings, say: Say, tries = settings.health.tries): Promise<GateFailure | null> {
  const checks: Array<[string, string, (agent: Agent, c: string) => Promise<boolean>]> = [];
  if (settings.dbService) checks.push(["postgres", settings.dbService, postgresReady]);
  if (settings.redisService) checks.push(["redis", settings.redisService, redisAnswers]);
  for (const [gate, service, probe] of checks) {
    let ok = false;
    for (let i = 1; i <= tries && !ok; i++) {
      const c = await serviceContainer(agent, settings, service);
      ok = c !== undefined && c.running && (await probe(agent, c.id));
      if (!ok && i < tries) await agent.clock.sleep(settings.health.intervalSeconds * 1000);
    }
    if (!ok) return { gate, reason: `${gate} (${service}) not ready after ${tries} probe(s)` };
    await say(`${gate} (${service}) ok`);
  }
  return null;
}
