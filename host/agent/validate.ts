import type { HostLayout } from "../contract/layout";
import type { DeploySettings } from "../contract/settings";
import { Agent } from "./agent";
import { audit } from "./audit";
import { Say } from "./gates";
import { smoke } from "./smoke";
import { serving } from "./truth";

/*
 * Functional validation of the live release (spec, Release Process step 4): what promotion
 * to prod requires. With the test-support API, a run of each configured configuration is
 * created, fetched and deleted; then the configured pages must answer. Audited either way,
 * with the live image, so that `wepppy-cicd promote` finds it by digest.
 */
export async function validate(agent: Agent, layout: HostLayout, settings: DeploySettings, say: Say): Promise<boolean> {
  const started = agent.clock.now();
  const failures: string[] = [];
  if (settings.smoke.mode === "test-support") {
    const configs = settings.validate.runConfigs.length > 0 ? settings.validate.runConfigs : [settings.smoke.runConfig];
    for (const runConfig of configs) {
      const f = await smoke(agent, settings, say, { mode: "test-support", runConfig });
      if (f) failures.push(`${runConfig}: ${f.reason}`);
    }
  }
  const pages = settings.validate.pages.length > 0 ? settings.validate.pages : settings.smoke.pages;
  const f = await smoke(agent, settings, say, { mode: "pages", pages });
  if (f) failures.push(f.reason);
  const live = await serving(agent, layout, settings);
  audit(agent, layout, settings.environment, {
    action: "validate",
    result: failures.length === 0 ? "ok" : "failed",
    image: live.liveImage,
    startedMs: started,
    ...(failures.length > 0 ? { reason: failures.join("; "), gate: "smoke" } : {}),
    note: `run configs: ${settings.smoke.mode === "test-support" ? (settings.validate.runConfigs.join(" ") || settings.smoke.runConfig) : "none (no test-support API)"}; pages: ${pages.join(" ")}`,
  });
  await say(failures.length === 0 ? "validation passed" : `validation failed: ${failures.join("; ")}`);
  return failures.length === 0;
}
