import type { DeploySettings } from "../contract/settings";
import { CADDYFILE_IN_CADDY } from "../contract/traffic";
import type { Agent } from "./agent";
import type { Compose } from "./compose";
import { containerOf } from "./docker";
import { tail } from "./exec";

/*
 * Bringing Caddy onto the Caddyfile the project directory holds, without dropping the
 * connections it has: a running Caddy reloads (its admin API swaps the configuration
 * behind the same listeners and lets requests under way finish; Caddy itself skips a
 * reload whose configuration is unchanged); only a Caddy that is not running, or one that
 * does not see the current file (created with a single-file mount by an earlier stack
 * version), is started or recreated by compose.
 */

/** Prints the sha256 of the Caddyfile as Caddy sees it (coreutils and busybox both have sha256sum). */
export const caddyfileDigestArgv = (): string[] => ["sha256sum", CADDYFILE_IN_CADDY];

/** Makes the running Caddy load that file through its admin endpoint. */
export const caddyReloadArgv = (): string[] => ["caddy", "reload", "--config", CADDYFILE_IN_CADDY, "--adapter", "caddyfile"];

export type CaddyUpdate = "reloaded" | "started" | "recreated";

export interface CaddyResult {
  how: CaddyUpdate;
  ok: boolean;
  /** Why it failed (the tail of compose's or Caddy's own message). */
  error?: string;
}

/** The first field of sha256sum's output, or undefined if it printed none. */
export function parseDigest(stdout: string): string | undefined {
  const m = /^([0-9a-f]{64})\s/.exec(stdout);
  return m?.[1];
}

/** `want`: the sha256 of the file the project directory holds now (the release's or, after an undo, the live one's). */
export async function bringCaddyToFile(agent: Agent, settings: DeploySettings, compose: Compose, want: string): Promise<CaddyResult> {
  const service = settings.bluegreen!.caddyService;
  const caddy = containerOf(await agent.docker.containers(settings.compose.project, [service]), service);
  if (!caddy?.running) {
    const up = await compose.up([service], { noDeps: true });
    return up.code === 0 ? { how: "started", ok: true } : { how: "started", ok: false, error: tail(up.stderr, 4) };
  }
  const seen = await agent.docker.exec(caddy.id, caddyfileDigestArgv());
  if (seen.code !== 0 || parseDigest(seen.stdout) !== want) {
    const up = await compose.up([service], { noDeps: true, forceRecreate: true });
    return up.code === 0 ? { how: "recreated", ok: true } : { how: "recreated", ok: false, error: tail(up.stderr, 4) };
  }
  const r = await agent.docker.exec(caddy.id, caddyReloadArgv());
  return r.code === 0 ? { how: "reloaded", ok: true } : { how: "reloaded", ok: false, error: tail(r.stderr || r.stdout, 4) };
}
