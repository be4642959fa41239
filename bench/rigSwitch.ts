import type { AuditRecord } from "../host/contract/records";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { readState } from "../rig";
import { sshArgv } from "../rig/commands";
import { imageRepository } from "../rig/composeTransform";
import { publishDerivedBuild } from "../rig/registry";
import { sshRun, sshTarget } from "../rig/ssh";
import { NAMESPACE } from "../config/environments";
import { hostLayout } from "../host/contract/layout";
import { judgeConfig, recordLeaves, releaseId } from "../ops/common";
import { rollback } from "../ops/rollback";
import { applyAndUp } from "../ops/update";
import { rehearse } from "../harness/rehearsal/rehearse";
import { rigBackend, rigPassphrase } from "../harness/rehearsal/rigBackend";
import { ensureRig, rigStack } from "../harness/rehearsal/rigStack";
import { crypterFor } from "../harness/engine/crypter";
import { open } from "../harness/engine/secrets";
import { IndependentLoadResult, startIndependentLoad } from "./independentLoad";
import { FAIL_KINDS, FailKind, Window } from "./load";
import { startLoadProcess } from "./loadProcess";

/*
 * Blue/green on the rig under keep-alive load (issue 5's benchmark): prod on wepp1 gets N
 * releases (each a new digest on the idle colour, gated, switched, watched) each followed
 * by a rollback (the update history's previous release, a switch to the warm colour),
 * then a release that passes its gate but answers 5xx, then one that never becomes
 * healthy. Releases are prod updates that set image.digest (what promote does, without
 * its validation check), rollbacks the release CLI's own, through the rig's stand-in
 * engine; the clients reach Caddy on wepp1 through an SSH tunnel (pinned host key) and
 * never retry.
 */

export interface SwitchBenchOptions {
  cycles: number;
  clients: number;
  /** Analysis window after each release's switch (the bad release is judged in it, or in a canary step). */
  analysisSeconds: number;
  /** Canary steps (percentages) each release walks before all traffic moves; undefined: those the stack declares. */
  canary?: number[];
  /**
   * Start the first release, and each rollback, on a quiet host: once the other services all
   * run the live image and the run before has ended. Without it the rollback comes as soon as
   * the release command returns, while the host still recreates those services (and preempts that).
   */
  settle?: boolean;
  /** Connections of the independent load tool (wrk) run beside the clients through the cycles. */
  toolConnections: number;
  log: (line: string) => void;
}

export interface SwitchBenchReport {
  cycles: number;
  requests: number;
  failed: number;
  failedByKind: Record<FailKind, number>;
  switchSecondsMax: number;
  rollbackSecondsMax: number;
  badRelease: { detectSeconds: number | null; failed: number; minuteRequests: number; minutePercent: number; switchedBack: boolean; detectedBy: string };
  neverHealthy: { failed: number; liveUnchanged: boolean; refusedBy: string };
  perCycle: CycleRecord[];
  /** wrk's totals over the release + rollback cycles (it is stopped before the bad releases). */
  independent: IndependentLoadResult;
  definitions: Record<string, string>;
  settings: Record<string, unknown>;
  samples: string[];
  startedAt: string;
  seconds: number;
}

export interface CycleRecord {
  cycle: number;
  build: string;
  releaseCommandSeconds: number;
  releaseFailed: number;
  /** Client side: from the first response of the new build to the last of the old one. */
  switchSeconds: number;
  rollbackCommandSeconds: number;
  /** Host side: from the rollback's deploy starting to the marker switch. */
  rollbackSeconds: number;
  rollbackFailed: number;
  /** From the rollback command's start until every worker service runs the rolled-back image (null: not within 2 min). */
  workersSeconds: number | null;
  /** With settle: from the release command's return until its other services all ran its image (null: not within 2 min). */
  settleSeconds?: number | null;
  requests: number;
}

const STACK = "prod";
export const HOST = "wepp1";
// The rig's prod stack keeps the agent's default root.
const LOCK_DIR = hostLayout("/opt/wepppy-cicd", "/opt/wepppy").lockDir;
export const CADDY_PORT = 8080;
// Pages the app answers (Caddy answers /weppcloud/health itself, so it would hide a switch).
export const PATHS = ["/weppcloud/version", "/weppcloud/"];

function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/**
 * The requests of the minute around a release (issue 10's measure for a bad one): its own,
 * and the rest of the minute at the rate the clients kept through it. A release longer than
 * a minute counts its own requests only.
 */
export function minuteRequests(requests: number, ms: number): number {
  return ms >= 60_000 ? requests : Math.round((requests * 60_000) / Math.max(ms, 1));
}

export function percentOf(part: number, whole: number): number {
  return whole > 0 ? Math.round((part * 10_000) / whole) / 100 : 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** ssh -L to Caddy's loopback port on the host, with the rig's pinned known_hosts. */
export async function openTunnel(host: string, remotePort: number): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const argv = sshArgv(sshTarget(host), ["true"], ["-N", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15", "-L", `127.0.0.1:${port}:127.0.0.1:${remotePort}`]);
  // -N: no remote command; drop the "-- true" that sshArgv appends.
  const child = spawn(argv[0], argv.slice(1, -2), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the SSH tunnel to ${host} exited: ${stderr.trim()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return { port, child };
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill();
  throw new Error(`the SSH tunnel to ${host} did not open in 15 s: ${stderr.trim()}`);
}

/** The host's audit log: records (host/contract/records.ts) whose fields are read, never their prose. */
async function audit(n = 20): Promise<AuditRecord[]> {
  const r = await sshRun(HOST, ["bash", "/opt/wepppy-cicd/bin/wepppy-deploy", "audit", "-n", String(n)]);
  return r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
}

async function trafficState(): Promise<string> {
  const r = await sshRun(HOST, ["bash", "/opt/wepppy-cicd/bin/wepppy-deploy", "traffic", "/opt/wepppy-cicd/bluegreen"]);
  return (JSON.parse(r.stdout) as { state: string }).state;
}

/** prod's service containers on wepp1, besides the colours and one-off runs: [service, image as named, running]. */
async function otherContainers(): Promise<Array<[string, string, boolean]> | null> {
  const settings = JSON.parse((await sshRun(HOST, ["cat", "/opt/wepppy-cicd/deploy.json"])).stdout) as { compose: { project: string }; bluegreen?: { services: Record<string, string> } };
  const colours = new Set(Object.values(settings.bluegreen?.services ?? {}));
  const ids = await sshRun(HOST, ["docker", "ps", "-aq", "--filter", `label=com.docker.compose.project=${settings.compose.project}`, "--filter", "label=com.docker.compose.oneoff=False"]);
  const idList = ids.stdout.trim().split("\n").filter(Boolean);
  if (ids.code !== 0) return null;
  if (idList.length === 0) return [];
  // The image a container was created from as named (`docker ps` shows a digest reference without its digest).
  const r = await sshRun(HOST, ["docker", "inspect", "--format", '{{index .Config.Labels "com.docker.compose.service"}} {{.Config.Image}} {{.State.Running}}', ...idList]);
  if (r.code !== 0) return null; // a container went between the two calls
  return r.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" "))
    .filter(([service]) => !colours.has(service))
    .map(([service, image, running]) => [service, image, running === "true"]);
}

/** The services besides the colours whose containers run an image of `image`'s repository (the app image's workers). */
async function appServices(image: string): Promise<Set<string>> {
  const rows = (await otherContainers()) ?? [];
  return new Set(rows.filter(([, i]) => imageRepository(i) === imageRepository(image)).map(([service]) => service));
}

/**
 * Seconds from `sinceMs` until each of `services` has a running container on `to` and none on
 * any other image; null if not within `limitS`. A service whose old container is gone and whose
 * new one has not started yet is not there.
 */
async function workersConverged(services: Set<string>, to: string, sinceMs: number, limitS = 120): Promise<number | null> {
  for (;;) {
    const rows = await otherContainers();
    const running = (rows ?? []).filter(([service, , up]) => up && services.has(service));
    const on = new Set(running.filter(([, image]) => image === to).map(([service]) => service));
    if (rows && services.size > 0 && [...services].every((sv) => on.has(sv)) && running.every(([, image]) => image === to)) return seconds(Date.now() - sinceMs);
    if (Date.now() - sinceMs > limitS * 1000) return null;
    await new Promise((done) => setTimeout(done, 500));
  }
}

/**
 * Waits until no run holds the host's lock: a release's run goes on after its other services
 * run its image (Caddy's compose up, the retire it schedules), and a rollback started beside
 * that shares the cores with it.
 */
async function runEnded(limitS = 120): Promise<void> {
  const deadline = Date.now() + limitS * 1000;
  while ((await sshRun(HOST, ["test", "!", "-e", LOCK_DIR])).code !== 0) {
    if (Date.now() > deadline) throw new Error(`${HOST}: ${LOCK_DIR} was still held ${limitS} s later`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

/** From the first response of `to` to the last of `from` (0 when they do not overlap). */
function overlapSeconds(w: Window, from: string, to: string): number {
  const a = w.seen[to]?.first;
  const b = w.seen[from]?.last;
  return a !== undefined && b !== undefined ? Math.max(0, seconds(b - a)) : 0;
}

export async function runSwitchBench(o: SwitchBenchOptions): Promise<SwitchBenchReport> {
  const started = Date.now();
  const log = o.log;
  const status = await ensureRig(log);
  const standins = readState()!.standins.weppcloud;
  const common = { now: new Date(), actor: "bench", log: (l: string) => log(`  ${l}`) };

  // prod runs what testprod ran: testprod must have run on this rig first.
  const testprodImage = () => {
    const cp = rigBackend().checkpoint("testprod");
    return cp.encryptionSalt ? String((open(cp.outputs, () => crypterFor(rigPassphrase(), cp.encryptionSalt!)) as Record<string, unknown>).imageRef ?? "") : "";
  };
  if (!testprodImage()) {
    log("testprod has not run on this rig: rehearsing it first (publishing rig-a)");
    const t = await rehearse({ stack: "testprod", publish: "rig-a", log: (l) => log(`  ${l}`) });
    if (!t.ok) throw new Error(`testprod rehearsal failed: ${t.error}`);
  }
  const base = testprodImage();

  // Bench settings, set the way an operator would (pulumi config set --path) on a checkout
  // kept for the whole bench, then an update that puts testprod's image live.
  const stack = await rigStack(STACK, status);
  const set = (key: string, value: string | number | boolean) => stack.setConfig(`${NAMESPACE}:${key}`, { value: String(value) }, true);
  await set("bluegreen.enabled", true);
  await set("bluegreen.warmSeconds", 3600);
  for (const [k, v] of Object.entries({ seconds: o.analysisSeconds, intervalSeconds: 1, maxErrorPercent: 5, minRequests: 20, stepSeconds: 3 })) await set(`bluegreen.analysis.${k}`, v);
  // Steps given replace the stack's own; none given, a release walks those prod declares.
  if (o.canary) {
    await stack.removeConfig(`${NAMESPACE}:bluegreen.canary`, true);
    for (const [i, p] of o.canary.entries()) await set(`bluegreen.canary[${i}]`, p);
  }
  const canary = judgeConfig(STACK, await stack.getAllConfig()).bluegreen.canary;
  for (const [k, v] of Object.entries({ tries: 30, intervalSeconds: 1, monitoring: true, skipSmoke: false })) await set(`health.${k}`, v);
  log(`prod: bench settings (analysis ${o.analysisSeconds} s, canary ${canary.join("/") || "none"}${o.canary ? "" : " (the stack's)"}, gate 30 × 1 s, warm 3600 s); putting ${base} live`);
  const first = await applyAndUp(stack, await stack.getAllConfig(), { "image.digest": base, ...recordLeaves({ id: releaseId(STACK, new Date()), actor: "bench" }) }, "bench: start", (l) => log(`    ${l}`));
  if (!first.ok) throw new Error(`prod did not come up on the rig: ${first.error}`);
  // The bench's own settings may change the Caddyfile, and the finish of that update (after its
  // verdict) has Caddy reload it, which closes idle keep-alive connections: that is the bench's
  // set-up, not a release it measures (bench caddy-reload measures what a reload costs).
  log("prod: waiting for the run of the bench's own first update to end on the host");
  await runEnded();

  // Every service on the app image, besides the colours (compose has created them all by now, running or not).
  const workers = await appServices(base);
  if (workers.size === 0) throw new Error(`no prod service on wepp1 besides the colours runs an image of ${imageRepository(base)}`);
  if (o.settle) {
    // The first cycle's release, too, comes to a quiet host.
    log(`prod: waiting for every other service to run ${base} (--settle)`);
    if ((await workersConverged(workers, base, Date.now())) === null) throw new Error(`prod's other services did not all come to ${base} within 120 s`);
    await runEnded();
  }
  const tunnel = await openTunnel(HOST, CADDY_PORT);
  const headers = { "X-Forwarded-Proto": "https" };
  const load = await startLoadProcess({ port: tunnel.port, clients: o.clients, paths: PATHS, headers });
  const tool = startIndependentLoad({ port: tunnel.port, path: PATHS[0], connections: o.toolConnections, headers });
  let independent: IndependentLoadResult | undefined;
  const perCycle: CycleRecord[] = [];
  let badRelease: SwitchBenchReport["badRelease"] = { detectSeconds: null, failed: 0, minuteRequests: 0, minutePercent: 0, switchedBack: false, detectedBy: "" };
  let neverHealthy: SwitchBenchReport["neverHealthy"] = { failed: 0, liveUnchanged: false, refusedBy: "" };
  try {
    await new Promise((r) => setTimeout(r, 3000));
    const warm = await load.mark();
    const baseBuild = await load.lastBuild();
    if (!baseBuild) throw new Error(`no response through Caddy named its build (X-Weppcloud-Build): ${warm.samples.join("; ") || "no samples"}`);
    log(`load: ${o.clients} keep-alive clients through ${HOST}'s Caddy; ${warm.requests} requests in the first 3 s (${warm.failed} failed), build ${baseBuild}`);

    const releaseOf = async (image: string, id: string): Promise<{ result: { ok: boolean; error?: string }; seconds: number }> => {
      const t0 = Date.now();
      const outcome = await applyAndUp(stack, await stack.getAllConfig(), { "image.digest": image, ...recordLeaves({ id, actor: "bench" }) }, `bench release ${id}`, common.log);
      return { result: outcome, seconds: seconds(Date.now() - t0) };
    };

    for (let cycle = 1; cycle <= o.cycles; cycle++) {
      const build = `bench-c${cycle}-${Date.now().toString(36)}`;
      const image = await publishDerivedBuild(standins["rig-b"], build, build);
      await load.mark();
      log(`cycle ${cycle}/${o.cycles}: release ${build}`);
      const rel = await releaseOf(image, releaseId(STACK, new Date()).replace(/^prod/, `bench${cycle}`));
      const wr = await load.mark();
      if (!rel.result.ok) throw new Error(`cycle ${cycle}: the release failed: ${rel.result.error}`);
      let settleSeconds: number | null | undefined;
      if (o.settle) {
        log(`cycle ${cycle}: waiting for the release's other services to run ${build} before the rollback (--settle)`);
        settleSeconds = await workersConverged(workers, image, Date.now());
        await runEnded();
      }
      log(`cycle ${cycle}: rollback`);
      const t0 = Date.now();
      const rb = await rollback({ ...common, now: new Date(), stack });
      const rbSeconds = seconds(Date.now() - t0);
      if (!rb.ok) throw new Error(`cycle ${cycle}: the rollback failed: ${rb.error}`);
      const workersSeconds = await workersConverged(workers, base, t0);
      const wb = await load.mark();
      const entry = (await audit(5)).reverse().find((e) => e.action === "deploy" && e.result === "ok");
      // switchMs: from the host receiving the rollback's deploy request to traffic on the warm colour.
      const hostMs = entry?.switchMs ?? null;
      const rec: CycleRecord = {
        cycle,
        build,
        releaseCommandSeconds: rel.seconds,
        releaseFailed: wr.failed,
        switchSeconds: overlapSeconds(wr, baseBuild, build),
        rollbackCommandSeconds: rbSeconds,
        rollbackSeconds: hostMs === null ? NaN : hostMs / 1000,
        rollbackFailed: wb.failed,
        workersSeconds,
        ...(o.settle ? { settleSeconds } : {}),
        requests: wr.requests + wb.requests,
      };
      perCycle.push(rec);
      log(`cycle ${cycle}: ${rec.requests} requests, ${rec.releaseFailed + rec.rollbackFailed} failed; switch overlap ${rec.switchSeconds} s; ${o.settle ? `settled ${settleSeconds ?? "NOT within 120"} s after the release; ` : ""}rollback switch ${rec.rollbackSeconds} s after its deploy started (command ${rbSeconds} s); workers on it ${rec.workersSeconds ?? "NOT within 120"} s after it started`);
    }
    independent = await tool.stop();
    log(`independent load (${independent.tool}, ${independent.connections} connections, ${independent.url}): ${independent.requests} requests over the cycles, ${independent.failed} failed`);

    // A release that passes its gate and then answers 5xx: the analysis window must switch back.
    {
      await set("health.skipSmoke", true);
      const liveBefore = await trafficState();
      await load.mark();
      const from = Date.now();
      log("bad release: rig-healthy-then-5xx (smoke test skipped, so the analysis window is what must catch it)");
      const rel = await releaseOf(standins["rig-healthy-then-5xx"], `bench-bad-${Date.now().toString(36)}`);
      const w = await load.mark();
      const minute = minuteRequests(w.requests, Date.now() - from);
      await set("health.skipSmoke", false);
      // One record per run: the failed deploy, with how long after its switch traffic was back.
      const entry = (await audit(10)).reverse().find((e) => e.action === "deploy" && e.result === "failed" && e.backMs !== undefined);
      const ms = entry?.backMs ?? null;
      badRelease = {
        detectSeconds: ms === null ? null : ms / 1000,
        failed: w.failed,
        minuteRequests: minute,
        minutePercent: percentOf(w.failed, minute),
        switchedBack: !rel.result.ok && (await trafficState()) === liveBefore && (await load.lastBuild()) === baseBuild,
        detectedBy: entry ? `${entry.phase}: ${entry.reason}` : "(no automatic switch back in the audit log)",
      };
      log(`bad release: switched back ${badRelease.switchedBack ? "yes" : "NO"} after ${badRelease.detectSeconds} s; ${w.failed} failed requests (${w.failedByKind.status5xx} were its 5xx), ${badRelease.minutePercent} % of the minute's ${minute}`);
    }

    // A release that never becomes healthy: refused at the gate, no request may fail.
    {
      const liveBefore = await trafficState();
      await load.mark();
      log("never-healthy release: rig-never-healthy");
      const rel = await releaseOf(standins["rig-never-healthy"], `bench-never-${Date.now().toString(36)}`);
      const w = await load.mark();
      // The host's own record of why.
      const refusal = (await audit(10)).reverse().find((e) => e.action === "deploy" && e.result === "failed");
      neverHealthy = {
        failed: w.failed,
        liveUnchanged: !rel.result.ok && (await trafficState()) === liveBefore && (await load.lastBuild()) === baseBuild,
        refusedBy: refusal ? `${refusal.gate ?? refusal.phase}: ${refusal.reason}` : "(no failed deploy in the audit log)",
      };
      log(`never-healthy: live unchanged ${neverHealthy.liveUnchanged ? "yes" : "NO"}; ${w.failed} failed requests`);
    }
  } finally {
    await load.stop();
    if (!independent) await tool.stop().catch(() => undefined);
    tunnel.child.kill();
  }

  const t = await load.totals();
  const cycleFailed = perCycle.reduce((n, c) => n + c.releaseFailed + c.rollbackFailed, 0);
  // Failures outside the bad release (whose 5xx are what it is made to produce) count.
  const failedByKind = { ...t.failedByKind };
  failedByKind.status5xx -= Math.min(failedByKind.status5xx, badRelease.failed);
  const failed = FAIL_KINDS.reduce((n, k) => n + failedByKind[k], 0);
  return {
    cycles: perCycle.length,
    requests: t.requests,
    failed,
    failedByKind,
    switchSecondsMax: Math.max(0, ...perCycle.map((c) => c.switchSeconds)),
    rollbackSecondsMax: Math.max(0, ...perCycle.map((c) => c.rollbackSeconds)),
    badRelease,
    neverHealthy,
    perCycle,
    independent: independent!,
    definitions: {
      requests: "every request the keep-alive clients sent through Caddy, bad releases included",
      failed: "connection errors, timeouts, 5xx and other non-200 answers, except the 5xx the deliberately bad release produced (reported under badRelease.failed)",
      switchSeconds: "client side: from the first response of the new build to the last response of the old one (how long both served)",
      rollbackSeconds: "host side: from the host receiving the rollback's deploy request to the marker switch (switchMs of its audit record)",
      workersSeconds: "from the rollback command's start until each service besides the colours that runs the app image (workers, Go and Flask services alike) has a running container on the rolled-back image and none on another",
      "badRelease.minuteRequests": "the requests of the minute around the bad release: those the clients sent during its command, scaled to 60 s at the rate they kept through it",
      "badRelease.minutePercent": "badRelease.failed as a percentage of badRelease.minuteRequests (issue 10: at most 1)",
      "badRelease.detectSeconds": "host side: from the switch to the new colour to the switch back (backMs of the failed deploy's audit record)",
      settleSeconds: "with settle: from the release command's return until each of those services has a running container on the release's image and none on another (the rollback starts once the release's run has also ended)",
      independent: "wrk beside the clients, keep-alive, through the same tunnel, from before the first cycle to after the last (not through the bad releases): failed is its non-2xx/3xx answers plus its socket errors (connect, read, write, timeout)",
      cycleFailed: String(cycleFailed),
    },
    settings: { clients: o.clients, paths: PATHS, analysisSeconds: o.analysisSeconds, canary, workers: [...workers].sort(), settle: o.settle === true, host: HOST, rig: status.stateDir },
    samples: t.samples,
    startedAt: new Date(started).toISOString(),
    seconds: seconds(Date.now() - started),
  };
}

export function switchBenchTable(r: SwitchBenchReport): string {
  const rows: [string, string][] = [
    ["release + rollback cycles", String(r.cycles)],
    ["requests (keep-alive, no retry)", String(r.requests)],
    ["failed requests", String(r.failed)],
    ...FAIL_KINDS.map((k) => [`  ${k}`, String(r.failedByKind[k])] as [string, string]),
    ["switch: both builds served (max s)", r.switchSecondsMax.toFixed(3)],
    ["rollback to warm colour (max s, host)", r.rollbackSecondsMax.toFixed(3)],
    [`independent load (${r.independent.tool}, ${r.independent.connections} conn.): requests`, String(r.independent.requests)],
    ["independent load: failed (non-2xx/3xx, socket errors)", String(r.independent.failed)],
    ["rollback comes", r.settings.settle ? "once the release's services settled" : "as soon as the release command returns"],
    ["rollback command (max s, whole update)", Math.max(0, ...r.perCycle.map((c) => c.rollbackCommandSeconds)).toFixed(1)],
    ["rollback: every worker on its image (max s)", r.perCycle.some((c) => c.workersSeconds === null) ? "NOT within 120" : Math.max(0, ...r.perCycle.map((c) => c.workersSeconds ?? 0)).toFixed(1)],
    ["release command (max s, whole update)", Math.max(0, ...r.perCycle.map((c) => c.releaseCommandSeconds)).toFixed(1)],
    ["5xx release: detected and switched back (s)", r.badRelease.detectSeconds === null ? "-" : r.badRelease.detectSeconds.toFixed(3)],
    ["5xx release: switched back", r.badRelease.switchedBack ? "yes" : "NO"],
    ["5xx release: its 5xx answers", String(r.badRelease.failed)],
    ["5xx release: % of the minute's requests", `${r.badRelease.minutePercent.toFixed(2)} of ${r.badRelease.minuteRequests}`],
    ["never-healthy release: failed requests", String(r.neverHealthy.failed)],
    ["never-healthy release: live unchanged", r.neverHealthy.liveUnchanged ? "yes" : "NO"],
    ["bench duration (s)", r.seconds.toFixed(0)],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}

export function writeReport(file: string, r: SwitchBenchReport): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
}
