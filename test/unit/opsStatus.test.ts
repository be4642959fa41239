import { strict as assert } from "node:assert";
import { MemoryStack } from "../../harness/memoryStack";
import { status } from "../../ops/status";
import { A, B, NOW, blueGreenConfig, update, WEBHOOK } from "./fixtures/opsFixtures.test";

describe("ops: status", () => {
  const config = blueGreenConfig("prod", { live: "green", images: { blue: A, green: B } }, { release: { id: "prod-20261125-100000", tag: "prod-20261125-100000", version: "2026.11.0", actor: "roger" } });
  const host = {
    env: "prod",
    liveImage: B,
    traffic: { green: 100 },
    colours: { blue: { image: A, running: true }, green: { image: B, running: true } },
    lock: null,
    lastBackup: "/opt/wepppy-cicd/backups/20261125T095500Z.dump",
    lastDeploy: { time: "2026-11-25T10:00:00Z", action: "deploy", result: "ok" },
  };

  it("puts what the config declares, the last update and what the host reports in one object", async () => {
    const stack = new MemoryStack("prod", {
      config,
      history: [update(8, "succeeded", config, NOW)],
      outputs: { url: "https://wepp.cloud", imageRef: B, secretThing: "not shown" },
    });
    const result = await status({ stack, hostStatus: async () => host });
    assert.equal(result.ok, true);
    assert.deepEqual(result.config.bluegreen, { enabled: true, live: "green", idle: "blue", images: { blue: A, green: B } });
    assert.equal(result.config.release?.version, "2026.11.0");
    assert.deepEqual(result.outputs, { url: "https://wepp.cloud", imageRef: B });
    assert.deepEqual(result.lastUpdate, { version: 8, result: "succeeded", startTime: NOW.toISOString(), endTime: NOW.toISOString(), message: "" });
    // The host's object is passed through, fields it gains later included.
    assert.deepEqual(result.host, host);
    // Secret sections are not part of it.
    assert.doesNotMatch(JSON.stringify(result), new RegExp(WEBHOOK.split("/").pop()!));
  });

  it("still reports what it can when the host cannot be asked or the config is bad (ok: false)", async () => {
    const bad = { ...config, "wepppy-cicd:bluegreen": { value: JSON.stringify({ enabled: true, live: "purple" }), secret: false } };
    const result = await status({
      stack: new MemoryStack("prod", { config: bad }),
      hostStatus: async () => {
        throw new Error("ssh: connect to host wepp1 port 22: No route to host");
      },
    });
    assert.equal(result.ok, false);
    assert.match(result.host.error as string, /No route to host/);
    assert.match((result.config.problems ?? []).join("\n"), /wepppy-cicd:bluegreen\.live/);
    assert.equal(result.config.bluegreen.live, "purple");
    assert.equal(result.lastUpdate, null);
  });
});
