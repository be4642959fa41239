import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import { AuditRecord, DrillRecord, HostStatus, SoakRecord, SuiteEvidence } from "../../host/contract/records";
import { DeploySettings } from "../../host/contract/settings";
import { RIG_JOB_SETTINGS, RIG_SOAK_HOURS } from "../../harness/rehearsal/rigJobSettings";
import { A, APP, B, C, FakeHost, GREEN } from "./fixtures/fakeHost";

/*
 * The evidence a promotion rests on, made by the agent on a host in memory: validation
 * suites (each an evidence record in the audit log), the soak after a deploy (a detached
 * sampler and its verdict), restore drills of dumps, and the telemetry status carries.
 * Assertions are on what the host records, from the fake's own model of what answered.
 */

const testprod = (extra: (s: DeploySettings) => void = () => undefined) => (s: DeploySettings) => {
  s.validate = { ...s.validate, enabled: true, host: "wc-prod.bearhive.duckdns.org", routes: ["/rq-engine/health", "/query-engine/health"] };
  extra(s);
};

const soaking = (seconds = 600, intervalSeconds = 60) => (s: DeploySettings) => {
  s.soak = { seconds, intervalSeconds, maxErrorPercent: 1, minRequests: 20, maxAppErrors: 50, accessLog: { service: "caddy", path: "/var/log/wepppy-cicd/access.log" } };
};

function evidenceOf(host: FakeHost): SuiteEvidence[] {
  return host.audit().filter((r) => r.action === "validate").map((r) => r.evidence!);
}

function soaksOf(host: FakeHost): AuditRecord[] {
  return host.audit().filter((r) => r.action === "soak");
}

/** The token of the newest detached soak, as the runner launched it. */
function soakToken(host: FakeHost): string {
  const d = host.detached.filter((x) => x.argv[0] === "soak").pop();
  assert.ok(d, "a soak was started");
  assert.equal(d.name, "wepppy-soak");
  return d.argv[1];
}

describe("agent: validation suites as evidence", () => {
  let host: FakeHost;
  afterEach(() => host.cleanup());

  it("routes: every page and routed API through Caddy with the site's Host header, each a check, answered by the build that serves", async () => {
    host = new FakeHost({ settings: testprod() });
    host.image(A, { build: "a-1" });
    const r = await host.deploy(host.request(A, host.stage()));
    assert.equal(r.code, 0, r.err.join("\n"));
    const routes = evidenceOf(host).find((e) => e.suite === "routes")!;
    assert.equal(routes.result, "passed");
    assert.deepEqual(routes.checks.map((c) => [c.name, c.ok]), [["/weppcloud/", true], ["/rq-engine/health", true], ["/query-engine/health", true]]);
    assert.deepEqual(routes.answeredBy, ["stand-in a-1"]);
    assert.equal(routes.digest, A.split("@")[1]);
    assert.deepEqual(routes.where, { url: "http://127.0.0.1:8080", host: "wc-prod.bearhive.duckdns.org", service: APP, colour: null });
    const sent = host.requests.filter((q) => q.url.endsWith("/rq-engine/health"));
    assert.deepEqual(sent.map((q) => q.headers?.Host), ["wc-prod.bearhive.duckdns.org"]);
    assert.match(r.verdict!.message, /validation passed \(unavailable here: create-run\)/);
  });

  it("a routed service that does not answer fails the routes suite, naming its path; the deploy itself stands", async () => {
    host = new FakeHost({ settings: testprod() });
    host.image(A);
    host.routeStatus.set("/query-engine/health", 502);
    const r = await host.deploy(host.request(A, host.stage()));
    assert.equal(r.code, 0);
    assert.match(r.verdict!.message, /validation failed: routes/);
    const routes = evidenceOf(host).find((e) => e.suite === "routes")!;
    assert.equal(routes.result, "failed");
    assert.deepEqual(routes.checks.filter((c) => !c.ok).map((c) => c.detail), ["page /query-engine/health answered 502 through Caddy"]);
    const record = host.audit().find((x) => x.action === "validate" && x.evidence?.suite === "routes")!;
    assert.deepEqual([record.result, record.gate], ["failed", "validate"]);
  });

  it("create-run is unavailable without the test-support API, and creates, fetches and deletes a run of each configuration with it", async () => {
    host = new FakeHost({ settings: testprod() });
    host.image(A, { build: "a-1" });
    await host.deploy(host.request(A, host.stage()));
    const off = evidenceOf(host).find((e) => e.suite === "create-run")!;
    assert.equal(off.result, "unavailable");
    assert.match(off.checks[0].detail, /test-support API is off on testprod/);
    assert.equal(host.audit().find((x) => x.evidence?.suite === "create-run")!.result, "skipped");

    fs.writeFileSync(host.layout.settings, JSON.stringify({ ...JSON.parse(fs.readFileSync(host.layout.settings, "utf8")), smoke: { ...host.settings.smoke, mode: "test-support" }, validate: { ...host.settings.validate, enabled: true, runConfigs: ["dev_unit_1", "disturbed9002"] } }));
    host.testSupport = true;
    const v = await host.cli(["validate", "--json"]);
    assert.equal(v.code, 0, v.err.join("\n"));
    const printed = JSON.parse(v.out[0]) as { image: string; ok: boolean; evidence: SuiteEvidence[] };
    assert.equal(printed.image, A);
    const run = printed.evidence.find((e) => e.suite === "create-run")!;
    assert.equal(run.result, "passed");
    assert.deepEqual(run.checks.map((c) => c.name), ["dev_unit_1: create-run", "dev_unit_1: run page", "dev_unit_1: delete", "disturbed9002: create-run", "disturbed9002: run page", "disturbed9002: delete"]);
    assert.equal(host.testRuns.size, 0, "every run it made is deleted");
    assert.deepEqual(evidenceOf(host).slice(-2).map((e) => e.suite), ["create-run", "routes"], "the on-demand run is audited too");
  });

  it("a build whose create-run fails is recorded failed (and validate exits 1)", async () => {
    host = new FakeHost({ settings: testprod((s) => (s.smoke.mode = "test-support")) });
    host.testSupport = true;
    host.image(A);
    await host.deploy(host.request(A, host.stage(), { skipSmoke: true }));
    host.testSupport = false;
    const v = await host.cli(["validate"]);
    assert.equal(v.code, 1);
    const run = evidenceOf(host).pop()!.suite === "routes" ? evidenceOf(host).slice(-2)[0] : evidenceOf(host).pop()!;
    assert.equal(run.suite, "create-run");
    assert.equal(run.result, "failed");
    assert.match(run.checks[0].detail, /create-run answered 403/);
  });

  it("profile-playback: unavailable without the service, passed when every replayed request answered, failed when one did not", async () => {
    host = new FakeHost({ settings: testprod((s) => (s.validate.suites = ["profile-playback"], s.validate.profiles = ["quick"])) });
    host.image(A);
    await host.deploy(host.request(A, host.stage()));
    assert.equal(evidenceOf(host).pop()!.result, "unavailable");
    assert.match(evidenceOf(host).pop()!.checks[0].detail, /no running profile-playback container/);

    host.running({ "profile-playback": "wepppy:playback" });
    host.playback.set("quick", [{ id: "GET runs0", status: 200 }, { id: "POST build", status: 200 }]);
    assert.equal((await host.cli(["validate"])).code, 0);
    const passed = evidenceOf(host).pop()!;
    assert.equal(passed.result, "passed");
    assert.equal(passed.checks[0].detail, "2 requests replayed, 0 failed");
    assert.ok(host.requests.some((q) => q.method === "POST" && q.url.endsWith("/profile-playback/run/quick")));

    host.playback.set("quick", [{ id: "GET runs0", status: 200 }, { id: "POST landuse", status: 500 }]);
    assert.equal((await host.cli(["validate"])).code, 1);
    assert.match(evidenceOf(host).pop()!.checks[0].detail, /2 requests replayed, 1 failed \(first: POST landuse answered 500\)/);
  });
});

describe("agent: the soak after a deploy", () => {
  let host: FakeHost;
  afterEach(() => host.cleanup());

  async function soakFor(image: string, o: { rps?: number; during?: () => void } = {}) {
    host.rps = o.rps ?? 2;
    const r = await host.deploy(host.request(image, host.stage()));
    assert.equal(r.code, 0, r.err.join("\n"));
    const token = soakToken(host);
    o.during?.();
    const s = await host.cli(["soak", token]);
    assert.equal(s.code, 0, s.err.join("\n"));
    return { verdict: r.verdict!, token, out: s.err.join("\n"), record: soaksOf(host).pop()! };
  }

  it("samples Caddy's 5xx share, Redis' error keys and every service for the soak's time, detached, then records a passing verdict", async () => {
    host = new FakeHost({ settings: testprod(soaking(600)) });
    host.image(A);
    const started = host.now;
    const { verdict, record } = await soakFor(A);
    assert.match(verdict.message, /soaking until 2026-11-25T10:1\d:\d\dZ/);
    assert.ok(host.now - started >= 600_000, "it ran for the soak's time");
    const soak = record.soak as SoakRecord;
    assert.deepEqual([record.result, soak.verdict, soak.complete, soak.reasons], ["ok", "passed", true, []]);
    assert.equal(soak.samples, 11, "one as the sampler starts, one a minute after for ten minutes");
    assert.equal(soak.digest, A.split("@")[1]);
    assert.equal(soak.runId, verdict.runId);
    assert.ok(soak.requests! >= 2 * 590, `requests ${soak.requests}`);
    assert.deepEqual([soak.errors, soak.errorPercent, soak.appErrors.added], [0, 0, 0]);
    assert.deepEqual(soak.health.map((h) => h.service), ["caddy", "postgres", "redis", "rq-worker", APP]);
    assert.ok(soak.health.every((h) => h.samples === 11 && h.bad === 0));
    assert.equal(fs.existsSync(host.layout.soakState), false, "the state is gone with its record");
  });

  it("a sample that takes longer than the interval (a loaded host's docker exec) is observed time, not time the host was down", async () => {
    // The rig's soak (what stop 20's CI failed on), with each docker call taking 600 ms: a sample's calls outlast the interval.
    const seconds = Math.round(RIG_SOAK_HOURS * 3600);
    const interval = RIG_JOB_SETTINGS.testprod["promotion.soakIntervalSeconds"];
    host = new FakeHost({ settings: testprod(soaking(seconds, interval)) });
    host.image(A);
    const { record } = await soakFor(A, { during: () => (host.execMs = 600) });
    const soak = record.soak as SoakRecord;
    assert.deepEqual([soak.verdict, soak.complete, soak.reasons], ["passed", true, []]);
    assert.ok(soak.observedSeconds >= seconds - interval, `observed ${soak.observedSeconds} s of ${seconds}`);
  });

  it("a release that answers 5xx over the limit fails its soak, as do new error keys and a service that goes down", async () => {
    host = new FakeHost({ settings: testprod(soaking(600)) });
    host.image(A, { status: 200 });
    host.image(B, { status: 200 });
    host.image(C, { status: 200 });
    const fivexx = await soakFor(A, { during: () => host.images.set(A, { health: "ok", status: 503 }) });
    assert.equal((fivexx.record.soak as SoakRecord).verdict, "failed");
    assert.match(fivexx.record.reason!, /requests answered 5xx \(100 %, over 1 %\)/);

    const keys = await soakFor(B, { during: () => (host.errorKeys = 51) });
    assert.match((keys.record.soak as SoakRecord).reasons.join(), /51 new \*:error:\* keys in Redis \(over 50\)/);

    const down = await soakFor(C, { during: () => (host.container("rq-worker")!.running = false) });
    assert.match((down.record.soak as SoakRecord).reasons.join(), /rq-worker down or unhealthy in 11 of 11 samples/);
  });

  it("without an access log the 5xx share is not measured, and that fails the soak: no evidence is not good evidence", async () => {
    host = new FakeHost({ settings: testprod(soaking(300)) });
    host.image(A);
    host.accessLogMissing = true;
    const { record } = await soakFor(A);
    const soak = record.soak as SoakRecord;
    assert.deepEqual([soak.requests, soak.errorPercent, soak.verdict], [null, null, "failed"]);
    assert.match(soak.reasons.join(), /never appeared in caddy/);
  });

  it("a newer release ends a running soak as interrupted; the old sampler finds itself superseded", async () => {
    host = new FakeHost({ settings: testprod(soaking(3600)) });
    host.image(A);
    host.image(B);
    host.rps = 1;
    await host.deploy(host.request(A, host.stage()));
    const first = soakToken(host);
    await host.deploy(host.request(B, host.stage(), { release: { id: "r-2" } }));
    const second = soakToken(host);
    assert.notEqual(first, second);
    const interrupted = soaksOf(host).pop()!;
    assert.deepEqual([interrupted.result, interrupted.image, (interrupted.soak as SoakRecord).verdict], ["interrupted", A, "interrupted"]);
    assert.match(interrupted.reason!, /a newer release .* went live before it ended/);
    assert.equal((await host.cli(["soak", first])).err.pop(), "[wepppy-deploy] superseded");
    assert.equal(soaksOf(host).length, 1, "the superseded sampler records nothing");
  });

  it("status shows the running soak; recover re-arms a sampler a reboot lost, and the time it was down is not observed", async () => {
    host = new FakeHost({ settings: testprod(soaking(1200)) });
    host.image(A);
    host.rps = 1;
    await host.deploy(host.request(A, host.stage()));
    const token = soakToken(host);
    const status = JSON.parse((await host.cli(["status"])).out[0]) as HostStatus;
    assert.equal(status.soak?.image, A);
    assert.equal(status.evidence.soak?.verdict, "running");
    const before = host.detached.length;
    const r = await host.cli(["recover"]);
    assert.match(JSON.parse(r.out[0]).notes.join(), /soak of .* re-armed until/);
    assert.deepEqual(host.detached.slice(before).map((d) => d.argv), [["soak", token]]);
    // Down for 10 of its 20 minutes: the sampler resumes, and the verdict says what it missed.
    await host.clock.sleep(600_000);
    assert.equal((await host.cli(["soak", token])).code, 0);
    const soak = soaksOf(host).pop()!.soak as SoakRecord;
    assert.equal(soak.complete, false);
    assert.ok(soak.observedSeconds < 700, `observed ${soak.observedSeconds}`);
    assert.match(soak.reasons.join(), /observed \d+ s of 1200 s/);
  });

  it("a deploy that changes nothing live starts no soak; prod (no soak) starts none", async () => {
    host = new FakeHost({ settings: testprod(soaking(600)) });
    host.image(A);
    await host.deploy(host.request(A, host.stage()));
    const n = host.detached.filter((d) => d.argv[0] === "soak").length;
    await host.deploy(host.request(A, host.stage({ compose: "# same image, new files\n" }), { release: { id: "r-2" } }));
    assert.equal(host.detached.filter((d) => d.argv[0] === "soak").length, n);
  });
});

describe("agent: restore drills", () => {
  let host: FakeHost;
  beforeEach(async () => {
    host = new FakeHost();
    host.image(A);
    await host.deploy(host.request(A, host.stage()));
  });
  afterEach(() => host.cleanup());

  async function dump(): Promise<string> {
    const b = await host.cli(["backup"]);
    assert.equal(b.code, 0, b.err.join("\n"));
    return b.out[0];
  }

  it("restores a dump into a scratch database, counts every table in both, records size, time and result, and drops the scratch", async () => {
    const file = await dump();
    const r = await host.cli(["drill", file]);
    assert.equal(r.code, 0, r.err.join("\n"));
    const d = JSON.parse(r.out[0]) as DrillRecord;
    assert.deepEqual([d.result, d.tables, d.rows, d.equal, d.differing], ["passed", 2, { live: 127, restored: 127 }, true, []]);
    assert.deepEqual(d.newest, { live: "2026-11-25T09:59:00Z", restored: "2026-11-25T09:59:00Z" });
    assert.equal(d.bytes, fs.statSync(file).size);
    assert.match(d.scratch, /^wepppy_drill_\d{8}t\d{6}z$/);
    assert.equal(host.scratch.size, 0, "the scratch database is dropped");
    const rec = host.audit().pop()!;
    assert.deepEqual([rec.action, rec.result, rec.file, rec.drill?.result], ["drill", "ok", file, "passed"]);
  });

  it("records the tables whose counts moved since the dump, and still passes", async () => {
    const file = await dump();
    host.db["public.runs"] = { rows: 125, newest: "2026-11-25T11:00:00Z" };
    const d = JSON.parse((await host.cli(["drill"])).out[0]) as DrillRecord;
    assert.equal(d.file, file, "the newest dump by default");
    assert.deepEqual([d.result, d.equal, d.differing], ["passed", false, [{ table: "public.runs", live: 125, restored: 120 }]]);
    assert.deepEqual(d.newest, { live: "2026-11-25T11:00:00Z", restored: "2026-11-25T09:59:00Z" });
  });

  it("with no dump yet, takes one first (audited as a backup for the drill) and drills it", async () => {
    assert.ok(!fs.existsSync(host.layout.backups) || fs.readdirSync(host.layout.backups).length === 0, "no dumps before");
    const r = await host.cli(["drill"]);
    assert.equal(r.code, 0, r.err.join("\n"));
    const d = JSON.parse(r.out[0]) as DrillRecord;
    assert.equal(d.result, "passed");
    assert.deepEqual(host.audit().slice(-2).map((x) => [x.action, x.result]), [["backup", "ok"], ["drill", "ok"]]);
    assert.equal(host.audit().slice(-2)[0].note, "drill", "the backup says what it was for");
    assert.equal(d.file, host.audit().slice(-2)[0].file, "the drill restored the dump it took");
  });

  it("a corrupted dump fails its drill, audited; so does a dump that lacks a live table", async () => {
    const file = await dump();
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").slice(0, 20));
    const r = await host.cli(["drill", file]);
    assert.equal(r.code, 1);
    const d = JSON.parse(r.out[0]) as DrillRecord;
    assert.equal(d.result, "failed");
    assert.match(d.reason!, /does not read back whole/);
    assert.deepEqual([host.audit().pop()!.action, host.audit().pop()!.result], ["drill", "failed"]);

    const second = await dump();
    host.db["public.jobs"] = { rows: 3, newest: null };
    const missing = JSON.parse((await host.cli(["drill", second])).out[0]) as DrillRecord;
    assert.equal(missing.result, "failed");
    assert.match(missing.reason!, /1 table\(s\) of the live database are not in the dump: public.jobs/);
    assert.equal(host.scratch.size, 0);
  });

  it("a scheduled backup is drilled; a failed drill fails the scheduled run (the timer's alert) but keeps the dump", async () => {
    const ok = await host.cli(["backup", "--reason", "scheduled"]);
    assert.equal(ok.code, 0, ok.err.join("\n"));
    assert.deepEqual(host.audit().slice(-2).map((x) => x.action), ["backup", "drill"]);
    // Postgres' restore starts failing (a full disk, say): the dump reads back whole, but does not restore.
    const exec = host.docker.exec;
    host.docker.exec = async (id, argv, o) => (argv[2]?.includes("pg_restore --no-owner --no-privileges") ? { code: 1, stdout: "", stderr: "pg_restore: error: could not extend file: No space left on device" } : exec(id, argv, o));
    const bad = await host.cli(["backup", "--reason", "scheduled"]);
    assert.equal(bad.code, 1);
    assert.match(bad.err.join("\n"), /the backup is kept, but its restore drill failed: the dump does not restore: .*No space left/);
    assert.equal(fs.existsSync(bad.out[0]), true);
    assert.equal(host.audit().pop()!.drill?.result, "failed");
    // A manual backup is not drilled.
    const n = host.audit().length;
    await host.cli(["backup"]);
    assert.deepEqual(host.audit().slice(n).map((x) => x.action), ["backup"]);
  });
});

describe("agent: telemetry in status", () => {
  let host: FakeHost;
  afterEach(() => host.cleanup());

  it("carries the live digest and release, the app's own health, the last attempt with its verdict, the last backup and its verification, and the evidence", async () => {
    host = new FakeHost({ settings: testprod() });
    host.image(A);
    await host.deploy(host.request(A, host.stage(), { release: { id: "r-1", version: "2026.11.0" } }));
    await host.cli(["backup"]);
    host.image(B, { health: "never" });
    const failed = await host.deploy(host.request(B, host.stage(), { release: { id: "r-2" } }));
    assert.equal(failed.code, 1);
    host.dumpFails = true;
    await host.cli(["backup"]);
    const s = JSON.parse((await host.cli(["status"])).out[0]) as HostStatus;
    assert.equal(s.liveDigest, A.split("@")[1]);
    assert.equal(s.current?.release?.id, "r-1");
    assert.deepEqual(s.appHealth, { service: APP, container: "wepppy-weppcloud-1", url: "http://localhost:8000/health", ok: true });
    assert.deepEqual([s.lastAttempt?.image, s.lastAttempt?.result, s.lastAttempt?.phase], [B, "failed", "candidate"]);
    assert.equal(s.lastDeploy?.image, A);
    assert.equal(s.lastBackup?.verified, true);
    assert.deepEqual([s.lastBackupAttempt?.result, s.lastBackupAttempt?.gate], ["failed", "backup"]);
    assert.deepEqual(s.evidence.suites.map((x) => [x.suite, x.result]), [["create-run", "unavailable"], ["routes", "passed"]]);
    assert.equal(s.evidence.digest, s.liveDigest);
    assert.equal(s.evidence.rolledBack, false);
  });

  it("a release switched back, or rolled back by hand, is recorded as rolled back, and status says so of it", async () => {
    host = new FakeHost({ bluegreen: true });
    host.image(A);
    host.image(B);
    host.image(C, { status: 500 });
    await host.deploy(host.request(A, host.stage()));
    const bad = await host.deploy(host.request(C, host.stage(), { skipSmoke: true, release: { id: "r-c" } }));
    assert.equal(bad.verdict!.phase, "analysis");
    assert.equal(host.audit().pop()!.rolledBack, C);
    await host.deploy(host.request(B, host.stage(), { release: { id: "r-b" } }));
    assert.equal(host.container(GREEN)!.image, B);
    const back = await host.cli(["rollback", "--actor", "roger"]);
    assert.equal(back.code, 0, back.err.join("\n"));
    const rec = host.audit().pop()!;
    assert.deepEqual([rec.action, rec.image, rec.rolledBack], ["rollback", A, B]);
  });

  it("a stack's rollback (wepppy-cicd rollback's release id) records the image it replaced; a plain release does not", async () => {
    host = new FakeHost();
    host.image(A);
    host.image(B);
    await host.deploy(host.request(A, host.stage()));
    await host.deploy(host.request(B, host.stage(), { release: { id: "testprod-20261125-100000" } }));
    assert.equal(host.audit().pop()!.rolledBack, undefined);
    await host.deploy(host.request(A, host.stage(), { release: { id: "rollback-20261125-110000" } }));
    const rec = host.audit().pop()!;
    assert.deepEqual([rec.action, rec.image, rec.rolledBack], ["deploy", A, B]);
  });
});
