import type { DeploySettings } from "../contract/settings";
import { Agent } from "./agent";
import { GateFailure, Say } from "./gates";

/*
 * The smoke test, through Caddy as users reach the app: with the test-support API, a run is
 * created, its page fetched and the run deleted (the answers are parsed as JSON; the run id
 * is `.run.runid`); without it, pages must answer 2xx or 3xx. Caddy redirects requests
 * without X-Forwarded-Proto: https, so every request carries it.
 */

const HEADERS = { "X-Forwarded-Proto": "https" };

function snippet(body: string): string {
  return body.replace(/\s+/g, " ").slice(0, 300);
}

function jsonOf(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

export interface SmokeOptions {
  mode?: DeploySettings["smoke"]["mode"];
  pages?: string[];
  runConfig?: string;
}

export async function smoke(agent: Agent, settings: DeploySettings, say: Say, o: SmokeOptions = {}): Promise<GateFailure | null> {
  const base = settings.smoke.url.replace(/\/$/, "");
  const prefix = settings.sitePrefix.replace(/\/$/, "");
  const mode = o.mode ?? settings.smoke.mode;
  if (mode === "test-support") {
    const config = o.runConfig ?? settings.smoke.runConfig;
    const created = await agent.http.request({ method: "POST", url: `${base}${prefix}/tests/api/create-run`, headers: HEADERS, json: { config, overrides: {} } });
    if (created.status !== 201) return { gate: "smoke", reason: `create-run answered ${created.status}: ${snippet(created.body)}` };
    const run = (jsonOf(created.body) as { run?: { runid?: unknown; url?: unknown } } | undefined)?.run;
    const runid = run?.runid;
    if (typeof runid !== "string" || !/^[A-Za-z0-9_.-]+$/.test(runid)) {
      return { gate: "smoke", reason: `create-run gave no usable .run.runid: ${snippet(created.body)}` };
    }
    const url = typeof run?.url === "string" && run.url.startsWith("/") ? run.url : `${prefix}/runs/${runid}/${config}/`;
    const page = await agent.http.request({ method: "GET", url: `${base}${url}`, headers: HEADERS });
    if (page.status !== 200) return { gate: "smoke", reason: `run page ${url} answered ${page.status}` };
    const deleted = await agent.http.request({ method: "DELETE", url: `${base}${prefix}/tests/api/run/${runid}`, headers: HEADERS });
    const deletedId = (jsonOf(deleted.body) as { runid?: unknown } | undefined)?.runid;
    if (deleted.status !== 200 || deletedId !== runid) return { gate: "smoke", reason: `deleting run ${runid} answered ${deleted.status}` };
    await say(`smoke: created, fetched and deleted run ${runid} (${config})`);
    return null;
  }
  for (const page of o.pages ?? settings.smoke.pages) {
    const r = await agent.http.request({ method: "GET", url: `${base}${page}`, headers: HEADERS });
    if (!(r.status >= 200 && r.status < 400)) return { gate: "smoke", reason: `page ${page} answered ${r.status || `nothing (${snippet(r.body)})`} through Caddy` };
    await say(`smoke: ${page} answered ${r.status}`);
  }
  return null;
}
