import * as fs from "node:fs";
import * as path from "node:path";
import type { HostLayout } from "../contract/layout";
import type { DeploySettings } from "../contract/settings";
import { Agent, CommandError } from "./agent";
import { audit } from "./audit";
import { Runner, runCommand, tail } from "./exec";
import { acquireLock, releaseLock } from "./lock";

/*
 * dev builds its images on the host from a checkout (spec: Image Source "Local build"):
 * the ref is fetched and checked out, then compose builds. git runs in the agent's
 * container on the mounted checkout, which another user owns: safe.directory is given
 * for this call only.
 */
export async function build(agent: Agent, layout: HostLayout, settings: DeploySettings, checkout: string, ref: string, run: Runner = runCommand): Promise<string> {
  if (!fs.existsSync(path.join(checkout, ".git"))) throw new CommandError(`build: ${checkout} is not a git checkout`, 2);
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/.test(ref)) throw new CommandError("build: --ref expects a git branch, tag or commit", 2);
  const started = agent.clock.now();
  const holder = await acquireLock(agent, layout, { action: "build", waitSeconds: settings.lockWaitSeconds });
  const env = { ...process.env, GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "safe.directory", GIT_CONFIG_VALUE_0: "*" };
  const git = (args: string[]) => run(["git", "-C", checkout, ...args], { env });
  const fail = (reason: string): never => {
    audit(agent, layout, settings.environment, { action: "build", result: "failed", image: "", reason, startedMs: started });
    throw new CommandError(reason);
  };
  try {
    agent.out.say(`[wepppy-deploy] fetching ${ref} in ${checkout}`);
    const fetched = await git(["fetch", "--quiet", "origin"]);
    if (fetched.code !== 0) fail(`git fetch failed in ${checkout}: ${tail(fetched.stderr, 3)}`);
    if ((await git(["checkout", "--quiet", "--detach", `origin/${ref}`])).code !== 0 && (await git(["checkout", "--quiet", "--detach", ref])).code !== 0) fail(`cannot check out ${ref}`);
    const head = (await git(["rev-parse", "HEAD"])).stdout.trim();
    const image = `build:${checkout}#${head}`;
    agent.out.say("[wepppy-deploy] compose build");
    const b = await agent.compose(settings, layout.envFile).build();
    if (b.code !== 0) fail(`compose build failed: ${tail(b.stderr, 6)}`);
    audit(agent, layout, settings.environment, { action: "build", result: "ok", image, note: ref, startedMs: started });
    return image;
  } finally {
    releaseLock(layout, holder);
  }
}
