import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { agentImageTag, buildAgentBundle } from "../../host/agent/bundle";

/*
 * The agent ships as one JS file: the same bytes from the same sources (its sha256 is the
 * trigger of the copy), runnable by a plain node with nothing beside it.
 */
describe("agent bundle", () => {
  it("is deterministic and runs under node with no node_modules beside it", function () {
    this.timeout(60_000);
    const one = buildAgentBundle({ fresh: true });
    const two = buildAgentBundle({ fresh: true });
    assert.equal(one.sha256, two.sha256);
    assert.doesNotMatch(one.code, /require\("(zod|yaml|@pulumi\/[a-z]+|esbuild)"\)/, "no runtime dependency is left to require");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bundle-"));
    try {
      const file = path.join(dir, "wepppy-agent.js");
      fs.writeFileSync(file, one.code);
      assert.match(execFileSync(process.execPath, [file, "help"], { encoding: "utf8", cwd: dir }), /^wepppy-deploy: the host side of wepppy-cicd/);
      const m = path.join(dir, "markers");
      assert.deepEqual(JSON.parse(execFileSync(process.execPath, [file, "switch", m, "canary-green-10"], { encoding: "utf8", cwd: dir })), { from: "blue", to: "canary-green-10" });
      assert.deepEqual(fs.readdirSync(m), ["canary-green-10"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("has an image tag that changes with the compose plugin's build args, and not with their order", () => {
    const base = "debian:bookworm-slim";
    const plugin = { COMPOSE_PLUGIN_URL: "https://example.org/docker-compose-linux-x86_64", COMPOSE_PLUGIN_SHA256: "a".repeat(64) };
    const plain = agentImageTag(base);
    assert.match(plain, /^wepppy-cicd\/agent:[0-9a-f]{12}$/);
    assert.notEqual(agentImageTag(base, plugin), plain);
    assert.notEqual(agentImageTag(base, { ...plugin, COMPOSE_PLUGIN_SHA256: "b".repeat(64) }), agentImageTag(base, plugin));
    assert.equal(agentImageTag(base, { COMPOSE_PLUGIN_SHA256: plugin.COMPOSE_PLUGIN_SHA256, COMPOSE_PLUGIN_URL: plugin.COMPOSE_PLUGIN_URL }), agentImageTag(base, plugin));
    assert.notEqual(agentImageTag("debian:trixie-slim"), plain);
  });
});
