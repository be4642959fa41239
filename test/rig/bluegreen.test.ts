import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { SwitchBenchReport, runSwitchBench } from "../../bench/rigSwitch";
import { RehearsalStack } from "../../harness/rehearsalStack";
import { PROJECT_ROOT } from "../../config/paths";
import { sshRun } from "../../rig";
import { ensureRig } from "./helpers";

/*
 * Issue 5 on the rig, short: one release + rollback cycle of prod's blue/green under
 * keep-alive load, a release that answers 5xx after passing its gate, and one that never
 * becomes healthy. The full run (10+ cycles, 50,000+ requests) is the benchmark
 * `npx wepppy-cicd bench switch`; here only outcomes are asserted, never durations.
 */

const SCRIPT = "/opt/wepppy-cicd/bin/wepppy-deploy";

function cli(args: string[]): { code: number; stdout: string } {
  try {
    return { code: 0, stdout: execFileSync("node", [path.join(PROJECT_ROOT, "bin", "wepppy-cicd.js"), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }) };
  } catch (err) {
    const e = err as { status: number; stdout: string };
    return { code: e.status, stdout: e.stdout };
  }
}

describe("blue/green on the rig (prod on wepp1)", function () {
  this.timeout(1_800_000);
  let report: SwitchBenchReport;
  const stack = new RehearsalStack("prod");
  const lines: string[] = [];

  before(async () => {
    await ensureRig();
    for (const f of [stack.configFile, stack.historyFile]) fs.rmSync(f, { force: true });
    report = await runSwitchBench({ cycles: 1, clients: 4, analysisSeconds: 5, log: (l) => lines.push(l) });
  });

  after(() => {
    for (const f of [stack.configFile, stack.historyFile]) fs.rmSync(f, { force: true });
  });

  it("releases to the idle colour and rolls back to the warm one with no failed request", () => {
    assert.equal(report.cycles, 1);
    assert.ok(report.requests > 100, `${report.requests} requests`);
    assert.equal(report.failed, 0, `${JSON.stringify(report.failedByKind)}\n${report.samples.join("\n")}\n${lines.join("\n")}`);
    const c = report.perCycle[0];
    assert.equal(c.releaseFailed + c.rollbackFailed, 0);
    assert.ok(Number.isFinite(c.rollbackSeconds), "the host recorded the rollback as a switch to the warm colour");
  });

  it("switches a release that answers 5xx back by itself, and the update fails", () => {
    assert.equal(report.badRelease.switchedBack, true, report.badRelease.detectedBy);
    assert.match(report.badRelease.detectedBy, /5xx since the switch/);
    assert.ok(report.badRelease.failed > 0, "the bad release did serve (its 5xx reached clients before the switch back)");
  });

  it("refuses a release that never becomes healthy at the gate, with no failed request and traffic unchanged", () => {
    assert.equal(report.neverHealthy.failed, 0);
    assert.equal(report.neverHealthy.liveUnchanged, true);
    assert.match(report.neverHealthy.refusedBy, /health gate/);
  });

  it("records every release, rollback and automatic switch back in the host's audit log", async () => {
    const r = await sshRun("wepp1", ["bash", SCRIPT, "audit", "-n", "40"]);
    const entries = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { action: string; result: string; detail: string });
    assert.ok(entries.some((e) => e.action === "deploy" && e.result === "ok" && /released on (blue|green)/.test(e.detail)));
    assert.ok(entries.some((e) => e.action === "deploy" && e.result === "ok" && /switched to warm/.test(e.detail)));
    assert.ok(entries.some((e) => e.action === "rollback" && /automatic/.test(e.detail)));
    assert.ok(entries.some((e) => e.action === "deploy" && e.result === "failed" && /health gate/.test(e.detail)));
  });

  it("status reports the live colour, each colour's image and the release history's last entry", () => {
    const r = cli(["status", "--stack", "prod", "--rig", "--json"]);
    assert.equal(r.code, 0, r.stdout);
    const s = JSON.parse(r.stdout);
    const text = JSON.stringify(s);
    assert.match(text, /"traffic":"(blue|green)"/);
    assert.match(text, /weppcloud-blue/);
    assert.match(text, /weppcloud-green/);
  });
});
