import { strict as assert } from "node:assert";
import { MemoryStack } from "../../harness/memoryStack";
import { status } from "../../ops/status";
import { A, B, WEBHOOK, checkoutConfig, update, withSections } from "./fixtures/ops";
import { FakeHost, A as LIVE } from "./fixtures/fakeHost";

describe("ops: status", () => {
  const deployed = withSections(checkoutConfig("prod"), { image: { digest: B }, release: { id: "prod-20261125-100000", tag: "prod-20261125-100000", version: "2026.11.0", actor: "roger" } });
  const host = {
    env: "prod",
    liveImage: B,
    bluegreen: { traffic: "green", colours: { blue: { image: A, running: true }, green: { image: B, running: true } } },
    lock: null,
    lastBackup: "/opt/wepppy-cicd/backups/20261125T095500Z.dump",
  };

  it("says what the newest succeeded update made live, whether this checkout agrees, the outputs and the host's report", async () => {
    const stack = new MemoryStack("prod", {
      config: checkoutConfig("prod"),
      history: [update(1, "failed", checkoutConfig("prod")), update(8, "succeeded", deployed)],
      outputs: { url: "https://wepp.cloud", imageRef: B, bluegreen: { live: "green", images: { blue: A, green: B } }, secretThing: "not shown" },
    });
    const result = await status({ stack, hostStatus: async () => host });
    assert.equal(result.ok, true);
    assert.deepEqual(result.intent?.image, B);
    assert.equal(result.intent?.release, "prod-20261125-100000");
    assert.equal(result.checkout.inSync, false, "a fresh checkout holds no digest");
    assert.equal(result.lastUpdate?.result, "failed");
    assert.deepEqual(result.outputs, { url: "https://wepp.cloud", imageRef: B, bluegreen: { live: "green", images: { blue: A, green: B } } });
    assert.deepEqual(result.host, host);
    assert.doesNotMatch(JSON.stringify(result), new RegExp(WEBHOOK.split("/").pop()!));
  });

  it("still reports what it can when the host cannot be asked or the config is bad (ok: false)", async () => {
    const bad = withSections(checkoutConfig("prod"), { bluegreen: { enabled: true, warmSeconds: "soon" } });
    const result = await status({
      stack: new MemoryStack("prod", { config: bad }),
      hostStatus: async () => {
        throw new Error("ssh: connect to host wepp1 port 22: No route to host");
      },
    });
    assert.equal(result.ok, false);
    assert.match(result.host.error as string, /No route to host/);
    assert.match((result.checkout.problems ?? []).join("\n"), /wepppy-cicd:bluegreen\.warmSeconds/);
    assert.equal(result.lastUpdate, null);
  });

  it("shows the evidence the host reports for its live digest: suites, a running soak, drills", async () => {
    const host = new FakeHost({
      settings: (x) => {
        x.validate = { ...x.validate, enabled: true };
        x.soak = { seconds: 3600, intervalSeconds: 60, maxErrorPercent: 1, minRequests: 20, maxAppErrors: 50, accessLog: { service: "caddy", path: "/var/log/wepppy-cicd/access.log" } };
      },
    });
    try {
      host.image(LIVE);
      await host.deploy(host.request(LIVE, host.stage()));
      await host.cli(["backup"]);
      await host.cli(["drill"]);
      const result = await status({ stack: new MemoryStack("testprod", { config: checkoutConfig("testprod") }), hostStatus: async () => JSON.parse((await host.cli(["status"])).out[0]) });
      assert.equal(result.evidence?.digest, LIVE.split("@")[1]);
      assert.deepEqual(result.evidence?.suites.map((x) => [x.suite, x.result]), [["create-run", "unavailable"], ["routes", "passed"]]);
      assert.deepEqual([result.evidence?.soak?.verdict, result.evidence?.soak?.plannedSeconds], ["running", 3600]);
      assert.deepEqual(result.evidence?.drills.map((d) => d.result), ["passed"]);
      assert.equal(result.host.liveDigest, result.evidence?.digest);
    } finally {
      host.cleanup();
    }
  });
});
