import type { HostLayout } from "../contract/layout";
import { evidenceSummary } from "../contract/evidence";
import { ColourStatus, HostStatus, digestOfRef } from "../contract/records";
import type { DeploySettings } from "../contract/settings";
import { COLOURS, Colour, majorityColour } from "../contract/traffic";
import { Agent } from "./agent";
import { readAudit } from "./audit";
import { isoTime } from "./clock";
import { listBackups } from "./backups";
import { containerOf } from "./docker";
import { appHealthy, projectContainers } from "./gates";
import { lockInfo } from "./lock";
import { readTraffic, trafficId } from "./markers";
import { readCurrent } from "./releases";
import { readRetire } from "./retire";
import { soakProgress } from "./soak";
import { listRuns, readCheckpoint, readVerdict } from "./run";
import { serving } from "./truth";

/** `status`: one HostStatus object (contract/records.ts), read from the host as it is. */
export async function hostStatus(agent: Agent, layout: HostLayout, settings: DeploySettings): Promise<HostStatus> {
  const lock = await lockInfo(agent, layout);
  const runs = listRuns(layout);
  let run: HostStatus["run"] = null;
  if (lock.state === "held" && lock.holder?.runId) {
    const cp = readCheckpoint(layout, lock.holder.runId);
    if (cp) run = { runId: cp.runId, requestId: cp.requestId, phase: cp.phase, startedAt: cp.startedAt };
  }
  let lastVerdict = null;
  for (let i = runs.length - 1; i >= 0 && !lastVerdict; i--) lastVerdict = readVerdict(layout, runs[i]) ?? null;
  const current = readCurrent(layout);
  const backups = listBackups(settings);
  const records = readAudit(layout, 5000);
  const deploys = records.filter((r) => r.action === "deploy" && r.result === "ok");
  const attempts = records.filter((r) => r.action === "deploy" || r.action === "rollback");
  const backupRecords = records.filter((r) => r.action === "backup");
  const live = await serving(agent, layout, settings);
  const liveDigest = digestOfRef(live.liveImage);
  const newestDump = backups[0];
  const dumpRecord = newestDump ? [...backupRecords].reverse().find((r) => r.file === newestDump.file) : undefined;
  // The app's own /health, inside the container that serves (Caddy answers /health itself).
  const appService = settings.bluegreen ? (live.live ? settings.bluegreen.services[live.live] : "") : settings.app.service;
  const appContainer = appService ? containerOf(await projectContainers(agent, settings), appService) : undefined;
  const appHealth: HostStatus["appHealth"] = appContainer
    ? { service: appService, container: appContainer.name, url: `http://localhost:${settings.app.port}/health`, ok: appContainer.running && (await appHealthy(agent, appContainer.id, settings.app.port, 5)) }
    : null;
  const soak = soakProgress(layout);
  const running =
    soak && soak.digest === liveDigest
      ? { verdict: "running" as const, started: soak.started, finished: null, observedSeconds: soak.observedSeconds, plannedSeconds: soak.plannedSeconds, requests: soak.requests, errors: soak.errors, errorPercent: soak.requests ? Math.round(((soak.errors ?? 0) * 10000) / soak.requests) / 100 : null, appErrorsAdded: soak.appErrorsAdded, reasons: soak.unhealthy.map((s) => `${s} seen down or unhealthy`) }
      : null;
  let bluegreen: HostStatus["bluegreen"] = null;
  const bg = settings.bluegreen;
  if (bg) {
    const all = await projectContainers(agent, settings);
    const colour = (c: Colour): ColourStatus => {
      const info = containerOf(all, bg.services[c]);
      return { service: bg.services[c], image: info?.image ?? "", running: info?.running ?? false, health: info ? info.health : "missing" };
    };
    const state = readTraffic(bg.markerDir);
    const retireAt: Partial<Record<Colour, string>> = {};
    for (const c of COLOURS) {
      const t = readRetire(layout, c);
      if (t) retireAt[c] = t.at;
    }
    bluegreen = {
      traffic: trafficId(state),
      live: state ? majorityColour(state) : null,
      colours: { blue: colour("blue"), green: colour("green") },
      warmSeconds: bg.warmSeconds,
      retireAt,
    };
  }
  return {
    env: settings.environment,
    host: agent.hostname,
    time: isoTime(agent.clock.now()),
    liveImage: live.liveImage,
    current: current ? { releaseKey: current.releaseKey, image: current.image, release: current.release, since: current.since } : null,
    lock: { state: lock.state, holder: lock.holder },
    run,
    lastVerdict,
    lastBackup: newestDump ? { ...newestDump, verified: dumpRecord ? dumpRecord.result === "ok" : null } : null,
    lastBackupAttempt: backupRecords.length > 0 ? backupRecords[backupRecords.length - 1] : null,
    lastDeploy: deploys.length > 0 ? deploys[deploys.length - 1] : null,
    lastAttempt: attempts.length > 0 ? attempts[attempts.length - 1] : null,
    liveDigest,
    appHealth,
    soak,
    evidence: evidenceSummary(records, liveDigest, running),
    bluegreen,
  };
}
