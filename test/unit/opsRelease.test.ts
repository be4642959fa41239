import { strict as assert } from "node:assert";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { OpsError } from "../../ops/common";
import { MemoryStack } from "../../harness/memoryStack";
import { parseImageRef, release } from "../../ops/release";
import { POLICY_PACK_DIR } from "../../config/paths";
import { A, B, NOW, REPO, TAG_A, TAG_B, checkoutConfig, digest, notifySpy, quiet, section, update, withSections, writes } from "./fixtures/ops";

const base = { now: NOW, actor: "roger", log: quiet, notify: notifySpy().notify };
const tagged = (tag: string) => `${REPO}:${tag}`;

function testprod(config: ConfigMap, init: Partial<ConstructorParameters<typeof MemoryStack>[1]> = {}) {
  const seen: ConfigMap[] = [];
  const stack = new MemoryStack("testprod", {
    config,
    ...init,
    up: async (c, o) => {
      seen.push(c);
      return init.up ? init.up(c, o) : { ok: true, outputs: { imageRef: B, imageDigest: digest("b") } };
    },
  });
  return { stack, seen };
}

describe("ops: release", () => {
  it("sets image.tag and the release record leaf by leaf, then runs the update", async () => {
    const before = checkoutConfig("testprod");
    const { stack, seen } = testprod(before, { outputs: { imageRef: A } });
    const spy = notifySpy();
    const result = await release({ ...base, stack, image: tagged(TAG_B), notify: spy.notify });
    assert.equal(result.ok, true, result.error);
    assert.deepEqual(writes(stack), ["setAllConfig wepppy-cicd:image.tag,wepppy-cicd:release.actor,wepppy-cicd:release.id", "up"]);
    assert.equal(section(seen[0], "image").tag, TAG_B);
    assert.deepEqual(section(seen[0], "release"), { id: "testprod-20261125-100000", actor: "roger" });
    // Nothing else moved, the secret included.
    for (const key of Object.keys(before).filter((k) => !/:(image|release)$/.test(k))) assert.deepEqual(stack.config[key], before[key], key);
    assert.equal(result.image, B, "the image the host reported live");
    assert.equal(result.previousImage, A);
    assert.equal(spy.sent[0].event.event, "release");
  });

  it("keeps an operator's `config set --path` edits of the same sections working: sections stay maps", async () => {
    const { stack } = testprod(checkoutConfig("testprod"));
    await release({ ...base, stack, image: tagged(TAG_B) });
    await stack.setConfig("wepppy-cicd:image.repository", { value: REPO }, true);
    assert.equal(section(stack.config, "image").tag, TAG_B, "a path edit after a release leaves the tag in place");
    assert.equal(section(stack.config, "image").source, "registry");
  });

  it("tells what is live from the newest succeeded update, not from a fresh checkout's committed tag", async () => {
    const deployed = withSections(checkoutConfig("testprod"), { image: { tag: TAG_B } });
    const { stack } = testprod(checkoutConfig("testprod"), { history: [update(1, "failed", checkoutConfig("testprod")), update(2, "succeeded", deployed)], outputs: { imageRef: B } });
    const result = await release({ ...base, stack, image: tagged(TAG_B) });
    assert.equal(result.ok, true);
    assert.equal(result.changed, false);
    assert.match(result.summary, /already/);
    assert.deepEqual(writes(stack), []);
  });

  it("puts the leaves back exactly when the update fails, and withholds the failed command's output", async () => {
    const before = checkoutConfig("testprod");
    const leaked = "gunicorn: secret-value-current-secret printed by the app";
    const { stack } = testprod(before, {
      up: () => ({ ok: false, error: `error: Process exited with status 1: running "bash /opt/wepppy-cicd/bin/wepppy-deploy deploy --note x":\n${leaked}\nmore app output current-secret\nerror: update failed` }),
    });
    const spy = notifySpy();
    const result = await release({ ...base, stack, image: tagged(TAG_B), notify: spy.notify });
    assert.equal(result.ok, false);
    assert.equal(result.restored, true);
    assert.deepEqual(stack.config, before);
    for (const text of [result.error ?? "", spy.sent[0].event.detail]) {
      assert.doesNotMatch(text, /current-secret|printed by the app/);
      assert.match(text, /Process exited with status 1: running "bash \/opt\/wepppy-cicd\/bin\/wepppy-deploy deploy[^"]*" \(its output withheld/);
    }
  });

  it("previews with the quality gates before the update, and a mandatory violation stops it before anything runs, the config put back", async () => {
    const before = checkoutConfig("testprod");
    const { stack } = testprod(before);
    await release({ ...base, stack, image: tagged(TAG_B) });
    const order = stack.calls.filter((c) => /^(preview|up)/.test(c));
    assert.deepEqual(order, [`preview --policy-pack ${POLICY_PACK_DIR}`, "up"]);

    const refused = testprod(checkoutConfig("testprod"), {
      preview: () => ({ ok: false, output: "Policy Violations:\n    [mandatory]  wepppy-cicd-gates  host-key-pinned  (testprod-compose-deploy)\n    testprod-compose-deploy connects to host forest1 without a pinned host key", error: "error: preview failed" }),
    });
    const result = await release({ ...base, stack: refused.stack, image: tagged(TAG_B) });
    assert.equal(result.ok, false);
    assert.equal(result.restored, true);
    assert.deepEqual(refused.seen, [], "no update ran");
    assert.deepEqual(refused.stack.config, before);
    assert.match(result.error ?? "", /host-key-pinned/);
  });

  it("refuses prod, a tag that is no commit tag, another repository and a stack that builds on its host, changing nothing", async () => {
    assert.throws(() => parseImageRef("not an image") ?? (() => { throw new OpsError("x"); })(), OpsError);
    const { stack } = testprod(checkoutConfig("testprod"));
    await assert.rejects(release({ ...base, stack, image: `${REPO}:latest` }), /expects <repository>:sha-<commit>/);
    await assert.rejects(release({ ...base, stack, image: A }), /expects <repository>:sha-<commit>/);
    await assert.rejects(release({ ...base, stack, image: `ghcr.io/someone/else:${TAG_A}` }), /pulls from ghcr.io\/rogerlew\/wepppy, not ghcr.io\/someone\/else/);
    const prod = new MemoryStack("prod", { config: checkoutConfig("prod") });
    await assert.rejects(release({ ...base, stack: prod, image: tagged(TAG_A) }), /promote/);
    assert.deepEqual(writes(stack), []);
    assert.deepEqual(writes(prod), []);
  });
});
