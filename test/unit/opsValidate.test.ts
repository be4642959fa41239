import { strict as assert } from "node:assert";
import { hostLayout } from "../../host/contract/layout";
import { DeploySettings } from "../../host/contract/settings";
import type { HostAccess } from "../../ops/hostAccess";
import { parseValidateOutput, validate } from "../../ops/validate";
import { FakeHost, A } from "./fixtures/fakeHost";

/*
 * `wepppy-cicd validate`: the operator's side of the host's validate --json, driven by the
 * agent itself on a host in memory (what it prints is what the operator reads).
 */

describe("ops: validate", () => {
  let host: FakeHost;
  const testprod = (s: DeploySettings) => {
    s.validate = { ...s.validate, enabled: true, host: "wc-prod.bearhive.duckdns.org", routes: ["/rq-engine/health"] };
  };
  afterEach(() => host.cleanup());

  function access(): HostAccess {
    return { connection: { host: "forest1", hostKey: "ssh-ed25519 AAAA" }, layout: hostLayout(host.root, host.projectDir), via: "test" };
  }

  /** The host's wepppy-deploy, as SSH would run the command line. */
  function over(commands: string[]) {
    return async (_a: HostAccess, command: string, onLine: (line: string) => void) => {
      commands.push(command);
      const r = await host.cli(command.split(" ").slice(2));
      r.err.forEach(onLine);
      return { code: r.code, stdout: r.out.map((l) => `${l}\n`).join(""), stderr: r.err.join("\n"), combined: "" };
    };
  }

  it("runs the host's suites now and reports each, with the live image; the evidence stays in the host's audit log", async () => {
    host = new FakeHost({ settings: testprod });
    host.image(A, { build: "a-9" });
    await host.deploy(host.request(A, host.stage()));
    const before = host.audit().length;
    const commands: string[] = [];
    const progress: string[] = [];
    const r = await validate({ stack: "testprod", host: access(), log: (l) => progress.push(l), run: over(commands) });
    assert.deepEqual(commands, [`bash ${host.root}/bin/wepppy-deploy validate --json`]);
    assert.equal(r.ok, true, r.summary);
    assert.equal(r.image, A);
    assert.deepEqual(r.suites.map((s) => [s.suite, s.result]), [["create-run", "unavailable"], ["routes", "passed"]]);
    assert.equal(r.summary, `testprod: validation of ${A}: passed: routes; unavailable: create-run`);
    assert.deepEqual(r.evidence[1].answeredBy, ["stand-in a-9"]);
    assert.ok(progress.some((l) => /testprod: validation: routes passed/.test(l)), progress.join("\n"));
    assert.deepEqual(host.audit().slice(before).map((x) => x.evidence?.suite), ["create-run", "routes"]);
  });

  it("a failed suite is ok: false, with the failing checks named; a host that prints no evidence is an error, not a pass", async () => {
    host = new FakeHost({ settings: testprod });
    host.image(A);
    await host.deploy(host.request(A, host.stage()));
    host.routeStatus.set("/rq-engine/health", 503);
    const r = await validate({ stack: "testprod", host: access(), run: over([]) });
    assert.equal(r.ok, false);
    assert.match(r.summary, /FAILED: routes/);
    assert.deepEqual(r.suites[1].failed, ["/rq-engine/health: page /rq-engine/health answered 503 through Caddy"]);

    const silent = await validate({ stack: "testprod", host: access(), run: async () => ({ code: 1, stdout: "", stderr: "[wepppy-deploy] error: no settings at /opt/wepppy-cicd/deploy.json", combined: "" }) });
    assert.equal(silent.ok, false);
    assert.match(silent.error!, /printed no JSON object.*no settings at/);
    assert.throws(() => parseValidateOutput(JSON.stringify({ image: A, ok: true, evidence: [{ suite: "routes", result: "passed" }] })), /evidence record 1 is not one the contract reads/);
  });
});
