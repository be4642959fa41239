import type { DeploySettings } from "../contract/settings";
import type { Colour } from "../contract/traffic";
import { Agent } from "./agent";
import { containerOf } from "./docker";
import { GateFailure, Say, appHealthy, postgresReady, projectContainers, redisAnswers } from "./gates";

/*
 * The analysis window after a switch: the 5xx share of what Caddy served since the switch,
 * read from its JSON access log every interval (inside the Caddy container, where the log
 * is readable; parsed here as JSON, one record per line, from the byte offset reached so
 * far), and the colour's own /health, Postgres, Redis and Caddy every few seconds (a docker
 * exec each). At a canary step only `share` % of requests reach the new colour, so the
 * log's share is scaled by 100/share (the old colour is known good).
 */

const SERVICE_CHECK_EVERY_MS = 5000;

// The size, or "missing" when Caddy has not written the log (yet).
const SIZE = '[ -f "$LOG" ] && wc -c < "$LOG" || echo missing';
// The size first, then the bytes from FROM (from 0 when the file is smaller: it rolled over).
const READ = '[ -f "$LOG" ] || { echo 0; exit 0; }; n=$(wc -c < "$LOG"); echo "$n"; [ "$n" -lt "$FROM" ] && FROM=0; tail -c +"$((FROM + 1))" "$LOG" | head -c "$((n - FROM))"';

export interface LogCounts {
  requests: number;
  errors: number;
}

/** Where Caddy's JSON access log is: its service, and the file inside that container. */
export interface LogSource {
  service: string;
  path: string;
}

function blueGreenLog(settings: DeploySettings): LogSource {
  return { service: settings.bluegreen!.caddyService, path: settings.bluegreen!.accessLog };
}

async function logContainer(agent: Agent, settings: DeploySettings, source: LogSource): Promise<string | undefined> {
  const c = containerOf(await projectContainers(agent, settings), source.service);
  return c?.running ? c.id : undefined;
}

/** The log's size in bytes; null when Caddy is not running or has no such file. */
export async function logSize(agent: Agent, settings: DeploySettings, source: LogSource): Promise<number | null> {
  const c = await logContainer(agent, settings, source);
  if (!c) return null;
  const r = await agent.docker.exec(c, ["sh", "-c", SIZE], { env: { LOG: source.path } });
  const n = Number(r.stdout.trim());
  return r.code === 0 && r.stdout.trim() !== "" && Number.isFinite(n) ? n : null;
}

export async function accessLogSize(agent: Agent, settings: DeploySettings): Promise<number> {
  return (await logSize(agent, settings, blueGreenLog(settings))) ?? 0;
}

/** Counts requests and 5xx answers in complete log lines; returns the byte offset after the last one read. */
export function countLines(text: string, from: number): { counts: LogCounts; next: number } {
  const end = text.lastIndexOf("\n");
  if (end < 0) return { counts: { requests: 0, errors: 0 }, next: from };
  const complete = text.slice(0, end + 1);
  let requests = 0;
  let errors = 0;
  for (const line of complete.split("\n")) {
    if (!line.trim()) continue;
    let status: unknown;
    try {
      status = (JSON.parse(line) as { status?: unknown }).status;
    } catch {
      continue;
    }
    if (typeof status !== "number") continue;
    requests++;
    if (status >= 500 && status <= 599) errors++;
  }
  return { counts: { requests, errors }, next: from + Buffer.byteLength(complete, "utf8") };
}

/** Reads a log from `from`; null when Caddy is not running. */
export async function readLog(agent: Agent, settings: DeploySettings, source: LogSource, from: number): Promise<{ counts: LogCounts; next: number } | null> {
  const c = await logContainer(agent, settings, source);
  if (!c) return null;
  const r = await agent.docker.exec(c, ["sh", "-c", READ], { env: { LOG: source.path, FROM: String(from) } });
  if (r.code !== 0) return { counts: { requests: 0, errors: 0 }, next: from };
  const nl = r.stdout.indexOf("\n");
  const size = Number(nl < 0 ? r.stdout.trim() : r.stdout.slice(0, nl));
  const start = Number.isFinite(size) && size < from ? 0 : from;
  return countLines(nl < 0 ? "" : r.stdout.slice(nl + 1), start);
}

/** Reads blue/green's access log from `from`; null when Caddy is not running. */
export async function readAccessLog(agent: Agent, settings: DeploySettings, from: number): Promise<{ counts: LogCounts; next: number } | null> {
  return readLog(agent, settings, blueGreenLog(settings), from);
}

/** Is the new colour's share of 5xx over the limit? */
export function overErrorLimit(settings: DeploySettings, seen: LogCounts, share: number): boolean {
  const a = settings.bluegreen!.analysis;
  return seen.requests >= a.minRequests && seen.errors * 100 * 100 > a.maxErrorPercent * seen.requests * share;
}

async function serviceChecks(agent: Agent, settings: DeploySettings, colour: Colour): Promise<GateFailure | null> {
  const bg = settings.bluegreen!;
  const all = await projectContainers(agent, settings);
  const app = containerOf(all, bg.services[colour]);
  if (!app?.running) return { gate: "app", reason: `${bg.services[colour]} is not running` };
  if (!(await appHealthy(agent, app.id, settings.app.port, 3))) return { gate: "app", reason: `/health failing on ${colour}` };
  if (settings.dbService) {
    const db = containerOf(all, settings.dbService);
    if (!db?.running || !(await postgresReady(agent, db.id))) return { gate: "postgres", reason: `postgres (${settings.dbService}) not ready` };
  }
  if (settings.redisService) {
    const redis = containerOf(all, settings.redisService);
    if (!redis?.running || !(await redisAnswers(agent, redis.id))) return { gate: "redis", reason: `redis (${settings.redisService}) not answering` };
  }
  if (!containerOf(all, bg.caddyService)?.running) return { gate: "caddy", reason: `${bg.caddyService} is down` };
  return null;
}

export interface AnalysisResult {
  failure: GateFailure | null;
  seen: LogCounts;
}

export async function analyse(agent: Agent, settings: DeploySettings, colour: Colour, seconds: number, offset: number, share: number, say: Say): Promise<AnalysisResult> {
  const a = settings.bluegreen!.analysis;
  const seen: LogCounts = { requests: 0, errors: 0 };
  await say(`analysis: watching ${colour} for ${seconds} s at ${share} % of traffic (5xx over ${a.maxErrorPercent} % of at least ${a.minRequests} requests, health, postgres, redis, caddy)`);
  const end = agent.clock.now() + seconds * 1000;
  let nextChecks = 0;
  let from = offset;
  for (;;) {
    // The last wait ends with the window: the checks below take time of their own, and a full
    // interval after them would hold the release past its window.
    await agent.clock.sleep(Math.max(0, Math.min(a.intervalSeconds * 1000, end - agent.clock.now())));
    const read = await readAccessLog(agent, settings, from);
    if (read) {
      seen.requests += read.counts.requests;
      seen.errors += read.counts.errors;
      from = read.next;
    }
    if (overErrorLimit(settings, seen, share)) {
      return {
        failure: { gate: "analysis", reason: `${seen.errors} of ${seen.requests} requests answered 5xx since the switch (at ${share} % of traffic: over ${a.maxErrorPercent} % of the new colour's)` },
        seen,
      };
    }
    if (agent.clock.now() >= nextChecks) {
      const failure = await serviceChecks(agent, settings, colour);
      if (failure) return { failure, seen };
      nextChecks = agent.clock.now() + SERVICE_CHECK_EVERY_MS;
    }
    if (agent.clock.now() >= end) break;
  }
  await say(`analysis passed: ${seen.requests} requests, ${seen.errors} 5xx`);
  return { failure: null, seen };
}
