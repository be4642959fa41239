import * as assert from "node:assert/strict";
import { remote } from "@pulumi/command";
import { POLICY_PACK_CONFIG, POLICY_PACK_DIR } from "../../../config/paths";
import { conn, world, World } from "./fixture";

/*
 * `pulumi preview --policy-pack policy` on the stand-in engine: the project's pack judges the
 * graph; a mandatory violation fails the preview (the CLI exits non-zero) and nothing runs.
 */

describe("stand-in engine: preview with the policy pack", function () {
  this.timeout(60000);
  let w: World;
  beforeEach(() => (w = world()));
  afterEach(() => w.cleanup());

  const pack = { policyPacks: [POLICY_PACK_DIR], policyPackConfigs: [POLICY_PACK_CONFIG] };

  it("fails on a mandatory violation, naming the gate and the resource, and runs nothing on a host", async () => {
    const { hostKey: _, ...unpinned } = conn() as Record<string, unknown>;
    const stack = w.stack(async () => {
      new remote.Command("loose", { connection: unpinned as any, create: "echo ran >> log" });
      return {};
    });
    await assert.rejects(stack.preview(pack), /Policy Violations:[\s\S]*\[mandatory\]  wepppy-cicd-gates  host-key-pinned  \(loose\)[\s\S]*without a pinned host key/);
    assert.deepEqual(w.hostLog(), []);
  });

  it("passes a pinned one, and the preview runs nothing on the host", async () => {
    const stack = w.stack(async () => {
      new remote.Command("pinned", { connection: conn(), create: "echo ran >> log" });
      return {};
    });
    const r = await stack.preview(pack);
    assert.doesNotMatch(r.stdout, /Policy Violations/);
    assert.deepEqual(w.hostLog(), [], "a preview runs nothing");
  });

  it("refuses a pack it does not know rather than pretending to run it", async () => {
    const stack = w.stack(async () => ({}));
    await assert.rejects(stack.preview({ policyPacks: ["/somewhere/else"] }), /runs only this project's policy pack/);
  });
});
