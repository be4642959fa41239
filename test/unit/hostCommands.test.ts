import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HOST_SCRIPT } from "../../config/paths";
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

  it("builds the deploy command with a note that survives the shell", () => {
    const line = host.deployCommand(layout, { skipSmoke: true, note: "hotfix: CVE fix cannot wait" });
    assert.deepEqual(wordsAfterBash(line), ["bash", layout.script, "deploy", "--skip-smoke", "--note", "hotfix: CVE fix cannot wait"]);
  });

  it("runs root-only steps with sudo -n, which fails instead of prompting", () => {
    assert.match(host.writeSecretsCommand(layout), /^sudo -n bash \/opt\/wepppy-cicd\/bin\/wepppy-deploy write-secrets /);
    assert.match(host.setupCommand(layout, "roger"), /^sudo -n install -d -o roger -g docker -m 0750 /);
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

  it("refuses a deploy.conf value that would add a line", () => {
    assert.throws(() => host.renderDeployConf({ ENVIRONMENT: "prod\nMIGRATE=rm -rf /" }), /ENVIRONMENT holds a line break/);
    assert.throws(() => host.renderDeployConf({ "bad key": "x" }), /bad key/);
  });
});

describe("the host script (parts that need no Docker)", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "wepppy-deploy-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function run(conf: Record<string, string>, ...args: string[]) {
    const root = path.join(dir, "root");
    fs.mkdirSync(path.join(root, "bin"), { recursive: true });
    fs.copyFileSync(HOST_SCRIPT, path.join(root, "bin", "wepppy-deploy"));
    fs.writeFileSync(path.join(root, "deploy.conf"), host.renderDeployConf(conf));
    return execFileSync("bash", [path.join(root, "bin", "wepppy-deploy"), ...args], { encoding: "utf8", stdio: "pipe" });
  }

  const base = {
    ENVIRONMENT: "testprod",
    PROJECT_DIR: "",
    COMPOSE_COMMAND: "docker compose",
    COMPOSE_FILES: "docker-compose.prod.yml",
    COMPOSE_PROJECT: "wepppy",
    APP_SERVICE: "weppcloud",
  };

  it("reads deploy.conf as data: a value holding $(...) is never run", () => {
    const marker = path.join(dir, "pwned");
    const out = run({ ...base, PROJECT_DIR: dir, ENVIRONMENT: `$(touch ${marker})` }, "status");
    assert.ok(!fs.existsSync(marker), "a conf value was executed");
    assert.equal(JSON.parse(out).env, `$(touch ${marker})`);
  });

  it("reports no lock, then the live image from .env", () => {
    fs.writeFileSync(path.join(dir, ".env"), "UID=33\nWEPPCLOUD_IMAGE=reg/wepppy@sha256:" + "a".repeat(64) + "\n");
    assert.equal(run({ ...base, PROJECT_DIR: dir }, "lock-status").trim(), "unlocked");
    const status = JSON.parse(run({ ...base, PROJECT_DIR: dir }, "status"));
    assert.equal(status.liveImage, "reg/wepppy@sha256:" + "a".repeat(64));
    assert.equal(status.lock, null);
    assert.equal(status.lastDeploy, null);
  });

  it("calls a lock whose process is gone stale, and break-lock removes it and audits", () => {
    const root = path.join(dir, "root");
    fs.mkdirSync(path.join(root, "lock"), { recursive: true });
    fs.writeFileSync(path.join(root, "lock", "holder"), "who=ci action=deploy since=2026-11-25T10:00:00Z pid=999999 start=1\n");
    assert.match(run({ ...base, PROJECT_DIR: dir }, "lock-status"), /^stale: who=ci action=deploy since=2026-11-25T10:00:00Z/);
    run({ ...base, PROJECT_DIR: dir }, "break-lock");
    assert.equal(run({ ...base, PROJECT_DIR: dir }, "lock-status").trim(), "unlocked");
    const audit = fs.readFileSync(path.join(root, "audit.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(audit.length, 1);
    assert.equal(audit[0].action, "break-lock");
    assert.match(audit[0].detail, /pid=999999/);
  });

  it("refuses an unknown command with exit code 2", () => {
    assert.throws(() => run({ ...base, PROJECT_DIR: dir }, "destroy"), (err: any) => err.status === 2);
  });

  it("passes shellcheck where shellcheck is installed", function () {
    try {
      execFileSync("shellcheck", ["--version"], { stdio: "ignore" });
    } catch {
      this.skip();
    }
    execFileSync("shellcheck", ["-S", "warning", HOST_SCRIPT], { stdio: "pipe" });
  });
});
