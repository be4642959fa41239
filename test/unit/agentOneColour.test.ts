import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { A, APP, B, FakeHost, WORKER } from "./fixtures/fakeHost";

/*
 * The agent's one-colour deploy against a host in memory (fixtures/fakeHost.ts): each test
 * sets the host up, runs `wepppy-deploy deploy` with a request on stdin as the stack does,
 * and looks at what the host ends up as.
 */

describe("agent: one-colour deploy", () => {
  let host: FakeHost;
  beforeEach(() => {
    host = new FakeHost();
  });
  afterEach(() => host.cleanup());

  /** A host running release A, deployed by the agent. */
  async function liveOnA(): Promise<string> {
    host.image(A);
    const key = host.stage({ compose: "services: {}\n# release A\n" });
    const r = await host.deploy(host.request(A, key));
    assert.equal(r.code, 0, r.err.join("\n"));
    return key;
  }

  it("deploys a first release: every service up, the env file, the files and the record current, one audit record", async () => {
    const key = await liveOnA();
    assert.equal(host.container(APP)?.image, A);
    assert.equal(host.container(WORKER)?.image, A);
    assert.match(host.env(), new RegExp(`^WEPPCLOUD_IMAGE=${A.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"));
    assert.equal(host.projectFile("docker-compose.prod.yml"), "services: {}\n# release A\n");
    assert.equal(JSON.parse(fs.readFileSync(host.layout.currentRelease, "utf8")).releaseKey, key);
    assert.ok(fs.existsSync(host.layout.settings), "deploy.json is written when the release succeeds");
    const records = host.audit();
    assert.deepEqual(records.map((r) => [r.action, r.result]), [["deploy", "ok"]]);
    assert.equal(records[0].image, A);
    assert.equal(records[0].digest, A.split("@")[1]);
    assert.deepEqual(records[0].release, { id: "r-1", tag: null, version: null });
    assert.equal(host.locked(), false);
  });

  it("puts an older layout's secrets (the root helper's .env-secrets) into .env, the deploy user's alone; none once they are gone", async () => {
    fs.mkdirSync(host.layout.secretsDir, { recursive: true });
    fs.writeFileSync(host.layout.envSecrets, "SECRET_KEY=k3y\nPOSTGRES_PASSWORD=pw\n");
    await liveOnA();
    assert.match(host.env(), /^SECRET_KEY=k3y$/m);
    assert.match(host.env(), /^POSTGRES_PASSWORD=pw$/m);
    assert.equal(fs.statSync(host.layout.envFile).mode & 0o777, 0o600);
    // A release on today's layout: the stack writes .env-secrets empty, and the next .env holds none.
    fs.writeFileSync(host.layout.envSecrets, "");
    host.image(B);
    const r = await host.deploy(host.request(B, host.stage({ compose: "services: {}\n# release B\n" })));
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.doesNotMatch(host.env(), /SECRET_KEY|POSTGRES_PASSWORD/);
  });

  it("refuses a build that fails its gate in the candidate: nothing replaced, files and env of the live release, lock released", async () => {
    const liveKey = await liveOnA();
    const appBefore = host.container(APP)!.id;
    host.image(B, { health: "never" });
    const key = host.stage({ compose: "services: {}\n# release B\n" });
    const calls = host.calls.length;
    const r = await host.deploy(host.request(B, key));
    assert.equal(r.code, 1);
    assert.equal(r.verdict?.result, "failed");
    assert.equal(r.verdict?.phase, "candidate");
    assert.match(r.verdict!.reason!, /new build failed its health gate, previous release still serving: no "OK" from \/health after 3 probe\(s\)/);
    assert.equal(fs.readFileSync(r.verdict!.logFile!, "utf8"), "fake log line", "the app's log lines are kept on the host");
    assert.ok(r.verdict!.reason!.endsWith(`the app's last log lines are on the host in ${r.verdict!.logFile}`));
    assert.ok(!JSON.stringify(r.verdict).includes("fake log line") && !fs.readFileSync(host.layout.auditLog, "utf8").includes("fake log line"), "never in the verdict or the record");
    assert.equal(host.container(APP)!.id, appBefore, "the running app was not touched");
    assert.equal(host.container(APP)!.image, A);
    assert.ok(!host.calls.slice(calls).some((c) => c.startsWith("compose up")), "compose up never ran");
    assert.equal(host.projectFile("docker-compose.prod.yml"), "services: {}\n# release A\n", "the live release's files are back");
    assert.equal(JSON.parse(fs.readFileSync(host.layout.currentRelease, "utf8")).releaseKey, liveKey);
    assert.match(host.env(), /WEPPCLOUD_IMAGE=.*@sha256:/);
    assert.ok(!host.env().includes(B));
    const runRecords = host.audit().filter((x) => x.runId === r.verdict!.runId);
    assert.equal(runRecords.length, 1);
    assert.equal(runRecords[0].result, "failed");
    assert.equal(runRecords[0].gate, "candidate");
    assert.equal(runRecords[0].logFile, r.verdict!.logFile);
    assert.equal(host.locked(), false);
  });

  it("a failed pre-deploy backup deploys nothing (no pull, no up)", async () => {
    await liveOnA();
    host.settings.backup.preDeploy = true;
    host.dumpFails = true;
    host.image(B);
    const key = host.stage({ compose: "services: {}\n# release B\n" });
    const calls = host.calls.length;
    const r = await host.deploy(host.request(B, key));
    assert.equal(r.code, 1);
    assert.equal(r.verdict?.phase, "backup");
    assert.match(r.verdict!.reason!, /pre-deploy backup failed, nothing deployed: pg_dump failed/);
    assert.ok(!host.present.has(B), "the new image was not even pulled");
    assert.deepEqual(host.calls.slice(calls).filter((c) => c.startsWith("compose") || c.startsWith("pull")), []);
    assert.equal(host.container(APP)!.image, A);
    assert.equal(host.projectFile("docker-compose.prod.yml"), "services: {}\n# release A\n");
    assert.equal(host.audit().filter((x) => x.runId === r.verdict!.runId).length, 1);
    assert.equal(host.locked(), false);
  });

  it("makes a verified pre-deploy backup and names it in the verdict and the record", async () => {
    await liveOnA();
    host.settings.backup.preDeploy = true;
    host.image(B);
    const r = await host.deploy(host.request(B, host.stage({ compose: "# B\n" })));
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.match(r.verdict!.backup!.file, /\/backups\/pre-deploy-\d{8}T\d{6}Z\.dump$/);
    assert.ok(fs.existsSync(r.verdict!.backup!.file));
    assert.deepEqual(host.audit().pop()!.backup, r.verdict!.backup);
  });

  it("rolls back automatically when the release fails after compose up, and says so", async () => {
    await liveOnA();
    host.image(B, { status: 500 });
    const r = await host.deploy(host.request(B, host.stage({ compose: "# B\n" })));
    assert.equal(r.code, 1);
    assert.equal(r.verdict?.phase, "smoke");
    assert.match(r.verdict!.message, /rolled back to the previous release \(healthy\)/);
    assert.equal(host.container(APP)!.image, A);
    assert.equal(host.container(WORKER)!.image, A);
    assert.equal(host.projectFile("docker-compose.prod.yml"), "services: {}\n# release A\n");
  });

  it("with health.required false, a failed smoke test is reported and the release stays", async () => {
    host.settings.health.required = false;
    host.settings.rollback = "manual";
    await liveOnA();
    host.image(B, { status: 500 });
    const key = host.stage({ compose: "# B\n" });
    const r = await host.deploy(host.request(B, key));
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.match(r.verdict!.message, /health not required in testprod/);
    assert.equal(host.container(APP)!.image, B);
    assert.equal(JSON.parse(fs.readFileSync(host.layout.currentRelease, "utf8")).releaseKey, key);
  });

  it("recreates the services that mount a secret that changed, naming the secret and never its value", async () => {
    await liveOnA();
    const before = { app: host.container(APP)!.id, worker: host.container(WORKER)!.id, pg: host.container("postgres")!.id };
    host.rewriteSecret("redis_password", "a-new-value-4711");
    const r = await host.deploy(host.request(A, host.stage({ compose: "services: {}\n# release A\n" }), { release: { id: "r-2" } }));
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.notEqual(host.container(WORKER)!.id, before.worker, "the worker mounts redis_password");
    assert.notEqual(host.container("redis")!.id, undefined);
    assert.equal(host.container("postgres")!.id, before.pg, "postgres mounts only postgres_password");
    assert.deepEqual(
      r.verdict!.recreated.map((x) => x.service).sort(),
      [APP, "redis", WORKER].sort(),
    );
    assert.ok(r.verdict!.recreated.every((x) => x.secrets.join() === "redis_password"));
    const text = fs.readFileSync(host.layout.auditLog, "utf8") + JSON.stringify(r.verdict) + r.err.join("\n");
    assert.ok(!text.includes("a-new-value-4711"), "a secret value reached the record, the verdict or the progress");
    // The digests are now the baseline: the same deploy again recreates nothing.
    const again = await host.deploy(host.request(A, host.stage({ compose: "services: {}\n# release A\n" }), { release: { id: "r-3" } }));
    assert.deepEqual(again.verdict!.recreated, []);
  });

  it("takes secret digests from the root helper's sums when it wrote them (the agent need not read a secret)", async () => {
    const sums = (v: string) => fs.writeFileSync(`${host.projectDir}/secrets/.sha256sums`, `${crypto.createHash("sha256").update(v).digest("hex")}  redis_password\n`);
    sums("redis-1");
    await liveOnA();
    const worker = host.container(WORKER)!.id;
    // The file changes but the helper's record does not: the record is what counts.
    host.rewriteSecret("redis_password", "changed behind the helper's back");
    const same = await host.deploy(host.request(A, host.stage({ compose: "services: {}\n# release A\n" }), { release: { id: "r-2" } }));
    assert.deepEqual(same.verdict!.recreated, []);
    assert.equal(host.container(WORKER)!.id, worker);
    sums("redis-2");
    const changed = await host.deploy(host.request(A, host.stage({ compose: "services: {}\n# release A\n" }), { release: { id: "r-3" } }));
    assert.ok(changed.verdict!.recreated.some((r) => r.service === WORKER));
    assert.notEqual(host.container(WORKER)!.id, worker);
  });

  it("smoke-tests through the test-support API where it is on: a run is created, its page fetched, the run deleted", async () => {
    host.settings.smoke.mode = "test-support";
    host.testSupport = true;
    host.image(A);
    const r = await host.deploy(host.request(A, host.stage()));
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.match(r.err.join("\n"), /smoke: created, fetched and deleted run rig-1 \(dev_unit_1\)/);
    assert.equal(host.testRuns.size, 0, "the smoke test's run is gone");
    // Without the API (TEST_SUPPORT_ENABLED false on the host), the smoke test fails and says why.
    host.testSupport = false;
    host.image(B);
    const off = await host.deploy(host.request(B, host.stage({ compose: "# B\n" })));
    assert.equal(off.code, 1);
    assert.match(off.verdict!.reason!, /create-run answered 403/);
    assert.equal(host.container(APP)!.image, A, "rolled back");
  });

  it("refuses a release that is not staged completely, changing nothing", async () => {
    await liveOnA();
    host.image(B);
    const key = host.stage({ compose: "# B\n" });
    fs.writeFileSync(`${host.layout.releasesDir}/${key}/project/caddy/Caddyfile`, "tampered");
    const r = await host.deploy(host.request(B, key));
    assert.equal(r.code, 1);
    assert.match(r.err.join("\n"), /does not match its manifest \(caddy\/Caddyfile differs\)/);
    assert.equal(host.container(APP)!.image, A);
    assert.equal(host.locked(), false);
  });
});
