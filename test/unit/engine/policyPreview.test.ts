import * as assert from "node:assert/strict";
import { remote } from "@pulumi/command";
import { POLICY_PACK_CONFIG, POLICY_PACK_DIR } from "../../../config/paths";
import * as docker from "@pulumi/docker";
import { EngineStack } from "../../../harness/engine/engineStack";
import { PASSPHRASE, conn, world, World } from "./fixture";

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

describe("stand-in engine: providers in a preview", function () {
  this.timeout(60000);
  let w: World;
  beforeEach(() => (w = world()));
  afterEach(() => w.cleanup());

  it("a function called through a provider gets the provider's inputs in a preview of a stack never updated (the engine configures providers before any step)", async () => {
    const seen: Array<Record<string, unknown> | undefined> = [];
    const stack = new EngineStack("dev", {
      workDir: w.workDir,
      backend: w.backend,
      executor: w.host,
      passphrase: () => PASSPHRASE,
      invoke: async (_token, args, providerInputs) => {
        seen.push(providerInputs);
        return { id: String(args.name), name: args.name, sha256Digest: `sha256:${"a".repeat(64)}` };
      },
      program: async () => {
        const provider = new docker.Provider("registry", { registryAuth: [{ address: "registry.example:5000", username: "u", password: "p" }] });
        docker.getRegistryImageOutput({ name: "registry.example:5000/app:1" }, { provider });
        return {};
      },
    });
    await stack.preview();
    assert.equal(seen.length, 1);
    // A provider's nested config reaches it JSON-encoded, as the engine passes provider config.
    const auth = seen[0]?.registryAuth;
    assert.equal((typeof auth === "string" ? JSON.parse(auth) : auth)?.[0]?.username, "u");
  });
});
