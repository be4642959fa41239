import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hostLayout } from "../../host/contract/layout";
import { SUITES, SoakRecord, Suite, SuiteEvidence, parseDeployRequest, requestId } from "../../host/contract/records";
import { asSuiteEvidence, judgeSource, judgeTarget } from "../../host/contract/evidence";
import { SUITE_NAMES } from "../../config/sections/bluegreen";
import { DeploySettings, SETTINGS_DEFAULTS, parseDeploySettings, readDeploySettingsText, serializeDeploySettings } from "../../host/contract/settings";
import { parseReleaseManifest, stageRelease } from "../../host/contract/staging";
import { allStates, allTo, canaryTo, markerName, stateId, stateOfMarkers } from "../../host/contract/traffic";
import { markersIn, readTraffic, switchTraffic } from "../../host/agent/markers";
import { FakeHost } from "./fixtures/fakeHost";

/*
 * The host contract: the documents the stack writes and the agent reads, and the traffic
 * grammar both sides switch by.
 */

function settings(): DeploySettings {
  const host = new FakeHost({ bluegreen: true });
  host.cleanup();
  return host.settings;
}

describe("host contract: deploy.json", () => {
  it("round-trips: what the stack serializes is what the agent reads", () => {
    const s = settings();
    assert.deepEqual(readDeploySettingsText(serializeDeploySettings(s)), s);
  });

  it("fills defaults from one table, and only where a key is absent", () => {
    const s = JSON.parse(serializeDeploySettings(settings()));
    delete s.health;
    delete s.bluegreen.analysis;
    delete s.app.port;
    const read = parseDeploySettings(s);
    assert.deepEqual(read.health, SETTINGS_DEFAULTS.health);
    assert.deepEqual(read.bluegreen!.analysis, SETTINGS_DEFAULTS.bluegreen.analysis);
    assert.equal(read.app.port, SETTINGS_DEFAULTS.appPort);
  });

  it("names every bad key, with what it expected, in one error", () => {
    const s = JSON.parse(serializeDeploySettings(settings()));
    s.health.tries = "30; rm -rf /";
    s.compose.command = "docker compose --verbose";
    s.bluegreen.canary = [10, 33];
    s.environment = "$(touch /tmp/pwned)";
    s.colour = "green";
    delete s.projectDir;
    assert.throws(
      () => parseDeploySettings(s, "/opt/wepppy-cicd/deploy.json"),
      (err: Error) => {
        const lines = err.message.split("\n");
        assert.ok(lines.every((l) => l.startsWith("/opt/wepppy-cicd/deploy.json: ")), err.message);
        for (const expected of [
          /environment: expected an environment name/,
          /projectDir: required, missing/,
          /compose\.command: expected one of "docker compose", "docker-compose", got "docker compose --verbose"/,
          /health\.tries: expected a whole number 1-1000, got "30; rm -rf \/"/,
          /bluegreen\.canary\[1\]: expected a whole number 5-95, a multiple of 5, got 33/,
          /colour: unknown key/,
        ]) {
          assert.ok(lines.some((l) => expected.test(l)), `no line matches ${expected}:\n${err.message}`);
        }
        return true;
      },
    );
  });

  it("refuses text that is not JSON, naming the file", () => {
    assert.throws(() => readDeploySettingsText("ENVIRONMENT=prod\n", "/opt/x/deploy.json"), /^DocumentError: \/opt\/x\/deploy\.json: not JSON/);
  });
});

describe("host contract: requests and staged releases", () => {
  const layout = hostLayout("/opt/wepppy-cicd", "/opt/wepppy/docker");

  it("a request's identity is its content: equal requests are one deploy, any difference another", () => {
    const r = parseDeployRequest({ version: 1, image: null, releaseKey: "0123456789abcdef", who: "ci" });
    assert.equal(r.action, "deploy");
    assert.equal(requestId(r), requestId(parseDeployRequest(JSON.parse(JSON.stringify(r)))));
    assert.notEqual(requestId(r), requestId({ ...r, skipSmoke: true }));
    assert.throws(() => parseDeployRequest({ version: 1, image: "x; rm", releaseKey: "nope" }), /image: expected an image reference[\s\S]*releaseKey: expected a release key/);
  });

  it("stages a release under a key that is the digest of its manifest; a changed manifest is refused", () => {
    const staged = stageRelease(layout, { project: [{ path: "caddy/Caddyfile", content: "x" }, { path: "docker-compose.prod.yml", content: "y" }], settings: "{}", envTemplate: "" });
    assert.match(staged.key, /^[0-9a-f]{16}$/);
    assert.deepEqual(staged.files.map((f) => path.relative(`/opt/wepppy-cicd/releases/${staged.key}`, f.target)), [
      "project/caddy/Caddyfile",
      "project/docker-compose.prod.yml",
      "deploy.json",
      "env.template",
      "manifest.json",
    ]);
    const again = stageRelease(layout, { project: [{ path: "docker-compose.prod.yml", content: "y" }, { path: "caddy/Caddyfile", content: "x" }], settings: "{}", envTemplate: "" });
    assert.equal(again.key, staged.key, "the order files are given in does not matter");
    const manifest = JSON.parse(staged.manifestText);
    assert.deepEqual(parseReleaseManifest(manifest, "m", staged.key), staged.manifest);
    manifest.project[0].sha256 = "0".repeat(64);
    assert.throws(() => parseReleaseManifest(manifest, "m", staged.key), /the manifest was changed after staging/);
    assert.throws(() => stageRelease(layout, { project: [{ path: "../etc/passwd", content: "" }], settings: "", envTemplate: "" }), /expected a relative path/);
  });
});

describe("host contract: traffic states", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "markers-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("for every state, from every state, the switch leaves exactly markerName(state) (none for the default)", () => {
    const states = allStates([10, 50]);
    for (const from of states) {
      for (const to of states) {
        const m = path.join(dir, `${stateId(from)}-${stateId(to)}`);
        switchTraffic(m, from);
        const out = switchTraffic(m, to);
        const name = markerName(to);
        assert.deepEqual(markersIn(m), name === null ? [] : [name], `${stateId(from)} -> ${stateId(to)}`);
        assert.deepEqual(readTraffic(m), to);
        assert.deepEqual(out, { from: stateId(from), to: stateId(to) });
      }
    }
  });

  it("renames an existing marker in one step (the same inode: no instant without a marker)", () => {
    switchTraffic(dir, canaryTo("green", 50));
    const inode = fs.statSync(path.join(dir, "canary-green-50")).ino;
    switchTraffic(dir, allTo("green"));
    assert.equal(fs.statSync(path.join(dir, "live-green")).ino, inode);
  });

  it("calls more than one marker ambiguous, and a switch cleans the leftovers", () => {
    fs.writeFileSync(path.join(dir, "live-green"), "");
    fs.writeFileSync(path.join(dir, "canary-green-10"), "");
    assert.equal(readTraffic(dir), null);
    assert.deepEqual(switchTraffic(dir, allTo("green")), { from: "mixed", to: "green" });
    assert.deepEqual(markersIn(dir), ["live-green"]);
  });

  it("has one canary rule: multiples of 5, 5-95", () => {
    for (const bad of [0, 1, 33, 100, 7.5]) assert.throws(() => canaryTo("green", bad), /multiple of 5/);
    assert.throws(() => stateOfMarkers(["canary-green-33"]), /multiple of 5/);
    assert.deepEqual(stateOfMarkers(["canary-blue-95"]), canaryTo("blue", 95));
  });
});

describe("host contract: promotion evidence", () => {
  const digest = `sha256:${"b".repeat(64)}`;
  const other = `sha256:${"c".repeat(64)}`;
  const now = new Date("2026-11-25T10:00:00Z");
  const at = (hoursAgo: number) => new Date(now.getTime() - hoursAgo * 3600_000).toISOString().replace(/\.000Z$/, "Z");
  const suite = (name: Suite, result: SuiteEvidence["result"], hoursAgo: number, d = digest) => ({
    time: at(hoursAgo),
    action: "validate",
    result: result === "passed" ? "ok" : "failed",
    digest: d,
    evidence: {
      version: 1, suite: name, result, image: `ghcr.io/rogerlew/wepppy@${d}`, digest: d, started: at(hoursAgo), finished: at(hoursAgo),
      checks: [{ name: "/weppcloud/", ok: result === "passed", detail: result === "passed" ? "page /weppcloud/ answered 200" : "page /weppcloud/ answered 500 through Caddy" }],
      where: { url: "http://127.0.0.1:8080", host: "wc-prod.bearhive.duckdns.org", service: "weppcloud", colour: null }, answeredBy: ["stand-in b"],
    },
  });
  const soak = (o: Partial<SoakRecord> = {}, hoursAgo = 1) => ({
    time: at(hoursAgo),
    action: "soak",
    digest,
    soak: {
      version: 1, image: "x", digest, runId: null, started: at(hoursAgo + 24), finished: at(hoursAgo), plannedSeconds: 86400, observedSeconds: 86400, complete: true, samples: 1440,
      requests: 5000, errors: 10, errorPercent: 0.2, appErrors: { pattern: "*:error:*", atStart: 0, max: 3, added: 3 }, health: [], limits: { maxErrorPercent: 1, minRequests: 20, maxAppErrors: 50 },
      verdict: "passed", reasons: [], ...o,
    },
  });
  const req = { suites: ["create-run", "routes"] as Suite[], windowHours: 72, soakSeconds: 86400, maxErrorPercent: 1, maxAppErrors: 50 };

  it("the stack config knows the same suites as the agent", () => {
    assert.deepEqual([...SUITE_NAMES], [...SUITES]);
  });

  it("reads every new setting with its default, so an older deploy.json still reads", () => {
    const s = JSON.parse(serializeDeploySettings(settings()));
    delete s.soak;
    delete s.validate;
    delete s.backup.drill;
    const read = parseDeploySettings(s);
    assert.deepEqual(read.soak, { ...SETTINGS_DEFAULTS.soak, accessLog: null });
    assert.deepEqual(read.validate.suites, ["create-run", "routes"]);
    assert.equal(read.backup.drill, true);
    assert.throws(() => parseDeploySettings({ ...s, validate: { suites: ["load-test"] } }), /validate\.suites\[0\]: expected one of "create-run", "routes", "profile-playback"/);
  });

  it("a promotion source passes with every required suite's newest run in the window passed and a complete soak under the limits", () => {
    const records = [suite("create-run", "failed", 5), suite("create-run", "passed", 2), suite("routes", "passed", 3), soak()];
    const j = judgeSource(records, digest, now, req, "testprod");
    assert.deepEqual(j.missing, []);
    assert.equal(j.found.length, 3);
  });

  it("names each missing piece: a suite never run, failed, too old, of another digest; a soak short, over the limits, failed or absent", () => {
    const cases: Array<[string, object[], Partial<typeof req>, RegExp]> = [
      ["no run", [suite("routes", "passed", 1), soak()], {}, /^suite create-run: no run for sha256:bbbbbbbbbbbb on testprod$/],
      ["newest failed", [suite("create-run", "passed", 5), suite("create-run", "failed", 1), suite("routes", "passed", 1), soak()], {}, /^suite create-run: failed .* \(\/weppcloud\/: page \/weppcloud\/ answered 500/],
      ["unavailable", [suite("create-run", "unavailable", 1), suite("routes", "passed", 1), soak()], {}, /^suite create-run: unavailable/],
      ["too old", [suite("create-run", "passed", 80), suite("routes", "passed", 1), soak()], {}, /older than 72 h/],
      ["another digest", [suite("create-run", "passed", 1, other), suite("routes", "passed", 1), soak()], {}, /suite create-run: no run/],
      ["no soak", [suite("create-run", "passed", 1), suite("routes", "passed", 1)], {}, /^soak: no completed soak of sha256:bbbbbbbbbbbb on testprod \(a soak of 24 h is required/],
      ["short soak", [suite("create-run", "passed", 1), suite("routes", "passed", 1), soak({ observedSeconds: 3600, plannedSeconds: 3600 })], {}, /observed 1 h of the 24 h required/],
      ["5xx over prod's limit", [suite("create-run", "passed", 1), suite("routes", "passed", 1), soak({ errors: 100 })], {}, /100 of 5000 requests answered 5xx .* over promotion\.maxErrorPercent 1 %/],
      ["stricter prod", [suite("create-run", "passed", 1), suite("routes", "passed", 1), soak()], { maxAppErrors: 2 }, /3 new \*:error:\* keys in Redis \(over 2\)/],
      ["failed soak", [suite("create-run", "passed", 1), suite("routes", "passed", 1), soak({ verdict: "failed", reasons: ["rq-worker down or unhealthy in 3 of 1440 samples"] })], {}, /failed: rq-worker down/],
      ["no access log", [suite("create-run", "passed", 1), suite("routes", "passed", 1), soak({ requests: null, errors: null, errorPercent: null })], {}, /no 5xx share measured/],
    ];
    for (const [what, records, changes, why] of cases) {
      const j = judgeSource(records, digest, now, { ...req, ...changes }, "testprod");
      assert.equal(j.missing.length, 1, `${what}: ${j.missing.join(" | ")}`);
      assert.match(j.missing[0], why, what);
    }
  });

  it("does not take a record that claims to pass with a failing check, or a torn one, as evidence", () => {
    const forged = suite("routes", "passed", 1);
    forged.evidence.checks[0].ok = false;
    assert.equal(asSuiteEvidence(forged.evidence), undefined);
    assert.equal(asSuiteEvidence({ ...suite("routes", "passed", 1).evidence, finished: "yesterday" }), undefined);
    assert.match(judgeSource([forged, suite("create-run", "passed", 1)], digest, now, { ...req, soakSeconds: 0 }, "testprod").missing.join(), /suite routes: no run/);
  });

  it("a target needs a passed drill in its window, and refuses a digest it rolled back", () => {
    const drill = (result: "passed" | "failed", hoursAgo: number) => ({
      time: at(hoursAgo), action: "drill",
      drill: { version: 1, file: "/b/scheduled.dump", bytes: 10, dumpTime: at(hoursAgo), started: at(hoursAgo), finished: at(hoursAgo), seconds: 3, scratch: "s", result, tables: 2, rows: { live: 5, restored: 5 }, differing: [], newest: { live: null, restored: null }, equal: true, ...(result === "failed" ? { reason: "the dump does not restore" } : {}) },
    });
    assert.deepEqual(judgeTarget([drill("passed", 2)], digest, now, { drillHours: 24 }, "prod").missing, []);
    assert.match(judgeTarget([drill("passed", 30)], digest, now, { drillHours: 24 }, "prod").missing[0], /passed at .*, older than backup\.drillHours = 24 h/);
    assert.match(judgeTarget([drill("passed", 3), drill("failed", 1)], digest, now, { drillHours: 24 }, "prod").missing[0], /failed at/, "the newest drill decides: a failed one blocks");
    assert.deepEqual(judgeTarget([drill("failed", 3), drill("passed", 1)], digest, now, { drillHours: 24 }, "prod").missing, []);
    assert.match(judgeTarget([drill("failed", 1)], digest, now, { drillHours: 24 }, "prod").missing[0], /failed at .*: the dump does not restore/);
    assert.match(judgeTarget([], digest, now, { drillHours: 24 }, "prod").missing[0], /restore drill: none on prod/);
    assert.deepEqual(judgeTarget([], digest, now, { drillHours: 0 }, "prod").missing, []);
    const back = { time: at(5), action: "deploy", result: "failed", rolledBack: `ghcr.io/rogerlew/wepppy@${digest}`, reason: "analysis: 5xx" };
    const j = judgeTarget([drill("passed", 1), back], digest, now, { drillHours: 24 }, "prod");
    assert.match(j.missing[0], /^sha256:bbbbbbbbbbbb was rolled back on prod at .* \(deploy: analysis: 5xx\)$/);
    assert.deepEqual(judgeTarget([drill("passed", 1), back], other, now, { drillHours: 24 }, "prod").missing, []);
  });
});
