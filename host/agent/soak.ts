import * as crypto from "node:crypto";
import * as fs from "node:fs";
import type { HostLayout } from "../contract/layout";
import { SoakProgress, SoakRecord, SoakVerdict, digestOfRef } from "../contract/records";
import type { DeploySettings } from "../contract/settings";
import { otherColour } from "../contract/traffic";
import { Agent } from "./agent";
import { LogSource, logSize, readLog } from "./analysis";
import { audit } from "./audit";
import { isoTime } from "./clock";
import { containerOf } from "./docker";
import { readJsonFile, writeJsonAtomic } from "./files";
import { appHealthy, postgresReady, projectContainers, redisAnswers } from "./gates";
import { serving } from "./truth";

/*
 * The soak after a deploy (spec: Test Production, 24 h monitored for errors): for
 * soak.seconds the host samples, every intervalSeconds, the 5xx share of Caddy's JSON access
 * log (read from the offset reached, as the analysis window does), the app's error keys in
 * Redis (*:error:*, counted with redis-cli --scan in every database that has keys) and the
 * health of every service that ran when the soak began. The samples live in a state file;
 * the sampling is a detached agent run (a container of its own, as a retire is), so that it
 * outlives the SSH session that deployed. A reboot loses the run, not the state: recover
 * re-arms it, and the time the host was down is not counted as observed. It ends with one
 * soak record (a verdict); a newer deploy ends a running soak as interrupted.
 */

export const ERROR_PATTERN = "*:error:*";

export interface SoakState {
  version: 1;
  token: string;
  runId: string | null;
  image: string;
  digest: string;
  startedMs: number;
  endsMs: number;
  intervalSeconds: number;
  limits: SoakRecord["limits"];
  accessLog: LogSource | null;
  /** The byte offset read up to; null until the log exists. */
  logOffset: number | null;
  logSeen: boolean;
  requests: number;
  errors: number;
  errorKeys: { atStart: number | null; max: number | null };
  /** The services that ran when the soak began (the live colour's, not the one retiring). */
  services: string[];
  health: Record<string, { samples: number; bad: number }>;
  samples: number;
  lastSampleMs: number | null;
  /** When the last sample's checks were done (absent in a state file from before it was kept). */
  lastSampleEndMs?: number | null;
  /**
   * Time not observed: a wait from one sample's end to the next's start longer than two
   * intervals (the host or the run was down). A sample's own docker calls are observation.
   */
  gapMs: number;
}

export function readSoakState(layout: HostLayout): SoakState | undefined {
  try {
    const v = readJsonFile(layout.soakState) as SoakState | undefined;
    return v && v.version === 1 && typeof v.token === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

export function soakContainerName(settings: DeploySettings): string {
  return `${settings.compose.project}-soak`;
}

// Redis' password is read inside its container only (as the gate's ping does), never passed in.
const ERROR_KEYS = [
  'REDISCLI_AUTH="${REDIS_PASSWORD:-$(cat /run/secrets/redis_password 2>/dev/null)}"; export REDISCLI_AUTH',
  '[ "$(redis-cli -h 127.0.0.1 ping)" = PONG ] || exit 1',
  "dbs=$(redis-cli -h 127.0.0.1 info keyspace | grep -o '^db[0-9]*' | tr -d 'db')",
  'for db in $dbs; do echo "$db $(redis-cli -h 127.0.0.1 -n "$db" --scan --pattern "$PATTERN" | wc -l)"; done',
  "echo end",
].join("\n");

/** Keys matching the pattern across Redis' databases; null when Redis cannot be asked. */
export async function countErrorKeys(agent: Agent, settings: DeploySettings): Promise<number | null> {
  if (!settings.redisService) return null;
  const c = containerOf(await projectContainers(agent, settings), settings.redisService);
  if (!c?.running) return null;
  const r = await agent.docker.exec(c.id, ["sh", "-c", ERROR_KEYS], { env: { PATTERN: ERROR_PATTERN }, timeoutMs: 60_000 });
  const lines = r.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
  if (r.code !== 0 || lines[lines.length - 1] !== "end") return null;
  let total = 0;
  for (const line of lines.slice(0, -1)) {
    const m = /^(\d+) (\d+)$/.exec(line);
    if (!m) return null;
    total += Number(m[2]);
  }
  return total;
}

/** The services a soak watches: what runs now, without the colour that is not serving (it retires). */
async function watchedServices(agent: Agent, layout: HostLayout, settings: DeploySettings): Promise<string[]> {
  const all = await projectContainers(agent, settings);
  const live = await serving(agent, layout, settings);
  const skip = settings.bluegreen && live.live ? settings.bluegreen.services[otherColour(live.live)] : undefined;
  return [...new Set(all.filter((c) => c.running && c.service && c.service !== skip).map((c) => c.service))].sort();
}

function appServiceOf(settings: DeploySettings, services: string[]): string | undefined {
  if (!settings.bluegreen) return settings.app.service;
  return services.find((s) => s === settings.bluegreen!.services.blue || s === settings.bluegreen!.services.green);
}

/** One sample: the log since the last, the error keys, each watched service's health. */
async function sample(agent: Agent, settings: DeploySettings, state: SoakState): Promise<void> {
  const now = agent.clock.now();
  const previous = state.lastSampleEndMs ?? state.lastSampleMs ?? state.startedMs;
  if (now - previous > 2 * state.intervalSeconds * 1000) state.gapMs += now - previous - state.intervalSeconds * 1000;
  if (state.accessLog) {
    const read = await readLog(agent, settings, state.accessLog, state.logOffset ?? 0);
    const size = await logSize(agent, settings, state.accessLog);
    if (read && size !== null) {
      state.logSeen = true;
      state.requests += read.counts.requests;
      state.errors += read.counts.errors;
      state.logOffset = read.next;
    }
  }
  const keys = await countErrorKeys(agent, settings);
  if (keys !== null) {
    if (state.errorKeys.atStart === null) state.errorKeys.atStart = keys;
    state.errorKeys.max = Math.max(state.errorKeys.max ?? keys, keys);
  }
  const all = await projectContainers(agent, settings);
  const app = appServiceOf(settings, state.services);
  for (const service of state.services) {
    const c = containerOf(all, service);
    let ok = c !== undefined && c.running && c.health !== "unhealthy";
    if (ok && service === app) ok = await appHealthy(agent, c!.id, settings.app.port, 5);
    if (ok && service === settings.dbService) ok = await postgresReady(agent, c!.id);
    if (ok && service === settings.redisService) ok = await redisAnswers(agent, c!.id);
    const h = (state.health[service] ??= { samples: 0, bad: 0 });
    h.samples++;
    if (!ok) h.bad++;
  }
  state.samples++;
  state.lastSampleMs = now;
  state.lastSampleEndMs = agent.clock.now();
}

function observedSeconds(state: SoakState): number {
  return state.lastSampleMs === null ? 0 : Math.max(0, Math.round((state.lastSampleMs - state.startedMs - state.gapMs) / 1000));
}

/** The verdict on what a soak saw, with the limits it was started with. */
export function soakRecordOf(state: SoakState, nowMs: number, interrupted?: string): SoakRecord {
  const planned = Math.round((state.endsMs - state.startedMs) / 1000);
  const observed = observedSeconds(state);
  const complete = !interrupted && observed + state.intervalSeconds >= planned;
  const requests = state.logSeen ? state.requests : null;
  const errors = state.logSeen ? state.errors : null;
  const errorPercent = requests !== null && errors !== null && requests > 0 ? Math.round((errors * 10000) / requests) / 100 : requests === 0 ? 0 : null;
  const added = state.errorKeys.atStart !== null && state.errorKeys.max !== null ? state.errorKeys.max - state.errorKeys.atStart : null;
  const reasons: string[] = [];
  if (interrupted) reasons.push(interrupted);
  else if (!complete) reasons.push(`observed ${observed} s of ${planned} s (the host or the soak was down ${Math.round(state.gapMs / 1000)} s)`);
  if (!state.accessLog) reasons.push("no 5xx share measured: this stack's Caddy keeps no access log");
  else if (!state.logSeen) reasons.push(`no 5xx share measured: ${state.accessLog.path} never appeared in ${state.accessLog.service} (restart it so that it loads the Caddyfile with the access log)`);
  else if (requests !== null && errors !== null && requests >= state.limits.minRequests && errors * 100 > state.limits.maxErrorPercent * requests) {
    reasons.push(`${errors} of ${requests} requests answered 5xx (${errorPercent} %, over ${state.limits.maxErrorPercent} %)`);
  }
  if (added === null) reasons.push(`the ${ERROR_PATTERN} keys in Redis could not be counted`);
  else if (added > state.limits.maxAppErrors) reasons.push(`${added} new ${ERROR_PATTERN} keys in Redis (over ${state.limits.maxAppErrors})`);
  for (const [service, h] of Object.entries(state.health)) if (h.bad > 0) reasons.push(`${service} down or unhealthy in ${h.bad} of ${h.samples} samples`);
  if (state.samples === 0 && !interrupted) reasons.push("no sample was taken");
  const verdict: SoakVerdict = interrupted ? "interrupted" : reasons.length === 0 ? "passed" : "failed";
  return {
    version: 1,
    image: state.image,
    digest: state.digest,
    runId: state.runId,
    started: isoTime(state.startedMs),
    finished: isoTime(nowMs),
    plannedSeconds: planned,
    observedSeconds: observed,
    complete,
    samples: state.samples,
    requests,
    errors,
    errorPercent,
    appErrors: { pattern: ERROR_PATTERN, atStart: state.errorKeys.atStart, max: state.errorKeys.max, added },
    health: Object.entries(state.health).map(([service, h]) => ({ service, samples: h.samples, bad: h.bad })),
    limits: state.limits,
    verdict,
    reasons,
  };
}

function recordSoak(agent: Agent, layout: HostLayout, settings: DeploySettings, state: SoakState, record: SoakRecord, note: string): void {
  audit(agent, layout, settings.environment, {
    action: "soak",
    result: record.verdict === "passed" ? "ok" : record.verdict === "failed" ? "failed" : "interrupted",
    image: state.image,
    startedMs: state.startedMs,
    ...(state.runId ? { runId: state.runId } : {}),
    soak: record,
    ...(record.reasons.length > 0 ? { reason: record.reasons.join("; ").slice(0, 1000), gate: "soak" } : {}),
    note,
  });
}

/** Ends a soak that is running, recorded as interrupted (a newer release replaced what it watched). */
export function interruptSoak(agent: Agent, layout: HostLayout, settings: DeploySettings, why: string): SoakRecord | undefined {
  const state = readSoakState(layout);
  if (!state) return undefined;
  const record = soakRecordOf(state, agent.clock.now(), why);
  fs.rmSync(layout.soakState, { force: true });
  recordSoak(agent, layout, settings, state, record, `soak of ${state.image} interrupted: ${why}`);
  return record;
}

/** Starts the soak of what is live now (after a deploy that changed it): a baseline, the state file, a detached sampler. */
export async function startSoak(agent: Agent, layout: HostLayout, settings: DeploySettings, image: string, runId: string | null): Promise<SoakState | undefined> {
  if (settings.soak.seconds === 0 || !image) return undefined;
  interruptSoak(agent, layout, settings, `a newer release (${image}${runId ? `, run ${runId}` : ""}) went live before it ended`);
  const now = agent.clock.now();
  const accessLog = settings.soak.accessLog;
  const size = accessLog ? await logSize(agent, settings, accessLog) : null;
  const services = await watchedServices(agent, layout, settings);
  const state: SoakState = {
    version: 1,
    token: crypto.randomBytes(8).toString("hex"),
    runId,
    image,
    digest: digestOfRef(image),
    startedMs: now,
    endsMs: now + settings.soak.seconds * 1000,
    intervalSeconds: settings.soak.intervalSeconds,
    limits: { maxErrorPercent: settings.soak.maxErrorPercent, minRequests: settings.soak.minRequests, maxAppErrors: settings.soak.maxAppErrors },
    accessLog,
    logOffset: size,
    logSeen: size !== null,
    requests: 0,
    errors: 0,
    errorKeys: { atStart: await countErrorKeys(agent, settings), max: null },
    services,
    health: {},
    samples: 0,
    lastSampleMs: null,
    lastSampleEndMs: null,
    gapMs: 0,
  };
  state.errorKeys.max = state.errorKeys.atStart;
  writeJsonAtomic(layout.soakState, state);
  await armSoak(agent, settings, state);
  return state;
}

export async function armSoak(agent: Agent, settings: DeploySettings, state: SoakState): Promise<void> {
  const name = soakContainerName(settings);
  await agent.docker.remove(name);
  await agent.launcher.detach(name, ["soak", state.token]);
}

/** Re-arms a soak whose sampler is not running (after a reboot); "running" when it is. */
export async function rearmSoak(agent: Agent, layout: HostLayout, settings: DeploySettings): Promise<string | undefined> {
  const state = readSoakState(layout);
  if (!state) return undefined;
  if ((await agent.docker.inspect(soakContainerName(settings)))?.running) return `soak of ${state.image} running until ${isoTime(state.endsMs)}`;
  await armSoak(agent, settings, state);
  return `soak of ${state.image} re-armed until ${isoTime(state.endsMs)}`;
}

/**
 * `soak TOKEN` (the detached sampler): a sample as soon as it starts (so that the time its
 * container took to start is observed, and a reboot's is not), one every interval after,
 * until the end; then the verdict.
 */
export async function runSoak(agent: Agent, layout: HostLayout, settings: DeploySettings, token: string): Promise<string> {
  for (let first = true; ; first = false) {
    const state = readSoakState(layout);
    if (state?.token !== token) return "superseded";
    const now = agent.clock.now();
    if (state.lastSampleMs !== null && now >= state.endsMs) break;
    if (!first) await agent.clock.sleep(Math.max(0, Math.min(state.intervalSeconds * 1000, state.endsMs - now)));
    const fresh = readSoakState(layout);
    if (fresh?.token !== token) return "superseded";
    await sample(agent, settings, fresh);
    if (readSoakState(layout)?.token !== token) return "superseded";
    writeJsonAtomic(layout.soakState, fresh);
  }
  const state = readSoakState(layout)!;
  const record = soakRecordOf(state, agent.clock.now());
  fs.rmSync(layout.soakState, { force: true });
  recordSoak(agent, layout, settings, state, record, `soak of ${state.image}: ${record.verdict} after ${record.observedSeconds} s, ${record.samples} samples`);
  return `soak ${record.verdict}${record.reasons.length ? `: ${record.reasons.join("; ")}` : ""}`;
}

/** A running soak, as status shows it. */
export function soakProgress(layout: HostLayout): SoakProgress | null {
  const s = readSoakState(layout);
  if (!s) return null;
  return {
    image: s.image,
    digest: s.digest,
    runId: s.runId,
    started: isoTime(s.startedMs),
    ends: isoTime(s.endsMs),
    observedSeconds: observedSeconds(s),
    plannedSeconds: Math.round((s.endsMs - s.startedMs) / 1000),
    samples: s.samples,
    requests: s.logSeen ? s.requests : null,
    errors: s.logSeen ? s.errors : null,
    appErrorsAdded: s.errorKeys.atStart !== null && s.errorKeys.max !== null ? s.errorKeys.max - s.errorKeys.atStart : null,
    unhealthy: Object.entries(s.health).filter(([, h]) => h.bad > 0).map(([service]) => service),
  };
}
