import { strict as assert } from "node:assert";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { parseStackConfig } from "../../config/load";
import { judgeSource } from "../../host/contract/evidence";
import { Suite } from "../../host/contract/records";
import { rawOf } from "../../ops/configMap";
import { MemoryStack } from "../../harness/memoryStack";
import { AuditEntry, promote } from "../../ops/promote";
import { parseAuditLines } from "../../ops/hostQueries";
import { A, B, C, NOW, checkoutConfig, digest, notifySpy, quiet, section, update, withSections, writes, TAG_B } from "./fixtures/ops";
import { FakeHost, digestRef } from "./fixtures/fakeHost";
import { DeploySettings } from "../../host/contract/settings";

const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3600_000).toISOString().replace(/\.000Z$/, "Z");

/** A suite's evidence record as the agent audits it. */
function suite(name: Suite, d: string, hours: number, result: "passed" | "failed" | "unavailable" = "passed"): AuditEntry {
  return {
    time: hoursAgo(hours), action: "validate", result: result === "passed" ? "ok" : result === "failed" ? "failed" : "skipped", digest: d,
    evidence: {
      version: 1, suite: name, result, image: `ghcr.io/rogerlew/wepppy@${d}`, digest: d, started: hoursAgo(hours), finished: hoursAgo(hours),
      checks: [{ name: name === "routes" ? "/weppcloud/" : "dev_unit_1: create-run", ok: result === "passed", detail: result === "passed" ? "answered 200" : "create-run answered 500: broken" }],
      where: { url: "http://127.0.0.1:8080", host: "wc-prod.bearhive.duckdns.org", service: "weppcloud", colour: null }, answeredBy: ["stand-in b"],
    },
  };
}

function soak(d: string, o: Record<string, unknown> = {}): AuditEntry {
  return {
    time: hoursAgo(1), action: "soak", result: "ok", digest: d,
    soak: {
      version: 1, image: `ghcr.io/rogerlew/wepppy@${d}`, digest: d, runId: null, started: hoursAgo(25), finished: hoursAgo(1), plannedSeconds: 86400, observedSeconds: 86400, complete: true,
      samples: 1440, requests: 9000, errors: 3, errorPercent: 0.03, appErrors: { pattern: "*:error:*", atStart: 2, max: 4, added: 2 }, health: [], limits: { maxErrorPercent: 1, minRequests: 20, maxAppErrors: 50 },
      verdict: "passed", reasons: [], ...o,
    },
  };
}

function drill(result: "passed" | "failed", hours: number): AuditEntry {
  return {
    time: hoursAgo(hours), action: "drill", result: result === "passed" ? "ok" : "failed",
    drill: { version: 1, file: "/opt/wepppy-cicd/backups/scheduled-x.dump", bytes: 1000, dumpTime: hoursAgo(hours), started: hoursAgo(hours), finished: hoursAgo(hours), seconds: 4, scratch: "wepppy_drill_x", result, tables: 12, rows: { live: 500, restored: 500 }, differing: [], newest: { live: null, restored: null }, equal: true, ...(result === "failed" ? { reason: "the dump does not restore: pg_restore: error" } : {}) },
  };
}

/** Everything testprod's audit log must show of a digest for prod's default promotion settings. */
const evidence = (d: string) => [suite("create-run", d, 2), suite("routes", d, 2), soak(d)];

const prodAt = (image: string, release: Record<string, unknown> = { id: "prod-20261102-090000" }) => withSections(checkoutConfig("prod"), { image: { digest: image }, release });

function stacks(options: { prodConfig?: ConfigMap; prodOutputs?: Record<string, unknown>; sourceOutputs?: Record<string, unknown>; prodHistory?: ReturnType<typeof update>[]; sourceHistory?: ReturnType<typeof update>[] } = {}) {
  const prod = new MemoryStack("prod", {
    // A fresh checkout: the committed stack file, with no digest in it.
    config: options.prodConfig ?? checkoutConfig("prod"),
    history: options.prodHistory ?? [],
    outputs: options.prodOutputs ?? { imageRef: A, bluegreen: { live: "blue", images: { blue: A, green: A } } },
    up: async (c) => ({ ok: true, outputs: { imageRef: section(c, "image").digest, bluegreen: { live: "green", images: { blue: A, green: section(c, "image").digest } } } }),
  });
  const testprod = new MemoryStack("testprod", {
    config: checkoutConfig("testprod"),
    history: options.sourceHistory ?? [],
    outputs: options.sourceOutputs ?? { imageRef: B, imageDigest: digest("b"), url: "https://wc-prod.bearhive.duckdns.org" },
  });
  const opened: string[] = [];
  const source = async (name: string) => {
    opened.push(name);
    return testprod;
  };
  return { prod, testprod, source, opened };
}

// Every test announces to a spy unless it asks for its own: the fixtures' webhook is not reachable.
const base = { now: NOW, actor: "roger", log: quiet, notify: notifySpy().notify, targetAudit: async () => [drill("passed", 2)] };

describe("ops: promote", () => {
  it("is refused without the evidence of testprod's live digest, naming each missing piece, changing nothing", async () => {
    const b = digest("b");
    const cases: [string, AuditEntry[], RegExp][] = [
      ["none", [], /suite create-run: no run for sha256:bbbbbbbbbbbb on testprod\n  - suite routes: no run[\s\S]*soak: no completed soak of sha256:bbbbbbbbbbbb/],
      ["too old", [suite("create-run", b, 73), suite("routes", b, 1), soak(b)], /suite create-run: its newest run for sha256:bbbbbbbbbbbb on testprod \(.*\) is older than 72 h/],
      ["failed", [suite("create-run", b, 1, "failed"), suite("routes", b, 1), soak(b)], /suite create-run: failed for sha256:bbbbbbbbbbbb on testprod .*create-run answered 500/],
      ["unavailable", [suite("create-run", b, 1, "unavailable"), suite("routes", b, 1), soak(b)], /suite create-run: unavailable/],
      ["another digest", [...evidence(digest("c")), suite("routes", b, 1), soak(b)], /suite create-run: no run for sha256:bbbbbbbbbbbb/],
      ["no soak", [suite("create-run", b, 1), suite("routes", b, 1)], /soak: no completed soak/],
      ["soak over the error limit", [suite("create-run", b, 1), suite("routes", b, 1), soak(b, { errors: 200 })], /200 of 9000 requests answered 5xx .*over promotion\.maxErrorPercent 1 %/],
      ["soak not complete", [suite("create-run", b, 1), suite("routes", b, 1), soak(b, { observedSeconds: 7200, complete: false, verdict: "failed", reasons: ["observed 7200 s of 86400 s"] })], /observed 2 h of the 24 h required/],
    ];
    for (const [what, entries, why] of cases) {
      const { prod, source } = stacks();
      const asked: string[] = [];
      await assert.rejects(
        promote({ ...base, prod, source, validations: async (d, from) => (asked.push(`${from} ${d}`), entries) }),
        (err: Error) => why.test(err.message) && /--force --reason/.test(err.message),
        what,
      );
      assert.deepEqual(asked, [`testprod ${b}`], what);
      assert.deepEqual(writes(prod), [], what);
    }
  });

  it("requires what prod's promotion section says: its suites, its soak, its limits", async () => {
    const b = digest("b");
    const only = withSections(checkoutConfig("prod"), { promotion: { suites: ["routes"], soakHours: 0 } });
    const { prod, source } = stacks({ prodConfig: only });
    const result = await promote({ ...base, prod, source, validations: async () => [suite("routes", b, 1)] });
    assert.equal(result.ok, true, result.error);
    const strict = withSections(checkoutConfig("prod"), { promotion: { maxAppErrors: 1 } });
    const again = stacks({ prodConfig: strict });
    await assert.rejects(promote({ ...base, prod: again.prod, source: again.source, validations: async () => evidence(b) }), /2 new \*:error:\* keys in Redis \(over 1\)/);
  });

  it("needs a passed restore drill on prod within backup.drillHours, and runs one when the newest is older", async () => {
    const b = digest("b");
    const failed = stacks();
    await assert.rejects(
      promote({ ...base, prod: failed.prod, source: failed.source, validations: async () => evidence(b), targetAudit: async () => [drill("passed", 5), drill("failed", 1)], drill: async () => assert.fail("a recent failed drill is not retried") }),
      /restore drill: the newest on prod failed at .*: the dump does not restore/,
    );
    assert.deepEqual(writes(failed.prod), []);

    const stale = stacks();
    let prodAudit: AuditEntry[] = [drill("passed", 30)];
    const drills: string[] = [];
    const result = await promote({
      ...base, prod: stale.prod, source: stale.source, validations: async () => evidence(b),
      targetAudit: async () => prodAudit,
      drill: async () => {
        drills.push("drill");
        prodAudit = [...prodAudit, drill("passed", 0)];
      },
    });
    assert.equal(result.ok, true, result.error);
    assert.deepEqual(drills, ["drill"]);
    assert.match(result.evidence!.found.join("\n"), /restore drill passed on prod/);

    const never = stacks();
    await assert.rejects(promote({ ...base, prod: never.prod, source: never.source, validations: async () => evidence(b), targetAudit: async () => [drill("passed", 30)] }), /older than backup\.drillHours = 24 h/);
  });

  it("refuses a digest that was rolled back on prod, by the host or by wepppy-cicd rollback, unless forced", async () => {
    const b = digest("b");
    const switchedBack = { time: hoursAgo(30), action: "deploy", result: "failed", rolledBack: B, reason: "analysis: 40 of 200 requests answered 5xx" };
    const { prod, source } = stacks();
    await assert.rejects(
      promote({ ...base, prod, source, validations: async () => evidence(b), targetAudit: async () => [drill("passed", 1), switchedBack] }),
      /sha256:bbbbbbbbbbbb was rolled back on prod at .* \(deploy: analysis: 40 of 200/,
    );
    const history = [update(2, "succeeded", prodAt(A, { id: "rollback-20261125-080000" })), update(5, "succeeded", prodAt(B, { id: "prod-20261125-050000", version: "2026.11.3" }))];
    const viaHistory = stacks({ prodHistory: history });
    await assert.rejects(promote({ ...base, prod: viaHistory.prod, source: viaHistory.source, validations: async () => evidence(b) }), /sha256:bbbbbbbbbbbb was rolled back on prod by rollback-20261125-080000/);
    const forced = await promote({ ...base, prod: viaHistory.prod, source: viaHistory.source, validations: async () => evidence(b), force: true, reason: "the rollback was for an unrelated outage" });
    assert.equal(forced.ok, true, forced.error);
    assert.match(String(section(viaHistory.prod.config, "release").note), /past the evidence check \(rolled back on prod\): the rollback was for an unrelated outage$/);
    assert.equal(forced.evidence?.forced, true);
  });

  it("is refused when testprod's audit log cannot be read, unless forced", async () => {
    const { prod, source } = stacks();
    const unreadable = async () => {
      throw new Error("ssh: connect to host forest1 port 22: Connection refused");
    };
    await assert.rejects(promote({ ...base, prod, source, validations: unreadable }), /audit log of testprod could not be read \(ssh: connect to host forest1/);
    await assert.rejects(promote({ ...base, prod, source, validations: async () => evidence(digest("b")), targetAudit: unreadable }), /the audit log of prod could not be read/);
    assert.deepEqual(writes(prod), []);
    const forced = await promote({ ...base, prod, source, validations: unreadable, force: true, reason: "forest1 is down for a disk swap" });
    assert.equal(forced.ok, true);
    assert.match(String(section(prod.config, "release").note), /past the evidence check \(audit log of testprod unreadable\): forest1 is down/);
  });

  it("promotes with the evidence: testprod's live digest becomes prod's image.digest, tagged and versioned; the host picks the colour", async () => {
    const history = [update(7, "succeeded", prodAt(A, { id: "prod-20261102-090000", version: "2026.11.0" }))];
    const { prod, source, opened } = stacks({ prodHistory: history });
    const spy = notifySpy();
    const result = await promote({ ...base, prod, source, validations: async () => [...evidence(digest("c")), suite("create-run", digest("b"), 71), suite("routes", digest("b"), 3), soak(digest("b"))], notify: spy.notify });
    assert.equal(result.ok, true, result.error);
    assert.deepEqual(result.evidence?.missing, []);
    assert.equal(result.evidence?.found.length, 4, result.evidence?.found.join("\n"));
    assert.deepEqual(opened, ["testprod"]);
    assert.equal(section(prod.config, "image").digest, B);
    assert.equal(section(prod.config, "bluegreen").live, undefined, "no colour in the config: the host decides");
    assert.deepEqual(section(prod.config, "release"), { id: "prod-20261125-100000", tag: "prod-20261125-100000", version: "2026.11.1", actor: "roger" });
    assert.ok(prod.calls.includes("history noSecrets"), "history is read without secrets");
    assert.deepEqual(writes(prod).slice(-1), ["up"]);
    assert.equal(result.live, "green", "the colour the host reported");
    assert.deepEqual(
      spy.sent.map((s) => [s.event.event, s.event.tag, s.event.version, s.event.digest]),
      [["promote", "prod-20261125-100000", "2026.11.1", digest("b")]],
    );
  });

  it("records the wepppy commit testprod's live image was built from (its newest succeeded update's tag), so prod deploys that commit's compose files", async () => {
    const sourceHistory = [update(3, "failed", withSections(checkoutConfig("testprod"), { image: { tag: "sha-cccccccccccc" } })), update(2, "succeeded", withSections(checkoutConfig("testprod"), { image: { tag: TAG_B } }))];
    const { prod, source } = stacks({ sourceHistory });
    const result = await promote({ ...base, prod, source, validations: async () => evidence(digest("b")) });
    assert.equal(result.ok, true, result.error);
    assert.equal(section(prod.config, "image").commit, TAG_B.replace(/^sha-/, ""), "not the failed update's");
  });

  it("numbers the version from the whole history, not its first page of 10", async () => {
    const history = Array.from({ length: 14 }, (_, i) => update(i + 1, "succeeded", prodAt(A, { id: `prod-x${i}`, version: `2026.11.${13 - i}` })));
    history.push(update(30, "succeeded", prodAt(A, { id: "prod-old", version: "2026.11.40" })));
    const { prod, source } = stacks({ prodHistory: history });
    const result = await promote({ ...base, prod, source, validations: async () => evidence(digest("b")) });
    assert.equal(result.release?.version, "2026.11.41");
  });

  it("works from a fresh checkout every time: two promotions in a row, each in its own checkout, both land", async () => {
    const first = stacks();
    const one = await promote({ ...base, prod: first.prod, source: first.source, validations: async () => evidence(digest("b")) });
    assert.equal(one.ok, true, one.error);
    // The next job: a fresh checkout (the committed stack file), the same backend (history and outputs).
    const second = stacks({ prodHistory: first.prod.updates, prodOutputs: { imageRef: B, bluegreen: { live: "green", images: { blue: A, green: B } } }, sourceOutputs: { imageRef: C, imageDigest: digest("c") } });
    const two = await promote({ ...base, prod: second.prod, source: second.source, validations: async () => evidence(digest("c")) });
    assert.equal(two.ok, true, two.error);
    assert.equal(section(second.prod.config, "image").digest, C);
    assert.equal(two.release?.version, "2026.11.1");
  });

  it("takes a hotfix out when it promotes", async () => {
    const { prod, source } = stacks({ prodConfig: withSections(checkoutConfig("prod"), { image: { hotfix: { tag: "sha-0123456789ab", reason: "urgent" } } }) });
    const result = await promote({ ...base, prod, source, validations: async () => evidence(digest("b")) });
    assert.equal(result.ok, true, result.error);
    assert.equal(section(prod.config, "image").hotfix, undefined);
  });

  it("--force promotes anyway and records why, past which checks, in release.note (plain prose for the audit log)", async () => {
    const { prod, source } = stacks();
    const result = await promote({ ...base, prod, source, validations: async () => [], targetAudit: async () => [], force: true, reason: "customer data loss fix, validated by hand on forest1" });
    assert.equal(result.ok, true);
    const note = String(section(prod.config, "release").note);
    assert.match(note, /^Forced by roger past the evidence check \(suite create-run, suite routes, soak, restore drill\): customer data loss fix, validated by hand on forest1$/);
    // The note is what the schema accepts as release.note (f.prose), so the host can log it.
    const raw = rawOf(prod.config);
    parseStackConfig("prod", raw.values, { secretKeys: raw.secretKeys });
    assert.match(result.notes.join("\n"), /forced past the evidence check: suite create-run: no run/);
  });

  it("--force needs a reason that fits the note: plain text, short enough", async () => {
    for (const [reason, why] of [
      [undefined, /--force needs --reason/],
      ["it's fine", /plain text/],
      ["$(reboot)", /plain text/],
      ["x".repeat(150), /too long: at most \d+ characters/],
    ] as const) {
      const { prod, source } = stacks();
      await assert.rejects(promote({ ...base, prod, source, validations: async () => [], force: true, reason }), why);
      assert.deepEqual(writes(prod), []);
    }
  });

  it("refuses when testprod has no digest-pinned live image, or its outputs disagree", async () => {
    for (const outputs of [{}, { imageRef: "build:/workdir/wepppy#master", imageDigest: "" }, { imageRef: `${B.split("@")[0]}:sha-0123456789ab` }]) {
      const { prod, source } = stacks({ sourceOutputs: outputs });
      await assert.rejects(promote({ ...base, prod, source, validations: async () => evidence(digest("b")) }), /testprod/);
      assert.deepEqual(writes(prod), []);
    }
  });

  it("says when testprod's image is already live on prod, and changes nothing", async () => {
    const { prod, source } = stacks({ prodOutputs: { imageRef: B, bluegreen: { live: "green", images: { blue: A, green: B } } } });
    const result = await promote({ ...base, prod, source, validations: async () => [] });
    assert.equal(result.ok, true);
    assert.equal(result.changed, false);
    assert.deepEqual(writes(prod), []);
  });

  it("reads evidence from audit log lines, skipping torn ones", () => {
    const b = digest("b");
    const text = [...evidence(b).map((e) => JSON.stringify(e)), '{"time":"2026-11-25T09:00:00Z","action":"valid', JSON.stringify(suite("routes", b, 0.5, "failed")), ""].join("\n");
    const entries = parseAuditLines(text);
    assert.equal(entries.length, 4);
    const j = judgeSource(entries, b, NOW, { suites: ["create-run", "routes"], windowHours: 72, soakSeconds: 86400, maxErrorPercent: 1, maxAppErrors: 50 }, "testprod");
    assert.deepEqual(j.missing.map((m) => m.split(":")[0]), ["suite routes"], "the newest routes run failed");
  });

  it("promotes on the evidence the agent itself records: testprod's suites and soak, prod's drill, read back from their audit logs", async () => {
    const soaked = (s: DeploySettings) => {
      s.validate = { ...s.validate, enabled: true, suites: ["create-run", "routes"] };
      s.smoke.mode = "test-support";
      s.soak = { seconds: 3600, intervalSeconds: 60, maxErrorPercent: 1, minRequests: 20, maxAppErrors: 50, accessLog: { service: "caddy", path: "/var/log/wepppy-cicd/access.log" } };
    };
    const testprodHost = new FakeHost({ settings: soaked });
    const prodHost = new FakeHost({ settings: (s) => (s.environment = "prod") });
    try {
      const image = testprodHost.image(digestRef("release-7"), { build: "r7" });
      testprodHost.testSupport = true;
      testprodHost.rps = 1;
      assert.equal((await testprodHost.deploy(testprodHost.request(image, testprodHost.stage()))).code, 0);
      const token = testprodHost.detached.filter((d) => d.argv[0] === "soak").pop()!.argv[1];
      prodHost.image(A);
      assert.equal((await prodHost.deploy(prodHost.request(A, prodHost.stage()))).code, 0);
      const auditOf = async (host: FakeHost) => parseAuditLines((await host.cli(["audit", "-n", "2000"])).out.join("\n"));
      // prod's settings soak for 1 h here: testprod's host soaked that long.
      const oneHour = withSections(checkoutConfig("prod"), { promotion: { soakHours: 1 } });
      const now = () => new Date(testprodHost.now);
      const run = async () => {
        const { prod, source } = stacks({ prodConfig: oneHour, sourceOutputs: { imageRef: image } });
        return promote({ ...base, now: now(), prod, source, validations: () => auditOf(testprodHost), targetAudit: () => auditOf(prodHost), drill: async () => void (await prodHost.cli(["drill"])) });
      };
      await assert.rejects(run(), /soak: no completed soak of .* on testprod/);
      assert.equal((await testprodHost.cli(["soak", token])).code, 0);
      await prodHost.cli(["backup", "--reason", "scheduled"]);
      prodHost.now = testprodHost.now;
      const result = await run();
      assert.equal(result.ok, true, result.error);
      assert.match(result.evidence!.found.join("\n"), /suite create-run passed .*answered by stand-in r7[\s\S]*suite routes passed[\s\S]*soak of .* passed: 1 h[\s\S]*restore drill passed on prod/);
    } finally {
      testprodHost.cleanup();
      prodHost.cleanup();
    }
  });
});
