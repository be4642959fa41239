import { strict as assert } from "node:assert";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { configMapFromRaw } from "../../ops/configMap";
import { warmthFromStatus } from "../../ops/hostQueries";
import { MemoryStack } from "../../harness/memoryStack";
import { rollback } from "../../ops/rollback";
import { stackConfig } from "./helpers";
import { A, B, C, NOW, REPO, SECRETS, blueGreenConfig, digest, notifySpy, quiet, section, update, writes } from "./fixtures/opsFixtures.test";

const health = (tries: number) => ({ health: { required: true, tries, intervalSeconds: 10 } });
const REGISTRY = "wepppy-cicd:registry";

/** testprod's story: C, then A (twice: a config-only update), then B live, then a failed release of C. */
function story(up?: () => { ok: boolean; error?: string }) {
  const old = "old-secret";
  const history = [
    update(5, "failed", blueGreenConfig("testprod", { live: "blue", images: { blue: C, green: B } }, health(30), old)),
    update(4, "succeeded", blueGreenConfig("testprod", { live: "green", images: { blue: A, green: B } }, health(30), old)),
    update(3, "succeeded", blueGreenConfig("testprod", { live: "blue", images: { blue: A, green: C } }, { ...health(20), release: { id: "testprod-20261120-080000" } }, old)),
    update(2, "succeeded", blueGreenConfig("testprod", { live: "blue", images: { blue: A, green: C } }, health(30), old)),
    update(1, "succeeded", blueGreenConfig("testprod", { live: "green", images: { green: C } }, health(30), old)),
  ];
  // Now: what update 4 ran, with the secret rotated since and a secret key added since.
  const config: ConfigMap = blueGreenConfig("testprod", { live: "green", images: { blue: A, green: B } }, health(30), "new-secret");
  config[REGISTRY] = { value: JSON.stringify({ username: "rogerlew", password: "current-token" }), secret: true };
  const seen: ConfigMap[] = [];
  const stack = new MemoryStack("testprod", {
    config,
    history,
    up: (c) => {
      seen.push(c);
      return up ? up() : { ok: true };
    },
  });
  return { stack, seen };
}

// Every test announces to a spy unless it asks for its own: the fixtures' webhook is not reachable.
const base = { now: NOW, actor: "roger", log: quiet, notify: notifySpy().notify };

describe("ops: rollback", () => {
  it("goes back to the newest succeeded update older than the current one that ran another image", async () => {
    const { stack, seen } = story();
    const asked: string[] = [];
    const spy = notifySpy();
    const result = await rollback({ ...base, stack, warmth: async (colour, image) => (asked.push(`${colour} ${image}`), true), notify: spy.notify });

    assert.equal(result.ok, true, result.error);
    // Update 5 failed and update 4 is the current image: update 3 (A) is the one, not 2 or 1.
    assert.match(result.summary, /rolled back to update 3/);
    assert.equal(seen.length, 1);
    const applied = seen[0];
    // A goes live on the colour that still has it; B stays on green, warm for a roll-forward.
    assert.deepEqual(section(applied, "bluegreen"), { enabled: true, live: "blue", images: { blue: A, green: B } });
    // The rest of update 3's config is re-applied...
    assert.equal((section(applied, "health") as { tries: number }).tries, 20);
    // ...with the rollback's own release record.
    assert.deepEqual(section(applied, "release"), { id: "rollback-to-3-20261125-100000", actor: "roger" });
    assert.deepEqual(asked, [`blue ${A}`]);
    assert.match(result.notes.join("\n"), /blue still runs .*: the rollback is a switch/);
    assert.deepEqual(spy.sent.map((s) => [s.event.event, s.event.image]), [["rollback", A]]);
  });

  it("keeps the current secrets: history has no secret values, and secret keys added since stay", async () => {
    const { stack, seen } = story();
    await rollback({ ...base, stack });
    assert.ok(stack.calls.includes("history noSecrets"));
    assert.deepEqual(section(seen[0], "secrets"), { oauth_client_secret: "new-secret" });
    assert.equal(seen[0][SECRETS].secret, true);
    assert.deepEqual(section(seen[0], "registry"), { username: "rogerlew", password: "current-token" });
    // Secret values were not even written: the keys that changed are the ones the rollback is about.
    assert.deepEqual(writes(stack), ["setAllConfig wepppy-cicd:bluegreen,wepppy-cicd:health,wepppy-cicd:release", "up"]);
  });

  it("goes to --to N, putting an image no colour has on the idle colour", async () => {
    const { stack, seen } = story();
    const result = await rollback({ ...base, stack, to: 1, warmth: async () => false });
    assert.equal(result.ok, true);
    assert.deepEqual(section(seen[0], "bluegreen"), { enabled: true, live: "blue", images: { blue: C, green: B } });
    assert.equal(section(seen[0], "release").id, "rollback-to-1-20261125-100000");
  });

  it("refuses --to a failed or unknown update, listing the ones it can go to, and changes nothing", async () => {
    for (const [to, why] of [
      [5, /update 5 of testprod failed/],
      [9, /testprod has no update 9/],
    ] as const) {
      const { stack } = story();
      await assert.rejects(rollback({ ...base, stack, to }), (err: Error) => why.test(err.message) && /succeeded updates are 4 \(sha256:bbbbbbbbbbbb\), 3 \(sha256:aaaaaaaaaaaa\), 2 .*, 1 /.test(err.message));
      assert.deepEqual(writes(stack), []);
    }
  });

  it("says how long it takes instead of promising a switch when the colour no longer runs the image", async () => {
    for (const [warm, said] of [
      [false, /blue no longer runs .*waits, up to 20 × 10 s = 200 s for the health gate .*plus pulling the image/],
      [undefined, /blue may not be running .*up to 20 × 10 s = 200 s/],
    ] as const) {
      const { stack } = story();
      const result = await rollback({ ...base, stack, warmth: async () => warm });
      assert.match(result.notes.join("\n"), said);
      assert.doesNotMatch(result.notes.join("\n"), /is a switch/);
    }
    const { stack } = story();
    const unreachable = await rollback({ ...base, stack, warmth: async () => { throw new Error("ssh: no route"); } });
    assert.equal(unreachable.ok, true);
    assert.match(unreachable.notes.join("\n"), /may not be running/);
  });

  it("puts the config back exactly when the update fails", async () => {
    const { stack } = story(() => ({ ok: false, error: "candidate never became healthy" }));
    const text = JSON.stringify(await stack.getAllConfig());
    const result = await rollback({ ...base, stack });
    assert.equal(result.ok, false);
    assert.equal(result.restored, true);
    assert.equal(JSON.stringify(await stack.getAllConfig()), text);
    assert.match(result.notes.join("\n"), /traffic stays on green/);
  });

  it("refuses when no earlier update ran another image", async () => {
    const config = blueGreenConfig("testprod", { live: "blue", images: { blue: A } });
    const stack = new MemoryStack("testprod", { config, history: [update(2, "succeeded", config), update(1, "failed", blueGreenConfig("testprod", { live: "green", images: { blue: A, green: B } }))] });
    await assert.rejects(rollback({ ...base, stack }), /no earlier succeeded update of testprod ran another image/);
    assert.deepEqual(writes(stack), []);
  });

  it("rolls a one-colour registry stack back to the tag it ran", async () => {
    const tagged = (tag: string) => configMapFromRaw(stackConfig("testprod", { "image.tag": tag }));
    const stack = new MemoryStack("testprod", {
      config: tagged("sha-2222222"),
      history: [update(2, "succeeded", tagged("sha-2222222")), update(1, "succeeded", tagged("sha-1111111"))],
    });
    const result = await rollback({ ...base, stack });
    assert.equal(result.ok, true);
    assert.equal(section(stack.config, "image").tag, "sha-1111111");
    assert.match(result.notes.join("\n"), new RegExp(`redeploys ${REPO}:sha-1111111: up to 30 × 10 s`));
  });

  it("reads warmth from the host's status: the colour running that digest", () => {
    const status = { colours: { blue: { image: A, running: true }, green: { image: B, running: false } } };
    assert.equal(warmthFromStatus(status, "blue", A), true);
    assert.equal(warmthFromStatus(status, "blue", `other.registry/x@${digest("a")}`), true, "same digest, other name");
    assert.equal(warmthFromStatus(status, "green", B), false, "not running");
    assert.equal(warmthFromStatus(status, "blue", C), false, "another image");
    assert.equal(warmthFromStatus({ liveImage: A }, "blue", A), undefined, "a host that does not report colours");
    // As wepppy-deploy status prints it: under bluegreen, with each colour's service.
    const printed = { env: "prod", liveImage: A, bluegreen: { traffic: "blue", live: "blue", colours: { blue: { service: "weppcloud-blue", image: A, running: true }, green: { service: "weppcloud-green", image: B, running: true } } } };
    assert.equal(warmthFromStatus(printed, "green", B), true);
    assert.equal(warmthFromStatus(printed, "green", A), false);
  });
});
