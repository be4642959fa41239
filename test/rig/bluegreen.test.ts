import * as assert from "node:assert/strict";
import { SwitchBenchReport, runSwitchBench } from "../../bench/rigSwitch";
import { sshRun } from "../../rig";
import { cli, ensureRig, waitFor } from "./helpers";
import { hostLayout } from "../../host/contract/layout";
import type { AuditRecord } from "../../host/contract/records";
import { NAMESPACE } from "../../config/environments";
import { rigStack } from "../../harness/rehearsal/rigStack";
import { recordLeaves, releaseId } from "../../ops/common";
import { applyAndUp } from "../../ops/update";

/*
 * Issue 5 on the rig, short: one release + rollback cycle of prod's blue/green under
 * keep-alive load, a release that answers 5xx after passing its gate, and one that never
 * becomes healthy. The full run (10+ cycles, 50,000+ requests) is the benchmark
 * `npx wepppy-cicd bench switch`; here only outcomes are asserted, never durations.
 */

const SCRIPT = "/opt/wepppy-cicd/bin/wepppy-deploy";
// The rig's prod stack keeps the agent's default root.
const LOCK_DIR = hostLayout("/opt/wepppy-cicd", "/opt/wepppy").lockDir;

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
    assert.ok(entries.some((e) => e.action === "deploy" && e.result === "failed" && (e.gate === "analysis" || e.gate === "canary") && typeof e.backMs === "number"), "the 5xx release switched back by itself");
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

  it("a changed canary step changes the Caddyfile: the running Caddy reloads it, and is not recreated", async () => {
    const caddy = async () => (await sshRun("wepp1", ["docker", "ps", "-q", "--no-trunc", "--filter", "label=com.docker.compose.service=caddy"])).stdout.trim();
    const loaded = async (id: string) => (await sshRun("wepp1", ["docker", "exec", id, "curl", "-sS", "http://127.0.0.1:2019/config/"])).stdout;
    const before = await caddy();
    assert.match(before, /^[0-9a-f]{64}$/, "one Caddy container");
    // prod declares 10 % then 50 %: the first step becomes 20 %.
    assert.doesNotMatch(await loaded(before), /canary-(blue|green)-20/);
    const s = JSON.parse(cli(["status", "--stack", "prod", "--rig", "--json"]).stdout);
    const stack = await rigStack("prod", await ensureRig());
    await stack.setConfig(`${NAMESPACE}:bluegreen.canary[0]`, { value: "20" }, true);
    const log: string[] = [];
    const r = await applyAndUp(stack, await stack.getAllConfig(), { "image.digest": s.intent.image, ...recordLeaves({ id: releaseId("prod", new Date()), actor: "rig-test" }) }, "rig test: a canary step", (l) => log.push(l));
    assert.ok(r.ok, `${r.error}\n${log.join("\n")}`);
    // The update returns at the verdict; the finish (the files made current, Caddy's reload) runs after it.
    await waitFor("the host's run to end", async () => (await sshRun("wepp1", ["test", "!", "-e", LOCK_DIR])).code === 0, 120_000);
    assert.equal(await caddy(), before, `Caddy was recreated\n${log.join("\n")}`);
    const config = await loaded(before);
    assert.match(config, /canary-green-20/);
    assert.match(config, /canary-blue-20/);
    assert.doesNotMatch(config, /canary-(blue|green)-10/);
  });
});
