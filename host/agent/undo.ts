import * as fs from "node:fs";
import * as path from "node:path";
import type { HostLayout } from "../contract/layout";
import { DeploySettings, readDeploySettingsText } from "../contract/settings";
import { BLUEGREEN_CADDYFILE, parseStateId } from "../contract/traffic";
import { bringCaddyToFile } from "./caddy";
import { Agent } from "./agent";
import { containerOf } from "./docker";
import { fileDigest, readTextFile } from "./files";
import { gateApp, projectContainers } from "./gates";
import { switchTraffic } from "./markers";
import { restoreDisplaced } from "./projectFiles";
import { Checkpoint, runPaths, saveCheckpoint } from "./run";

/*
 * What a run that did not succeed puts back, read from its checkpoint, so the same code
 * serves a failure the run detects itself and a run found dead later (recover). Traffic
 * goes back first (it is what users see), then the failed colour is stopped (so that no
 * retry finds it "warm" and switches to it without a new analysis), then the project
 * files are the live release's again. A one-colour release that was already `up` is
 * replaced by the live one when the settings say rollback: automatic, and always when the
 * run was interrupted (nothing judged what is running).
 */

export interface UndoResult {
  backMs?: number;
  notes: string[];
  rolledBack?: boolean;
}

/** The live settings (deploy.json), falling back to the run's when the host has none yet. */
export function liveSettings(layout: HostLayout, fallback: DeploySettings): DeploySettings {
  const text = readTextFile(layout.settings);
  if (text === undefined) return fallback;
  try {
    return readDeploySettingsText(text, layout.settings);
  } catch {
    return fallback;
  }
}

/** Caddy may have reloaded the failed release's Caddyfile: it loads the live one's again. */
async function caddyBack(agent: Agent, layout: HostLayout, settings: DeploySettings): Promise<string> {
  const service = settings.bluegreen!.caddyService;
  const want = fileDigest(path.join(settings.projectDir, BLUEGREEN_CADDYFILE));
  if (!want || !fs.existsSync(layout.envFile)) return `${service} keeps its Caddyfile (the host has no live release)`;
  const r = await bringCaddyToFile(agent, settings, agent.compose(settings, layout.envFile), want);
  return r.ok ? `${service} ${r.how} on the live release's Caddyfile` : `${service} could not load the live release's Caddyfile (${r.how}): ${r.error}`;
}

export async function undo(agent: Agent, layout: HostLayout, cp: Checkpoint, settings: DeploySettings, why: "failed" | "interrupted"): Promise<UndoResult> {
  const out: UndoResult = { notes: [] };
  const bg = settings.bluegreen;
  if (bg && cp.switchedFrom) {
    switchTraffic(bg.markerDir, parseStateId(cp.switchedFrom));
    if (cp.switchedAtMs !== undefined) out.backMs = Math.max(0, agent.clock.now() - cp.switchedAtMs);
    out.notes.push(`traffic back on ${cp.switchedFrom}${out.backMs !== undefined ? ` ${out.backMs} ms after the switch` : ""}`);
    cp.switchedFrom = null;
    saveCheckpoint(layout, cp);
  }
  if (cp.candidate) await agent.docker.remove(cp.candidate);
  const envForStop = fs.existsSync(layout.envNext) ? layout.envNext : layout.envFile;
  if (bg && cp.target && cp.targetStarted) {
    const service = bg.services[cp.target];
    const r = await agent.compose(settings, envForStop).stop([service], 10);
    out.notes.push(r.code === 0 ? `stopped ${service}` : `could not stop ${service}`);
  }
  if (cp.filesInstalled) {
    const restored = restoreDisplaced(settings.projectDir, runPaths(layout, cp.runId).displaced);
    if (restored.length > 0) out.notes.push(`the live release's files are back (${restored.join(", ")})`);
    if (bg && restored.includes(BLUEGREEN_CADDYFILE)) out.notes.push(await caddyBack(agent, layout, settings));
    cp.filesInstalled = false;
    saveCheckpoint(layout, cp);
  }
  if (!bg && cp.upDone && (why === "interrupted" || settings.rollback === "automatic") && fs.existsSync(layout.envFile) && cp.liveImage) {
    const live = liveSettings(layout, settings);
    const up = await agent.compose(live, layout.envFile).up([]);
    const app = containerOf(await projectContainers(agent, live), live.app.service);
    const gate = up.code === 0 && app ? await gateApp(agent, live, app.id, () => undefined) : { gate: "app", reason: "compose up failed" };
    out.rolledBack = true;
    out.notes.push(gate ? `rolled back to the previous release, which is not healthy either: ${gate.reason}` : "rolled back to the previous release (healthy)");
  }
  fs.rmSync(layout.envNext, { force: true });
  return out;
}
