import type { DeploySettings } from "../contract/settings";
import { BLUEGREEN_CADDYFILE, CADDYFILE_IN_CADDY } from "../contract/traffic";
import type { Agent } from "./agent";
import type { Compose } from "./compose";
import { containerOf } from "./docker";
import { CmdResult, tail } from "./exec";
import type { StagedRelease } from "./releases";

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

/** The sha256 of the blue/green Caddyfile a release brings, from its manifest. */
export function releaseCaddyfileDigest(release: StagedRelease): string | undefined {
  return release.manifest.project.find((f) => f.path === BLUEGREEN_CADDYFILE)?.sha256;
}

/*
 * A Caddy container that compose has just started answers on its sites before its admin
 * endpoint listens, and `caddy reload` then fails with "performing request ... connection refused":
 * the reload is tried again for a few seconds. A Caddy whose endpoint never answers (a
 * Caddyfile with `admin off`) is recreated instead. Any other refusal (a Caddyfile Caddy
 * rejects) is final at once.
 */
const RELOAD_TRIES = 12;
const RELOAD_RETRY_MS = 250;
const adminNotUp = (r: CmdResult) => /performing request|connection refused|dial tcp/i.test(`${r.stderr}\n${r.stdout}`);

async function reload(agent: Agent, id: string): Promise<CmdResult> {
  let r = await agent.docker.exec(id, caddyReloadArgv());
  for (let i = 1; i < RELOAD_TRIES && r.code !== 0 && adminNotUp(r); i++) {
    await agent.clock.sleep(RELOAD_RETRY_MS);
    r = await agent.docker.exec(id, caddyReloadArgv());
  }
  return r;
}

/**
 * `want`: the sha256 of the file the project directory holds now (the release's or, after an
 * undo, the live one's). `idBefore`: the id Caddy's container had before a compose call the
 * caller just made; a container with another id was created by that call, has read the
 * current file as it started, and needs no reload.
 */
export async function bringCaddyToFile(agent: Agent, settings: DeploySettings, compose: Compose, want: string, idBefore?: string): Promise<CaddyResult> {
  const service = settings.bluegreen!.caddyService;
  const caddy = containerOf(await agent.docker.containers(settings.compose.project, [service]), service);
  if (!caddy?.running) {
    const up = await compose.up([service], { noDeps: true });
    return up.code === 0 ? { how: "started", ok: true } : { how: "started", ok: false, error: tail(up.stderr, 4) };
  }
  const recreate = async (): Promise<CaddyResult> => {
    const up = await compose.up([service], { noDeps: true, forceRecreate: true });
    return up.code === 0 ? { how: "recreated", ok: true } : { how: "recreated", ok: false, error: tail(up.stderr, 4) };
  };
  const seen = await agent.docker.exec(caddy.id, caddyfileDigestArgv());
  if (seen.code !== 0 || parseDigest(seen.stdout) !== want) return recreate();
  if (idBefore !== undefined && caddy.id !== idBefore) return { how: "recreated", ok: true };
  const r = await reload(agent, caddy.id);
  if (r.code !== 0 && adminNotUp(r)) return recreate();
  return r.code === 0 ? { how: "reloaded", ok: true } : { how: "reloaded", ok: false, error: tail(r.stderr || r.stdout, 4) };
}
