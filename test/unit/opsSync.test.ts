import { strict as assert } from "node:assert";
import { MemoryStack } from "../../harness/memoryStack";
import { syncConfig } from "../../ops/sync";
import { A, B, TAG_A, TAG_B, checkoutConfig, section, update, withSections } from "./fixtures/ops";

describe("ops: config sync (a fresh checkout takes what the newest succeeded update ran)", () => {
  it("restores the intent leaves of the newest succeeded update, not of a newer failed one, and nothing else", async () => {
    const checkout = withSections(checkoutConfig("testprod"), { health: { tries: 7 } });
    const ran = withSections(checkoutConfig("testprod"), { image: { tag: TAG_A }, release: { id: "t-a", actor: "ci" }, health: { tries: 99 } });
    const failed = withSections(checkoutConfig("testprod"), { image: { tag: TAG_B }, release: { id: "t-b" } });
    const stack = new MemoryStack("testprod", { config: checkout, history: [update(1, "failed", failed), update(2, "succeeded", ran)] });
    const result = await syncConfig(stack);
    assert.deepEqual(result.changed, ["wepppy-cicd:image.tag", "wepppy-cicd:release.actor", "wepppy-cicd:release.id"]);
    assert.equal(section(stack.config, "image").tag, TAG_A);
    assert.equal(section(stack.config, "health").tries, 7, "the checkout's own settings stand");
    assert.equal((await syncConfig(stack)).changed.length, 0, "a second sync changes nothing");
  });

  it("removes a release record or hotfix the newest succeeded update did not have, as a whole", async () => {
    const checkout = withSections(checkoutConfig("prod"), { image: { digest: B, hotfix: { tag: "sha-0123456789ab", reason: "old" } }, release: { id: "stale" } });
    const stack = new MemoryStack("prod", { config: checkout, history: [update(1, "succeeded", withSections(checkoutConfig("prod"), { image: { digest: A } }))] });
    await syncConfig(stack);
    assert.deepEqual(section(stack.config, "image"), { source: "promoted", from: "testprod", digest: A });
    assert.equal(stack.config["wepppy-cicd:release"], undefined);
  });

  it("leaves the checkout alone when no update has succeeded", async () => {
    const stack = new MemoryStack("testprod", { config: checkoutConfig("testprod"), history: [update(1, "failed", checkoutConfig("testprod"))] });
    assert.deepEqual(await syncConfig(stack), { stack: "testprod", from: null, changed: [] });
  });
});
