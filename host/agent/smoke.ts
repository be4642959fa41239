import type { EvidenceCheck } from "../contract/records";
import type { DeploySettings } from "../contract/settings";
import { Agent } from "./agent";
import { GateFailure, Say } from "./gates";
import { HttpResponse } from "./http";

/*
 * The smoke test, through Caddy as users reach the app: with the test-support API, a run is
 * created, its page fetched and the run deleted (the answers are parsed as JSON; the run id
 * is `.run.runid`); without it, pages must answer 2xx or 3xx. Caddy redirects requests
 * without X-Forwarded-Proto: https, so every request carries it. The same steps are the
 * validation's checks (validate.ts), each kept as evidence.
 */

const HEADERS = { "X-Forwarded-Proto": "https" };

export function snippet(body: string): string {
  return body.replace(/\s+/g, " ").slice(0, 300);
}

function jsonOf(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Who answered a request: a stand-in names its build in X-Weppcloud-Build; anything else that answered is the app (or Caddy for it). */
export function answererOf(r: HttpResponse): string {
  const build = r.headers?.["x-weppcloud-build"];
  if (build && /^[A-Za-z0-9._:-]{1,64}$/.test(build)) return `stand-in ${build}`;
  return r.status === 0 ? "nothing" : "app";
}

export interface RequestOptions {
  /** Headers besides X-Forwarded-Proto (the validation's Host). */
  headers?: Record<string, string>;
}

function base(settings: DeploySettings): { url: string; prefix: string } {
  return { url: settings.smoke.url.replace(/\/$/, ""), prefix: settings.sitePrefix.replace(/\/$/, "") };
}

/**
 * create-run, the run's page, delete: one check each, stopping at the first that fails.
 * Through the validation listener where there is one: the public site refuses the API.
 */
export async function createRunChecks(agent: Agent, settings: DeploySettings, config: string, o: RequestOptions = {}): Promise<EvidenceCheck[]> {
  const { prefix } = base(settings);
  const b = (settings.smoke.testSupportUrl || settings.smoke.url).replace(/\/$/, "");
  const headers = { ...HEADERS, ...(o.headers ?? {}) };
  const checks: EvidenceCheck[] = [];
  const created = await agent.http.request({ method: "POST", url: `${b}${prefix}/tests/api/create-run`, headers, json: { config, overrides: {} } });
  const run = (jsonOf(created.body) as { run?: { runid?: unknown; url?: unknown } } | undefined)?.run;
  const runid = run?.runid;
  if (created.status !== 201) {
    checks.push({ name: `${config}: create-run`, ok: false, detail: `create-run answered ${created.status}: ${snippet(created.body)}`, answeredBy: answererOf(created) });
    return checks;
  }
  if (typeof runid !== "string" || !/^[A-Za-z0-9_.-]+$/.test(runid)) {
    checks.push({ name: `${config}: create-run`, ok: false, detail: `create-run gave no usable .run.runid: ${snippet(created.body)}`, answeredBy: answererOf(created) });
    return checks;
  }
  checks.push({ name: `${config}: create-run`, ok: true, detail: `create-run answered 201 with run ${runid}`, answeredBy: answererOf(created) });
  const path = typeof run?.url === "string" && run.url.startsWith("/") ? run.url : `${prefix}/runs/${runid}/${config}/`;
  const page = await agent.http.request({ method: "GET", url: `${b}${path}`, headers });
  checks.push({ name: `${config}: run page`, ok: page.status === 200, detail: `run page ${path} answered ${page.status}`, answeredBy: answererOf(page) });
  // Deleted even when its page failed: a validation leaves no run behind.
  const deleted = await agent.http.request({ method: "DELETE", url: `${b}${prefix}/tests/api/run/${runid}`, headers });
  const deletedId = (jsonOf(deleted.body) as { runid?: unknown } | undefined)?.runid;
  checks.push({ name: `${config}: delete`, ok: deleted.status === 200 && deletedId === runid, detail: `deleting run ${runid} answered ${deleted.status}`, answeredBy: answererOf(deleted) });
  return checks;
}

/** One GET through Caddy per path; 2xx or 3xx passes. */
export async function pageChecks(agent: Agent, settings: DeploySettings, paths: string[], o: RequestOptions & { stopAtFirst?: boolean } = {}): Promise<EvidenceCheck[]> {
  const { url: b } = base(settings);
  const headers = { ...HEADERS, ...(o.headers ?? {}) };
  const checks: EvidenceCheck[] = [];
  for (const path of paths) {
    const started = agent.clock.now();
    const r = await agent.http.request({ method: "GET", url: `${b}${path}`, headers });
    const ok = r.status >= 200 && r.status < 400;
    checks.push({
      name: path,
      ok,
      detail: ok ? `page ${path} answered ${r.status} (${agent.clock.now() - started} ms)` : `page ${path} answered ${r.status || `nothing (${snippet(r.body)})`} through Caddy`,
      answeredBy: answererOf(r),
    });
    if (!ok && o.stopAtFirst) break;
  }
  return checks;
}

export interface SmokeOptions {
  mode?: DeploySettings["smoke"]["mode"];
  pages?: string[];
  runConfig?: string;
}

export async function smoke(agent: Agent, settings: DeploySettings, say: Say, o: SmokeOptions = {}): Promise<GateFailure | null> {
  const mode = o.mode ?? settings.smoke.mode;
  if (mode === "test-support") {
    const config = o.runConfig ?? settings.smoke.runConfig;
    const checks = await createRunChecks(agent, settings, config);
    const bad = checks.find((c) => !c.ok);
    if (bad) return { gate: "smoke", reason: bad.detail };
    await say(`smoke: created, fetched and deleted run ${/run (\S+)$/.exec(checks[0].detail)?.[1] ?? "?"} (${config})`);
    return null;
  }
  const checks = await pageChecks(agent, settings, o.pages ?? settings.smoke.pages, { stopAtFirst: true });
  for (const c of checks) {
    if (!c.ok) return { gate: "smoke", reason: c.detail };
    await say(`smoke: ${c.name} answered ${/answered (\d+)/.exec(c.detail)?.[1] ?? "?"}`);
  }
  return null;
}
