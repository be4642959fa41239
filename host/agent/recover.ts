import * as fs from "node:fs";
import * as path from "node:path";
import { HostLayout, hostLayout } from "../contract/layout";
import { AuditRecord, DeployVerdict } from "../contract/records";
import { COLOURS } from "../contract/traffic";
import { Agent } from "./agent";
import { findRunRecord } from "./audit";
import { readTextFile, writeJsonAtomic } from "./files";
import { finish } from "./finish";
import { describeHolder, lockInfo, readHolder, releaseLock, removeLock } from "./lock";
import { StagedRelease, loadRelease, readCurrent } from "./releases";
import { armRetire, readRetire } from "./retire";
import { rearmSoak } from "./soak";
import { listRuns, readCheckpoint, readStoredRequest, readVerdict, runPaths } from "./run";
import { buildVerdict, recordVerdict } from "./runner";
import { serving } from "./truth";
import { liveSettings, undo } from "./undo";
import type { DeploySettings } from "../contract/settings";
import { readDeploySettingsText } from "../contract/settings";

/*
 * A run whose process died (kill -9, dockerd or host restart) before its verdict: found by
 * the next invocation, by a client attached to it, or by `recover` at boot. A run that was
 * judged is finished (it is live and verified); any other is undone (traffic back if it
 * died between switch and verdict, the failed colour stopped, the live release's files
 * back) and recorded once as `interrupted`; then the lock is released.
 */

function verdictFromRecord(runId: string, requestId: string, r: AuditRecord): DeployVerdict {
  return {
    version: 1,
    runId,
    requestId,
    action: r.action === "rollback" ? "rollback" : "deploy",
    result: r.result === "ok" || r.result === "failed" || r.result === "refused" ? r.result : "interrupted",
    ok: r.result === "ok",
    image: r.image,
    release: r.release ? { id: r.release.id ?? "", ...(r.release.tag ? { tag: r.release.tag } : {}), ...(r.release.version ? { version: r.release.version } : {}) } : null,
    releaseKey: r.releaseKey ?? null,
    live: r.live ?? null,
    images: r.images ?? null,
    liveImage: r.live && r.images ? r.images[r.live] : r.image,
    ...(r.phase ? { phase: r.phase } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
    message: r.note ?? r.reason ?? r.result,
    recreated: r.recreated ?? [],
    seconds: r.seconds,
    finishedAt: r.time,
  };
}

function settingsFor(root: string, release: StagedRelease | undefined): DeploySettings | undefined {
  if (release) return release.settings;
  const text = readTextFile(hostLayout(root, "/").settings);
  try {
    return text ? readDeploySettingsText(text) : undefined;
  } catch {
    return undefined;
  }
}

/** The run's verdict once recovered; null for a run that died before it had written its request (it changed nothing). */
export async function recoverRun(agent: Agent, rootLayout: HostLayout, runId: string): Promise<DeployVerdict | null> {
  const stored = readStoredRequest(rootLayout, runId);
  const done = readVerdict(rootLayout, runId);
  if (done || !stored) {
    releaseLock(rootLayout, { runId });
    return done ?? null;
  }
  // One recoverer at a time (a boot's recover and a reconnecting client may find the same dead run).
  const claim = await claimRecovery(agent, rootLayout, runId);
  if (!claim) return readVerdict(rootLayout, runId) ?? null;
  try {
    return await recoverClaimed(agent, rootLayout, runId, stored);
  } finally {
    fs.rmSync(claim, { recursive: true, force: true });
  }
}

/** The run's recovery claim (a directory, made atomically), or null once another recoverer finished it. */
async function claimRecovery(agent: Agent, layout: HostLayout, runId: string): Promise<string | null> {
  const claim = path.join(runPaths(layout, runId).dir, "recovering");
  for (let waited = 0; ; waited++) {
    try {
      fs.mkdirSync(claim);
      fs.writeFileSync(path.join(claim, "holder"), JSON.stringify({ pid: agent.pid, start: agent.processes.startOf(agent.pid), bootId: agent.processes.bootId() }));
      return claim;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    if (readVerdict(layout, runId)) return null;
    let other: { pid?: number; start?: number; bootId?: string } = {};
    try {
      other = JSON.parse(fs.readFileSync(path.join(claim, "holder"), "utf8"));
    } catch {
      // being written this very moment
    }
    const alive = other.bootId === agent.processes.bootId() && other.pid !== undefined && agent.processes.startOf(other.pid) === other.start;
    if ((!alive && waited > 2) || waited > 600) fs.rmSync(claim, { recursive: true, force: true });
    await agent.clock.sleep(500);
  }
}

async function recoverClaimed(agent: Agent, rootLayout: HostLayout, runId: string, stored: NonNullable<ReturnType<typeof readStoredRequest>>): Promise<DeployVerdict> {
  const done = readVerdict(rootLayout, runId);
  if (done) {
    releaseLock(rootLayout, { runId });
    return done;
  }
  // A judged blue/green run is audited before it converges: its record says nothing about whether it finished.
  const recorded = fs.existsSync(runPaths(rootLayout, runId).judged) ? undefined : findRunRecord(rootLayout, runId);
  if (recorded) {
    const v = verdictFromRecord(runId, stored.requestId, recorded);
    writeJsonAtomic(runPaths(rootLayout, runId).verdict, v);
    releaseLock(rootLayout, { runId });
    return v;
  }
  const cp = readCheckpoint(rootLayout, runId);
  let release: StagedRelease | undefined;
  try {
    release = loadRelease(rootLayout, stored.request.releaseKey);
  } catch {
    release = undefined;
  }
  const settings = settingsFor(rootLayout.root, release);
  const layout = settings ? hostLayout(rootLayout.root, settings.projectDir) : rootLayout;
  const env = settings?.environment ?? "unknown";
  let verdict: DeployVerdict;
  let warnings: string[] = [];
  if (cp?.finish && release && settings) {
    ({ warnings } = await finish(agent, layout, settings, release, stored.request, cp.finish));
    verdict = buildVerdict({
      runId,
      stored,
      result: "ok",
      release: stored.request.release,
      releaseKey: release.key,
      serving: { live: cp.finish.live, images: cp.finish.images, liveImage: cp.finish.image },
      message: [`${cp.finish.message}; finished by recovery after the run stopped while finishing`, ...warnings].join("; "),
      plan: cp.finish,
      nowMs: agent.clock.now(),
    });
  } else {
    const phase = cp?.phase ?? "lock";
    const notes = cp && settings ? (await undo(agent, layout, cp, liveSettingsOr(layout, settings), "interrupted")).notes : [];
    const now = settings ? await serving(agent, layout, settings) : { live: null, images: null, liveImage: cp?.liveImage ?? "" };
    const reason = `the run stopped during ${phase} (its process died: killed, or dockerd or the host restarted)`;
    verdict = buildVerdict({
      runId,
      stored,
      result: "interrupted",
      release: stored.request.release,
      releaseKey: readCurrent(layout)?.releaseKey ?? null,
      serving: now,
      message: [reason, ...notes].join("; "),
      phase,
      reason,
      nowMs: agent.clock.now(),
    });
  }
  recordVerdict(agent, layout, env, verdict, { skipSmoke: stored.request.skipSmoke || undefined, hotfix: stored.request.hotfix }, warnings);
  releaseLock(rootLayout, { runId });
  return verdict;
}

/** Undo with the run's own settings: they name the colours and files it touched. */
function liveSettingsOr(layout: HostLayout, runSettings: DeploySettings): DeploySettings {
  return runSettings.bluegreen ? runSettings : { ...runSettings, rollback: liveSettings(layout, runSettings).rollback };
}

export interface HostRecovery {
  recovered: DeployVerdict[];
  notes: string[];
}

/** `recover` (run at boot): interrupted runs, a stale lock, and the retire timers a restart lost. */
export async function recoverHost(agent: Agent, rootLayout: HostLayout): Promise<HostRecovery> {
  const out: HostRecovery = { recovered: [], notes: [] };
  const info = await lockInfo(agent, rootLayout);
  if (info.state === "stale") {
    if (info.holder?.runId) {
      const v = await recoverRun(agent, rootLayout, info.holder.runId);
      if (v) out.recovered.push(v);
      else out.notes.push(`released the lock of run ${info.holder.runId}, which died before it started`);
    }
    else if (info.holder?.action === "retire") {
      removeLock(rootLayout);
      out.notes.push("removed the stale lock of a retire (it changes nothing until it stops a colour)");
    } else out.notes.push(`stale lock: ${describeHolder(info.holder)}: check the environment (wepppy-deploy health), then run wepppy-deploy break-lock`);
  } else if (info.state === "held") {
    out.notes.push(`the lock is held by a running ${describeHolder(info.holder)}`);
  }
  // A run with no verdict that no longer holds the lock died after another took it over (it cannot): recorded as interrupted.
  const holder = readHolder(rootLayout);
  for (const runId of listRuns(rootLayout).slice(-20)) {
    if (readVerdict(rootLayout, runId) || holder?.runId === runId || !readCheckpoint(rootLayout, runId)) continue;
    const v = await recoverRun(agent, rootLayout, runId);
    if (v) out.recovered.push(v);
  }
  const settings = settingsFor(rootLayout.root, undefined);
  if (settings) {
    const soak = await rearmSoak(agent, hostLayout(rootLayout.root, settings.projectDir), settings);
    if (soak) out.notes.push(soak);
  }
  if (settings?.bluegreen) {
    const layout = hostLayout(rootLayout.root, settings.projectDir);
    for (const c of COLOURS) {
      const token = readRetire(layout, c);
      if (token) {
        await armRetire(agent, settings, c, token);
        out.notes.push(`retire of ${c} re-armed for ${token.at}`);
      }
    }
  }
  return out;
}
