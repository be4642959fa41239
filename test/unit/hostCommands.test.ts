import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as host from "../../render/hostCommands";

const layout = host.hostLayout("/opt/wepppy-cicd", "/opt/wepppy/docker");

/** What bash makes of a command line: the words the program would receive. */
function wordsAfterBash(line: string): string[] {
  const out = execFileSync("bash", ["-c", `printf '%s\\0' ${line}`]);
  return out.toString().split("\0").slice(0, -1);
}

describe("host command builders", () => {
  it("quotes hostile words so bash passes them through unchanged", () => {
    const words = ["plain", "a b", "it's", "$(touch /tmp/pwned)", "`id`", "x;y|z&", "*", "\\n"];
    assert.deepEqual(wordsAfterBash(host.commandLine(words)), words);
  });

  it("leaves plain words bare, as an operator would type them", () => {
    assert.equal(host.commandLine(["docker", "login", "--username", "rogerlew", "ghcr.io"]), "docker login --username rogerlew ghcr.io");
  });

  it("lays out the host as the script expects", () => {
    assert.equal(layout.script, "/opt/wepppy-cicd/bin/wepppy-deploy");
    assert.equal(layout.secretsDir, "/opt/wepppy/docker/secrets");
    assert.equal(layout.envNext, "/opt/wepppy/docker/.env.next");
  });

  it("makes the deploy root's directories with sudo -n, which fails instead of prompting", () => {
    assert.match(host.agentSetupCommand(layout, "roger"), /^sudo -n install -d -o roger -g docker -m 0750 /);
  });

  it("builds the agent image only when the host lacks it, and installs the boot hook", () => {
    const line = host.ensureAgentImageCommand(layout, "wepppy-cicd/agent:0123", "debian:bookworm-slim");
    assert.match(line, /^docker image inspect wepppy-cicd\/agent:0123 >\/dev\/null 2>&1 \|\| docker build -q -t wepppy-cicd\/agent:0123 --build-arg BASE=debian:bookworm-slim \/opt\/wepppy-cicd\/agent$/);
    assert.deepEqual(wordsAfterBash(host.agentBootHookCommand(layout)), ["bash", layout.script, "boot-hook"]);
  });

  it("puts no secret in the registry login command: the token goes to stdin", () => {
    assert.equal(host.registryLoginCommand("ghcr.io", "rogerlew"), "docker login --username rogerlew --password-stdin ghcr.io");
  });

  it("streams secrets as name + base64 lines that survive any byte", () => {
    const values = { b: "line1\nline2 $(x) 'q'", a: "" };
    const stream = host.secretsStream(values);
    const lines = stream.trimEnd().split("\n");
    assert.deepEqual(lines.map((l) => l.split(" ")[0]), ["a", "b"]);
    assert.equal(Buffer.from(lines[1].split(" ")[1], "base64").toString(), values.b);
  });

  it("renders the env file over wepppy's defaults, replacing keys in place", () => {
    const text = host.renderEnvFile("# c\nUID=1000\nGID=993\n\nEXTERNAL_HOST=x\n", { GID: "1234", EXTERNAL_HOST: "wepp.cloud", DEBUG: "false" });
    assert.equal(text, "# c\nUID=1000\nGID=1234\n\nEXTERNAL_HOST=wepp.cloud\n\n# Set by wepppy-cicd for this environment.\nDEBUG=false\n");
  });
});

describe("host command builders for the agent", () => {
  it("lays out the agent's files under the deploy root", () => {
    assert.equal(layout.rootHelper, "/opt/wepppy-cicd/bin/wepppy-root");
    assert.equal(layout.agentBundle, "/opt/wepppy-cicd/bin/wepppy-agent.js");
    assert.equal(layout.agentConf, "/opt/wepppy-cicd/etc/agent.conf");
    assert.equal(layout.settings, "/opt/wepppy-cicd/deploy.json");
    assert.equal(layout.lockHolder, "/opt/wepppy-cicd/lock/holder.json");
  });

  it("deploys with the request on stdin and nothing of it on the command line", () => {
    assert.deepEqual(wordsAfterBash(host.agentDeployCommand(layout)), ["bash", layout.script, "deploy"]);
    assert.deepEqual(wordsAfterBash(host.agentDeployCommand(layout, { jsonProgress: true })), ["bash", layout.script, "deploy", "--json-progress"]);
    assert.deepEqual(wordsAfterBash(host.agentRecoverCommand(layout)), ["bash", layout.script, "recover"]);
    assert.deepEqual(wordsAfterBash(host.agentAttachCommand(layout, "20261125T100000000Z-0123abcd")), ["bash", layout.script, "attach", "20261125T100000000Z-0123abcd"]);
    assert.throws(() => host.agentAttachCommand(layout, "x; rm -rf /"), /not a run id/);
    assert.deepEqual(wordsAfterBash(host.agentRollbackCommand(layout, "it's me")), ["bash", layout.script, "rollback", "--actor", "it's me"]);
  });

  it("runs the root helper with sudo -n, secrets owned by the services' UID:GID, 0600", () => {
    assert.deepEqual(wordsAfterBash(host.agentWriteSecretsCommand(layout, { uid: 33, gid: 1234 })), ["sudo", "-n", "bash", layout.rootHelper, "write-secrets", layout.secretsDir, "33:1234", "0600"]);
    assert.deepEqual(wordsAfterBash(host.agentWriteEnvSecretsCommand(layout)), ["sudo", "-n", "bash", layout.rootHelper, "write-env-secrets", layout.secretsDir]);
    assert.equal(host.envSecretsText({ SECRET_KEY: "k", POSTGRES_PASSWORD: "p" }), "POSTGRES_PASSWORD=p\nSECRET_KEY=k\n");
    assert.deepEqual(wordsAfterBash(host.agentInstallFileCommand(layout, layout.agentConf)), ["sudo", "-n", "bash", layout.rootHelper, "install-file", layout.agentConf, "0:0", "0644"]);
    assert.deepEqual(wordsAfterBash(host.agentInstallTimerCommand(layout, "hourly", "roger", "prod")), ["sudo", "-n", "bash", layout.rootHelper, "install-timer", "hourly", "roger", "prod"]);
  });

  it("builds the agent image on the host with its base and, for compose v2, the plugin", () => {
    const line = host.agentImageBuildCommand(layout, "wepppy-cicd/agent:0123", "debian:bookworm-slim", { COMPOSE_PLUGIN_URL: "https://example.org/c?x=1", COMPOSE_PLUGIN_SHA256: "ab" });
    assert.deepEqual(wordsAfterBash(line), ["docker", "build", "-q", "-t", "wepppy-cicd/agent:0123", "--build-arg", "BASE=debian:bookworm-slim", "--build-arg", "COMPOSE_PLUGIN_URL=https://example.org/c?x=1", "--build-arg", "COMPOSE_PLUGIN_SHA256=ab", "/opt/wepppy-cicd/agent"]);
  });

  it("renders agent.conf as plain KEY=VALUE lines and refuses a value a shell would read", () => {
    assert.equal(host.renderAgentConf({ image: "wepppy-cicd/agent:0123", mounts: host.agentMounts(layout), projectDir: layout.projectDir }), "IMAGE=wepppy-cicd/agent:0123\nMOUNT=/opt/wepppy\nPROJECT=/opt/wepppy/docker\n");
    assert.throws(() => host.renderAgentConf({ image: "x", mounts: ["/opt/$(id)"], projectDir: "/p" }), /not a plain value/);
  });

  it("reads the verdict from the last line of the deploy's stdout", () => {
    const v = { runId: "20261125T100000000Z-0123abcd", result: "ok" };
    assert.equal(host.parseVerdict(`noise\n${JSON.stringify(v)}\n`).runId, v.runId);
    assert.throws(() => host.parseVerdict("sha256:abc\n"), /printed no verdict/);
  });
});
