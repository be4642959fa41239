import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { clearDeployment, sshRun } from "../../rig";
import { AttackResult, attackRunner, rigSecrets } from "../../rig/attackRunner";
import { hosts, network } from "../../rig/config";
import { StandinRelease, StandinServer, buildStandinRelease, parseStandinCalls, serveStandinReleases } from "../../rig/runnerStandin";
import { RehearsalResult, rehearse } from "../../harness/rehearsal/rehearse";
import { hostKeyOf } from "../../harness/rehearsal/rigTarget";
import { RIG_JOB_SETTINGS } from "../../harness/rehearsal/rigJobSettings";
import { runnerIdentities } from "../../config/runnerNames";
import { runner } from "../../config/sections/runner";
import { NAMESPACE } from "../../config/environments";
import { readStackFile } from "../../config/stackFile";
import { AUTHORIZED_BEGIN, parseRunnerHealth } from "../../render/runnerCommands";
import { ensureRig, forgetStacks } from "./helpers";

/*
 * Issue 11 on the rig's forest: the dev stack's runner steps rehearsed as `pulumi up -s dev`
 * would run them, against a stand-in runner release served from the rig machine, then what a
 * hostile pull request job can do there. The tests run in order; each starts from what the
 * previous one left.
 *
 * Needs from the rehearsal (harness/, the lead's): an answer for the invoke
 * github:index/getActionsRegistrationToken (a placeholder token), and a command's old
 * `delete` run only when its triggers change (a replacement), not on every input change:
 * otherwise a version bump removes and re-registers the runner on the rig, which the engine
 * never does (an Update runs `create` only).
 */

const HOST = "forest";
const ROOT = "/opt/wepppy-runner";
const ADMIN_TOKEN = "PLACEHOLDER-RIG-ADMIN-TOKEN-41d0";

async function on(script: string): Promise<string> {
  const r = await sshRun(HOST, { script }, { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${script} on ${HOST}: ${r.stderr}`);
  return r.stdout;
}

/** Root's view of a file on forest (the runner directories are not the deploy user's). */
const cat = (file: string) => on(`sudo -n cat ${file}`);

/**
 * The developer's checkout on forest as the dev stack file names it (image.checkout), dirty: on a
 * feature branch, a tracked file changed, one staged, one untracked. forest has no git, so it is
 * made here and sent as a tar; afterwards every path's mode, size, mtime and content are compared.
 */
const CHECKOUT: string = JSON.parse(readStackFile("dev").values[`${NAMESPACE}:image`]).checkout;
const FINGERPRINT = `cd ${CHECKOUT} && find . -printf '%p %m %s %T@\\n' | LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort`;

async function seedDirtyCheckout(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dev-checkout-"));
  const git = (...args: string[]) => execFileSync("git", ["-C", dir, "-c", "user.name=rig", "-c", "user.email=rig@example.invalid", ...args], { stdio: "pipe" });
  git("init", "-q", "-b", "master");
  fs.mkdirSync(path.join(dir, "docker"));
  fs.writeFileSync(path.join(dir, "docker", "docker-compose.dev.yml"), "services: {}\n");
  fs.writeFileSync(path.join(dir, "README.md"), "wepppy\n");
  git("add", ".");
  git("commit", "-q", "-m", "master");
  git("checkout", "-q", "-b", "feature/dirty");
  fs.appendFileSync(path.join(dir, "README.md"), "a change the developer has not committed\n");
  fs.writeFileSync(path.join(dir, "docker", "staged.txt"), "staged\n");
  git("add", "docker/staged.txt");
  fs.writeFileSync(path.join(dir, "notes.txt"), "untracked\n");
  assert.equal(execFileSync("git", ["-C", dir, "status", "--porcelain"]).toString().trim().split("\n").length, 3);
  const tar = execFileSync("tar", ["-C", dir, "-c", "."]);
  fs.rmSync(dir, { recursive: true, force: true });
  const r = await sshRun(HOST, { script: `set -e; sudo -n rm -rf ${CHECKOUT}; sudo -n mkdir -p ${CHECKOUT}; sudo -n chown "$(id -u):$(id -g)" ${CHECKOUT}; tar -C ${CHECKOUT} -x` }, { input: tar });
  assert.equal(r.code, 0, r.stderr);
  return on(FINGERPRINT);
}

function runnerSteps(result: RehearsalResult) {
  return result.steps.filter((s) => s.name.includes("runner"));
}

describe("the runner host on the rig's forest", function () {
  this.timeout(900_000);
  const log: string[] = [];
  let server: StandinServer;
  let v1: StandinRelease;
  let v2: StandinRelease;
  let v3: StandinRelease;
  let set: Record<string, unknown>;
  let checkoutBefore = "";
  const cfg = () => runner.parse({ ci: { count: set["runner.ci.count"] } });

  async function rehearseDev(extra: Record<string, unknown> = {}): Promise<RehearsalResult> {
    return rehearse({ stack: "dev", set: { ...set, ...extra }, log: (l) => log.push(l) });
  }

  async function calls(name: string) {
    return parseStandinCalls(await cat(`${ROOT}/runners/${name}/.standin/calls.log`));
  }

  async function pid(name: string): Promise<number> {
    return Number((await cat(`${ROOT}/run/${name}.pid`)).trim());
  }

  before(async () => {
    const status = await ensureRig();
    // Each run starts from what a new backend knows of dev: nothing (the after hook removed the runners).
    forgetStacks(["dev"]);
    checkoutBefore = await seedDirtyCheckout();
    v1 = buildStandinRelease("2.336.0");
    v2 = buildStandinRelease("2.337.0");
    v3 = buildStandinRelease("2.338.0");
    // The rig machine on the rig's network: the hosts reach it at the bridge's gateway address.
    server = await serveStandinReleases([v1, v2, v3], "0.0.0.0");
    const base = server.base.replace("0.0.0.0", network.gateway);
    const pinned = (name: string) => {
      const h = status.hosts.find((x) => x.name === name)!;
      return { host: `${name}.bearhive.internal`, address: h.address, hostKey: hostKeyOf(h.hostKey) };
    };
    set = {
      "runner.downloadBase": base,
      "runner.version": v1.version,
      "runner.sha256": v1.sha256,
      "runner.ci.count": 2,
      // The attack below must find nothing; with Docker a CI job is root here (see README).
      "runner.ci.docker": false,
      "runner.deploy.docker": false,
      "runner.drainMinutes": 1,
      "runner.deployTargets": [pinned("forest1"), pinned("wepp1")],
      "secrets.github_admin_token": ADMIN_TOKEN,
    };
  });

  after(async () => {
    if (set) {
      for (const r of runnerIdentities(runner.parse({ ci: { count: 3 } }))) {
        await sshRun(HOST, { script: `sudo -n bash ${ROOT}/bin/wepppy-runner remove --name ${r.name} --user ${r.user} --drain-minutes 0` });
      }
    }
    forgetStacks(["dev"]);
    await sshRun(HOST, ["sudo", "-n", "rm", "-rf", CHECKOUT]);
    // The deploy-key test deployed testprod and prod: leave their hosts as the next file expects them.
    for (const host of ["forest1", "wepp1"]) await clearDeployment(host).catch(() => undefined);
    forgetStacks(["testprod", "prod"]);
    await server?.close();
    if (log.length > 0) fs.writeFileSync("/tmp/wepppy-rig-runner.log", log.join("\n"));
  });

  it("rehearses the dev stack's runner steps: runners registered with their names and labels, units, .env 0600, the cleanup timer", async () => {
    const result = await rehearseDev();
    assert.ok(result.ok, result.error);
    assert.ok(runnerSteps(result).filter((s) => !s.skipped).length >= 6, "the runner steps ran");
    for (const r of runnerIdentities(cfg())) {
      const registered = (await calls(r.name)).filter((c) => c.cmd === "config");
      assert.equal(registered.length, 1, r.name);
      const args: string[] = registered[0].args;
      assert.equal(args[args.indexOf("--name") + 1], r.name);
      assert.equal(args[args.indexOf("--labels") + 1], r.customLabels.join(","));
      assert.ok(!args.some((a) => /token/i.test(a)), "no token on config.sh's command line");
      assert.equal(registered[0].user, r.user);
      assert.match(await on(`sudo -n stat -c '%U %a' ${r.dir}/.env`), new RegExp(`^${r.user} 600$`, "m"));
      assert.match(await cat(`/etc/systemd/system/${r.unit}`), new RegExp(`^User=${r.user}$`, "m"));
      assert.equal((await on(`sudo -n kill -0 ${await pid(r.name)} && echo alive`)).trim(), "alive");
    }
    for (const unit of ["wepppy-runner-cleanup.service", "wepppy-runner-cleanup.timer"]) await cat(`/etc/systemd/system/${unit}`);
    const health = parseRunnerHealth(await on(`sudo -n bash ${ROOT}/bin/wepppy-runner health`));
    assert.deepEqual(health.runners.map((r) => [r.name, r.service, r.version, r.registered]).sort(), runnerIdentities(cfg()).map((r) => [r.name, "active", v1.version, true]).sort());
    // The CI accounts and the deploy account are distinct, and none holds another's files.
    const users = runnerIdentities(cfg()).map((r) => r.user);
    assert.equal(new Set(users).size, users.length);
  });

  it("applying twice changes nothing the second time", async () => {
    const before = await Promise.all(runnerIdentities(cfg()).map((r) => pid(r.name)));
    const result = await rehearseDev();
    assert.ok(result.ok, result.error);
    for (const [i, r] of runnerIdentities(cfg()).entries()) {
      assert.equal((await calls(r.name)).filter((c) => c.cmd === "config").length, 1, `${r.name} registered again`);
      assert.equal((await calls(r.name)).filter((c) => c.cmd === "run").length, 1, `${r.name} restarted`);
      assert.equal(await pid(r.name), before[i]);
    }
  });

  it("a version bump reconfigures in place: the registration, name and labels are kept", async () => {
    set = { ...set, "runner.version": v2.version, "runner.sha256": v2.sha256 };
    const result = await rehearseDev();
    assert.ok(result.ok, result.error);
    for (const r of runnerIdentities(cfg())) {
      assert.equal((await cat(`${r.dir}/.wepppy-version`)).trim(), v2.version);
      assert.equal((await on(`sudo -n ${r.dir}/bin/Runner.Listener --version`)).trim(), v2.version);
      assert.equal((await calls(r.name)).filter((c) => c.cmd === "config").length, 1, `${r.name} was registered again`);
      assert.equal((await calls(r.name)).filter((c) => c.cmd === "run").length, 2, `${r.name} was not restarted on the new release`);
    }
  });

  it("a wrong checksum stops with a clear error and leaves the running runner untouched", async () => {
    const r1 = runnerIdentities(cfg())[0];
    const before = await pid(r1.name);
    const result = await rehearseDev({ "runner.version": v3.version, "runner.sha256": "0".repeat(64) });
    assert.equal(result.ok, false);
    assert.match(result.error ?? "", /sha256 of \S+ is [0-9a-f]{64}, but runner\.sha256 is 0{64}: not unpacked; the installed runners are untouched/);
    assert.equal(await pid(r1.name), before);
    assert.equal((await cat(`${r1.dir}/.wepppy-version`)).trim(), v2.version);
    assert.equal((await on(`sudo -n kill -0 ${before} && echo alive`)).trim(), "alive");
  });

  it("authorizes the deploy key on the targets from the runner host only (restrict)", async () => {
    const forest = hosts.find((h) => h.name === HOST)!;
    let testprodImage = "";
    for (const stack of ["testprod", "prod"]) {
      // prod runs only a digest named in its config (what a promotion sets): testprod's; it judges
      // the release in seconds as the rig's prod jobs do, not the stack file's ten minutes.
      const pin = stack === "prod" ? { "image.digest": testprodImage, ...RIG_JOB_SETTINGS.prod } : {};
      const result = await rehearse({ stack, set: { "runner.access.from": [forest.ip], ...pin }, log: (l) => log.push(l) });
      assert.ok(result.ok, result.error);
      if (stack === "testprod") testprodImage = result.image;
      const target = stack === "testprod" ? "forest1" : "wepp1";
      const keys = (await sshRun(target, { script: "cat ~/.ssh/authorized_keys" })).stdout;
      assert.ok(keys.includes(AUTHORIZED_BEGIN), `${target}: no managed block`);
      assert.match(keys, new RegExp(`^from="${forest.ip.replace(/\./g, "\\.")}",restrict ssh-ed25519 `, "m"));
    }
  });

  it("the deploy account checks the targets' pinned host keys: a changed key is refused", async () => {
    const deployUser = runnerIdentities(cfg()).find((r) => r.zone === "deploy")!.user;
    const ssh = (address: string) =>
      sshRun(HOST, { script: `sudo -n runuser -u ${deployUser} -- ssh -F ${ROOT}/home/${deployUser}/.ssh/config -o ConnectTimeout=5 roger@${address} true` });
    const forest1 = hosts.find((h) => h.name === "forest1")!;
    // Pinned right: past the host key check, refused only for want of a key (the deploy account keeps none).
    const right = await ssh(forest1.ip);
    assert.notEqual(right.code, 0);
    assert.match(right.stderr, /Permission denied \(publickey\)/);
    assert.doesNotMatch(right.stderr, /Host key verification failed/);
    // Pinned to another key (as if forest1 had been replaced): refused before any authentication.
    const wrong = { ...(set["runner.deployTargets"] as any[])[0], hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNoYW5nZWQtaG9zdC1rZXktb2YtZm9yZXN0MS1yaWc" };
    const result = await rehearseDev({ "runner.deployTargets": [wrong, (set["runner.deployTargets"] as any[])[1]] });
    assert.ok(result.ok, result.error);
    const refused = await ssh(forest1.ip);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);
    assert.ok((await cat(`${ROOT}/home/${deployUser}/.ssh/known_hosts`)).includes(wrong.hostKey), "known_hosts holds what config pins");
    assert.ok((await rehearseDev()).ok, "pinned right again");
  });

  it("attack-runner: as each CI account it finds no secret of any stack, and what it plants does not survive to the next job", async () => {
    const accounts = runnerIdentities(cfg()).filter((r) => r.zone === "ci").map((r) => r.user);
    const result: AttackResult = await attackRunner({
      root: ROOT,
      accounts,
      secrets: rigSecrets([{ stack: "dev", name: "secrets.github_admin_token", value: ADMIN_TOKEN }]),
    });
    log.push(JSON.stringify(result, null, 2));
    assert.deepEqual(result.found, []);
    assert.equal(result.plantedSurvived, false, JSON.stringify(result.planted));
    assert.ok(result.planted.length >= accounts.length * 3, "it planted something");
    assert.deepEqual(result.sockets.filter((s) => s.docker), [], "no CI account reaches Docker (runner.ci.docker is off here)");
  });

  it("shrinking N removes the runner from forest: service, files, account", async () => {
    const gone = runnerIdentities(cfg()).find((r) => r.name.endsWith("-2"))!;
    const result = await rehearseDev({ "runner.ci.count": 1 });
    assert.ok(result.ok, result.error);
    assert.ok(result.steps.some((s) => s.name.includes(gone.name) && s.op === "delete"), `its delete ran: ${JSON.stringify(result.steps.filter((s) => s.name.includes(gone.name)).map((s) => [s.name, s.op]))}`);
    assert.equal((await sshRun(HOST, { script: `test -e ${gone.dir}` })).code, 1);
    assert.notEqual((await sshRun(HOST, { script: `id -u ${gone.user}` })).code, 0);
    set = { ...set, "runner.ci.count": 1 };
  });

  it("leaves the developer's dirty checkout exactly as it was, through every dev rehearsal above", async () => {
    assert.ok(checkoutBefore.includes("./notes.txt"), "the checkout was seeded");
    assert.equal(await on(FINGERPRINT), checkoutBefore);
  });
});
