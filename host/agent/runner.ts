import * as fs from "node:fs";
import { HostLayout, hostLayout } from "../contract/layout";
import { DeployVerdict, Phase, ReleaseRecord, isRollbackRequest } from "../contract/records";
import { Agent, CommandError } from "./agent";
import { audit } from "./audit";
import { isoTime } from "./clock";
import { deployBlueGreen } from "./blueGreen";
import { writeJsonAtomic } from "./files";
import { finish } from "./finish";
import { PreemptWatch, markConverging, releaseLock, takeOverLock, watchPreempt } from "./lock";
import { deployOneColour } from "./oneColour";
import { StagedRelease, loadRelease, readCurrent } from "./releases";
import { Checkpoint, FinishPlan, RunContext, RunFailure, StoredRequest, progressWriter, pruneRuns, readCheckpoint, readStoredRequest, runPaths, saveCheckpoint } from "./run";
import { changedSecrets, currentSecretDigests, recordedSecretDigests } from "./secrets";
import { serving } from "./truth";
import { undo } from "./undo";
import { interruptSoak, startSoak } from "./soak";
import { runSuites, validationPassed } from "./validate";

/*
 * The detached side of a deploy: `run <runId>`, started in a container of its own by the
 * client that took the lock. It takes the lock over, runs the pipeline, and ends with
 * exactly one audit record and one verdict, in that order (recovery looks for the record
 * by runId, so a run that dies between the two is not recorded twice), then releases the
 * lock. A failure is undone before the record is written.
 */

export function initialCheckpoint(runId: string, stored: StoredRequest, startedMs: number): Checkpoint {
  return {
    runId,
    requestId: stored.requestId,
    phase: "lock",
    startedAt: isoTime(startedMs),
    startedMs,
    releaseKey: stored.request.releaseKey,
    liveKey: null,
    liveImage: "",
    filesInstalled: false,
  };
}

export interface VerdictInput {
  runId: string;
  stored: StoredRequest;
  result: DeployVerdict["result"];
  release: ReleaseRecord | null;
  releaseKey: string | null;
  serving: { live: DeployVerdict["live"]; images: DeployVerdict["images"]; liveImage: string };
  message: string;
  phase?: Phase;
  reason?: string;
  gate?: string;
  logFile?: string;
  plan?: FinishPlan;
  backMs?: number;
  nowMs: number;
}

export function buildVerdict(v: VerdictInput): DeployVerdict {
  return {
    version: 1,
    runId: v.runId,
    requestId: v.stored.requestId,
    action: v.stored.request.action,
    result: v.result,
    ok: v.result === "ok",
    image: v.stored.request.image ?? "",
    release: v.release,
    releaseKey: v.releaseKey,
    live: v.serving.live,
    images: v.serving.images,
    liveImage: v.serving.liveImage,
    ...(v.phase ? { phase: v.phase } : {}),
    ...(v.reason ? { reason: v.reason } : {}),
    ...(v.gate ? { gate: v.gate } : {}),
    ...(v.logFile ? { logFile: v.logFile } : {}),
    message: v.message,
    recreated: v.plan?.recreated ?? [],
    ...(v.plan?.switchMs !== undefined ? { switchMs: v.plan.switchMs } : {}),
    ...(v.plan?.warm ? { warm: true } : {}),
    ...(v.backMs !== undefined ? { backMs: v.backMs } : {}),
    ...(v.plan?.backup ? { backup: v.plan.backup } : {}),
    seconds: Math.round((v.nowMs - v.stored.receivedMs) / 1000),
    finishedAt: isoTime(v.nowMs),
  };
}

type VerdictExtra = { skipSmoke?: boolean; hotfix?: string | null; from?: string; to?: string; analysis?: FinishPlan["analysis"]; rolledBack?: string };

/**
 * Writes the run's one audit record, then its verdict. A blue/green run audited its verdict
 * when it was judged (judgeVerdict): then only what finishing added is audited, as a
 * converge record, so each run keeps one deploy record.
 */
export function recordVerdict(agent: Agent, layout: HostLayout, env: string, verdict: DeployVerdict, extra: VerdictExtra = {}, warnings: string[] = []): void {
  if (!fs.existsSync(runPaths(layout, verdict.runId).judged)) auditVerdict(agent, layout, env, verdict, extra);
  else if (warnings.length > 0) {
    audit(agent, layout, env, { action: "converge", result: "failed", image: verdict.image, release: verdict.release, seconds: verdict.seconds, runId: verdict.runId, reason: warnings.join("; ").slice(0, 1000), note: "the release is live; finishing it left this to look at" });
  }
  writeJsonAtomic(runPaths(layout, verdict.runId).verdict, verdict);
}

/** Blue/green, judged good: audited, and handed to the client, while the other services converge. */
export function judgeVerdict(agent: Agent, layout: HostLayout, env: string, verdict: DeployVerdict, extra: VerdictExtra): void {
  auditVerdict(agent, layout, env, verdict, extra);
  writeJsonAtomic(runPaths(layout, verdict.runId).judged, verdict);
}

function auditVerdict(agent: Agent, layout: HostLayout, env: string, verdict: DeployVerdict, extra: VerdictExtra): void {
  const stored = readStoredRequest(layout, verdict.runId);
  audit(agent, layout, env, {
    action: verdict.action === "rollback" ? "rollback" : "deploy",
    ...(stored ? { who: stored.request.who } : {}),
    result: verdict.result,
    image: verdict.image,
    release: verdict.release,
    seconds: verdict.seconds,
    runId: verdict.runId,
    ...(verdict.ok ? {} : { phase: verdict.phase, reason: verdict.reason }),
    ...(verdict.gate ? { gate: verdict.gate } : {}),
    ...(verdict.logFile ? { logFile: verdict.logFile } : {}),
    ...(verdict.switchMs !== undefined ? { switchMs: verdict.switchMs } : {}),
    ...(verdict.warm ? { warm: true } : {}),
    ...(verdict.backMs !== undefined ? { backMs: verdict.backMs } : {}),
    ...(extra.from ? { from: extra.from } : {}),
    ...(extra.to ? { to: extra.to } : {}),
    ...(verdict.live ? { live: verdict.live } : {}),
    ...(verdict.images ? { images: verdict.images } : {}),
    ...(verdict.recreated.length > 0 ? { recreated: verdict.recreated } : {}),
    ...(verdict.backup ? { backup: verdict.backup } : {}),
    ...(extra.analysis ? { analysis: extra.analysis } : {}),
    ...(extra.skipSmoke ? { skipSmoke: true } : {}),
    ...(extra.hotfix ? { hotfix: extra.hotfix } : {}),
    ...(verdict.releaseKey ? { releaseKey: verdict.releaseKey } : {}),
    ...(extra.rolledBack ? { rolledBack: extra.rolledBack } : {}),
    note: verdict.message,
  });
}

export async function executeRun(agent: Agent, rootLayout: HostLayout, runId: string): Promise<DeployVerdict> {
  const stored = readStoredRequest(rootLayout, runId);
  if (!stored) throw new CommandError(`no run ${runId} on this host`, 2);
  const holder = takeOverLock(agent, rootLayout, runId);
  const request = stored.request;
  const cp: Checkpoint = readCheckpoint(rootLayout, runId) ?? initialCheckpoint(runId, stored, agent.clock.now());
  let layout = rootLayout;
  const save = (patch: Partial<Checkpoint>) => {
    Object.assign(cp, patch);
    saveCheckpoint(rootLayout, cp);
  };
  const say = progressWriter(agent, rootLayout, runId, () => cp.phase);
  let release: StagedRelease | undefined;
  let verdict: DeployVerdict;
  let env = "unknown";
  let plan: FinishPlan | undefined;
  /** The image traffic was taken away from: a release switched back, or the one a rollback replaced. */
  let rolledBack: string | undefined;
  let finishWarnings: string[] = [];
  /** While a judged release converges: a rollback may ask it to let go of the lock. */
  let preempt: PreemptWatch | undefined;
  try {
    await say(`run ${runId}: ${request.action} ${request.image ?? "(the compose files' images)"} with release files ${request.releaseKey}`, "info", "lock");
    try {
      release = loadRelease(rootLayout, request.releaseKey);
    } catch (err) {
      throw new RunFailure("stage", (err as Error).message);
    }
    const settings = release.settings;
    env = settings.environment;
    layout = hostLayout(rootLayout.root, settings.projectDir);
    // What served before the run: read by the client already when it switched traffic itself.
    if (!cp.preSwitched) save({ liveKey: readCurrent(layout)?.releaseKey ?? null, liveImage: (await serving(agent, layout, settings)).liveImage });
    const before = { liveImage: cp.liveImage };
    const ctx: RunContext = {
      agent,
      layout,
      runId,
      request,
      release,
      settings,
      compose: agent.compose(settings, layout.envNext),
      checkpoint: cp,
      save,
      async enter(phase, message) {
        save({ phase });
        if (phase === "switch" || phase === "canary") save({ switchedAtMs: cp.switchedAtMs ?? agent.clock.now() });
        await say(message, "info", phase);
      },
      say: (m, level) => say(m, level),
    };
    const digests = currentSecretDigests(layout, settings);
    const changed = changedSecrets(recordedSecretDigests(layout), digests);
    if (changed.length > 0) await say(`secrets changed since the last deploy: ${changed.join(", ")}`);
    plan = settings.bluegreen ? await deployBlueGreen(ctx, changed, stored.receivedMs) : await deployOneColour(ctx, changed);
    plan.secretDigests = digests;
    // Judged: from here on the release stays, and recovery would finish it, never undo it.
    save({ finish: plan, switchedFrom: null, phase: "converge" });
    // A rollback by hand (action rollback) or by the stack (wepppy-cicd rollback's release id): the image it replaced.
    if (isRollbackRequest(request) && before.liveImage && before.liveImage !== plan.image) rolledBack = before.liveImage;
    if (settings.bluegreen && !settings.validate.enabled) {
      // Traffic is where it stays: the client may go now (a rollback is back in seconds, not after
      // compose has recreated every worker). The lock stays held, marked, until the rest converges.
      const judged = buildVerdict({
        runId, stored, result: "ok", release: request.release, releaseKey: release.key,
        serving: { live: plan.live, images: plan.images, liveImage: plan.image },
        message: `${plan.message}; the other services converge with the lock held`, plan, nowMs: agent.clock.now(),
      });
      judgeVerdict(agent, layout, env, judged, { skipSmoke: request.skipSmoke || undefined, hotfix: request.hotfix, analysis: plan.analysis, rolledBack });
      markConverging(rootLayout, holder);
      preempt = watchPreempt(agent, rootLayout);
    }
    await say("release judged good: making it current", "info", "converge");
    const { warnings, stopped } = await finish(agent, layout, settings, release, request, plan, preempt?.signal);
    preempt?.stop();
    const by = stopped ? preempt?.by() : undefined;
    if (by) {
      // The rollback converges the same services to its own image, and starts its own soak.
      await say(`a rollback (request ${by.requestId}, ${by.who}) asked for the lock: converging stopped, the rollback finishes it`, "warn", "converge");
      audit(agent, layout, env, { action: "converge", result: "interrupted", image: plan.image, release: request.release, seconds: Math.round((agent.clock.now() - stored.receivedMs) / 1000), runId, reason: `a rollback (request ${by.requestId}) took the lock over while the other services converged`, note: "the rollback converges them to its image" });
    }
    for (const w of warnings) await say(`warning: ${w}`, "warn", "finish");
    finishWarnings = warnings;
    let message = plan.message;
    if (settings.validate.enabled) {
      save({ phase: "finish" });
      const evidence = await runSuites(agent, layout, settings, (m) => say(m, "info", "finish"));
      const unavailable = evidence.filter((e) => e.result === "unavailable").map((e) => e.suite);
      message += validationPassed(evidence) ? "; validation passed" : `; validation failed: ${evidence.filter((e) => e.result === "failed").map((e) => e.suite).join(", ")} (see the audit log)`;
      if (unavailable.length > 0) message += ` (unavailable here: ${unavailable.join(", ")})`;
    }
    // What is live changed: a soak of the old image is over, one of the new begins (where the stack soaks).
    if (plan.image !== before.liveImage && !by) {
      try {
        const soak = await startSoak(agent, layout, settings, plan.image, runId);
        if (soak) message += `; soaking until ${isoTime(soak.endsMs)}`;
        else interruptSoak(agent, layout, settings, `${plan.image || "another release"} went live (run ${runId})`);
      } catch (err) {
        warnings.push(`the soak did not start: ${(err as Error).message}`);
      }
    }
    verdict = buildVerdict({
      runId,
      stored,
      result: "ok",
      release: request.release,
      releaseKey: release.key,
      serving: { live: plan.live, images: plan.images, liveImage: plan.image },
      message: [message, ...warnings].join("; "),
      plan,
      nowMs: agent.clock.now(),
    });
    await say(`done: ${verdict.message}`, "info", "finish");
  } catch (err) {
    preempt?.stop();
    const failure = err instanceof RunFailure ? err : new RunFailure(cp.phase, (err as Error).message);
    const settings = release?.settings;
    if (cp.finish && settings) {
      // Failed while finishing a judged release: it is live; the rest is reported.
      finishWarnings = [`finishing failed: ${failure.message}`];
      verdict = buildVerdict({
        runId, stored, result: "ok", release: request.release, releaseKey: request.releaseKey,
        serving: { live: cp.finish.live, images: cp.finish.images, liveImage: cp.finish.image },
        message: `${cp.finish.message}; warning: finishing failed: ${failure.message}`, plan: cp.finish, nowMs: agent.clock.now(),
      });
    } else {
      await say(`failed at ${failure.phase}: ${failure.reason}`, "error", failure.phase);
      const undone = settings ? await undo(agent, layout, cp, settings, "failed") : { notes: [] as string[] };
      for (const n of undone.notes) await say(n, "info", "switch-back");
      const now = settings ? await serving(agent, layout, settings) : { live: null, images: null, liveImage: cp.liveImage };
      verdict = buildVerdict({
        runId,
        stored,
        result: failure.phase === "stage" ? "refused" : "failed",
        release: request.release,
        releaseKey: readCurrent(layout)?.releaseKey ?? null,
        serving: now,
        message: [failure.reason, ...undone.notes].join("; "),
        phase: failure.phase,
        reason: failure.reason,
        gate: failure.gate,
        logFile: failure.logFile,
        backMs: undone.backMs,
        nowMs: agent.clock.now(),
      });
      // Traffic or containers went back from the request's image: a promotion must not bring it again unforced.
      if ((undone.backMs !== undefined || undone.rolledBack) && request.image) rolledBack = request.image;
    }
  }
  recordVerdict(agent, layout, env, verdict, { skipSmoke: request.skipSmoke || undefined, hotfix: request.hotfix, analysis: plan?.analysis, rolledBack }, finishWarnings);
  pruneRuns(rootLayout);
  releaseLock(rootLayout, holder);
  return verdict;
}
