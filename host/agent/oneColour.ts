import { Agent } from "./agent";
import { containerOf } from "./docker";
import { tail } from "./exec";
import { gateApp, gateServices, projectContainers } from "./gates";
import { recreations } from "./secrets";
import { smoke } from "./smoke";
import { backupStep, failIf, installStep, migrateStep, pullStep, writeEnvNext } from "./steps";
import { FinishPlan, RunContext, RunFailure } from "./run";
import type { Recreated } from "../contract/records";
import type { DeploySettings } from "../contract/settings";
import type { Compose } from "./compose";

/*
 * A one-colour deploy: backup, pull, migration, a candidate container of the new build
 * gated beside the running app (a build that never becomes healthy is refused while the
 * previous containers keep serving), then `compose up`, the gates and the smoke test. What
 * a failure after `up` leaves is the setting's choice (rollback: automatic restores the
 * live release, see undo.ts); health.required false reports a failed gate and carries on.
 */

/** Services recreated because a secret they mount changed, and that `up` left alone (same container as before). */
export async function recreateForSecrets(agent: Agent, settings: DeploySettings, compose: Compose, wanted: Recreated[], before: Map<string, string>): Promise<Recreated[]> {
  if (wanted.length === 0) return [];
  const after = await projectContainers(agent, settings);
  const stale = wanted.filter((r) => {
    const c = containerOf(after, r.service);
    return c !== undefined && before.get(r.service) === c.id;
  });
  if (stale.length > 0) {
    const r = await compose.up(stale.map((x) => x.service), { noDeps: true, forceRecreate: true });
    if (r.code !== 0) throw new Error(`recreating ${stale.map((x) => x.service).join(", ")} failed: ${tail(r.stderr, 6)}`);
  }
  return wanted;
}

export async function containerIds(agent: Agent, settings: DeploySettings): Promise<Map<string, string>> {
  const all = await projectContainers(agent, settings);
  return new Map(all.map((c) => [c.service, containerOf(all, c.service)!.id]));
}

export async function deployOneColour(ctx: RunContext, changedSecrets: string[]): Promise<FinishPlan> {
  const { agent, settings: s } = ctx;
  const image = ctx.request.image;
  const envText = writeEnvNext(ctx, image ? { [s.app.imageVariable]: image } : {});
  const backup = await backupStep(ctx);
  await pullStep(ctx, image);
  const before = await projectContainers(agent, s);
  const previous = containerOf(before, s.app.service);
  const serving = previous?.running === true;
  await installStep(ctx);
  await migrateStep(ctx, s.app.service);

  if (serving && s.app.candidate) {
    const name = `${s.compose.project}_${s.app.service}_candidate`;
    await agent.docker.remove(name);
    ctx.save({ candidate: name });
    await ctx.enter("candidate", `starting candidate ${name} beside the running app`);
    const started = await ctx.compose.run(s.app.service, [], { detach: true, noDeps: true, name });
    if (started.code !== 0) throw new RunFailure("candidate", `cannot start a candidate container: ${tail(started.stderr, 6)}`, "candidate");
    const failure = await gateApp(agent, s, name, (m) => ctx.say(m));
    await agent.docker.remove(name);
    ctx.save({ candidate: undefined });
    failIf("candidate", failure ? { ...failure, gate: "candidate" } : null, "new build failed its health gate, previous release still serving: ");
  }

  const ids = await containerIds(agent, s);
  await ctx.enter("up", "compose up");
  ctx.save({ upDone: true });
  const up = await ctx.compose.up([]);
  if (up.code !== 0) throw new RunFailure("up", `compose up failed: ${tail(up.stderr, 8)}`);
  const recreated = await recreateForSecrets(agent, s, ctx.compose, recreations(s, changedSecrets), ids).catch((err: Error) => {
    throw new RunFailure("up", err.message);
  });
  if (recreated.length > 0) await ctx.say(`recreated for changed secrets: ${recreated.map((r) => `${r.service} (${r.secrets.join(", ")})`).join("; ")}`);

  await ctx.enter("gate", "gating the release");
  const app = containerOf(await projectContainers(agent, s), s.app.service);
  let failure = app ? await gateApp(agent, s, app.id, (m) => ctx.say(m)) : { gate: "app", reason: `no ${s.app.service} container after compose up` };
  if (!failure) failure = await gateServices(agent, s, (m) => ctx.say(m));
  let phase: "gate" | "smoke" = "gate";
  const skipSmoke = ctx.request.skipSmoke || s.smoke.skip;
  if (!failure && !skipSmoke) {
    phase = "smoke";
    await ctx.enter("smoke", "smoke test through Caddy");
    failure = await smoke(agent, s, (m) => ctx.say(m));
  }
  const warnings: string[] = [];
  if (failure) {
    if (s.rollback === "automatic" && serving) throw new RunFailure(phase, `release failed after compose up and was rolled back: ${failure.reason}`, failure.gate, failure.logFile);
    if (s.health.required) throw new RunFailure(phase, `release failed after compose up: ${failure.reason} (run wepppy-deploy rollback)`, failure.gate, failure.logFile);
    warnings.push(`${failure.reason} (health not required in ${s.environment})`);
    await ctx.say(`warning: ${warnings[0]}`, "warn");
  }
  const parts = ["deployed", ...(skipSmoke ? ["smoke test skipped"] : []), ...warnings];
  return {
    image: image ?? "",
    envText,
    live: null,
    images: null,
    retire: null,
    converge: [],
    recreateAfter: [],
    recreated,
    message: parts.join("; "),
    backup,
    warnings,
  };
}
