import { strict as assert } from "node:assert";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { MemoryStack } from "../../harness/memoryStack";
import { HOTFIX_SKIPS, hotfix } from "../../ops/hotfix";
import { A, NOW, REPO, checkoutConfig, digest, notifySpy, quiet, section, update, withSections, writes } from "./fixtures/ops";

const COMMIT = "c0ffee1234567890c0ffee1234567890c0ffee12";
const IMAGE = `${REPO}:sha-${COMMIT}`;
const HOTFIXED = `${REPO}@${digest("f")}`;
const base = { now: NOW, actor: "roger", log: quiet };

function prod(config: ConfigMap = withSections(checkoutConfig("prod"), { image: { digest: A } }), init: Partial<ConstructorParameters<typeof MemoryStack>[1]> = {}) {
  const seen: ConfigMap[] = [];
  const stack = new MemoryStack("prod", {
    config,
    outputs: { imageRef: A, bluegreen: { live: "blue", images: { blue: A, green: A } } },
    ...init,
    up: async (c, o) => {
      seen.push(structuredClone(c));
      return init.up ? init.up(c, o) : { ok: true, outputs: { imageRef: HOTFIXED, bluegreen: { live: "green", images: { blue: A, green: HOTFIXED } } } };
    },
  });
  return { stack, seen };
}

describe("ops: hotfix", () => {
  it("puts the hotfix and a release record (tag, version, reason) in prod's config and runs the update; the result names what it skipped", async () => {
    const before = withSections(checkoutConfig("prod"), { image: { digest: A } });
    const { stack, seen } = prod(before, { history: [update(30, "succeeded", withSections(before, { release: { id: "prod-x", tag: "prod-20261101-000000", version: "2026.11.4" } }))] });
    const spy = notifySpy();
    const r = await hotfix({ ...base, stack, image: IMAGE, reason: "login is broken for everyone", notify: spy.notify });
    assert.equal(r.ok, true, r.error);
    assert.equal(r.action, "hotfix");
    assert.deepEqual(section(seen[0], "image").hotfix, { repository: REPO, tag: `sha-${COMMIT}`, reason: "login is broken for everyone" });
    assert.equal(section(seen[0], "image").digest, A, "the promoted digest stays for the next promotion to replace");
    assert.deepEqual(section(seen[0], "release"), { id: "prod-20261125-100000", tag: "prod-20261125-100000", version: "2026.11.5", actor: "roger", note: "hotfix: login is broken for everyone" });
    assert.equal(r.commit, COMMIT, "record-release tags the hotfix image's own commit");
    assert.equal(r.image, HOTFIXED);
    assert.equal(r.live, "green");
    assert.deepEqual(r.hotfix, { reason: "login is broken for everyone", skippedChecks: [...HOTFIX_SKIPS] });
    assert.equal(spy.sent[0].event.event, "hotfix");
  });

  it("lists prod's smoke test among the skipped checks when health.skipSmoke is set beside it", async () => {
    const { stack } = prod(withSections(checkoutConfig("prod"), { image: { digest: A }, health: { skipSmoke: true } }));
    const r = await hotfix({ ...base, stack, image: IMAGE, reason: "outage", notify: notifySpy().notify });
    assert.deepEqual(r.hotfix!.skippedChecks, [...HOTFIX_SKIPS, "smoke test on prod (health.skipSmoke)"]);
  });

  it("refuses, changing nothing: no commit tag, a reason the audit log cannot carry, a stack that runs no promoted image", async () => {
    const { stack } = prod();
    await assert.rejects(hotfix({ ...base, stack, image: `${REPO}:latest`, reason: "x" }), /--image expects <repository>:sha-<commit>.*nothing was changed/);
    await assert.rejects(hotfix({ ...base, stack, image: IMAGE, reason: "broken $(id)" }), /image\.hotfix\.reason/);
    assert.deepEqual(writes(stack), []);
    const testprod = new MemoryStack("testprod", { config: checkoutConfig("testprod") });
    await assert.rejects(hotfix({ ...base, stack: testprod, image: IMAGE, reason: "x" }), /does not run promoted images .*use `wepppy-cicd release`.*nothing was changed/);
    assert.deepEqual(writes(testprod), []);
  });

  it("puts prod's config back when the update fails", async () => {
    const before = withSections(checkoutConfig("prod"), { image: { digest: A } });
    const { stack } = prod(before, { up: () => ({ ok: false, error: "error: the gate failed" }) });
    const r = await hotfix({ ...base, stack, image: IMAGE, reason: "outage", notify: notifySpy().notify });
    assert.equal(r.ok, false);
    assert.equal(r.restored, true);
    assert.deepEqual(stack.config, before);
    assert.match(r.summary, /hotfix prod-20261125-100000 FAILED/);
  });
});
