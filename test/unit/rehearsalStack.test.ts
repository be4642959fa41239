import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RawConfig, SECURE_PLACEHOLDER, readStackFile } from "../../config/stackFile";
import { RehearsalResult, RehearseOptions } from "../../harness/rehearsal/rehearse";
import { WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { RehearsalStack } from "../../harness/rehearsalStack";
import { release } from "../../ops/release";
import { rollback } from "../../ops/rollback";
import { A, B, NOW, quiet } from "./fixtures/opsFixtures.test";

const SECRET_IN_OVERLAY = "overlay-secret-value-5d1e";

/** testprod's stack file with one encrypted value, as `pulumi config set --secret` leaves it. */
function stackFile(stack: string): RawConfig {
  const raw = readStackFile(stack);
  return { values: { ...raw.values, "wepppy-cicd:secrets": JSON.stringify({ oauth_client_secret: SECURE_PLACEHOLDER }) }, secretKeys: ["wepppy-cicd:secrets"] };
}

describe("ops: RehearsalStack (the rig's stand-in for the engine)", () => {
  let dir: string;
  let rehearsals: RehearseOptions[];
  let answers: (Partial<RehearsalResult> | Error)[];
  const stack = () =>
    new RehearsalStack("testprod", {
      stateDir: dir,
      stackFile,
      clock: () => NOW,
      outputs: () => ({ url: "http://10.213.0.11:8080/weppcloud/" }),
      rehearse: async (options) => {
        rehearsals.push(options);
        options.log?.("  forest1  testprod-compose-deploy ...");
        const answer = answers.shift() ?? { ok: true };
        if (answer instanceof Error) throw answer;
        return { stack: options.stack, ok: true, url: "", image: "", digest: "", steps: [], hostCommandsRun: 1, ...answer } as RehearsalResult;
      },
    });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ops-rehearsal-"));
    rehearsals = [];
    answers = [];
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("is the stack file plus what was set, kept in a 0600 overlay that only holds the differences", async () => {
    const s = stack();
    await s.setConfig("wepppy-cicd:bluegreen.enabled", { value: "true" }, true);
    await s.setAllConfig({ "wepppy-cicd:release": { value: JSON.stringify({ id: "testprod-1" }) }, "wepppy-cicd:notify": { value: JSON.stringify({ webhook: "https://h.test/x" }), secret: true } });
    const config = await s.getAllConfig();
    assert.equal(config["wepppy-cicd:deploy"].value, stackFile("testprod").values["wepppy-cicd:deploy"]);
    assert.deepEqual(config["wepppy-cicd:secrets"], { value: stackFile("testprod").values["wepppy-cicd:secrets"], secret: true });
    // As `config set --path` types leaves: "true" is a boolean.
    assert.deepEqual(JSON.parse(config["wepppy-cicd:bluegreen"].value), { enabled: true });
    assert.equal(config["wepppy-cicd:notify"].secret, true);

    const file = path.join(dir, "rehearsals", "testprod.config.json");
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(file, "utf8"))).sort(), ["wepppy-cicd:bluegreen", "wepppy-cicd:notify", "wepppy-cicd:release"]);
    // Another process (a new instance) sees the same config.
    assert.deepEqual(await stack().getAllConfig(), config);

    // Setting a key back to the stack file's value leaves nothing in the overlay for it; removing a filed key is refused.
    await s.removeConfig("wepppy-cicd:bluegreen");
    assert.ok(!("wepppy-cicd:bluegreen" in s.overlay()));
    await assert.rejects(s.removeConfig("wepppy-cicd:deploy"), /set in testprod's stack file/);
  });

  it("runs `up` as a rehearsal with the overlay as section.path overrides, leaf by leaf over filed sections", async () => {
    const s = stack();
    await s.setAllConfig({
      "wepppy-cicd:bluegreen": { value: JSON.stringify({ enabled: true, live: "green", images: { blue: A, green: B } }) },
      "wepppy-cicd:health": { value: JSON.stringify({ ...JSON.parse(stackFile("testprod").values["wepppy-cicd:health"]), tries: 20 }) },
    });
    const chunks: string[] = [];
    const result = await s.up({ message: "release testprod-1", onOutput: (c) => chunks.push(c) });
    assert.equal(rehearsals.length, 1);
    assert.equal(rehearsals[0].stack, "testprod");
    // bluegreen is not in the stack file: the section whole; health is: only the leaf that differs,
    // so that the rig's own overrides of filed keys (deploy.address, ...) are never replaced.
    assert.deepEqual(rehearsals[0].set, { bluegreen: { enabled: true, live: "green", images: { blue: A, green: B } }, "health.tries": 20 });
    assert.deepEqual(chunks, ["  forest1  testprod-compose-deploy ...\n"]);
    assert.equal(result.summary.result, "succeeded");
    assert.equal(result.summary.version, 1);
    assert.equal(result.summary.kind, "update");
    assert.equal(result.summary.message, "release testprod-1");
    assert.deepEqual(result.outputs.url, { value: "http://10.213.0.11:8080/weppcloud/", secret: false });
  });

  it("keeps a history like Pulumi's: newest first, versions counting up, failures included, secret values left out", async () => {
    const s = stack();
    await s.setConfig("wepppy-cicd:notify", { value: JSON.stringify({ webhook: `https://h.test/${SECRET_IN_OVERLAY}` }), secret: true });
    answers = [{ ok: true }, { ok: false, error: "health gate failed" }, new Error("the rig is not up")];
    await s.up();
    const failed = await s.up();
    const thrown = await s.up();
    assert.equal(failed.summary.result, "failed");
    assert.match(failed.stderr, /health gate failed/);
    assert.equal(thrown.summary.result, "failed");
    assert.match(thrown.stderr, /the rig is not up/);

    const history = await stack().history();
    assert.deepEqual(history.map((h) => [h.version, h.result]), [[3, "failed"], [2, "failed"], [1, "succeeded"]]);
    assert.ok(history[0].startTime instanceof Date);
    assert.deepEqual(history[0].config["wepppy-cicd:notify"], { secret: true });
    assert.deepEqual(history[0].config["wepppy-cicd:secrets"], { secret: true });
    assert.equal(history[0].config["wepppy-cicd:deploy"].value, stackFile("testprod").values["wepppy-cicd:deploy"]);
    const file = path.join(dir, "rehearsals", "testprod.history.json");
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.doesNotMatch(fs.readFileSync(file, "utf8"), new RegExp(SECRET_IN_OVERLAY));
    assert.deepEqual((await s.history(1, 2)).map((h) => h.version), [2]);
  });

  it("carries release and rollback end to end: the overlay and history are all they need", async () => {
    const s = stack();
    await s.setConfig("wepppy-cicd:bluegreen.enabled", { value: "true" }, true);
    const options = { now: NOW, actor: "roger", log: quiet, sourceDir: WEPPPY_REFERENCE_DIR };
    assert.equal((await release({ ...options, stack: s, image: A })).ok, true);
    assert.equal((await release({ ...options, stack: s, image: B })).ok, true);
    // A failed release leaves the overlay file exactly as it was.
    const overlay = fs.readFileSync(path.join(dir, "rehearsals", "testprod.config.json"), "utf8");
    answers = [{ ok: false, error: "gate" }];
    assert.equal((await release({ ...options, stack: s, image: "ghcr.io/rogerlew/wepppy@sha256:" + "c".repeat(64) })).ok, false);
    assert.equal(fs.readFileSync(path.join(dir, "rehearsals", "testprod.config.json"), "utf8"), overlay);

    const back = await rollback({ ...options, stack: s });
    assert.equal(back.ok, true, back.error);
    assert.match(back.summary, /rolled back to update 1/);
    assert.deepEqual(rehearsals.at(-1)?.set?.bluegreen, { enabled: true, live: "green", images: { green: A, blue: B } });
  });
});
