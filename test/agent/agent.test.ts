import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { DeployVerdict } from "../../host/contract/records";
import { BLUEGREEN_CADDYFILE } from "../../host/contract/traffic";
import { RealHost, StandIns, buildAgentImage, buildAgentImageTag, docker, findStandIns } from "./realEngine";
import { requireCondition, requireTool, runs } from "../support/tools";

/*
 * The agent on a real engine: this machine's own dockerd, the agent's image built from
 * host/agent/Dockerfile, the bundle, the bootstrap, compose v1, the rig's stand-in images.
 * A story (each step starts from where the last left the host), so a failure stops it.
 *
 *   npx mocha --timeout 600000 test/agent/*.test.ts
 */

/** An engine, compose v1 and the rig's stand-in images (missing: fails under CI, else skips). */
function needEngine(ctx: Mocha.Context): StandIns {
  requireTool(ctx, "docker", ["docker", "--version"]);
  requireCondition(ctx, runs(["docker", "version"]), "no Docker engine answers", "npx wepppy-cicd rig up starts one");
  requireTool(ctx, "docker-compose", ["docker-compose", "version"]);
  const found = findStandIns();
  requireCondition(ctx, typeof found !== "string", "the rig's stand-in images are not on this engine", "npx wepppy-cicd rig up builds them");
  return found as StandIns;
}

// The agent image is built once for every describe here and removed after the last.
after(function () {
  if (process.env.AGENT_TEST_KEEP_IMAGE === "1") return;
  const found = findStandIns();
  if (typeof found === "string") return;
  try {
    docker(["rmi", buildAgentImageTag(found.base)]);
  } catch {
    // not built, or in use by a container cleanup could not remove: left for docker
  }
});

describe("host agent on a real engine", function () {
  this.timeout(600_000);
  let host: RealHost;
  let images: StandIns;
  let failed = false;
  const verdicts: DeployVerdict[] = [];

  before(function () {
    images = needEngine(this);
  });

  before(async function () {
    if (!images) this.skip();
    const agentImage = buildAgentImage(images.base);
    host = new RealHost(images, agentImage);
    await host.setUp();
  });

  after(function () {
    if (!host) return;
    if (failed && process.env.AGENT_TEST_KEEP === "1") {
      process.stderr.write(`kept for a look: ${host.base} (project ${host.project})\n`);
      return;
    }
    host.cleanup();
  });

  beforeEach(function () {
    if (failed) this.skip();
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") failed = true;
  });

  const runRecords = (runId: string) => host.audit().filter((r) => r.runId === runId);

  it("a first release through the bootstrap: every service up, blue serving, a verified backup skipped (no database yet)", async () => {
    const r = await host.deploy(host.request(images.a, host.stage("a"), "r-a"));
    assert.equal(r.code, 0, r.stderr);
    verdicts.push(r.verdict);
    assert.deepEqual([r.verdict.result, r.verdict.live], ["ok", "blue"]);
    assert.deepEqual(r.verdict.images, { blue: images.a, green: images.a });
    const s = host.services();
    assert.deepEqual([s["weppcloud-blue"].image, s["rq-worker"].image, s.caddy.running, s.postgres.running], [images.a, images.a, true, true]);
    assert.equal(host.get("/weppcloud/"), "200");
    assert.deepEqual(runRecords(r.verdict.runId).map((x) => x.result), ["ok"]);
    assert.ok(await host.runEnded(), "the run let go of the lock and its container once it had converged");
    assert.deepEqual(host.agentContainers(), [], "the detached run's container is gone (--rm), and no retire was scheduled");
  });

  it("a release whose client is killed mid-deploy goes on to its verdict; the same request again reattaches and gets it", async () => {
    const request = host.request(images.b, host.stage("b"), "r-b");
    const first = host.client(["deploy"], JSON.stringify(request));
    const started = Date.now();
    while (!/\] (gate|up|caddy): /.test(first.stderr) && Date.now() - started < 180_000) await new Promise((r) => setTimeout(r, 200));
    assert.match(first.stderr, /\] (gate|up|caddy): /, `the deploy never reached its gate:\n${first.stderr}`);
    process.kill(-first.child.pid!, "SIGKILL");
    await first.done;
    assert.equal(first.stdout, "", "the killed client printed no verdict");
    assert.ok(host.locked(), "the run still holds the lock");
    assert.ok(host.agentContainers().some((n) => n.startsWith(`${host.project}-deploy-`)), `the run's container runs on: ${host.agentContainers().join(" ")}`);
    const again = await host.deploy(request);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /this request is running as .*: attaching|no client received its verdict/);
    verdicts.push(again.verdict);
    assert.deepEqual([again.verdict.result, again.verdict.live], ["ok", "green"]);
    assert.deepEqual(host.markers(), ["live-green"]);
    assert.equal(host.services()["weppcloud-green"].image, images.b);
    assert.ok(await host.runEnded(), "the run let go of the lock and its container once it had converged");
    assert.equal(host.services()["rq-worker"].image, images.b, "the other services converged before the run ended");
    assert.equal(host.services()["weppcloud-blue"].running, true, "blue stays warm");
    assert.match(again.verdict.backup!.file, /pre-deploy-.*\.dump$/, "a verified pre-deploy backup of the running database");
    assert.equal(runRecords(again.verdict.runId).length, 1, "exactly one audit record");
    assert.equal(fs.readdirSync(host.layout.runsDir).length, 2, "no second run was started");
    assert.ok(host.agentContainers().some((n) => n === `${host.project}-retire-blue`), "blue's retire waits for its warm time");
  });

  it("a rollback to the warm colour is a switch", async () => {
    const r = await host.deploy(host.request(images.a, host.stage("a"), "r-a"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.verdict.message, /^switched to warm blue \d+ ms after the deploy started/);
    assert.deepEqual(host.markers(), []);
    assert.ok(await host.runEnded(), "the run let go of the lock and its container once it had converged");
    assert.equal(host.services()["rq-worker"].image, images.a, "the other services converged before the run ended");
    assert.equal(host.get("/weppcloud/"), "200");
  });

  it("a release that answers 5xx is switched back; the failed colour is stopped; the live release's files stay current", async () => {
    const caddyfile = fs.readFileSync(path.join(host.projectDir, BLUEGREEN_CADDYFILE), "utf8");
    const r = await host.deploy(host.request(images.broken, host.stage("broken"), "r-broken"));
    assert.equal(r.code, 1);
    assert.deepEqual([r.verdict.result, r.verdict.phase, r.verdict.live], ["failed", "smoke", "blue"]);
    assert.deepEqual(host.markers(), []);
    assert.equal(host.services()["weppcloud-green"].running, false);
    assert.equal(typeof r.verdict.backMs, "number");
    assert.equal(fs.readFileSync(path.join(host.projectDir, BLUEGREEN_CADDYFILE), "utf8"), caddyfile);
    assert.equal(host.get("/weppcloud/"), "200");
    assert.equal(runRecords(r.verdict.runId).length, 1);
  });

  it("a run killed between its switch and its verdict: the reattached client recovers it, traffic goes back, one interrupted record", async () => {
    const request = host.request(images.b, host.stage("b2"), "r-b2");
    const first = host.client(["deploy"], JSON.stringify(request));
    const started = Date.now();
    while (!/\] (smoke|analysis): /.test(first.stderr) && Date.now() - started < 240_000) await new Promise((r) => setTimeout(r, 100));
    assert.match(first.stderr, /\] (smoke|analysis): /, first.stderr);
    assert.deepEqual(host.markers(), ["live-green"], "traffic had moved");
    const runner = host.agentContainers().find((n) => n.startsWith(`${host.project}-deploy-`))!;
    docker(["kill", runner]);
    process.kill(-first.child.pid!, "SIGKILL");
    await first.done;
    const again = await host.deploy(request);
    // The interrupted run is reported, then the same request runs again (it was never judged).
    const records = host.audit();
    const interrupted = records.filter((x) => x.result === "interrupted");
    assert.equal(interrupted.length, 1, JSON.stringify(records.slice(-3)));
    assert.match(again.stderr, /had stopped without a verdict; recovered: the run stopped during (smoke|analysis)/);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual([again.verdict.result, again.verdict.live], ["ok", "green"]);
    assert.ok(await host.runEnded(), "the run let go of the lock and its container once it had converged");
  });

  it("boot-hook keeps recover run at every dockerd start; a restart of it runs recover again", async () => {
    const r = await host.cli(["boot-hook"]);
    assert.equal(r.code, 0, r.stderr);
    const name = `${host.project}-deploy-boot`;
    assert.deepEqual(JSON.parse(r.stdout), { container: name, result: "created" });
    assert.deepEqual(JSON.parse((await host.cli(["boot-hook"])).stdout).result, "unchanged");
    assert.equal(docker(["inspect", "--format", "{{.HostConfig.RestartPolicy.Name}}", name]), "unless-stopped");
    const waitForRecover = async (runs: number) => {
      const until = Date.now() + 60_000;
      while (Date.now() < until) {
        const logs = execFileSync("docker", ["logs", name], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        if ((logs.match(/"recovered":\[/g) ?? []).length >= runs) return logs;
        await new Promise((res) => setTimeout(res, 250));
      }
      throw new Error("recover never ran in the boot container");
    };
    await waitForRecover(1);
    docker(["restart", "-t", "1", name]);
    await waitForRecover(2);
  });

  it("status reads the host as it is", async () => {
    const s = await host.status();
    assert.deepEqual([s.bluegreen!.traffic, s.liveImage, s.lock.state], ["green", images.b, "unlocked"]);
    assert.equal(s.bluegreen!.colours.blue.image, images.a);
    assert.ok(s.lastBackup?.file.endsWith(".dump"));
  });
});

describe("host agent on a real engine: one colour", function () {
  this.timeout(600_000);
  let host: RealHost;
  let images: StandIns;

  before(async function () {
    images = needEngine(this);
    host = new RealHost(images, buildAgentImage(images.base), false);
    await host.setUp();
  });
  after(function () {
    if (host && !(process.env.AGENT_TEST_KEEP === "1" && this.currentTest?.state === "failed")) host.cleanup();
  });

  it("deploys; refuses a build that never becomes healthy beside the running app; rolls back one that fails after up", async () => {
    const first = await host.deploy(host.request(images.a, host.stage("a"), "r-a"));
    assert.equal(first.code, 0, first.stderr);
    assert.equal(host.services().weppcloud.image, images.a);
    const app = host.services().weppcloud.id;
    const never = await host.deploy(host.request(images.neverHealthy, host.stage("never"), "r-never"));
    assert.equal(never.code, 1);
    assert.deepEqual([never.verdict.phase, never.verdict.gate], ["candidate", "candidate"]);
    assert.ok(never.verdict.logFile && fs.existsSync(never.verdict.logFile), "the candidate's last log lines, kept on the host");
    assert.equal(host.services().weppcloud.id, app, "the running app was never touched");
    assert.equal(docker(["ps", "-aq", "--filter", `name=${host.project}_weppcloud_candidate`]), "", "the candidate is gone");
    const broken = await host.deploy(host.request(images.broken, host.stage("broken"), "r-broken"));
    assert.equal(broken.code, 1);
    assert.deepEqual([broken.verdict.phase, broken.verdict.gate], ["smoke", "smoke"]);
    assert.match(broken.verdict.message, /rolled back to the previous release \(healthy\)/);
    assert.equal(host.services().weppcloud.image, images.a);
    assert.notEqual(host.services().weppcloud.id, app, "the release was up, then replaced by the live one");
    assert.equal(host.get("/weppcloud/"), "200");
    assert.match(fs.readFileSync(path.join(host.projectDir, "caddy/Caddyfile"), "utf8"), /# release a\n$/);
    const b = await host.deploy(host.request(images.b, host.stage("b"), "r-b"));
    assert.equal(b.code, 0, b.stderr);
    assert.equal(host.services().weppcloud.image, images.b);
    assert.equal(host.services()["rq-worker"].image, images.b);
    assert.match(b.stderr, /candidate: starting candidate/);
  });
});
