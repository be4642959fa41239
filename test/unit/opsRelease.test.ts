import { strict as assert } from "node:assert";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { OpsError, nextVersion } from "../../ops/common";
import { configMapFromRaw } from "../../ops/configMap";
import { MemoryStack } from "../../harness/memoryStack";
import { parseImageRef, release } from "../../ops/release";
import { stackConfig } from "./helpers";
import { A, B, NOW, REPO, blueGreenConfig, digest, notifySpy, quiet, section, update, writes } from "./fixtures/opsFixtures.test";

function testprod(config: ConfigMap, up?: ConstructorParameters<typeof MemoryStack>[1]["up"], failAs?: "throw" | "result") {
  const seen: ConfigMap[] = [];
  const stack = new MemoryStack("testprod", {
    config,
    up: async (c) => {
      seen.push(c);
      return up ? up(c) : { ok: true };
    },
    failAs,
  });
  return { stack, seen };
}

// Every test announces to a spy unless it asks for its own: the fixtures' webhook is not reachable.
const base = { now: NOW, actor: "roger", log: quiet, notify: notifySpy().notify };

describe("ops: release", () => {
  it("puts the digest on the idle colour, makes it live, records the release, then runs the update", async () => {
    const before = blueGreenConfig("testprod", { live: "blue", images: { blue: A } });
    const { stack, seen } = testprod(before);
    const spy = notifySpy();
    const result = await release({ ...base, stack, image: B, notify: spy.notify });

    assert.equal(result.ok, true);
    assert.deepEqual(writes(stack), ["setAllConfig wepppy-cicd:bluegreen,wepppy-cicd:release", "up"]);
    // What the update ran with is what was set: the config was written before `up`.
    assert.equal(seen.length, 1);
    const bluegreen = section(seen[0], "bluegreen");
    assert.deepEqual(bluegreen, { enabled: true, live: "green", images: { blue: A, green: B } });
    assert.deepEqual(section(seen[0], "release"), { id: "testprod-20261125-100000", actor: "roger" });
    // Nothing else moved, the secret included.
    for (const key of Object.keys(before).filter((k) => !/:(bluegreen|release)$/.test(k))) assert.deepEqual(stack.config[key], before[key], key);
    assert.equal(result.live, "green");
    assert.equal(result.previousLive, "blue");
    assert.equal(result.previousImage, A);
    assert.equal(result.digest, digest("b"));
    assert.match(result.notes.join("\n"), /blue keeps .*rollback/);
    assert.equal(spy.sent.length, 1);
    assert.equal(spy.sent[0].url, section(before, "notify").webhook);
    assert.deepEqual(
      { ...spy.sent[0].event, detail: "" },
      { event: "release", action: "release", stack: "testprod", ok: true, image: B, digest: digest("b"), releaseId: "testprod-20261125-100000", tag: "", version: "", detail: "", time: NOW.toISOString() },
    );
  });

  it("records what the live colour ran when the config left it to the stack's resolved image (a first release)", async () => {
    const stack = new MemoryStack("testprod", { config: blueGreenConfig("testprod", { live: "blue" }), outputs: { imageRef: A, imageDigest: digest("a") } });
    const result = await release({ ...base, stack, image: B });
    assert.equal(result.previousImage, A);
    assert.deepEqual(section(stack.config, "bluegreen"), { enabled: true, live: "green", images: { blue: A, green: B } });
  });

  it("pins a tag to the digest the registry gives it", async () => {
    const { stack } = testprod(blueGreenConfig("testprod", { live: "green", images: { green: A } }));
    const asked: string[] = [];
    const result = await release({
      ...base,
      stack,
      image: "10.213.0.2:5000/rogerlew/wepppy:sha-05ffcab3d7fa",
      resolveDigest: async (r) => {
        asked.push(r);
        return digest("e");
      },
    });
    assert.equal(result.ok, true);
    assert.deepEqual(asked, ["10.213.0.2:5000/rogerlew/wepppy:sha-05ffcab3d7fa"]);
    assert.equal((section(stack.config, "bluegreen").images as Record<string, string>).blue, `10.213.0.2:5000/rogerlew/wepppy@${digest("e")}`);
    assert.equal(section(stack.config, "bluegreen").live, "blue");
  });

  for (const [failAs, how] of [["throw", "throws (the Automation API's way)"], ["result", "ends with result failed"]] as const) {
    it(`puts back exactly the config it read when the update ${how}, and says the host switched back`, async () => {
      const before = blueGreenConfig("testprod", { live: "blue", images: { blue: A } });
      const { stack } = testprod(before, () => ({ ok: false, error: "error: health gate: weppcloud never became healthy" }), failAs);
      const text = JSON.stringify(await stack.getAllConfig());
      const spy = notifySpy();
      const result = await release({ ...base, stack, image: B, notify: spy.notify });

      assert.equal(result.ok, false);
      assert.equal(result.restored, true);
      assert.equal(JSON.stringify(await stack.getAllConfig()), text);
      assert.match(result.error ?? "", /never became healthy/);
      assert.match(result.notes.join("\n"), /switches back to blue by itself/);
      assert.match(result.notes.join("\n"), /config is back to what it was/);
      assert.equal(result.live, "blue");
      assert.deepEqual(
        spy.sent.map((s) => [s.event.event, s.event.action, s.event.ok]),
        [["failure", "release", false]],
      );
    });
  }

  it("refuses image references that are not pinned or pinnable, changing nothing", async () => {
    for (const image of [
      "ghcr.io/rogerlew/wepppy",
      "wepppy@sha256:abc",
      `${REPO}@sha256:${"A".repeat(64)}`,
      `${REPO}:sha-05ffcab; rm -rf /`,
      `${REPO}@${digest("a")} `,
      "",
    ]) {
      const { stack } = testprod(blueGreenConfig("testprod", { live: "blue", images: { blue: A } }));
      await assert.rejects(release({ ...base, stack, image }), (err: Error) => err instanceof OpsError && /expects/.test(err.message), image);
      assert.deepEqual(writes(stack), [], image);
    }
    // A tag needs a registry to pin it; without one it is refused, not guessed.
    const { stack } = testprod(blueGreenConfig("testprod", { live: "blue", images: { blue: A } }));
    await assert.rejects(release({ ...base, stack, image: `${REPO}:sha-05ffcab` }), /cannot pin/);
    await assert.rejects(release({ ...base, stack, image: `${REPO}:sha-05ffcab`, resolveDigest: async () => { throw new Error("not in the registry"); } }), /not in the registry/);
    assert.deepEqual(writes(stack), []);
  });

  it("refuses prod before reading anything: prod runs only what testprod ran", async () => {
    const stack = new MemoryStack("prod", { config: blueGreenConfig("prod", { live: "blue", images: { blue: A } }) });
    await assert.rejects(release({ ...base, stack, image: B }), /promote/);
    assert.deepEqual(stack.calls, []);
  });

  it("refuses a stack whose config is not valid, naming the key, and changes nothing", async () => {
    const { stack } = testprod(blueGreenConfig("testprod", { live: "purple" as "blue", images: { blue: A } }));
    await assert.rejects(release({ ...base, stack, image: B }), /wepppy-cicd:bluegreen\.live: expected one of/);
    assert.deepEqual(writes(stack), []);
  });

  it("refuses a result the schema would refuse (an actor that is no user name), changing nothing", async () => {
    const { stack } = testprod(blueGreenConfig("testprod", { live: "blue", images: { blue: A } }));
    await assert.rejects(release({ ...base, actor: "Roger Lew", stack, image: B }), /wepppy-cicd:release\.actor/);
    assert.deepEqual(writes(stack), []);
  });

  it("says an image that is already live is, and changes nothing", async () => {
    const { stack } = testprod(blueGreenConfig("testprod", { live: "green", images: { blue: B, green: A } }));
    const spy = notifySpy();
    const result = await release({ ...base, stack, image: A, notify: spy.notify });
    assert.equal(result.ok, true);
    assert.equal(result.changed, false);
    assert.match(result.summary, /already live/);
    assert.deepEqual(writes(stack), []);
    assert.deepEqual(spy.sent, []);
  });

  it("sets image.tag on a one-colour registry stack, and refuses a digest there", async () => {
    const before = configMapFromRaw(stackConfig("testprod"));
    const { stack, seen } = testprod(before);
    const tag = "sha-1234567890abcdef1234567890abcdef12345678";
    const result = await release({ ...base, stack, image: `${REPO}:${tag}` });
    assert.equal(result.ok, true);
    assert.deepEqual({ ...section(seen[0], "image") }, { ...section(before, "image"), tag });
    assert.deepEqual(section(seen[0], "release"), { id: "testprod-20261125-100000", actor: "roger" });

    const other = testprod(before).stack;
    await assert.rejects(release({ ...base, stack: other, image: A }), /sha-<commit>/);
    await assert.rejects(release({ ...base, stack: other, image: `${REPO}:latest` }), /sha-<commit>/);
    assert.deepEqual(writes(other), []);
  });

  it("reads image references as the registry does (a registry port is not a tag)", () => {
    assert.deepEqual(parseImageRef("10.213.0.2:5000/rogerlew/wepppy:sha-abc1234"), {
      kind: "tag",
      ref: "10.213.0.2:5000/rogerlew/wepppy:sha-abc1234",
      repository: "10.213.0.2:5000/rogerlew/wepppy",
      tag: "sha-abc1234",
    });
    assert.equal(parseImageRef("10.213.0.2:5000/rogerlew/wepppy"), undefined);
    assert.equal(parseImageRef(A)?.kind, "digest");
  });
});

describe("ops: prod version numbers", () => {
  const withVersion = (version: string) => blueGreenConfig("prod", { live: "blue" }, { release: { id: "x", version } });

  it("starts each month at PATCH 0", () => {
    assert.equal(nextVersion(NOW, [], blueGreenConfig("prod", { live: "blue" })), "2026.11.0");
    assert.equal(nextVersion(new Date("2026-12-01T00:00:00Z"), [update(3, "succeeded", withVersion("2026.11.4"))], withVersion("2026.11.4")), "2026.12.0");
    assert.equal(nextVersion(new Date("2027-01-01T00:00:05Z"), [update(3, "succeeded", withVersion("2026.12.9"))], withVersion("2026.12.9")), "2027.01.0");
  });

  it("takes 1 + the month's highest PATCH in history, failed updates included, other months ignored", () => {
    const history = [
      update(6, "failed", withVersion("2026.11.3")),
      update(5, "succeeded", withVersion("2026.11.1")),
      update(4, "succeeded", withVersion("2026.10.7")),
      update(3, "succeeded", withVersion("2026.11.0")),
    ];
    assert.equal(nextVersion(NOW, history, withVersion("2026.11.1")), "2026.11.4");
    assert.equal(nextVersion(NOW, history.slice(1), withVersion("2026.11.1")), "2026.11.2");
    assert.equal(nextVersion(NOW, [update(4, "succeeded", withVersion("2026.10.7"))], withVersion("2026.10.7")), "2026.11.0");
  });

  it("counts PATCH as a number, not as text (10 after 9)", () => {
    assert.equal(nextVersion(NOW, [update(1, "succeeded", withVersion("2026.11.9"))], blueGreenConfig("prod", {})), "2026.11.10");
  });
});
