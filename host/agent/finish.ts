import * as fs from "node:fs";
import type { HostLayout } from "../contract/layout";
import type { DeployRequest, ReleaseRecord } from "../contract/records";
import type { DeploySettings } from "../contract/settings";
import { Colour, otherColour } from "../contract/traffic";
import { Agent } from "./agent";
import { bringCaddyToFile, releaseCaddyfileDigest } from "./caddy";
import { containerOf } from "./docker";
import { isoTime } from "./clock";
import { tail } from "./exec";
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from "./files";
import { containerIds, recreateForSecrets } from "./oneColour";
import { StagedRelease, installReleaseFiles, pruneReleases, readCurrent, recordCurrent } from "./releases";
import { cancelRetire, scheduleRetire } from "./retire";
import { FinishPlan } from "./run";
import { ENV_FILE_MODE, recordSecretDigests } from "./secrets";

/*
 * The end of a judged release, written so that it can run twice (recovery completes a run
 * that died here): the env file, the release's files and settings become current, the
 * other services follow the release (Caddy alone and last: compose v1 recreates a service
 * whose dependencies were recreated in the same call, and a recreated Caddy drops every
 * open connection; then Caddy reloads the release's Caddyfile, a no-op when it runs it
 * already), and the previous colour is scheduled to retire.
 */

export type ColourReleases = Partial<Record<Colour, { image: string; releaseKey: string; release: ReleaseRecord | null; since: string }>>;

export function readColourReleases(layout: HostLayout): ColourReleases {
  return (readJsonFile(layout.colourReleases) as ColourReleases | undefined) ?? {};
}

/**
 * `preempted`: a rollback asked for the lock (lock.ts watchPreempt). The compose call under
 * way is stopped and the rest of converging is left to the rollback, which converges the
 * same services to its own image next; the release's files stay current until it does.
 */
export async function finish(agent: Agent, layout: HostLayout, settings: DeploySettings, release: StagedRelease, request: DeployRequest, plan: FinishPlan, preempted?: AbortSignal): Promise<{ warnings: string[]; stopped: boolean }> {
  const warnings: string[] = [];
  const stopped = { warnings, stopped: true };
  const now = isoTime(agent.clock.now());
  writeFileAtomic(layout.envFile, plan.envText, ENV_FILE_MODE);
  fs.rmSync(layout.envNext, { force: true });
  installReleaseFiles(release, settings.projectDir);
  recordCurrent(layout, release, plan.image, request.release, now);
  if (plan.secretDigests) recordSecretDigests(layout, plan.secretDigests);
  const bg = settings.bluegreen;
  if (bg && plan.live && plan.images) {
    const colours = readColourReleases(layout);
    colours[plan.live] = { image: plan.images[plan.live], releaseKey: release.key, release: request.release, since: now };
    // The other colour keeps the release it was given, unless it runs something else (a first release gives both this one).
    const other = otherColour(plan.live);
    if (colours[other]?.image !== plan.images[other]) colours[other] = { image: plan.images[other], releaseKey: release.key, release: request.release, since: now };
    writeJsonAtomic(layout.colourReleases, colours);
    const compose = agent.compose(settings, layout.envFile, preempted);
    if (plan.converge.length > 0) {
      // Which containers ran before matters only to a secret's recreate; reading them is a docker ps and inspect the converge would wait for.
      const before = plan.recreateAfter.length > 0 ? await containerIds(agent, settings) : new Map<string, string>();
      const r = await compose.up(plan.converge, { noDeps: true });
      if (preempted?.aborted) return stopped;
      if (r.code !== 0) warnings.push(`converging the other services failed: ${tail(r.stderr, 4)}`);
      try {
        await recreateForSecrets(agent, settings, compose, plan.recreateAfter, before);
      } catch (err) {
        warnings.push((err as Error).message);
      }
    }
    if (preempted?.aborted) return stopped;
    const idBefore = containerOf(await agent.docker.containers(settings.compose.project, [bg.caddyService]), bg.caddyService)?.id ?? "";
    const caddy = await compose.up([bg.caddyService], { noDeps: true });
    if (preempted?.aborted) return stopped;
    if (caddy.code !== 0) warnings.push(`${bg.caddyService}: ${tail(caddy.stderr, 4)}`);
    else {
      // compose recreates Caddy only when its service changed, not its Caddyfile: an update
      // that moved no traffic (or a rollback to the warm colour) made a new file current.
      const want = releaseCaddyfileDigest(release);
      const loaded = want ? await bringCaddyToFile(agent, settings, compose, want, idBefore) : undefined;
      if (loaded && !loaded.ok) warnings.push(`${bg.caddyService} could not load the release's Caddyfile (${loaded.how}): ${loaded.error}`);
    }
    cancelRetire(layout, plan.live);
    if (plan.retire && plan.retire !== plan.live) await scheduleRetire(agent, layout, settings, plan.retire);
  }
  const current = readCurrent(layout);
  const pinned = new Set<string>([release.key, ...(current?.previous ? [current.previous.releaseKey] : [])]);
  for (const c of Object.values(readColourReleases(layout))) if (c) pinned.add(c.releaseKey);
  pruneReleases(layout, pinned);
  return { warnings, stopped: false };
}
