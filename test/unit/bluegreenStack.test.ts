import { strict as assert } from "node:assert";
import { parse } from "yaml";
import { BLUEGREEN } from "../../render/bluegreen/constants";
import { Evaluation, RegisteredResource, evaluateStack } from "../../harness/evaluate";
import { deployableConfig, registryAnswer } from "./helpers";

/** The prod stack (blue/green in its own file) with testprod's outputs, as promotion reads them. */
async function prod(overrides: Record<string, unknown> = {}): Promise<{ prod: Evaluation; testprod: Evaluation }> {
  const testprod = await evaluateStack({ stack: "testprod", config: deployableConfig("testprod"), preview: false, invoke: registryAnswer });
  const ev = await evaluateStack({
    stack: "prod",
    config: deployableConfig("prod", overrides),
    preview: false,
    invoke: registryAnswer,
    stackOutputs: { testprod: testprod.outputs },
  });
  return { prod: ev, testprod };
}

function named(ev: Evaluation, suffix: string): RegisteredResource {
  const found = ev.resources.filter((r) => r.name === `prod-compose-${suffix}`);
  assert.equal(found.length, 1, `prod-compose-${suffix}`);
  return found[0];
}

function keyValues(text: string): Record<string, string> {
  return Object.fromEntries(text.trim().split("\n").filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l)).map((l) => l.split(/=(.*)/s).slice(0, 2)));
}

const PINNED = (n: string) => `ghcr.io/rogerlew/wepppy@sha256:${n.repeat(64)}`;

describe("blue/green in the prod stack", () => {
  it("runs testprod's live digest on both colours at first, blue live", async () => {
    const { prod: ev, testprod } = await prod();
    const env = keyValues(String(named(ev, "env").inputs.stdin));
    assert.equal(env[BLUEGREEN.imageVariables.blue], testprod.outputs.imageRef);
    assert.equal(env[BLUEGREEN.imageVariables.green], testprod.outputs.imageRef);
    assert.equal(env[BLUEGREEN.liveVariable], "blue");
    assert.equal(env.WEPPCLOUD_IMAGE, testprod.outputs.imageRef);
    assert.deepEqual(ev.outputs.bluegreen, { live: "blue", images: { blue: testprod.outputs.imageRef, green: testprod.outputs.imageRef } });
  });

  it("reports the live colour's image as the stack's image, whichever colour is live", async () => {
    const { prod: ev } = await prod({ "bluegreen.live": "green", "bluegreen.images": { blue: PINNED("a"), green: PINNED("b") } });
    assert.equal(ev.outputs.imageRef, PINNED("b"));
    assert.equal(ev.outputs.imageDigest, `sha256:${"b".repeat(64)}`);
    const env = keyValues(String(named(ev, "env").inputs.stdin));
    assert.equal(env[BLUEGREEN.imageVariables.blue], PINNED("a"));
    assert.equal(env[BLUEGREEN.liveVariable], "green");
  });

  it("installs a generated compose file with two colours and no app service, and the host runs it", async () => {
    const { prod: ev } = await prod();
    const doc = parse(String(named(ev, "bluegreen-compose").inputs.stdin)) as { services: Record<string, Record<string, unknown>> };
    assert.ok(doc.services[BLUEGREEN.services.blue] && doc.services[BLUEGREEN.services.green]);
    assert.equal(doc.services.weppcloud, undefined);
    const caddyLabels = doc.services.caddy.labels as Record<string, string>;
    assert.match(caddyLabels["wepppy-cicd.caddyfile-sha256"], /^[0-9a-f]{64}$/);
    const conf = keyValues(String(named(ev, "conf").inputs.stdin));
    assert.equal(conf.BLUEGREEN, "true");
    assert.equal(conf.COMPOSE_FILES, "docker-compose.bluegreen.yml");
    assert.equal(conf.BG_ACCESS_LOG, `${BLUEGREEN.accessLogDir}/${BLUEGREEN.accessLogFile}`);
    const others = conf.BG_OTHER_SERVICES.split(" ");
    assert.ok(others.includes("rq-worker") && others.includes("postgres"));
    for (const s of [BLUEGREEN.services.blue, BLUEGREEN.services.green, "caddy"]) assert.ok(!others.includes(s), s);
    // Restores stop the colours, which hold the database password, not the removed app service.
    assert.ok(conf.STOP_FOR_RESTORE.split(" ").includes(BLUEGREEN.services.blue));
    assert.ok(!conf.STOP_FOR_RESTORE.split(" ").includes("weppcloud"));
  });

  it("serves the Caddyfile that picks the colour by marker and logs JSON for the analysis window", async () => {
    const { prod: ev } = await prod();
    const caddyfile = String(named(ev, "bluegreen-caddyfile").inputs.stdin);
    assert.match(caddyfile, new RegExp(`root ${BLUEGREEN.markerDir}`));
    assert.match(caddyfile, new RegExp(`output file ${BLUEGREEN.accessLogDir}/${BLUEGREEN.accessLogFile}`));
    assert.ok(!/reverse_proxy weppcloud:8000/.test(caddyfile));
  });

  it("redeploys on a release or a rollback (the live colour or a colour's image changes) and not otherwise", async () => {
    const a = await prod({ "bluegreen.images": { blue: PINNED("a"), green: PINNED("b") } });
    const same = await prod({ "bluegreen.images": { blue: PINNED("a"), green: PINNED("b") } });
    const switched = await prod({ "bluegreen.live": "green", "bluegreen.images": { blue: PINNED("a"), green: PINNED("b") } });
    const trig = (ev: Evaluation) => JSON.stringify(named(ev, "deploy").inputs.triggers);
    assert.equal(trig(a.prod), trig(same.prod));
    assert.notEqual(trig(a.prod), trig(switched.prod));
  });

  it("records the release id, tag and version with the deploy and in the outputs", async () => {
    const release = { id: "prod-20261125-140000", tag: "prod-20261125-140000", version: "2026.11.0", actor: "roger" };
    const { prod: ev } = await prod({ release });
    assert.match(String(named(ev, "deploy").inputs.create), /--note 'release prod-20261125-140000 prod-20261125-140000 2026\.11\.0 by roger'/);
    assert.deepEqual(ev.outputs.release, { id: release.id, tag: release.tag, version: release.version });
  });

  it("runs the functional validation that promotion needs on testprod only", async () => {
    const { prod: ev, testprod } = await prod();
    assert.equal(keyValues(String(named(ev, "conf").inputs.stdin)).VALIDATE, "false");
    const conf = testprod.resources.find((r) => r.name === "testprod-compose-conf")!;
    assert.equal(keyValues(String(conf.inputs.stdin)).VALIDATE, "true");
  });

  it("refuses a hotfix the pinned colours would silently override", async () => {
    await assert.rejects(
      prod({ "bluegreen.images": { blue: PINNED("a") }, "image.hotfix": { tag: `sha-${"1".repeat(40)}`, reason: "urgent fix" } }),
      /wepppy-cicd:image\.hotfix: expected no hotfix while bluegreen\.images pins the colours/,
    );
    const unpinned = await prod({ "image.hotfix": { tag: `sha-${"1".repeat(40)}`, reason: "urgent fix" } });
    assert.match(String(unpinned.prod.outputs.imageRef), /ghcr\.io\/rogerlew\/wepppy@sha256:/);
  });

  it("refuses blue/green with several compose files, or a colour image not pinned to a digest, naming the keys", async () => {
    await assert.rejects(
      evaluateStack({ stack: "testprod", config: deployableConfig("testprod", { "bluegreen.enabled": true, "compose.files": ["a.yml", "b.yml"] }), preview: false, invoke: registryAnswer }),
      /wepppy-cicd:compose\.files: expected exactly one compose file when bluegreen\.enabled/,
    );
    await assert.rejects(
      evaluateStack({ stack: "prod", config: deployableConfig("prod", { "bluegreen.images": { blue: "ghcr.io/rogerlew/wepppy:latest" } }), preview: false, invoke: registryAnswer }),
      /wepppy-cicd:bluegreen\.images\.blue: expected an image reference pinned to a digest/,
    );
  });
});
