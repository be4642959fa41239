import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hostLayout } from "../../host/contract/layout";
import { parseDeployRequest, requestId } from "../../host/contract/records";
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
