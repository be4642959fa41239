import * as assert from "node:assert/strict";
import { SwitchBenchReport, runSwitchBench } from "../../bench/rigSwitch";
import { sshRun } from "../../rig";
import { cli, ensureRig } from "./helpers";
import type { AuditRecord } from "../../host/contract/records";

/*
 * Issue 5 on the rig, short: one release + rollback cycle of prod's blue/green under
 * keep-alive load, a release that answers 5xx after passing its gate, and one that never
 * becomes healthy. The full run (10+ cycles, 50,000+ requests) is the benchmark
 * `npx wepppy-cicd bench switch`; here only outcomes are asserted, never durations.
 */

const SCRIPT = "/opt/wepppy-cicd/bin/wepppy-deploy";

describe("blue/green on the rig (prod on wepp1)", function () {
  this.timeout(1_800_000);
  let report: SwitchBenchReport;
  const lines: string[] = [];

  before(async () => {
    await ensureRig();
    report = await runSwitchBench({ cycles: 1, clients: 4, analysisSeconds: 5, toolConnections: 2, log: (l) => lines.push(l) });
  });

  it("releases to the idle colour and rolls back to the warm one with no failed request", () => {
    assert.equal(report.cycles, 1);
    assert.ok(report.requests > 100, `${report.requests} requests`);
    assert.equal(report.failed, 0, `${JSON.stringify(report.failedByKind)}\n${report.samples.join("\n")}\n${lines.join("\n")}`);
    const c = report.perCycle[0];
    assert.equal(c.releaseFailed + c.rollbackFailed, 0);
    assert.ok(Number.isFinite(c.rollbackSeconds), "the host recorded the rollback as a switch to the warm colour");
  });

  it("an independent load tool (wrk) beside the clients, through the release and the rollback, has no failed request either", () => {
    const w = report.independent;
    assert.ok(w.requests > 100, `wrk sent ${w.requests} requests`);
    assert.equal(w.failed, 0, JSON.stringify(w));
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
    assert.doesNotMatch(report.neverHealthy.refusedBy, /last log lines:/, "the app's log lines stay on the host");
  });

  it("records every release, rollback and automatic switch back in the host's audit log, as fields", async () => {
    const r = await sshRun("wepp1", ["bash", SCRIPT, "audit", "-n", "40"]);
    const entries = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as AuditRecord);
    const colour = (e: AuditRecord) => e.live === "blue" || e.live === "green";
    assert.ok(entries.some((e) => e.action === "deploy" && e.result === "ok" && colour(e) && typeof e.switchMs === "number"), "a release switched to its colour");
    // A rollback is a stack update whose image is warm on the other colour: the host only moves traffic.
    assert.ok(entries.some((e) => e.action === "deploy" && e.result === "ok" && e.warm === true && colour(e) && typeof e.switchMs === "number"), "a rollback to the warm colour");
    assert.ok(entries.some((e) => e.action === "deploy" && e.result === "failed" && e.gate === "analysis" && typeof e.backMs === "number"), "the 5xx release switched back by itself");
    assert.ok(entries.some((e) => e.action === "deploy" && e.result === "failed" && /health gate/.test(e.reason ?? "")), "the never-healthy release refused at the gate");
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
