import type { HostLayout } from "../contract/layout";
import { Recreated, isDigestPinned } from "../contract/records";
import type { DeploySettings } from "../contract/settings";
import type { Agent } from "./agent";
import { BLUEGREEN_CADDYFILE, Colour, TrafficState, allTo, canaryTo, majorityColour, otherColour, stateId } from "../contract/traffic";
import { accessLogSize, analyse } from "./analysis";
import { bringCaddyToFile, releaseCaddyfileDigest } from "./caddy";
import { containerOf } from "./docker";
import { tail } from "./exec";
import { appHealthy, gateApp, gateServices, projectContainers } from "./gates";
import { readTraffic, switchTraffic } from "./markers";
import { BlueGreenPlan, ColourTruth, colourTruth, decide, otherMayBeWarm } from "./plan";
import { StagedRelease, readCurrent } from "./releases";
import { Checkpoint, FinishPlan, RunContext, RunFailure, saveCheckpoint } from "./run";
import { changedSecrets, currentSecretDigests, recordedSecretDigests, recreations } from "./secrets";
import { smoke } from "./smoke";
import { backupStep, failIf, installStep, migrateStep, pullStep, writeEnvNext } from "./steps";

/*
 * A blue/green deploy. The request names the image that must be live; the host's truth
 * (marker, each colour's container) decides what happens (plan.ts). A release goes to the
 * colour not serving: it is gated beside the live one (no traffic has moved), Caddy
 * reloads the release's Caddyfile (caddy.ts), the canary steps are walked, traffic
 * switches, the smoke test and the analysis window judge it. Anything bad ends the run
 * with a RunFailure; undo.ts then puts traffic back and stops the failed colour. The live
 * colour is never recreated under traffic.
 */

export async function readColours(agent: Agent, s: DeploySettings): Promise<Record<Colour, ColourTruth>> {
  const bg = s.bluegreen!;
  const all = await agent.docker.containers(s.compose.project, [bg.services.blue, bg.services.green]);
  return { blue: colourTruth("blue", bg.services.blue, containerOf(all, bg.services.blue)), green: colourTruth("green", bg.services.green, containerOf(all, bg.services.green)) };
}

function envValues(ctx: RunContext, images: Record<Colour, string>, live: Colour, image: string): Record<string, string> {
  const bg = ctx.settings.bluegreen!;
  return {
    [bg.imageVariables.blue]: images.blue,
    [bg.imageVariables.green]: images.green,
    [bg.liveVariable]: live,
    // The other services (workers, browse, ...) run the live release's image.
    [ctx.settings.app.imageVariable]: image,
  };
}

function elapsedMs(ctx: RunContext, receivedMs: number): number {
  return Math.max(0, ctx.agent.clock.now() - receivedMs);
}

export interface ReadPlan {
  plan: BlueGreenPlan;
  state: TrafficState;
  truth: Record<Colour, ColourTruth>;
  /** The colours' changed secrets (the idle colour is recreated with them). */
  appSecrets: Recreated[];
}

/** What a blue/green request asks of this host, read from it: the client reads it too, to switch to a warm colour at once. */
export async function planBlueGreen(agent: Agent, s: DeploySettings, image: string | null, changedSecrets: string[]): Promise<ReadPlan> {
  const bg = s.bluegreen!;
  if (!image || !isDigestPinned(image)) {
    throw new RunFailure("stage", `a blue/green deploy needs a digest-pinned image (<repository>@sha256:<digest>), not ${JSON.stringify(image)}; nothing was changed`);
  }
  const state = readTraffic(bg.markerDir);
  if (!state) throw new RunFailure("stage", `more than one traffic marker in ${bg.markerDir}: leave one (wepppy-deploy switch ${bg.markerDir} <state>), then deploy again; nothing was changed`);
  const truth = await readColours(agent, s);
  const appSecrets = recreations(s, changedSecrets, [bg.services.blue, bg.services.green]);
  const probeInput = { state, truth, image, appSecretsChanged: appSecrets.length > 0 };
  let otherHealthy = false;
  if (otherMayBeWarm(probeInput)) {
    const t = truth[otherColour(majorityColour(state))];
    // Docker has kept probing the warm colour with the app's own healthcheck: reading that takes
    // milliseconds where a probe through docker exec takes a second on a loaded host.
    otherHealthy = t.health === "healthy" || (t.health === "none" && (await appHealthy(agent, t.containerId!, s.app.port)));
  }
  return { plan: decide({ ...probeInput, otherHealthy }), state, truth, appSecrets };
}

export async function deployBlueGreen(ctx: RunContext, changedSecrets: string[], receivedMs: number): Promise<FinishPlan> {
  const { settings: s } = ctx;
  const bg = s.bluegreen!;
  const image = ctx.request.image!;
  const early = ctx.checkpoint.preSwitched;
  // The client switched to the warm colour already (earlySwitch): what is left of that switch.
  const { plan, state, truth, appSecrets } = early
    ? { plan: { kind: "switch-warm" as const, from: early.from, live: early.live, target: early.target }, state: early.from, truth: await readColours(ctx.agent, s), appSecrets: [] }
    : await planBlueGreen(ctx.agent, s, ctx.request.image, changedSecrets);
  const others = recreations(s, changedSecrets).filter((r) => r.service !== bg.services.blue && r.service !== bg.services.green);
  if (!early) await ctx.say(`traffic now: ${stateId(state)}; blue runs ${truth.blue.image || "nothing"}, green runs ${truth.green.image || "nothing"}; ${describe(plan)}`);
  switch (plan.kind) {
    case "first":
      return first(ctx, plan.live, image);
    case "converge":
      return converge(ctx, plan.live, state, truth, image, others);
    case "switch-warm":
      return switchWarm(ctx, plan, truth, image, others, receivedMs);
    case "release":
      return release(ctx, plan, truth, image, appSecrets, others, receivedMs);
  }
}

function describe(plan: BlueGreenPlan): string {
  switch (plan.kind) {
    case "first":
      return `first release: both colours get the image, ${plan.live} serves`;
    case "converge":
      return `the image is live on ${plan.live}: no traffic moves`;
    case "switch-warm":
      return `${plan.target} is warm with the image: switching`;
    case "release":
      return `release to ${plan.target} (${plan.why}); ${plan.live} keeps serving until the switch`;
  }
}

async function first(ctx: RunContext, live: Colour, image: string): Promise<FinishPlan> {
  const s = ctx.settings;
  const images = { blue: image, green: image };
  const envText = writeEnvNext(ctx, envValues(ctx, images, live, image));
  const backup = await backupStep(ctx);
  await pullStep(ctx, image);
  await installStep(ctx);
  await migrateStep(ctx, s.bluegreen!.services[live]);
  const single = containerOf(await projectContainers(ctx.agent, s), s.app.service);
  if (single?.running) return firstBesideSingle(ctx, live, image, envText, backup);
  await ctx.enter("up", "first release: compose up");
  ctx.save({ target: live });
  // --remove-orphans: the single app service of before blue/green would keep its port.
  const up = await ctx.compose.up([], { removeOrphans: true });
  if (up.code !== 0) throw new RunFailure("up", `compose up failed: ${tail(up.stderr, 8)}`);
  await ctx.enter("gate", `gating ${live}`);
  const app = containerOf(await projectContainers(ctx.agent, s), s.bluegreen!.services[live]);
  const failure = (app ? await gateApp(ctx.agent, s, app.id, (m) => ctx.say(m)) : { gate: "app", reason: `no ${s.bluegreen!.services[live]} container` }) ?? (await gateServices(ctx.agent, s, (m) => ctx.say(m)));
  failIf("gate", failure, `first blue/green release failed its health gate on ${live}; nothing serves until a release passes: `);
  await smokeStep(ctx, live);
  return { image, envText, live, images, retire: null, converge: [], recreateAfter: [], recreated: [], message: `first release on ${live}`, backup, warnings: [] };
}

/**
 * The first blue/green release on a host that serves the app as one service (wctl's, or a
 * one-colour deploy's): the colour starts beside it and passes its gates while the old app
 * keeps serving; then Caddy is recreated on the blue/green Caddyfile (the only gap: Caddy's
 * own restart), and only then does the rest converge and the single app go, as an orphan.
 */
async function firstBesideSingle(ctx: RunContext, live: Colour, image: string, envText: string, backup: FinishPlan["backup"]): Promise<FinishPlan> {
  const s = ctx.settings;
  const bg = s.bluegreen!;
  const colour = bg.services[live];
  await ctx.enter("up", `first release: starting ${colour} beside the running ${s.app.service}`);
  ctx.save({ target: live });
  const started = await ctx.compose.up([colour], { noDeps: true });
  if (started.code !== 0) throw new RunFailure("up", `compose up ${colour} failed: ${tail(started.stderr, 8)}`);
  await ctx.enter("gate", `gating ${colour} (${s.app.service} keeps serving)`);
  const app = containerOf(await projectContainers(ctx.agent, s), colour);
  const failure = app ? await gateApp(ctx.agent, s, app.id, (m) => ctx.say(m)) : { gate: "app", reason: `no ${colour} container` };
  failIf("gate", failure, `first blue/green release failed its health gate on ${live}; ${s.app.service} keeps serving: `);
  await ctx.enter("switch", `Caddy onto the blue/green Caddyfile, all traffic to ${live}`);
  switchTraffic(bg.markerDir, allTo(live));
  const caddy = await ctx.compose.up([bg.caddyService], { noDeps: true });
  if (caddy.code !== 0) throw new RunFailure("switch", `compose up ${bg.caddyService} failed: ${tail(caddy.stderr, 8)}`);
  await ctx.enter("up", `the other services; ${s.app.service} goes`);
  const rest = await ctx.compose.up([], { removeOrphans: true });
  if (rest.code !== 0) throw new RunFailure("up", `compose up failed: ${tail(rest.stderr, 8)}`);
  failIf("gate", await gateServices(ctx.agent, s, (m) => ctx.say(m)));
  await smokeStep(ctx, live);
  return { image, envText, live, images: { blue: image, green: image }, retire: null, converge: [], recreateAfter: [], recreated: [], message: `first release on ${live}, beside and then in place of ${s.app.service}`, backup, warnings: [] };
}

async function converge(ctx: RunContext, live: Colour, state: TrafficState, truth: Record<Colour, ColourTruth>, image: string, others: Recreated[]): Promise<FinishPlan> {
  const bg = ctx.settings.bluegreen!;
  const other = otherColour(live);
  const images = { [live]: image, [other]: truth[other].image || image } as Record<Colour, string>;
  const envText = writeEnvNext(ctx, envValues(ctx, images, live, image));
  const same = readCurrent(ctx.layout)?.releaseKey === ctx.release.key && others.length === 0;
  if (state.kind === "canary") {
    await ctx.enter("switch", `a canary step was left behind: all traffic to ${live}`);
    switchTraffic(bg.markerDir, allTo(live));
  }
  if (same) {
    await ctx.say(`nothing to do: ${image} is live on ${live} with these settings`);
    return { image, envText, live, images, retire: null, converge: [], recreateAfter: [], recreated: [], message: `no change: ${live} keeps serving`, warnings: [] };
  }
  await installStep(ctx);
  return {
    image,
    envText,
    live,
    images,
    retire: null,
    converge: bg.otherServices,
    recreateAfter: others,
    recreated: others,
    message: `no traffic change: ${live} keeps serving; the other services follow the release's settings`,
    warnings: [],
  };
}

async function smokeStep(ctx: RunContext, target: Colour): Promise<void> {
  if (ctx.request.skipSmoke || ctx.settings.smoke.skip) return;
  await ctx.enter("smoke", "smoke test through Caddy");
  failIf("smoke", await smoke(ctx.agent, ctx.settings, (m) => ctx.say(m)), `smoke test failed on ${target}: `);
}

async function switchWarm(ctx: RunContext, plan: Extract<BlueGreenPlan, { kind: "switch-warm" }>, truth: Record<Colour, ColourTruth>, image: string, others: Recreated[], receivedMs: number): Promise<FinishPlan> {
  const bg = ctx.settings.bluegreen!;
  const { target, live, from } = plan;
  let switchMs = ctx.checkpoint.preSwitched?.switchMs;
  if (switchMs === undefined) {
    await ctx.enter("switch", `${target} is warm with ${image}: switching`);
    ctx.save({ target, targetStarted: true, switchedFrom: stateId(from) });
    switchTraffic(bg.markerDir, allTo(target));
    switchMs = elapsedMs(ctx, receivedMs);
    await ctx.say(`traffic on ${target}, ${switchMs} ms after the deploy started`);
  }
  await smokeStep(ctx, target);
  const images = { [target]: image, [live]: truth[live].image || image } as Record<Colour, string>;
  const envText = writeEnvNext(ctx, envValues(ctx, images, target, image));
  await installStep(ctx);
  return {
    image,
    envText,
    live: target,
    images,
    retire: live,
    converge: bg.otherServices,
    recreateAfter: others,
    recreated: others,
    message: `switched to warm ${target} ${switchMs} ms after the deploy started`,
    switchMs,
    warm: true,
    warnings: [],
  };
}

async function release(
  ctx: RunContext,
  plan: Extract<BlueGreenPlan, { kind: "release" }>,
  truth: Record<Colour, ColourTruth>,
  image: string,
  appSecrets: Recreated[],
  others: Recreated[],
  receivedMs: number,
): Promise<FinishPlan> {
  const { agent, settings: s } = ctx;
  const bg = s.bluegreen!;
  const { target, live, from } = plan;
  const svc = bg.services[target];
  const images = { [target]: image, [live]: truth[live].image || image } as Record<Colour, string>;
  const envText = writeEnvNext(ctx, envValues(ctx, images, target, image));
  const backup = await backupStep(ctx);
  await pullStep(ctx, image);
  await installStep(ctx);
  await migrateStep(ctx, svc);

  await ctx.enter("up", `starting ${svc} (the idle colour; ${live} keeps serving)`);
  ctx.save({ target, targetStarted: true });
  // Recreated whatever it ran: it takes no traffic, and this way it has the new secrets and settings.
  const up = await ctx.compose.up([svc], { noDeps: true, forceRecreate: true });
  if (up.code !== 0) throw new RunFailure("up", `starting ${svc} failed: ${tail(up.stderr, 8)}`);

  await ctx.enter("gate", `gating ${target} beside ${live}`);
  const app = containerOf(await projectContainers(agent, s), svc);
  const failure = (app ? await gateApp(agent, s, app.id, (m) => ctx.say(m)) : { gate: "app", reason: `no ${svc} container` }) ?? (await gateServices(agent, s, (m) => ctx.say(m)));
  failIf("gate", failure, `new build failed its health gate on ${target}, no traffic was switched (${stateId(from)} still serving): `);

  // Caddy reads its Caddyfile only when it starts or reloads: a changed one (new canary
  // steps) must be loaded before traffic moves to states only the new file knows. A reload
  // keeps Caddy's connections (a recreate would drop them all) and is a no-op when the file
  // is the one it runs.
  await ctx.enter("caddy", `bringing ${bg.caddyService} onto this release's Caddyfile`);
  const want = releaseCaddyfileDigest(ctx.release);
  if (!want) throw new RunFailure("caddy", `the release has no ${BLUEGREEN_CADDYFILE}`, "caddy");
  const caddy = await bringCaddyToFile(agent, s, ctx.compose, want);
  if (!caddy.ok) throw new RunFailure("caddy", `${bg.caddyService} could not load this release's Caddyfile (${caddy.how}): ${caddy.error}`, "caddy");
  await ctx.say(`${bg.caddyService} ${caddy.how} on this release's Caddyfile`);

  let switchMs: number | undefined;
  const firstSwitch = () => {
    if (ctx.checkpoint.switchedFrom == null) ctx.save({ switchedFrom: stateId(from) });
  };
  for (const p of bg.canary) {
    await ctx.enter("canary", `canary: ${p} % of traffic to ${target}`);
    const offset = await accessLogSize(agent, s);
    firstSwitch();
    switchTraffic(bg.markerDir, canaryTo(target, p));
    switchMs ??= elapsedMs(ctx, receivedMs);
    const r = await analyse(agent, s, target, bg.analysis.stepSeconds, offset, p, (m) => ctx.say(m));
    failIf("canary", r.failure, `canary ${p} %: `);
  }
  await ctx.enter("switch", `all traffic to ${target}`);
  const offset = await accessLogSize(agent, s);
  firstSwitch();
  switchTraffic(bg.markerDir, allTo(target));
  const allMs = elapsedMs(ctx, receivedMs);
  switchMs ??= allMs;
  await ctx.say(`traffic on ${target}`);
  await smokeStep(ctx, target);
  let analysis: { requests: number; errors: number } | undefined;
  if (bg.analysis.seconds > 0) {
    await ctx.enter("analysis", `analysis window: ${bg.analysis.seconds} s`);
    const r = await analyse(agent, s, target, bg.analysis.seconds, offset, 100, (m) => ctx.say(m));
    failIf("analysis", r.failure);
    analysis = r.seen;
  }
  const recreated = [...appSecrets.filter((r) => r.service === svc), ...others];
  return {
    image,
    envText,
    live: target,
    images,
    retire: live,
    converge: bg.otherServices,
    recreateAfter: others,
    recreated,
    message: `released on ${target}, switched in ${allMs} ms${analysis ? `, analysis: ${analysis.requests} requests, ${analysis.errors} 5xx` : ""}`,
    switchMs,
    backup,
    analysis,
    warnings: [],
  };
}

/**
 * The client's part of a rollback to the warm colour: the switch itself, before the detached
 * run starts (a container start takes longer than the switch). The checkpoint says what was
 * switched from, so a client that dies here is undone like a run that died after its switch.
 * Returns false (nothing done) for any other plan: the run decides those.
 */
export async function earlySwitch(agent: Agent, layout: HostLayout, release: StagedRelease, cp: Checkpoint, image: string | null, receivedMs: number, say: (m: string) => Promise<void>): Promise<boolean> {
  const s = release.settings;
  if (!s.bluegreen) return false;
  const changed = changedSecrets(recordedSecretDigests(layout), currentSecretDigests(layout, s));
  let read: ReadPlan;
  try {
    read = await planBlueGreen(agent, s, image, changed);
  } catch {
    return false; // the run refuses it, with its reason
  }
  if (read.plan.kind !== "switch-warm") return false;
  const { target, live, from } = read.plan;
  cp.phase = "switch";
  // What serves until the switch (truth.ts serving, from what was just read).
  Object.assign(cp, { liveKey: readCurrent(layout)?.releaseKey ?? null, liveImage: read.truth[live].image, target, targetStarted: true, switchedFrom: stateId(from), switchedAtMs: agent.clock.now() });
  saveCheckpoint(layout, cp);
  switchTraffic(s.bluegreen.markerDir, allTo(target));
  const switchMs = Math.max(0, agent.clock.now() - receivedMs);
  cp.preSwitched = { target, live, from, switchMs };
  saveCheckpoint(layout, cp);
  await say(`${target} is warm with ${image}: traffic on ${target}, ${switchMs} ms after the deploy started`);
  return true;
}
