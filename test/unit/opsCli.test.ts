import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { main } from "../../cli/main";
import { subcommands } from "../../cli/registry";
import { A } from "./fixtures/opsFixtures.test";

/** Runs the CLI in-process with its output captured. */
async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const saved = { log: console.log, error: console.error, out: process.stdout.write, err: process.stderr.write };
  console.log = (...a: unknown[]) => void (stdout += `${a.join(" ")}\n`);
  console.error = (...a: unknown[]) => void (stderr += `${a.join(" ")}\n`);
  process.stdout.write = ((chunk: string) => ((stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
  try {
    return { code: await main(argv), stdout, stderr };
  } finally {
    console.log = saved.log;
    console.error = saved.error;
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
  }
}

describe("ops: the release CLI", () => {
  it("registers release, promote, rollback and status, each with usage text", () => {
    for (const name of ["release", "promote", "rollback", "status"]) {
      const command = subcommands.find((c) => c.name === name);
      assert.ok(command, name);
      assert.match(command.usage, new RegExp(`^usage: wepppy-cicd ${name} `));
    }
  });

  it("answers bad input with usage and exit status 2", async () => {
    for (const argv of [
      ["release", "--image", A],
      ["release", "--stack", "staging", "--image", A],
      ["release", "--stack", "testprod"],
      ["rollback", "--stack", "testprod", "--to", "three"],
      ["promote", "--force"],
      ["promote", "--reason", "why"],
      ["status", "--stack", "prod", "--verbose"],
    ]) {
      const r = await run(argv);
      assert.equal(r.code, 2, argv.join(" "));
      assert.match(r.stderr, /usage: wepppy-cicd/, argv.join(" "));
    }
  });

  it("refuses a prod release with one JSON object and exit status 1, before opening any stack", async () => {
    const r = await run(["release", "--stack", "prod", "--image", A, "--json"]);
    assert.equal(r.code, 1);
    const result = JSON.parse(r.stdout);
    assert.equal(result.ok, false);
    assert.equal(result.changed, false);
    assert.match(result.error, /promote/);
    assert.doesNotMatch(r.stderr, /opening/);
  });

  it("says that the Pulumi CLI is missing and suggests --rig", async function () {
    if (spawnSync("pulumi", ["version"]).status === 0) this.skip();
    const r = await run(["release", "--stack", "testprod", "--image", A, "--json"]);
    assert.equal(r.code, 1);
    assert.match(JSON.parse(r.stdout).error, /Pulumi CLI is not installed.*--rig/);
  });
});
