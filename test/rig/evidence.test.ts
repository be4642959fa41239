import { strict as assert } from "node:assert";
import { promotion } from "../../config/sections/bluegreen";
import { clearDeployment, readState, sshRun } from "../../rig";
import { publishDerivedBuild } from "../../rig/registry";
import { RehearsalResult, rehearse } from "../../harness/rehearsal/rehearse";
import { RIG_AGENT_SCRIPT, RIG_JOB_SETTINGS, rigAudit, rigJobSettings, waitForSoak } from "../../harness/rehearsal/rigJobSettings";
import { cli, curl, ensureRig, forgetStacks, newTag, servedBuild } from "./helpers";

/*
 * Issue 13's gate on the rig's real hosts: testprod (forest1) deploys, runs its suites and a
 * soak of seconds and keeps the evidence in its audit log; `promote` to prod (wepp1) goes
 * through only on that evidence and a passed restore drill on prod, and says what is missing
 * when it refuses. Each release is a new digest (a stand-in build with its own name), so no
 * test's evidence counts for another's. The tests run in order, as releases do.
 */

const PROD_ROWS = 40;
/** promotion.validationPort as the schema defaults it (the rig's stacks do not set it). */
const RIG_VALIDATION_PORT = promotion.parse({}).validationPort;

describe("promotion on the evidence: testprod's suites and soak, prod's restore drill", function () {
  this.timeout(900_000);
  const logs: string[] = [];
  const log = (line: string) => logs.push(line);
  let forest1 = "";
  let wepp1 = "";

  /** Publishes a stand-in build (derived from `base`, named `build`) under a new tag and releases it on testprod, as its deploy job does. */
  async function releaseTestprod(base: string, build: string, set: Record<string, unknown> = RIG_JOB_SETTINGS.testprod): Promise<RehearsalResult> {
    const tag = newTag();
    await publishDerivedBuild(readState()!.standins.weppcloud[base], build, tag);
    logs.length = 0;
    const r = await rehearse({ stack: "testprod", set: { "image.tag": tag, ...set }, log });
    assert.equal(r.ok, true, r.error);
    assert.equal(await servedBuild(forest1), build);
    return r;
  }

  function promote(): { code: number; json: any } {
    const out = cli(["promote", "--rig", "--json"], { WEPPPY_RIG_SET: rigJobSettings("prod") });
    return { code: out.code, json: JSON.parse(out.stdout) };
  }

  async function onHost(host: string, script: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return sshRun(host, { script }, { timeoutMs: 300_000 });
  }

  const prodDeploys = async () => (await rigAudit("wepp1", 200)).filter((a) => a.action === "deploy" && a.result === "ok").length;

  before(async () => {
    const status = await ensureRig();
    forest1 = status.hosts.find((h) => h.name === "forest1")!.address;
    wepp1 = status.hosts.find((h) => h.name === "wepp1")!.address;
    for (const host of ["forest1", "wepp1"]) await clearDeployment(host);
    forgetStacks(["testprod", "prod"]);
    // prod already runs a release, with its database (as wepp1 does today): straight from its config.
    const first = await releaseTestprod("rig-a", "ev-prod", {});
    const prod = await rehearse({ stack: "prod", set: { "image.digest": first.image }, log });
    assert.equal(prod.ok, true, prod.error);
    assert.equal(await servedBuild(wepp1), "ev-prod");
    // Its data: a table with rows, which a drill must restore and count.
    const seeded = await onHost(
      "wepp1",
      `docker exec -i "$(docker ps -q -f label=com.docker.compose.project=wepppy -f label=com.docker.compose.service=postgres)" psql -qtA -v ON_ERROR_STOP=1 -U wepppy -d wepppy -c "CREATE TABLE evidence_runs (id serial PRIMARY KEY, created timestamptz DEFAULT now()); INSERT INTO evidence_runs (created) SELECT now() - n * interval '1 hour' FROM generate_series(1, ${PROD_ROWS}) n"`,
    );
    assert.equal(seeded.code, 0, seeded.stderr);
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") process.stderr.write(`rehearsal log:\n${logs.join("\n")}\n`);
  });

  after(async () => {
    for (const host of ["forest1", "wepp1"]) await clearDeployment(host);
    forgetStacks(["testprod", "prod"]);
  });

  it("refuses a release without its suites and soak, naming each; nothing changes on prod; the restore drill it ran counts equal rows", async () => {
    // testprod as its stack file has it: the test-support API off (create-run cannot run), a 24 h soak.
    await releaseTestprod("rig-a", "ev-bare", {});
    const deploys = await prodDeploys();
    const refused = promote();
    assert.equal(refused.code, 1, JSON.stringify(refused.json));
    assert.equal(refused.json.ok, false);
    assert.match(refused.json.error, /the evidence is missing/);
    assert.match(refused.json.error, /suite create-run/);
    assert.match(refused.json.error, /soak: no completed soak/);
    assert.doesNotMatch(refused.json.error, /restore drill/, "prod had no drill: promote ran one, and it passed");
    assert.equal(await servedBuild(wepp1), "ev-prod");
    assert.equal(await prodDeploys(), deploys, "no deploy on prod");
    // The drill promote ran: prod's live database, dumped and restored into a scratch one, counted.
    const drill = (await rigAudit("wepp1", 200)).reverse().find((a) => a.action === "drill");
    assert.ok(drill?.drill, "a drill is in prod's audit log");
    assert.equal(drill.drill.result, "passed", JSON.stringify(drill.drill));
    assert.ok(drill.drill.tables >= 1, JSON.stringify(drill.drill));
    assert.ok(drill.drill.rows.live >= PROD_ROWS, JSON.stringify(drill.drill));
    assert.equal(drill.drill.rows.restored, drill.drill.rows.live);
    assert.equal(drill.drill.equal, true);
  });

  it("promotes a release whose suites passed and whose soak completed; the evidence is in testprod's status and the result", async () => {
    const r = await releaseTestprod("rig-a", "ev-good");
    const soak = await waitForSoak(r.digest!);
    assert.equal(soak?.result, "ok", JSON.stringify(soak));
    const status = cli(["status", "-s", "testprod", "--rig", "--json"]);
    const evidence = JSON.parse(status.stdout).evidence;
    assert.equal(evidence.digest, r.digest);
    assert.deepEqual(evidence.suites.map((s: any) => [s.suite, s.result]).sort(), [["create-run", "passed"], ["routes", "passed"]]);
    assert.equal(evidence.soak.verdict, "passed");
    const promoted = promote();
    assert.equal(promoted.code, 0, JSON.stringify(promoted.json));
    assert.equal(promoted.json.digest, r.digest);
    const found = promoted.json.evidence.found.join("\n");
    for (const what of [/suite create-run passed/, /suite routes passed/, /soak of .* passed/, /restore drill passed on /]) assert.match(found, what);
    assert.equal(await servedBuild(wepp1), "ev-good");
  });

  it("serves the test-support API only to the host's own validation client: Caddy's public site answers 404, its listener on forest1's loopback serves it", async () => {
    // testprod now runs with the API on (the rig's job settings), and its create-run suite passed above.
    const ping = (url: string) => onHost("forest1", `curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -H 'X-Forwarded-Proto: https' '${url}'`);
    assert.equal((await ping("http://127.0.0.1:8080/weppcloud/tests/api/ping")).stdout, "404", "the public site refuses it");
    assert.equal((await ping("http://127.0.0.1:8080/weppcloud//tests/api/ping")).stdout, "404", "however it is spelled");
    assert.equal((await ping("http://127.0.0.1:8080/weppcloud/")).stdout, "200", "and serves the site");
    const listener = `http://127.0.0.1:${RIG_VALIDATION_PORT}/weppcloud/tests/api/ping`;
    const inside = await onHost("forest1", `curl -sS --max-time 5 -H 'X-Forwarded-Proto: https' '${listener}'`);
    assert.deepEqual(JSON.parse(inside.stdout), { message: "test support online" });
    const outside = await curl([`http://${forest1}:${RIG_VALIDATION_PORT}/weppcloud/tests/api/ping`]);
    assert.notEqual(outside.code, 0, "the listener is not reachable from another machine");
    // Nor is the app's own port, which wepppy publishes on every interface: around Caddy it would reach the API.
    const direct = await curl([`http://${forest1}:8000/tests/api/ping`]);
    assert.notEqual(direct.code, 0, `the app's port answered another machine: ${direct.stdout}`);
    assert.equal((await ping("http://127.0.0.1:8000/tests/api/ping")).stdout, "200", "the app still publishes it on the host's loopback");
  });

  it("never promotes a release whose create-run fails: its deploy fails testprod's smoke test, and promote takes testprod's last succeeded release", async () => {
    const tag = newTag();
    await publishDerivedBuild(readState()!.standins.weppcloud["rig-create-run-fails"], "ev-no-runs", tag);
    logs.length = 0;
    const r = await rehearse({ stack: "testprod", set: { "image.tag": tag, ...RIG_JOB_SETTINGS.testprod }, log });
    assert.equal(r.ok, false, "the deploy fails");
    // With the test-support API on, the smoke test after compose up creates a run: it answers 500.
    assert.match(r.error!, /failed at smoke: .*create-run answered 500/);
    const last = (await rigAudit("forest1")).filter((a) => a.action === "deploy").pop();
    assert.equal(last?.result, "failed", JSON.stringify(last));
    // testprod's rollback is manual (deploy.rollback): the failed build may stay up until someone
    // rolls it back, but testprod's last succeeded update still names ev-good, and that is what
    // promote takes as testprod's live release.
    const again = promote();
    assert.equal(again.code, 0, JSON.stringify(again.json));
    assert.match(again.json.summary, /already live on prod/, "testprod's live digest is the one prod has: nothing to promote");
    assert.equal(await servedBuild(wepp1), "ev-good");
  });

  it("a soak that sees 5xx over the threshold blocks promotion", async () => {
    const r = await releaseTestprod("rig-a", "ev-5xx");
    // Traffic through testprod's Caddy while it soaks: 40 requests the app answers 500.
    for (let i = 0; i < 40; i++) {
      await curl(["-o", "/dev/null", "-H", "X-Forwarded-Proto: https", `http://${forest1}:8080/weppcloud/rig/answer/500`]);
      await new Promise((done) => setTimeout(done, 200));
    }
    const soak = await waitForSoak(r.digest!);
    assert.equal(soak?.result, "failed", JSON.stringify(soak));
    assert.match(String(soak?.reason), /requests answered 5xx/);
    const refused = promote();
    assert.equal(refused.code, 1, JSON.stringify(refused.json));
    assert.match(refused.json.error, /soak of .*requests answered 5xx .*over promotion\.maxErrorPercent/);
    assert.equal(await servedBuild(wepp1), "ev-good");
  });

  it("a corrupted dump fails its restore drill and blocks promotion until a drill passes again", async () => {
    const dump = (await onHost("wepp1", `bash ${RIG_AGENT_SCRIPT} backups`)).stdout.trim().split("\n")[0];
    assert.ok(dump, "prod has a dump (its pre-deploy backup)");
    const corrupt = await onHost("wepp1", `f=${dump}; head -c "$(( $(stat -c %s "$f") / 2 ))" "$f" > "$f.half" && mv "$f.half" "$f"`);
    assert.equal(corrupt.code, 0, corrupt.stderr);
    const failed = await onHost("wepp1", `bash ${RIG_AGENT_SCRIPT} drill ${dump}`);
    assert.notEqual(failed.code, 0, "the drill of a truncated dump fails");
    assert.equal(JSON.parse(failed.stdout.trim().split("\n").pop()!).result, "failed");

    const r = await releaseTestprod("rig-a", "ev-after-drill");
    assert.equal((await waitForSoak(r.digest!))?.result, "ok");
    const refused = promote();
    assert.equal(refused.code, 1, JSON.stringify(refused.json));
    assert.match(refused.json.error, /restore drill: the newest on \S+ failed/);
    assert.equal(await servedBuild(wepp1), "ev-good");

    // A fresh dump that restores: the newest drill passes, and the promotion goes through.
    const again = await onHost("wepp1", `bash ${RIG_AGENT_SCRIPT} backup && bash ${RIG_AGENT_SCRIPT} drill`);
    assert.equal(again.code, 0, again.stderr);
    const promoted = promote();
    assert.equal(promoted.code, 0, JSON.stringify(promoted.json));
    assert.equal(await servedBuild(wepp1), "ev-after-drill");
  });
});
