import * as fs from "node:fs";
import * as path from "node:path";
import { sshRun } from "../rig/ssh";
import { ensureRig } from "../harness/rehearsal/rigStack";
import { BLUEGREEN_CADDYFILE } from "../host/contract/traffic";
import { caddyReloadArgv } from "../host/agent/caddy";
import { IndependentLoadResult, startIndependentLoad } from "./independentLoad";
import { CADDY_PORT, HOST, PATHS, openTunnel } from "./rigSwitch";

/*
 * What a changed Caddyfile costs the requests under way: prod's Caddy on wepp1 under wrk's
 * keep-alive load (through the SSH tunnel, never retrying) gets a different Caddyfile N times,
 * put in place by rename as the agent does, once loaded by the agent's reload (the way a
 * release now takes a new canary step) and once by restarting Caddy's container (what the
 * earlier digest label made compose do). The file alternates between prod's own and prod's
 * with one more site, so every reload is a real configuration change; the host ends on its own.
 */

export type CaddyChangeWay = "reload" | "restart";

export interface CaddyReloadOptions {
  changes: number;
  connections: number;
  ways: CaddyChangeWay[];
  log: (line: string) => void;
}

export interface CaddyWayResult extends IndependentLoadResult {
  way: CaddyChangeWay;
  changes: number;
  /** Every change applied (the reload or the restart exited 0). */
  applied: number;
  failedPerChange: number;
}

export interface CaddyReloadReport {
  ways: CaddyWayResult[];
  definitions: Record<string, string>;
  settings: Record<string, unknown>;
  startedAt: string;
  seconds: number;
}

const SPARE_SITE_PORT = 9099;
const PAUSE_MS = 2000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `cp from file.tmp && mv file.tmp file`: the file replaced by rename, as the agent's installs do. */
export function renameIntoPlaceArgv(from: string, file: string): string[] {
  return ["sh", "-c", 'cp "$1" "$2.tmp" && mv "$2.tmp" "$2"', "sh", from, file];
}

/** A copy of the Caddyfile with one more site: a configuration change Caddy cannot skip as unchanged. */
export function withSpareSiteArgv(file: string, out: string, port = SPARE_SITE_PORT): string[] {
  return ["sh", "-c", 'cp "$1" "$2" && printf "\\n:%s {\\n\\trespond \\"bench\\"\\n}\\n" "$3" >> "$2"', "sh", file, out, String(port)];
}

async function must(argv: string[], what: string): Promise<string> {
  const r = await sshRun(HOST, argv);
  if (r.code !== 0) throw new Error(`${what} on ${HOST} failed (exit ${r.code}): ${r.stderr.trim().slice(-400)}`);
  return r.stdout;
}

export async function runCaddyReloadBench(o: CaddyReloadOptions): Promise<CaddyReloadReport> {
  const started = Date.now();
  await ensureRig(o.log);
  const settings = JSON.parse(await must(["cat", "/opt/wepppy-cicd/deploy.json"], "reading deploy.json")) as { projectDir: string; bluegreen?: { caddyService: string } };
  if (!settings.bluegreen) throw new Error(`prod on ${HOST} is not blue/green: run \`npx wepppy-cicd bench switch\` (or the rig tier) first`);
  const file = path.posix.join(settings.projectDir, BLUEGREEN_CADDYFILE);
  const caddyId = async () => (await must(["docker", "ps", "-q", "--no-trunc", "--filter", `label=com.docker.compose.service=${settings.bluegreen!.caddyService}`], "finding Caddy")).trim();
  if (!/^[0-9a-f]{64}$/.test(await caddyId())) throw new Error(`no running ${settings.bluegreen.caddyService} container on ${HOST}`);
  const own = `/tmp/wepppy-cicd-bench-Caddyfile.own`;
  const spare = `/tmp/wepppy-cicd-bench-Caddyfile.spare`;
  await must(["cp", file, own], "keeping the host's Caddyfile");
  await must(withSpareSiteArgv(file, spare), "writing the changed Caddyfile");

  const tunnel = await openTunnel(HOST, CADDY_PORT);
  const ways: CaddyWayResult[] = [];
  try {
    for (const way of o.ways) {
      o.log(`${way}: ${o.changes} Caddyfile changes under wrk (${o.connections} keep-alive connections), ${PAUSE_MS / 1000} s apart`);
      const load = startIndependentLoad({ port: tunnel.port, path: PATHS[0], connections: o.connections });
      await sleep(PAUSE_MS);
      let applied = 0;
      for (let i = 1; i <= o.changes; i++) {
        await must(renameIntoPlaceArgv(i % 2 === 1 ? spare : own, file), "putting the Caddyfile in place");
        const id = await caddyId();
        const r = way === "reload" ? await sshRun(HOST, ["docker", "exec", id, ...caddyReloadArgv()]) : await sshRun(HOST, ["docker", "restart", "-t", "10", id]);
        if (r.code === 0) applied++;
        else o.log(`  change ${i}: ${way} failed: ${r.stderr.trim().slice(-200)}`);
        await sleep(PAUSE_MS);
      }
      const totals = await load.stop();
      const result = { way, changes: o.changes, applied, ...totals, failedPerChange: Math.round((totals.failed / o.changes) * 10) / 10 };
      ways.push(result);
      o.log(`${way}: ${totals.requests} requests, ${totals.failed} failed (${result.failedPerChange} per change)`);
    }
  } finally {
    tunnel.child.kill();
    await sshRun(HOST, renameIntoPlaceArgv(own, file));
    const id = await caddyId().catch(() => "");
    if (id) await sshRun(HOST, ["docker", "exec", id, ...caddyReloadArgv()]);
    await sshRun(HOST, ["rm", "-f", own, spare]);
  }
  return {
    ways,
    definitions: {
      failed: "wrk's non-2xx/3xx answers plus its socket errors (connect, read, write, timeout); wrk never retries, where a browser retries a request its idle keep-alive connection lost",
      reload: "the agent's own `caddy reload` inside Caddy's container (its admin endpoint), after the file was renamed into place",
      restart: "docker restart of Caddy's container: the connections it drops are those a recreate drops",
    },
    settings: { changes: o.changes, connections: o.connections, pauseSeconds: PAUSE_MS / 1000, host: HOST, path: PATHS[0] },
    startedAt: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
}

export function caddyReloadTable(r: CaddyReloadReport): string {
  const rows = [["way", "changes", "applied", "requests", "failed", "per change"], ...r.ways.map((w) => [w.way, w.changes, w.applied, w.requests, w.failed, w.failedPerChange].map(String))];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i])).join("  ")).join("\n");
}

export function writeCaddyReloadReport(file: string, r: CaddyReloadReport): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(r, null, 2) + "\n");
}
