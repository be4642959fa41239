import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { HostLayout, retireToken } from "../contract/layout";
import type { DeploySettings } from "../contract/settings";
import { Colour, majorityColour } from "../contract/traffic";
import { Agent } from "./agent";
import { audit } from "./audit";
import { isoTime } from "./clock";
import { containerOf } from "./docker";
import { readJsonFile, writeJsonAtomic } from "./files";
import { projectContainers } from "./gates";
import { acquireLock, releaseLock } from "./lock";
import { readTraffic } from "./markers";

/*
 * The previous colour stays up for warmSeconds after a release, so that a rollback in that
 * time is only a switch; then a detached retire stops it, unless a newer release or a
 * switch made that colour matter again (its token file is gone or different, or traffic is
 * on it). Tokens are files, so a reboot keeps them and recovery re-arms the timers.
 */

export interface RetireToken {
  token: string;
  atMs: number;
  at: string;
}

export function readRetire(layout: HostLayout, colour: Colour): RetireToken | undefined {
  return readJsonFile(retireToken(layout, colour)) as RetireToken | undefined;
}

export function cancelRetire(layout: HostLayout, colour: Colour): void {
  fs.rmSync(retireToken(layout, colour), { force: true });
}

export function retireContainerName(settings: DeploySettings, colour: Colour): string {
  return `${settings.compose.project}-retire-${colour}`;
}

export async function armRetire(agent: Agent, settings: DeploySettings, colour: Colour, token: RetireToken): Promise<void> {
  const name = retireContainerName(settings, colour);
  await agent.docker.remove(name);
  await agent.launcher.detach(name, ["retire", colour, token.token]);
}

export async function scheduleRetire(agent: Agent, layout: HostLayout, settings: DeploySettings, colour: Colour): Promise<RetireToken> {
  const atMs = agent.clock.now() + settings.bluegreen!.warmSeconds * 1000;
  const token: RetireToken = { token: crypto.randomBytes(8).toString("hex"), atMs, at: isoTime(atMs) };
  writeJsonAtomic(retireToken(layout, colour), token);
  await armRetire(agent, settings, colour, token);
  return token;
}

/** `retire COLOUR TOKEN`: waits for the token's time, then stops the colour if nothing changed. */
export async function retire(agent: Agent, layout: HostLayout, settings: DeploySettings, colour: Colour, token: string, composeEnv: string): Promise<string> {
  const bg = settings.bluegreen;
  if (!bg) return "not a blue/green environment";
  const first = readRetire(layout, colour);
  if (first?.token !== token) return "superseded";
  await agent.clock.sleep(first.atMs - agent.clock.now());
  if (readRetire(layout, colour)?.token !== token) return "superseded";
  const holder = await acquireLock(agent, layout, { action: "retire", waitSeconds: 600 });
  try {
    if (readRetire(layout, colour)?.token !== token) return "superseded";
    const state = readTraffic(bg.markerDir);
    if (!state || state.kind === "canary" || majorityColour(state) === colour) return `traffic is on ${colour}: kept`;
    const service = bg.services[colour];
    const c = containerOf(await projectContainers(agent, settings), service);
    cancelRetire(layout, colour);
    if (!c?.running) return `${service} already stopped`;
    const r = await agent.compose(settings, composeEnv).stop([service], 60);
    audit(agent, layout, settings.environment, {
      action: "retire",
      result: r.code === 0 ? "ok" : "failed",
      image: c.image,
      reason: r.code === 0 ? undefined : `${service} did not stop`,
      note: `${service} stopped after ${bg.warmSeconds} s warm`,
    });
    return r.code === 0 ? `${service} stopped` : `${service} did not stop`;
  } finally {
    releaseLock(layout, holder);
  }
}
