import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../config/paths";
import type { AuditRecord, HostStatus } from "../host/contract/records";
import { hosts } from "../rig/config";
import { docker } from "../rig/dockerd";
import { readState } from "../rig";
import { publishDerivedBuild } from "../rig/registry";
import { sshRun } from "../rig/ssh";
import { sshArgv } from "../rig/commands";
import { sshTarget } from "../rig/ssh";
import { run, sleep } from "../rig/exec";
import { ensureRig } from "../harness/rehearsal/rigStack";

/*
 * `wepppy-cicd bench drop` (issue 10): a deploy must survive its client. prod on wepp1 gets a
 * release per case, each run as a CI job runs it (the CLI in its own process); the client is
 * killed (SIGKILL, its SSH sessions with it) when the host's run reaches a phase: after the
 * lock, during the backup, the pull, the gate, a canary step, just after the switch, during
 * the analysis window, during convergence. The backend then holds the killed CLI's lock, as
 * the file backend does: `wepppy-cicd cancel` removes it, and the same update runs again,
 * which must attach to the host's run or take its verdict, never start a second. The host
 * itself is restarted once mid-release (at the gate) and once while idle. Every case is
 * checked on the host: one verdict per run, the lock released, the release live and verified.
 */

export const DROP_PHASES = ["lock", "backup", "pull", "gate", "canary", "switch", "analysis", "converge"] as const;
export type DropPhase = (typeof DROP_PHASES)[number];

/** The host's phases at which a kill counts as "at" each case: "switch" is the switch itself or its smoke test just after. */
const KILL_AT: Record<DropPhase, string[]> = {
  lock: ["lock", "stage"],
  backup: ["backup"],
  pull: ["pull"],
  gate: ["gate"],
  canary: ["canary"],
  switch: ["switch", "smoke"],
  analysis: ["analysis"],
  converge: ["converge"],
};

export interface DropCase {
  /** The phase the client was killed in, "restart@gate" or "restart@idle". */
  phase: string;
  /** Whether the run was caught in that phase (false: it went past before the poll saw it). */
  caught: boolean;
  /** The host's verdict for the release, as the update that ran again reported it. */
  verdict: "ok" | "failed" | "none";
  /** The image the host serves after the case, and the build Caddy answers with. */
  live: string;
  served: string;
  lockReleased: boolean;
  /** Deploy records the host wrote for the case's runs; one per run, and one run unless a restart interrupted it. */
  auditRecords: number;
  runs: number;
  consistent: boolean;
  detail: string;
  seconds: number;
}

export interface DropReport {
  cases: DropCase[];
  consistent: boolean;
  startedAt: string;
  seconds: number;
}

const STACK = "prod";
const HOST = "wepp1";
const ROOT = "/opt/wepppy-cicd";
const SETTINGS = [
  "bluegreen.analysis.seconds=8",
  "bluegreen.analysis.intervalSeconds=1",
  // prod's canary steps (Pulumi.prod.yaml), each judged long enough for a kill to land in it.
  "bluegreen.analysis.stepSeconds=5",
  "bluegreen.warmSeconds=3600",
  "health.intervalSeconds=1",
  "backup.preDeploy=true",
];

function cliArgv(args: string[]): string[] {
  return ["node", path.join(PROJECT_ROOT, "bin", "wepppy-cicd.js"), ...args];
}

/** The CLI as a CI job runs it: its own process group, so a kill takes its SSH sessions too. */
function startCli(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string }> } {
  const argv = cliArgv(args);
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.resume();
  const done = new Promise<{ code: number | null; stdout: string }>((resolve) => child.on("close", (code) => resolve({ code, stdout })));
  return { child, done };
}

async function cli(args: string[]): Promise<{ code: number | null; json: any }> {
  const { done } = startCli(args);
  const r = await done;
  try {
    return { code: r.code, json: JSON.parse(r.stdout) };
  } catch {
    return { code: r.code, json: { ok: false, error: r.stdout.slice(-400) } };
  }
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // already gone
  }
}

/**
 * Streams the newest run's checkpoint from the host every 100 ms (one SSH session). The agent
 * writes it indented, so each copy is followed by a separator line and parsed whole.
 */
function watchRuns(onCheckpoint: (cp: { runId: string; phase: string; requestId: string }) => void): () => void {
  const SEPARATOR = "--checkpoint--";
  const script = `while :; do d=$(ls -1d ${ROOT}/runs/*/ 2>/dev/null | tail -n 1); [ -n "$d" ] && cat "$d/checkpoint.json" 2>/dev/null; echo; echo ${SEPARATOR}; sleep 0.1; done`;
  const argv = sshArgv(sshTarget(HOST), { script });
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "ignore"] });
  let partial = "";
  child.stdout.on("data", (d) => {
    const chunks = (partial + d).split(`\n${SEPARATOR}\n`);
    partial = chunks.pop() ?? "";
    for (const chunk of chunks) {
      try {
        const cp = JSON.parse(chunk);
        if (cp && typeof cp.runId === "string") onCheckpoint(cp);
      } catch {
        // no run yet, or a copy torn by the agent's write: the next one is whole
      }
    }
  });
  return () => child.kill("SIGKILL");
}

async function hostStatus(): Promise<HostStatus | undefined> {
  const r = await sshRun(HOST, ["bash", `${ROOT}/bin/wepppy-deploy`, "status"], { timeoutMs: 60_000 });
  try {
    return JSON.parse(r.stdout.trim().split("\n").pop() ?? "");
  } catch {
    return undefined;
  }
}

async function auditSince(startMs: number): Promise<AuditRecord[]> {
  const r = await sshRun(HOST, ["bash", `${ROOT}/bin/wepppy-deploy`, "audit", "-n", "200"], { timeoutMs: 60_000 });
  return r.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord)
    .filter((e) => Date.parse(e.time) >= startMs - 1000);
}

async function served(): Promise<string> {
  const address = hosts.find((h) => h.name === HOST)!.ip;
  const r = await run(["curl", "-sS", "--max-time", "5", "-H", "X-Forwarded-Proto: https", `http://${address}:8080/weppcloud/version`]);
  try {
    return String(JSON.parse(r.stdout).build);
  } catch {
    return `not served (${(r.stderr || r.stdout).trim().slice(0, 60)})`;
  }
}

async function lockState(): Promise<string> {
  const r = await sshRun(HOST, ["bash", `${ROOT}/bin/wepppy-deploy`, "lock-status"], { timeoutMs: 60_000 });
  return r.stdout.trim();
}

/** Restarts the rig host (its container: same disk, same key) and waits for sshd and its dockerd. */
async function restartHost(log: (l: string) => void): Promise<void> {
  const container = hosts.find((h) => h.name === HOST)!.container;
  log(`  restarting ${HOST} (docker restart ${container})`);
  const r = await docker(["restart", "-t", "10", container]);
  if (r.code !== 0) throw new Error(`docker restart ${container}: ${r.stderr.trim()}`);
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const up = await sshRun(HOST, ["docker", "info", "--format", "{{.ServerVersion}}"], { timeoutMs: 10_000 }).catch(() => ({ code: 1 }));
    if (up.code === 0) return;
    await sleep(1000);
  }
  const logs = await docker(["logs", "--tail", "20", container]);
  throw new Error(`${HOST} did not come back within 180 s after a restart: ${logs.stdout}${logs.stderr}`);
}

/** Waits until the host has no run under way and its lock is free (a restart's recover may still be finishing). */
async function settle(): Promise<void> {
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    const s = await hostStatus();
    if (s && !s.run && s.lock.state === "unlocked") return;
    await sleep(2000);
  }
}

export async function runDropBench(o: { log: (line: string) => void; phases?: readonly DropPhase[] }): Promise<DropReport> {
  const log = o.log;
  const t0 = Date.now();
  await ensureRig(log);
  const standins = readState()!.standins.weppcloud;
  const cases: DropCase[] = [];
  let n = 0;

  const release = async (label: string): Promise<{ image: string; build: string }> => {
    n++;
    const build = `drop-${n}-${Date.now().toString(36)}`;
    const image = await publishDerivedBuild(standins[n % 2 ? "rig-a" : "rig-b"], build, build);
    log(`${label}: release ${build}`);
    return { image, build };
  };
  const upArgs = (image: string) => ["rehearse", STACK, ...[...SETTINGS, `image.digest=${image}`].flatMap((s) => ["--set", s]), "--json"];

  // prod live with a first release, so each case has a warm colour and data to back up.
  log("prod: a first release, so that every case starts from a serving host");
  const first = await release("start");
  const started = await cli(upArgs(first.image));
  if (!started.json.ok) throw new Error(`prod did not come up on the rig: ${started.json.error}`);

  const judge = async (c: Omit<DropCase, "verdict" | "live" | "served" | "lockReleased" | "auditRecords" | "runs" | "consistent" | "seconds">, caseStart: number, image: string, build: string, again: any): Promise<DropCase> => {
    await settle();
    const status = await hostStatus();
    // The case's own release only: the audit log's times are whole seconds, so the previous case's last record can fall inside the window.
    const digest = image.split("@")[1] ?? "";
    const records = (await auditSince(caseStart)).filter((e) => (e.action === "deploy" || e.action === "rollback") && (!digest || e.digest === digest || e.image.endsWith(digest)));
    const runIds = new Set(records.map((e) => e.runId).filter(Boolean));
    const perRun = [...runIds].map((id) => records.filter((e) => e.runId === id).length);
    const lock = await lockState();
    const answer = await served();
    const live = status?.liveImage ?? "";
    const verdict: DropCase["verdict"] = again?.ok === true ? "ok" : again ? "failed" : "none";
    const consistent = verdict === "ok" && live.endsWith(image.split("@")[1] ?? image) && answer === build && lock === "unlocked" && perRun.every((k) => k === 1);
    return { ...c, verdict, live, served: answer, lockReleased: lock === "unlocked", auditRecords: records.length, runs: runIds.size, consistent, seconds: Math.round((Date.now() - caseStart) / 100) / 10 };
  };

  for (const phase of o.phases ?? DROP_PHASES) {
    const caseStart = Date.now();
    const { image, build } = await release(`kill the client during ${phase}`);
    let seen = "";
    let caught = false;
    const client = startCli(upArgs(image));
    const stopWatching = watchRuns((cp) => {
      const runMs = Date.parse(cp.runId.slice(0, 8).replace(/(\d{4})(\d\d)(\d\d)/, "$1-$2-$3") + cp.runId.slice(8, 18).replace(/T(\d\d)(\d\d)(\d\d)(\d{3})Z?/, "T$1:$2:$3.$4Z"));
      if (runMs < caseStart - 1000) return;
      seen = cp.phase;
      if (!caught && KILL_AT[phase].includes(cp.phase)) {
        caught = true;
        killGroup(client.child);
      }
    });
    const ended = await client.done;
    stopWatching();
    log(`  client ${caught ? `killed at ${seen}` : `not caught in ${phase} (ended with ${ended.code}, last phase seen ${seen || "none"})`}`);
    // The killed CLI's lock stays in the backend, as the file backend's does: cancel, then the same update again.
    const cancelled = await cli(["cancel", "-s", STACK, "--rig", "--json"]);
    const again = await cli(upArgs(image));
    log(`  cancel: ${cancelled.json.summary ?? cancelled.json.error}; the update again: ${again.json.ok ? "ok" : `failed: ${String(again.json.error).split("\n")[0]}`}`);
    const c = await judge({ phase, caught, detail: again.json.ok ? "" : String(again.json.error ?? "").split("\n")[0] }, caseStart, image, build, again.json);
    log(`  ${c.consistent ? "consistent" : "NOT consistent"}: live ${c.live.slice(-20)}, served ${c.served}, lock ${c.lockReleased ? "released" : "held"}, ${c.auditRecords} record(s) for ${c.runs} run(s)`);
    cases.push(c);
  }

  // The host restarted in the middle of a release (at its gate).
  {
    const caseStart = Date.now();
    const { image, build } = await release("restart the host during the gate");
    let restarted: Promise<void> | undefined;
    const client = startCli(upArgs(image));
    const stopWatching = watchRuns((cp) => {
      if (!restarted && cp.phase === "gate") restarted = restartHost(log);
    });
    await client.done;
    stopWatching();
    if (restarted) await restarted;
    await settle();
    const cancelled = await cli(["cancel", "-s", STACK, "--rig", "--json"]);
    const again = await cli(upArgs(image));
    log(`  cancel: ${cancelled.json.summary ?? cancelled.json.error}; the update again: ${again.json.ok ? "ok" : `failed: ${String(again.json.error).split("\n")[0]}`}`);
    const c = await judge({ phase: "restart@gate", caught: restarted !== undefined, detail: again.json.ok ? "" : String(again.json.error ?? "").split("\n")[0] }, caseStart, image, build, again.json);
    log(`  ${c.consistent ? "consistent" : "NOT consistent"}: live ${c.live.slice(-20)}, served ${c.served}, ${c.auditRecords} record(s) for ${c.runs} run(s)`);
    cases.push(c);
  }

  // The host restarted while idle: everything comes back by itself, serving what it served.
  {
    const caseStart = Date.now();
    const before = { served: await served(), status: await hostStatus() };
    await restartHost(log);
    let back = "";
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline && (back = await served()) !== before.served) await sleep(1000);
    await settle();
    const status = await hostStatus();
    const lock = await lockState();
    const schedule = await sshRun(HOST, ["test", "-f", "/etc/cron.d/wepppy-backup"]);
    const same = status?.bluegreen?.live === before.status?.bluegreen?.live && status?.liveImage === before.status?.liveImage;
    const consistent = back === before.served && same && lock === "unlocked" && schedule.code === 0;
    cases.push({
      phase: "restart@idle",
      caught: true,
      verdict: "none",
      live: status?.liveImage ?? "",
      served: back,
      lockReleased: lock === "unlocked",
      auditRecords: (await auditSince(caseStart)).filter((e) => e.action === "deploy").length,
      runs: 0,
      consistent,
      detail: `live colour ${status?.bluegreen?.live ?? "?"} (was ${before.status?.bluegreen?.live ?? "?"}); backup schedule ${schedule.code === 0 ? "kept" : "gone"}`,
      seconds: Math.round((Date.now() - caseStart) / 100) / 10,
    });
    log(`  restart while idle: ${consistent ? "consistent" : "NOT consistent"}: serves ${back}`);
  }

  return { cases, consistent: cases.every((c) => c.consistent), startedAt: new Date(t0).toISOString(), seconds: Math.round((Date.now() - t0) / 1000) };
}

export function dropBenchTable(r: DropReport): string {
  const rows = [["phase", "caught", "verdict", "served", "lock", "records/runs", "consistent", "s"]];
  for (const c of r.cases) rows.push([c.phase, c.caught ? "yes" : "no", c.verdict, c.served, c.lockReleased ? "released" : "HELD", `${c.auditRecords}/${c.runs}`, c.consistent ? "yes" : "NO", String(c.seconds)]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join("  ")).join("\n");
}

export function writeDropReport(file: string, r: DropReport): void {
  fs.writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
}
