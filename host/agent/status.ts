import type { HostLayout } from "../contract/layout";
import { ColourStatus, HostStatus } from "../contract/records";
import type { DeploySettings } from "../contract/settings";
import { COLOURS, Colour, majorityColour } from "../contract/traffic";
import { Agent } from "./agent";
import { readAudit } from "./audit";
import { isoTime } from "./clock";
import { listBackups } from "./backups";
import { containerOf } from "./docker";
import { projectContainers } from "./gates";
import { lockInfo } from "./lock";
import { readTraffic, trafficId } from "./markers";
import { readCurrent } from "./releases";
import { readRetire } from "./retire";
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
  const deploys = readAudit(layout, 500).filter((r) => r.action === "deploy" && r.result === "ok");
  const live = await serving(agent, layout, settings);
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
    lastBackup: backups[0] ?? null,
    lastDeploy: deploys.length > 0 ? deploys[deploys.length - 1] : null,
    bluegreen,
  };
}
