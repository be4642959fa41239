import * as assert from "node:assert/strict";
import { cli, ensureRig } from "./helpers";

/*
 * Issue 9's pipeline on the rig, through the CLI as the README gives it: every job a fresh
 * clone of the pipeline's commit with only the state backend carried over (as GitHub
 * Actions runs them), and what each did checked on the hosts.
 */

describe("the release pipeline on the rig, each job a fresh clone (wepppy-cicd rig pipeline)", function () {
  this.timeout(3_600_000);
  let report: any;

  before(async () => {
    await ensureRig();
    const out = cli(["rig", "pipeline", "--json"]);
    report = JSON.parse(out.stdout);
    assert.equal(typeof report.ok, "boolean", out.stdout.slice(0, 400));
  });

  it("runs every job as a CI job would, and each succeeds", () => {
    const names = report.jobs.map((j: any) => j.name);
    for (const want of ["testprod: deploy pipe-a", "prod: promote A", "testprod: deploy pipe-b", "prod: promote B", "prod: rollback", "prod: promote C", "testprod: up with the rotated secret", "testprod: up on the rebuilt host"]) {
      assert.ok(names.includes(want), `no job ${want} in ${names.join(", ")}`);
    }
    const failed = report.jobs.filter((j: any) => !j.ok);
    assert.deepEqual(failed, [], JSON.stringify(failed, null, 2));
    for (const j of report.jobs) assert.deepEqual(Object.keys(j).filter((k) => !["name", "ok", "seconds", "digest", "live", "colour", "error"].includes(k)), []);
  });

  it("shows on the hosts what each job claims: promotions on the idle colour, the rollback on the warm one in <= 2 s, the rotated secret read, the rebuilt host serving", () => {
    const byName = Object.fromEntries(report.checks.map((c: any) => [c.name, c]));
    for (const name of [
      "testprod serves commit A",
      "promotion of A lands and serves",
      "promotion of B lands on the colour that was idle",
      "rollback puts A back live on its warm colour within 2 s of the deploy starting",
      "the third promotion (C) lands",
      "the app reads the rotated secret",
      "the rebuilt host serves testprod's release, with the rotated secret",
    ]) {
      assert.ok(byName[name], `no check ${name}`);
      assert.equal(byName[name].ok, true, `${name}: ${byName[name].detail}`);
    }
    assert.equal(report.ok, true);
  });
});
