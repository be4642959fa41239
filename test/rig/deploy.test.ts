import { strict as assert } from "node:assert";
import { spawn, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { clearDeployment, sshRun } from "../../rig";
import { RehearsalResult, rehearse } from "../../harness/rehearsal/rehearse";
import { RIG_JOB_SETTINGS, rigJobSettings, waitForSoak } from "../../harness/rehearsal/rigJobSettings";
import { readCredentials } from "../../rig";
import { registryDigest, rigRepository } from "../../harness/rehearsal/rigTarget";
import { PROJECT_ROOT } from "../../config/paths";
import { renderDeployRequest } from "../../render/deploySettings";
import { cli, ensureRig, forgetStacks, newTag, servedBuild, waitFor } from "./helpers";

/*
 * Issue 4's promises, shown on the rig's real hosts: deployments of testprod and prod
 * rehearsed exactly as `pulumi up` would run them (the stand-in engine, the rig's backend),
 * and what happens when things go wrong. Each rehearsal starts from the stack file as
 * committed, as a CI job's checkout does, and says what it sets; the backend and the hosts
 * carry over from one test to the next, so the tests run in order, as releases do.
 */

const SCRIPT = "/opt/wepppy-cicd/bin/wepppy-deploy";
const FAST_GATE = { "health.tries": 6, "health.intervalSeconds": 2 };
async function onHost(host: string, script: string) {
  const r = await sshRun(host, { script }, { timeoutMs: 300_000 });
  return r;
}

async function ok(host: string, script: string): Promise<string> {
  const r = await onHost(host, script);
  assert.equal(r.code, 0, `${script} on ${host} failed: ${r.stderr}`);
  return r.stdout;
}

function auditLines(text: string): Array<Record<string, any>> {
  return text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

const PSQL = `docker exec -i "$(docker ps -q -f label=com.docker.compose.project=wepppy -f label=com.docker.compose.service=postgres)" psql -qtA -U wepppy -d`;

describe("deployments rehearsed on the rig", function () {
  this.timeout(900_000);
  const logs: string[] = [];
  const log = (line: string) => logs.push(line);
  let forest1 = "";
  let wepp1 = "";
  let testprodLive: RehearsalResult | undefined;
  let registry = "";
  let first: RehearsalResult;

  async function release(stack: string, set: Record<string, unknown> = {}, publish?: string) {
    logs.length = 0;
    const result = await rehearse({ stack, set, publish, log });
    return result;
  }

  before(async () => {
    const status = await ensureRig();
    forest1 = status.hosts.find((h) => h.name === "forest1")!.address;
    wepp1 = status.hosts.find((h) => h.name === "wepp1")!.address;
    registry = rigRepository(status);
    for (const host of ["forest1", "wepp1"]) await clearDeployment(host);
    forgetStacks(["testprod", "prod"]);
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") process.stderr.write(`rehearsal log:\n${logs.join("\n")}\n`);
  });

  after(async () => {
    for (const host of ["forest1", "wepp1"]) await clearDeployment(host);
    forgetStacks(["testprod", "prod"]);
  });

  it("testprod: deploys the digest its tag has in the registry, passes the gate and smoke test, serves through Caddy", async () => {
    // Through the CLI, as an operator runs it, with --json.
    const out = execFileSync("node", [path.join(PROJECT_ROOT, "bin", "wepppy-cicd.js"), "rehearse", "testprod", "--json"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
    });
    first = JSON.parse(out);
    assert.equal(first.ok, true, first.error);
    assert.deepEqual(Object.keys(first).sort(), ["digest", "hostCommandsRun", "image", "ok", "stack", "steps", "url"]);
    const tag = /tag: (sha-[0-9a-f]+)/.exec(fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.testprod.yaml"), "utf8"))![1];
    assert.equal(first.digest, await registryDigest(`${registry}:${tag}`, readCredentials()));
    assert.equal(first.image, `${registry}@${first.digest}`);
    const deploy = first.steps.find((s) => s.name === "testprod-compose-deploy")!;
    assert.ok(deploy.ok && !deploy.skipped && deploy.host === "forest1");
    assert.ok(first.hostCommandsRun >= 10);
    assert.equal(await servedBuild(forest1), "rig-a");
    const running = await ok("forest1", `docker image inspect -f '{{json .RepoDigests}}' "$(docker inspect -f '{{.Image}}' "$(docker ps -q --filter label=com.docker.compose.project=wepppy --filter label=com.docker.compose.service=weppcloud)")"`);
    assert.ok(running.includes(first.digest), `weppcloud runs ${running}, not ${first.digest}`);
    // Secret files as wepppy's services read them: 0600, owned by the UID:GID they run as (runAs), every one of the compose file's.
    const modes = (await ok("forest1", "sudo stat -c '%n %a %u:%g' /opt/wepppy/docker/secrets/*")).trim().split("\n");
    assert.ok(modes.length >= 15, modes.join("\n"));
    for (const line of modes) assert.match(line, / 600 33:1234$/);
    assert.match(await ok("forest1", "cat /etc/cron.d/wepppy-backup"), /^30 3 \* \* \* roger .*wepppy-deploy backup --reason scheduled$/m);
  });

  it("a second rehearsal with nothing changed runs no host command", async () => {
    const again = await release("testprod");
    assert.equal(again.ok, true, again.error);
    assert.equal(again.hostCommandsRun, 0);
    assert.ok(again.steps.filter((s) => s.host === "forest1").every((s) => s.skipped));
  });

  it("prod runs the digest its config names (testprod's, as a promotion sets it), and serves it", async () => {
    const prod = await release("prod", { "image.digest": first.image });
    assert.equal(prod.ok, true, prod.error);
    assert.equal(prod.digest, first.digest);
    assert.equal(await servedBuild(wepp1), "rig-a");
    const audit = auditLines(await ok("wepp1", `bash ${SCRIPT} audit`));
    const deployed = audit.filter((a) => a.action === "deploy" && a.result === "ok");
    assert.equal(deployed.length, 1);
    assert.equal(deployed[0].digest, first.digest);
    assert.equal(deployed[0].env, "prod");
    // prod backs up before every deploy; on a first deploy there is no database to dump yet, and the run says so.
    assert.ok(logs.some((l) => /backup: no postgres container running yet: nothing to back up \(first deploy\)/.test(l)), logs.join("\n"));
  });

  it("a new testprod release replaces the build", async () => {
    // As testprod's deploy jobs run on the rig: the test-support API on (the create-run suite), a soak of seconds.
    const r = await release("testprod", { "image.tag": newTag(), ...RIG_JOB_SETTINGS.testprod }, "rig-b");
    assert.equal(r.ok, true, r.error);
    assert.notEqual(r.digest, first.digest);
    assert.equal(await servedBuild(forest1), "rig-b");
    testprodLive = r;
  });

  it("promote puts testprod's validated, soaked digest on prod's idle colour and records the release tag", async () => {
    assert.ok(testprodLive, "the previous test released rig-b on testprod");
    const validated = auditLines(await ok("forest1", `bash ${SCRIPT} audit -n 200`)).filter((a) => a.action === "validate" && a.result === "ok");
    assert.ok(validated.some((a) => a.digest === testprodLive!.digest), "testprod validated its live digest after deploying it");
    const soak = await waitForSoak(testprodLive!.digest);
    assert.equal(soak?.result, "ok", `testprod's soak of ${testprodLive!.digest}: ${JSON.stringify(soak)}`);
    // The rig judges a release in seconds, not prod's ten minutes: the job sets that for itself.
    const before = JSON.parse(await ok("wepp1", `bash ${SCRIPT} status`));
    const idle = before.bluegreen.live === "blue" ? "green" : "blue";
    const out = cli(["promote", "--rig", "--json"], { WEPPPY_RIG_SET: rigJobSettings("prod") });
    const result = JSON.parse(out.stdout);
    assert.equal(out.code, 0, out.stdout);
    assert.equal(result.ok, true, result.error);
    assert.equal(result.live, idle, "the host put it on the colour that was not serving");
    assert.equal(result.digest, testprodLive!.digest);
    assert.match(result.release.tag, /^prod-[0-9]{8}-[0-9]{6}$/);
    assert.match(result.release.version, /^[0-9]{4}\.[0-9]{2}\.0$/);
    assert.equal(await servedBuild(wepp1), "rig-b");
    const deployed = auditLines(await ok("wepp1", `bash ${SCRIPT} audit`)).filter((a) => a.action === "deploy" && a.result === "ok");
    assert.equal(deployed[deployed.length - 1].release?.tag, result.release.tag, JSON.stringify(deployed[deployed.length - 1]));
    assert.equal(deployed[deployed.length - 1].digest, testprodLive!.digest);
    // The evidence it rested on: the suites and the soak on testprod, a restore drill on prod (run now: none was there).
    assert.ok(result.evidence.found.some((f: string) => /soak/.test(f)), JSON.stringify(result.evidence));
    assert.ok(result.evidence.found.some((f: string) => /restore drill passed on/.test(f)), JSON.stringify(result.evidence));
    assert.equal(result.evidence.forced, false);
  });

  it("with the test-support API on, the smoke test creates, fetches and deletes a run", async () => {
    const r = await release("testprod", { "features.TEST_SUPPORT_ENABLED": true });
    assert.equal(r.ok, true, r.error);
    assert.ok(logs.some((l) => /smoke: created, fetched and deleted run \S+/.test(l)), logs.join("\n"));
  });

  it("a hotfix's skipped smoke test is recorded in the audit log", async () => {
    const r = await release("testprod", { "health.skipSmoke": true });
    assert.equal(r.ok, true, r.error);
    // testprod validates after each deploy (what promotion reads), so the deploy is not always last.
    const last = auditLines(await ok("forest1", `bash ${SCRIPT} audit -n 5`)).filter((a) => a.action === "deploy").pop()!;
    assert.equal(last.result, "ok");
    assert.equal(last.skipSmoke, true);
    assert.match(last.note, /smoke test skipped/);
  });

  it("an image that never becomes healthy fails the deploy with its log lines; the previous build still serves", async () => {
    const liveBefore = await ok("forest1", "grep ^WEPPCLOUD_IMAGE= /opt/wepppy/docker/.env");
    const servedBefore = await servedBuild(forest1);
    assert.match(servedBefore, /^rig-[ab]$/);
    const r = await release("testprod", { "image.tag": newTag(), ...FAST_GATE }, "rig-never-healthy");
    assert.equal(r.ok, false);
    assert.match(r.error!, /new build failed its health gate, previous release still serving/);
    // The app's log lines stay on the host; the error (CI logs, audit, webhook) says where.
    const where = /the app's last log lines are on the host in (\/opt\/wepppy-cicd\/logs\/[^\s",]+\.log)/.exec(r.error!);
    assert.ok(where, r.error);
    assert.match(await ok("forest1", `cat ${where![1]}`), /\S/);
    assert.equal(await servedBuild(forest1), servedBefore);
    assert.equal(await ok("forest1", "grep ^WEPPCLOUD_IMAGE= /opt/wepppy/docker/.env"), liveBefore, ".env no longer names the last good release");
    const last = auditLines(await ok("forest1", `bash ${SCRIPT} audit -n 5`)).filter((a) => a.action === "deploy").pop()!;
    assert.equal(last.result, "failed");
  });

  describe("the deploy lock", () => {
    let holder: ReturnType<typeof spawn> | undefined;
    after(() => holder?.kill("SIGKILL"));

    it("refuses a concurrent deploy, naming the holder and since when", async () => {
      // A deploy by hand (the request on stdin, as the stack sends it) of the slow-starting build holds the lock for ~45 s.
      const slow = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, ".rig", "state.json"), "utf8")).standins.weppcloud["rig-slow-start"];
      const current = JSON.parse(await ok("forest1", `bash ${SCRIPT} status`)).current.releaseKey;
      const status = await ensureRig();
      const host = status.hosts.find((h) => h.name === "forest1")!;
      holder = spawn("ssh", ["-i", host.privateKey, "-o", `UserKnownHostsFile=${host.knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", `roger@${host.address}`, "--", `bash ${SCRIPT} deploy`], { stdio: ["pipe", "ignore", "ignore"] });
      holder.stdin!.end(JSON.stringify(renderDeployRequest({ image: slow, releaseKey: current, who: "roger" })));
      let held = "";
      for (let i = 0; i < 60 && !held.startsWith("held"); i++) {
        await new Promise((res) => setTimeout(res, 500));
        held = (await onHost("forest1", `bash ${SCRIPT} lock-status`)).stdout.trim();
      }
      assert.match(held, /^held: deploy by roger since 20\d\d-\d\d-\d\dT\S+ \(pid \d+, run \S+, container \S+\)/);
      const r = await release("testprod", { "image.tag": newTag() }, "rig-a");
      assert.equal(r.ok, false);
      assert.match(r.error!, /another run holds the lock: deploy by roger since 20\d\d-\d\d-\d\dT/);
    });

    it("a deploy whose run is killed mid-way is recovered by the next deploy: one verdict for it, the lock released, the new release live", async () => {
      const lock = JSON.parse(await ok("forest1", "cat /opt/wepppy-cicd/lock/holder.json"));
      assert.ok(lock.container && lock.runId, JSON.stringify(lock));
      // Everything dies, as in a crash: first the client (its agent sees its SSH session gone and
      // leaves the run alone), then the run itself. A client still attached when its run dies
      // recovers the run itself, and a deploy arriving meanwhile is refused: the lock is live.
      holder?.kill("SIGKILL");
      await waitFor("the killed client's agent to end", async () => (await onHost("forest1", "pgrep -fc 'wepppy-agent[.]js deploy' || true")).stdout.trim() === "0", 30_000, 500);
      await ok("forest1", `docker kill ${lock.container} >/dev/null`);
      assert.match(await ok("forest1", `bash ${SCRIPT} lock-status`), /^stale: deploy by roger/);
      const r = await release("testprod", { "image.tag": newTag() }, "rig-a");
      assert.equal(r.ok, true, r.error);
      assert.equal(await servedBuild(forest1), "rig-a");
      assert.equal((await ok("forest1", `bash ${SCRIPT} lock-status`)).trim(), "unlocked");
      const killed = auditLines(await ok("forest1", `bash ${SCRIPT} audit -n 50`)).filter((a) => a.runId === lock.runId && a.action === "deploy");
      assert.equal(killed.length, 1, JSON.stringify(killed));
      assert.notEqual(killed[0].result, "ok", "the killed run is not reported a success");
    });
  });

  describe("backups", () => {
    it("a pre-deploy dump restores into a scratch database with equal row counts", async () => {
      await ok("forest1", `${PSQL} wepppy -c "create table if not exists runs (id serial primary key, note text); insert into runs (note) select md5(g::text) from generate_series(1, 5000) g;"`);
      const r = await release("testprod", { "image.tag": newTag(), "backup.preDeploy": true }, "rig-b");
      assert.equal(r.ok, true, r.error);
      const dump = (await ok("forest1", `bash ${SCRIPT} backups`)).trim().split("\n")[0];
      assert.match(dump, /^\/opt\/wepppy-cicd\/backups\/pre-deploy-\d{8}T\d{6}Z\.dump$/);
      await ok("forest1", `bash ${SCRIPT} restore ${dump} --into scratch_restore`);
      const live = (await ok("forest1", `${PSQL} wepppy -c "select count(*) from runs"`)).trim();
      const restored = (await ok("forest1", `${PSQL} scratch_restore -c "select count(*) from runs"`)).trim();
      assert.equal(restored, live);
      assert.equal(live, "5000");
    });

    it("restores the live database for a DB rollback, stopping and restarting what uses it", async () => {
      const dump = (await ok("forest1", `bash ${SCRIPT} backups`)).trim().split("\n")[0];
      await ok("forest1", `${PSQL} wepppy -c "delete from runs where id > 100"`);
      await ok("forest1", `bash ${SCRIPT} restore ${dump}`);
      assert.equal((await ok("forest1", `${PSQL} wepppy -c "select count(*) from runs"`)).trim(), "5000");
      const last = auditLines(await ok("forest1", `bash ${SCRIPT} audit -n 1`))[0];
      assert.equal(last.action, "restore");
      assert.match(last.note, /restarted .*weppcloud/);
      await waitFor("weppcloud to serve again after the restore", async () => (await servedBuild(forest1)) === "rig-b", 120_000, 1000);
    });

    it("a truncated dump is detected: pg_restore --list passes it, the verification does not", async () => {
      const dump = (await ok("forest1", `bash ${SCRIPT} backups`)).trim().split("\n")[0];
      // Under the backup directory: the agent sees the host's deploy root, not its /tmp.
      const truncated = "/opt/wepppy-cicd/backups/truncated.dump";
      await ok("forest1", `head -c "$(( $(stat -c %s ${dump}) / 2 ))" ${dump} > ${truncated}`);
      const list = await onHost("forest1", `docker exec -i "$(docker ps -q -f label=com.docker.compose.service=postgres -f label=com.docker.compose.project=wepppy)" pg_restore --list < ${truncated}`);
      assert.equal(list.code, 0, "pg_restore --list now rejects a truncated dump; the test's premise changed");
      const verify = await onHost("forest1", `bash ${SCRIPT} verify-backup ${truncated}; rc=$?; rm -f ${truncated}; exit $rc`);
      assert.notEqual(verify.code, 0);
      assert.match(verify.stderr, /does not read back whole/);
    });

    it("a backup that cannot be written whole blocks the deploy, and the previous build keeps serving", async () => {
      // Enough data that the dump outgrows a 64 KiB backup filesystem.
      await ok("forest1", `${PSQL} wepppy -c "insert into runs (note) select md5(g::text) || md5((g*7)::text) from generate_series(1, 60000) g;"`);
      await ok("forest1", "sudo mount -t tmpfs -o size=64k,mode=0777 tmpfs /opt/wepppy-cicd/backups");
      try {
        const r = await release("testprod", { "image.tag": newTag(), "backup.preDeploy": true }, "rig-a");
        assert.equal(r.ok, false);
        assert.match(r.error!, /pre-deploy backup failed, nothing deployed/);
        assert.equal(await servedBuild(forest1), "rig-b");
      } finally {
        await onHost("forest1", "sudo umount /opt/wepppy-cicd/backups");
      }
    });
  });
});
