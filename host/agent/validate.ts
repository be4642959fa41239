import type { HostLayout } from "../contract/layout";
import { EvidenceCheck, Suite, SuiteEvidence, digestOfRef } from "../contract/records";
import type { DeploySettings } from "../contract/settings";
import { Agent } from "./agent";
import { audit } from "./audit";
import { isoTime } from "./clock";
import { containerOf } from "./docker";
import { Say, projectContainers } from "./gates";
import { answererOf, createRunChecks, pageChecks, snippet } from "./smoke";
import { serving } from "./truth";

/*
 * Functional validation of the live release (spec, Release Process step 4): what promotion
 * to prod requires. Each suite the stack declares (validate.suites) runs against what is
 * live, through Caddy with the site's Host header as users reach it, and ends as one piece
 * of evidence (SuiteEvidence) in the audit log, with the live image's digest, so that
 * `wepppy-cicd promote` finds it:
 *   create-run        a run of each configuration created, fetched and deleted (test-support API);
 *   routes            the pages and the routed services' APIs (status, preflight, rq-engine, ...);
 *   profile-playback  wepppy's profile playback service replays each profile.
 * A suite the stack cannot run (the API off, the service absent) is recorded as unavailable,
 * which is not a pass.
 */

const PLAYBACK_TIMEOUT_MS = 30 * 60 * 1000;

interface SuiteRun {
  result?: SuiteEvidence["result"];
  checks: EvidenceCheck[];
}

function headersOf(settings: DeploySettings): Record<string, string> {
  return settings.validate.host ? { Host: settings.validate.host } : {};
}

async function createRunSuite(agent: Agent, settings: DeploySettings): Promise<SuiteRun> {
  if (settings.smoke.mode !== "test-support") {
    return {
      result: "unavailable",
      checks: [{ name: "test-support API", ok: false, detail: `the test-support API is off on ${settings.environment} (features.TEST_SUPPORT_ENABLED): no run can be created` }],
    };
  }
  const configs = settings.validate.runConfigs.length > 0 ? settings.validate.runConfigs : [settings.smoke.runConfig];
  const checks: EvidenceCheck[] = [];
  for (const config of configs) checks.push(...(await createRunChecks(agent, settings, config, { headers: headersOf(settings) })));
  return { checks };
}

async function routesSuite(agent: Agent, settings: DeploySettings): Promise<SuiteRun> {
  const pages = settings.validate.pages.length > 0 ? settings.validate.pages : settings.smoke.pages;
  const paths = [...new Set([...pages, ...settings.validate.routes])];
  return { checks: await pageChecks(agent, settings, paths, { headers: headersOf(settings) }) };
}

function jsonOf(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** A replayed request's status passes when it is an HTTP status below 400 (or a word for success). */
function statusOk(status: unknown): boolean {
  if (typeof status === "number") return status >= 100 && status < 400;
  if (typeof status === "string") return /^[123]\d\d$/.test(status) || /^(ok|passed|success)$/i.test(status);
  return false;
}

async function playbackSuite(agent: Agent, settings: DeploySettings): Promise<SuiteRun> {
  const service = settings.validate.profileService;
  const c = containerOf(await projectContainers(agent, settings), service);
  if (!c?.running) return { result: "unavailable", checks: [{ name: `${service} service`, ok: false, detail: `no running ${service} container in project ${settings.compose.project}` }] };
  if (settings.validate.profiles.length === 0) return { result: "unavailable", checks: [{ name: "profiles", ok: false, detail: "no profiles declared (promotion.profiles)" }] };
  const b = settings.smoke.url.replace(/\/$/, "");
  const headers = { "X-Forwarded-Proto": "https", ...headersOf(settings) };
  const checks: EvidenceCheck[] = [];
  for (const profile of settings.validate.profiles) {
    const name = `profile ${profile}`;
    const run = await agent.http.request({ method: "POST", url: `${b}/profile-playback/run/${profile}`, headers, json: { dry_run: false }, timeoutMs: PLAYBACK_TIMEOUT_MS });
    const answeredBy = answererOf(run);
    // The service streams its log and ends with "result token=<hex>" (or "error token=<hex>: why").
    const error = /error token=[0-9a-f]+: ?(.*)$/m.exec(run.body);
    const token = /result token=([0-9a-f]{8,64})/.exec(run.body)?.[1];
    if (run.status !== 200 || error || !token) {
      const why = error ? error[1] : run.status !== 200 ? `answered ${run.status}: ${snippet(run.body)}` : `no result token in its answer: ${snippet(run.body.slice(-300))}`;
      checks.push({ name, ok: false, detail: `playback of ${profile} failed: ${why}`.slice(0, 400), answeredBy });
      continue;
    }
    const result = await agent.http.request({ method: "GET", url: `${b}/profile-playback/run/result/${token}`, headers });
    const requests = (jsonOf(result.body) as { requests?: unknown } | undefined)?.requests;
    if (result.status !== 200 || !Array.isArray(requests)) {
      checks.push({ name, ok: false, detail: `the result of playback ${token} answered ${result.status}: ${snippet(result.body)}`, answeredBy });
      continue;
    }
    const bad = requests.filter((r) => !statusOk((r as { status?: unknown } | null)?.status));
    const first = bad[0] as { id?: unknown; status?: unknown } | undefined;
    checks.push({
      name,
      ok: requests.length > 0 && bad.length === 0,
      detail:
        requests.length === 0
          ? `playback of ${profile} replayed no request`
          : `${requests.length} requests replayed, ${bad.length} failed${first ? ` (first: ${String(first.id ?? "?").slice(0, 60)} answered ${String(first.status).slice(0, 20)})` : ""}`,
      answeredBy,
    });
  }
  return { checks };
}

const SUITE_RUNNERS: Record<Suite, (agent: Agent, settings: DeploySettings) => Promise<SuiteRun>> = {
  "create-run": createRunSuite,
  routes: routesSuite,
  "profile-playback": playbackSuite,
};

/** Runs every declared suite against what is live; each is audited as evidence. */
export async function runSuites(agent: Agent, layout: HostLayout, settings: DeploySettings, say: Say): Promise<SuiteEvidence[]> {
  const out: SuiteEvidence[] = [];
  for (const suite of settings.validate.suites) {
    const startedMs = agent.clock.now();
    const live = await serving(agent, layout, settings);
    const service = settings.bluegreen && live.live ? settings.bluegreen.services[live.live] : settings.app.service;
    let run: SuiteRun;
    try {
      run = await SUITE_RUNNERS[suite](agent, settings);
    } catch (err) {
      run = { checks: [{ name: suite, ok: false, detail: `the suite stopped: ${(err as Error).message}`.slice(0, 400) }] };
    }
    const result = run.result ?? (run.checks.length > 0 && run.checks.every((c) => c.ok) ? "passed" : "failed");
    const evidence: SuiteEvidence = {
      version: 1,
      suite,
      result,
      image: live.liveImage,
      digest: digestOfRef(live.liveImage),
      started: isoTime(startedMs),
      finished: isoTime(agent.clock.now()),
      checks: run.checks,
      where: { url: settings.smoke.url, host: settings.validate.host, service, colour: live.live },
      answeredBy: [...new Set(run.checks.map((c) => c.answeredBy).filter((a): a is string => a !== undefined))],
    };
    const failed = run.checks.filter((c) => !c.ok);
    audit(agent, layout, settings.environment, {
      action: "validate",
      result: result === "passed" ? "ok" : result === "failed" ? "failed" : "skipped",
      image: live.liveImage,
      startedMs,
      evidence,
      ...(result === "failed" ? { reason: failed.map((c) => c.detail).join("; ").slice(0, 1000), gate: "validate" } : {}),
      note: `suite ${suite}: ${result}, ${run.checks.length - failed.length} of ${run.checks.length} checks ok`,
    });
    await say(`validation: ${suite} ${result}${failed.length > 0 ? `: ${failed.map((c) => c.detail).join("; ")}` : ""}`);
    out.push(evidence);
  }
  return out;
}

/** The validation's outcome: passed unless a suite failed (an unavailable suite is reported, and promotion decides whether it needed it). */
export function validationPassed(evidence: SuiteEvidence[]): boolean {
  return evidence.every((e) => e.result !== "failed");
}

export async function validate(agent: Agent, layout: HostLayout, settings: DeploySettings, say: Say): Promise<boolean> {
  const evidence = await runSuites(agent, layout, settings, say);
  const passed = validationPassed(evidence);
  await say(passed ? "validation passed" : `validation failed: ${evidence.filter((e) => e.result === "failed").map((e) => e.suite).join(", ")}`);
  return passed;
}
