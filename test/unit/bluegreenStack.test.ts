import { strict as assert } from "node:assert";
import { parse } from "yaml";
import { BLUEGREEN } from "../../render/bluegreen/constants";
import { CreateResult, Evaluation, RegisteredResource, ResourceRequest, evaluateStack, isWireSecret } from "../../harness/evaluate";
import { createLocally } from "../../harness/localProviders";
import { PROMOTED_IMAGE, deployRequest, deployableConfig, registryAnswer, sharedEvaluation, stagedText } from "./helpers";

const PINNED = (n: string) => `ghcr.io/rogerlew/wepppy@sha256:${n.repeat(64)}`;

/** The host's answer to a deploy: its verdict line (what the agent prints last, host/contract/records.ts). */
function hostAnswers(verdict: Record<string, unknown>) {
  return async (r: ResourceRequest): Promise<CreateResult> => {
    if (r.name === "prod-compose-deploy") return { state: { ...r.inputs, stdout: `${JSON.stringify({ runId: "20261125T100000000Z-0123abcd", result: "ok", ok: true, ...verdict })}` } };
    return createLocally(r) ?? { state: r.inputs };
  };
}

async function prod(overrides: Record<string, unknown> = {}, verdict?: Record<string, unknown>): Promise<Evaluation> {
  // The same stack file evaluates to the same graph: tests that only read it share one evaluation (each its own copy).
  if (Object.keys(overrides).length === 0 && !verdict) return sharedEvaluation("prod", false);
  return evaluateProd(overrides, verdict);
}

async function evaluateProd(overrides: Record<string, unknown>, verdict?: Record<string, unknown>): Promise<Evaluation> {
  const testprod = await sharedEvaluation("testprod", false);
  return evaluateStack({
    stack: "prod",
    config: deployableConfig("prod", overrides),
    preview: false,
    invoke: registryAnswer,
    stackOutputs: { testprod: testprod.outputs },
    ...(verdict ? { create: hostAnswers(verdict) } : {}),
  });
}

function named(ev: Evaluation, suffix: string): RegisteredResource {
  const found = ev.resources.filter((r) => r.name === `prod-compose-${suffix}`);
  assert.equal(found.length, 1, `prod-compose-${suffix}`);
  return found[0];
}

function keyValues(text: string): Record<string, string> {
  return Object.fromEntries(text.trim().split("\n").filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l)).map((l) => l.split(/=(.*)/s).slice(0, 2)));
}

describe("blue/green in the prod stack", () => {
  it("declares only the image that must be live; the colours are the host's to decide", async () => {
    const ev = await prod();
    assert.equal(deployRequest(ev, "prod").image, PROMOTED_IMAGE);
    const env = keyValues(stagedText(ev, "prod", "env.template"));
    for (const v of ["WEPPCLOUD_IMAGE", BLUEGREEN.imageVariables.blue, BLUEGREEN.imageVariables.green, BLUEGREEN.liveVariable]) assert.equal(env[v], undefined, v);
  });

  it("reports the image and colours the host says are live after the deploy", async () => {
    const verdict = { image: PROMOTED_IMAGE, liveImage: PROMOTED_IMAGE, live: "green", images: { blue: PINNED("a"), green: PROMOTED_IMAGE } };
    const ev = await prod({}, verdict);
    assert.equal(ev.outputs.imageRef, PROMOTED_IMAGE);
    assert.equal(ev.outputs.imageDigest, `sha256:${"d".repeat(64)}`);
    assert.deepEqual(ev.outputs.bluegreen, { live: "green", images: verdict.images });
  });

  it("refuses an update without a promoted digest, before anything is registered on a host", async () => {
    await assert.rejects(prod({ "image.digest": undefined }), /image\.digest is not set in this checkout: run `wepppy-cicd promote`, or restore the last release with `wepppy-cicd config sync -s prod`/);
  });

  it("previews without a promoted digest, showing what testprod has live", async () => {
    const testprod = await sharedEvaluation("testprod", false);
    const raw = deployableConfig("prod");
    raw.values["wepppy-cicd:image"] = JSON.stringify({ source: "promoted", from: "testprod" });
    const ev = await evaluateStack({ stack: "prod", config: raw, preview: true, invoke: registryAnswer, stackOutputs: { testprod: testprod.outputs } });
    assert.equal(ev.outputs.sourceLive, testprod.outputs.imageRef);
  });

  it("stages a generated compose file with two colours and no app service, and the host runs it", async () => {
    const ev = await prod();
    const doc = parse(stagedText(ev, "prod", `project/${BLUEGREEN.composeFile}`)) as { services: Record<string, Record<string, unknown>> };
    assert.ok(doc.services[BLUEGREEN.services.blue] && doc.services[BLUEGREEN.services.green]);
    assert.equal(doc.services.weppcloud, undefined);
    // Caddy sees the staged Caddyfile's directory (a reload reads the file the agent renamed into place).
    assert.ok(stagedText(ev, "prod", `project/${BLUEGREEN.caddyDir}/Caddyfile`).length > 0);
    assert.ok((doc.services.caddy.volumes as string[]).includes(`./${BLUEGREEN.caddyDir}:/etc/caddy:ro`), JSON.stringify(doc.services.caddy.volumes));
    const settings = JSON.parse(stagedText(ev, "prod", "deploy.json"));
    assert.deepEqual(settings.compose.files, [BLUEGREEN.composeFile]);
    assert.equal(settings.bluegreen.accessLog, `${BLUEGREEN.accessLogDir}/${BLUEGREEN.accessLogFile}`);
    const others: string[] = settings.bluegreen.otherServices;
    assert.ok(others.includes("rq-worker") && others.includes("postgres"));
    for (const s of [BLUEGREEN.services.blue, BLUEGREEN.services.green, "caddy"]) assert.ok(!others.includes(s), s);
    // Restores stop the colours, which hold the database password, not the removed app service.
    assert.ok(settings.stopForRestore.includes(BLUEGREEN.services.blue));
    assert.ok(!settings.stopForRestore.includes("weppcloud"));
  });

  it("serves the Caddyfile that picks the colour by marker and logs JSON for the analysis window", async () => {
    const ev = await prod();
    const caddyfile = stagedText(ev, "prod", `project/${BLUEGREEN.caddyfile}`);
    assert.match(caddyfile, new RegExp(`root ${BLUEGREEN.markerDir}`));
    assert.match(caddyfile, new RegExp(`output file ${BLUEGREEN.accessLogDir}/${BLUEGREEN.accessLogFile}`));
    assert.ok(!/reverse_proxy weppcloud:8000/.test(caddyfile));
  });

  it("redeploys when the digest that must be live changes, and not otherwise", async () => {
    const a = await prod({ "image.digest": PINNED("a") });
    const same = await prod({ "image.digest": PINNED("a") });
    const other = await prod({ "image.digest": PINNED("b") });
    // Secret-derived triggers (the secrets' digest) differ between evaluations: each one generates its own passwords.
    const trig = (ev: Evaluation) => JSON.stringify((named(ev, "deploy").wireInputs.triggers as unknown[]).filter((t) => !isWireSecret(t)));
    assert.equal(trig(a), trig(same));
    assert.notEqual(trig(a), trig(other));
  });

  it("records the release id, tag and version with the deploy and in the outputs", async () => {
    const release = { id: "prod-20261125-140000", tag: "prod-20261125-140000", version: "2026.11.0", actor: "roger" };
    const ev = await prod({ release });
    assert.deepEqual(deployRequest(ev, "prod").release, release);
    assert.equal(deployRequest(ev, "prod").who, "roger");
    assert.deepEqual(ev.outputs.release, { id: release.id, tag: release.tag, version: release.version });
  });

  it("runs the functional validation that promotion needs on testprod only", async () => {
    const ev = await prod();
    assert.equal(JSON.parse(stagedText(ev, "prod", "deploy.json")).validate.enabled, false);
    const testprod = await sharedEvaluation("testprod", false);
    assert.equal(JSON.parse(stagedText(testprod, "testprod", "deploy.json")).validate.enabled, true);
  });

  it("runs a hotfix's tag, pinned to its digest, in place of the promoted digest, and tells the host why", async () => {
    const ev = await prod({ "image.hotfix": { tag: `sha-${"1".repeat(40)}`, reason: "urgent fix" } });
    const request = deployRequest(ev, "prod");
    assert.match(request.image, /^ghcr\.io\/rogerlew\/wepppy@sha256:/);
    assert.notEqual(request.image, PROMOTED_IMAGE);
    assert.equal(request.hotfix, "urgent fix");
  });

  it("refuses blue/green with several compose files, or a promoted image not pinned to a digest, naming the keys", async () => {
    await assert.rejects(
      evaluateStack({ stack: "testprod", config: deployableConfig("testprod", { "bluegreen.enabled": true, "compose.files": ["a.yml", "b.yml"] }), preview: false, invoke: registryAnswer }),
      /wepppy-cicd:compose\.files: expected exactly one compose file when bluegreen\.enabled/,
    );
    await assert.rejects(prod({ "image.digest": "ghcr.io/rogerlew/wepppy:latest" }), /wepppy-cicd:image\.digest: expected an image reference pinned to a digest/);
  });
});
