import { strict as assert } from "node:assert";
import type { ConfigMap, UpdateSummary } from "@pulumi/pulumi/automation";
import { MemoryStack } from "../../harness/memoryStack";
import { pickRollbackTarget, rollback } from "../../ops/rollback";
import { A, B, C, NOW, TAG_A, TAG_B, checkoutConfig, notifySpy, quiet, section, update, withSections, writes } from "./fixtures/ops";

const base = { now: NOW, actor: "roger", log: quiet, notify: notifySpy().notify };
const prodAt = (image: string, id: string, extra: Record<string, unknown> = {}) => withSections(checkoutConfig("prod"), { image: { digest: image }, release: { id, ...extra } });
const testprodAt = (tag: string, id: string) => withSections(checkoutConfig("testprod"), { image: { tag }, release: { id } });

function prodStack(history: UpdateSummary[], config: ConfigMap = checkoutConfig("prod"), up?: ConstructorParameters<typeof MemoryStack>[1]["up"]) {
  return new MemoryStack("prod", {
    config,
    history,
    outputs: { imageRef: A, bluegreen: { live: "green", images: { blue: B, green: A } } },
    up: up ?? (async (c) => ({ ok: true, outputs: { imageRef: section(c, "image").digest, bluegreen: { live: "blue", images: { blue: section(c, "image").digest, green: A } } } })),
  });
}

describe("ops: rollback targets, on the file backend's history (no version numbers, 10 to a page)", () => {
  it("goes to the newest older succeeded update that ran another image, skipping failed ones", () => {
    const history = [update(1, "succeeded", prodAt(A, "prod-a")), update(2, "failed", prodAt(C, "prod-c")), update(3, "succeeded", prodAt(B, "prod-b"))];
    const { target, currentImage, targetImage } = pickRollbackTarget("prod", history);
    assert.equal(currentImage, A);
    assert.equal(targetImage, B);
    assert.equal(section(target.config, "release").id, "prod-b");
  });

  it("finds a target beyond the first page of history", async () => {
    // Eleven updates that all ran A (settings changes), then the release of B before them.
    const history = [...Array.from({ length: 11 }, (_, i) => update(i + 1, "succeeded", prodAt(A, `prod-a${i}`))), update(20, "succeeded", prodAt(B, "prod-b"))];
    const stack = prodStack(history);
    assert.equal((await stack.history()).length, 10, "the stand-in pages as the CLI does");
    const result = await rollback({ ...base, stack });
    assert.equal(result.ok, true, result.error);
    assert.equal(section(stack.config, "image").digest, B);
  });

  it("--to names an update by its release id or its start time", () => {
    const history = [update(1, "succeeded", prodAt(A, "prod-a")), update(2, "succeeded", prodAt(B, "prod-b")), update(3, "succeeded", prodAt(C, "prod-c"))];
    assert.equal(pickRollbackTarget("prod", history, "prod-c").targetImage, C);
    const at = new Date(NOW.getTime() - 2 * 3600_000).toISOString().slice(0, 16);
    assert.equal(pickRollbackTarget("prod", history, at).targetImage, B);
  });

  it("refuses, listing the updates by time and release, when there is no target", () => {
    assert.throws(() => pickRollbackTarget("prod", [update(1, "succeeded", prodAt(A, "prod-a"))]), /no earlier succeeded update of prod ran another image.*release prod-a.*nothing was changed/s);
    assert.throws(() => pickRollbackTarget("prod", [update(1, "succeeded", prodAt(A, "prod-a")), update(2, "failed", prodAt(B, "prod-b"))], "prod-b"), /failed: a rollback goes to a succeeded update/);
    assert.throws(() => pickRollbackTarget("prod", [update(1, "succeeded", prodAt(A, "prod-a"))], "prod-zzz"), /no update with release id or start time "prod-zzz"/);
  });
});

describe("ops: rollback", () => {
  it("re-applies the target's image leaves in a fresh checkout and records a rollback release", async () => {
    const history = [update(1, "succeeded", prodAt(A, "prod-20261125-090000", { tag: "prod-20261125-090000", version: "2026.11.1" })), update(5, "succeeded", prodAt(B, "prod-20261124-090000", { tag: "prod-20261124-090000", version: "2026.11.0" }))];
    const stack = prodStack(history);
    const spy = notifySpy();
    const result = await rollback({ ...base, stack, notify: spy.notify });
    assert.equal(result.ok, true, result.error);
    assert.equal(section(stack.config, "image").digest, B);
    assert.deepEqual(section(stack.config, "release"), { id: "rollback-20261125-100000", tag: "prod-20261124-090000", version: "2026.11.0", actor: "roger", note: "rollback to release prod-20261124-090000" });
    assert.match(result.notes.join("\n"), /if a colour still runs .*switches traffic to it at once/);
    assert.equal(result.live, "blue");
    assert.equal(spy.sent[0].event.event, "rollback");
  });

  it("rolls a registry stack back to an earlier tag", async () => {
    const stack = new MemoryStack("testprod", { config: checkoutConfig("testprod"), history: [update(1, "succeeded", testprodAt(TAG_B, "t-b")), update(2, "succeeded", testprodAt(TAG_A, "t-a"))], up: async () => ({ ok: true }) });
    const result = await rollback({ ...base, stack });
    assert.equal(result.ok, true, result.error);
    assert.equal(section(stack.config, "image").tag, TAG_A);
  });

  it("changes nothing when the target's image is already live", async () => {
    const stack = prodStack([update(1, "succeeded", prodAt(A, "prod-a")), update(2, "succeeded", prodAt(B, "prod-b"))]);
    const result = await rollback({ ...base, stack, to: "prod-a" });
    assert.equal(result.ok, true);
    assert.equal(result.changed, false);
    assert.deepEqual(writes(stack), []);
  });

  it("puts the leaves back when the update fails", async () => {
    const before = prodAt(A, "prod-a");
    const stack = prodStack([update(1, "succeeded", prodAt(A, "prod-a")), update(2, "succeeded", prodAt(B, "prod-b"))], before, async () => ({ ok: false, error: "error: update failed" }));
    const result = await rollback({ ...base, stack });
    assert.equal(result.ok, false);
    assert.equal(result.restored, true);
    assert.deepEqual(stack.config, before);
    assert.match(result.notes.join("\n"), /traffic stays where it was \(green/);
  });
});
