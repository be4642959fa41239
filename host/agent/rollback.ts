import type { HostLayout } from "../contract/layout";
import { renderEnvFile } from "../contract/envFile";
import { DeployRequest, EXIT } from "../contract/records";
import type { DeploySettings } from "../contract/settings";
import { Colour, allTo, majorityColour, otherColour, stateId } from "../contract/traffic";
import { Agent, CommandError } from "./agent";
import { audit } from "./audit";
import { containerOf } from "./docker";
import { tail } from "./exec";
import { readTextFile, writeFileAtomic } from "./files";
import { isoTime } from "./clock";
import { readColourReleases } from "./finish";
import { appHealthy, projectContainers } from "./gates";
import { acquireLock, releaseLock } from "./lock";
import { readTraffic, switchTraffic } from "./markers";
import { StagedRelease, installReleaseFiles, loadRelease, readCurrent, recordCurrent } from "./releases";
import { cancelRetire } from "./retire";
import { ENV_FILE_MODE, envSecretValues } from "./secrets";
import { interruptSoak } from "./soak";

/*
 * A rollback by hand, without the stack (spec Playbook 3). Blue/green: traffic to the
 * other colour when it is still warm and healthy (from a canary step: to the colour with
 * most traffic), that colour's release files made current again, the other services on its
 * image. One colour: the previous release is deployed again like any request.
 */

export interface HandRollback {
  from: string;
  to: Colour;
  image: string;
  switchMs: number;
}

export async function rollbackBlueGreen(agent: Agent, layout: HostLayout, settings: DeploySettings): Promise<HandRollback> {
  const bg = settings.bluegreen!;
  const started = agent.clock.now();
  const holder = await acquireLock(agent, layout, { action: "rollback", waitSeconds: settings.lockWaitSeconds, preempt: true });
  try {
    const state = readTraffic(bg.markerDir);
    if (!state) throw new CommandError(`more than one traffic marker in ${bg.markerDir}: leave one with wepppy-deploy switch`, EXIT.ambiguous);
    const to = state.kind === "canary" ? majorityColour(state) : otherColour(state.colour);
    const all = await projectContainers(agent, settings);
    const c = containerOf(all, bg.services[to]);
    if (!c?.running) throw new CommandError(`${to} is not running (its warm time is over): roll back with wepppy-cicd rollback, which starts it; traffic stays on ${stateId(state)}`);
    if (!(c.health === "healthy" || (c.health !== "unhealthy" && (await appHealthy(agent, c.id, settings.app.port))))) {
      throw new CommandError(`${to} is not healthy, traffic stays on ${stateId(state)}`);
    }
    switchTraffic(bg.markerDir, allTo(to));
    const switchMs = agent.clock.now() - started;
    agent.out.say(`[wepppy-deploy] traffic is on ${to} (${c.image}), ${switchMs} ms after the rollback started`);
    cancelRetire(layout, to);
    // The colour's own release becomes current again: its files, its settings, its env.
    const fromColour = containerOf(all, bg.services[otherColour(to)]);
    const images = { [to]: c.image, [otherColour(to)]: fromColour?.image || c.image } as Record<Colour, string>;
    const recorded = readColourReleases(layout)[to];
    const key = recorded?.releaseKey;
    let release: StagedRelease | undefined;
    try {
      release = key ? loadRelease(layout, key) : undefined;
    } catch {
      release = undefined;
    }
    const live = release?.settings ?? settings;
    if (release) installReleaseFiles(release, live.projectDir);
    const envText = renderEnvFile(release?.envTemplate ?? readTextFile(layout.envFile) ?? "", {
      ...envSecretValues(layout),
      [bg.imageVariables.blue]: images.blue,
      [bg.imageVariables.green]: images.green,
      [bg.liveVariable]: to,
      [live.app.imageVariable]: c.image,
    });
    writeFileAtomic(layout.envFile, envText, ENV_FILE_MODE);
    if (release) recordCurrent(layout, release, c.image, recorded?.release ?? null, isoTime(agent.clock.now()));
    const compose = agent.compose(live, layout.envFile);
    const warnings: string[] = [];
    if (bg.otherServices.length > 0) {
      const r = await compose.up(bg.otherServices, { noDeps: true });
      if (r.code !== 0) warnings.push(`the other services did not follow: ${tail(r.stderr, 4)}`);
    }
    const away = fromColour?.image && fromColour.image !== c.image ? fromColour.image : undefined;
    if (away) interruptSoak(agent, layout, settings, `traffic was rolled back by hand to ${to} (${c.image})`);
    audit(agent, layout, settings.environment, {
      action: "rollback",
      result: "ok",
      image: c.image,
      ...(away ? { rolledBack: away } : {}),
      from: stateId(state),
      to,
      live: to,
      images,
      switchMs,
      startedMs: started,
      ...(release ? { releaseKey: release.key } : {}),
      note: `by hand, traffic from ${stateId(state)} to ${to}; the stack still declares the release: run wepppy-cicd rollback so that it follows${warnings.length ? `; ${warnings.join("; ")}` : ""}`,
    });
    return { from: stateId(state), to, image: c.image, switchMs };
  } finally {
    releaseLock(layout, holder);
  }
}

/** One colour: the release before the current one, as a deploy request. */
export function previousReleaseRequest(layout: HostLayout, who: string): DeployRequest {
  const current = readCurrent(layout);
  if (!current?.previous) throw new CommandError("no earlier release is recorded on this host: roll back with wepppy-cicd rollback");
  return {
    version: 1,
    action: "rollback",
    image: current.previous.image || null,
    releaseKey: current.previous.releaseKey,
    release: current.previous.release,
    who,
    skipSmoke: false,
    hotfix: null,
  };
}
