import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import type { Command } from "commander";
import { buildProgram } from "../../cli/main";
import { runCli } from "../support/runCli";
import { A, REPO } from "./fixtures/ops";

const run = runCli;

describe("the wepppy-cicd CLI", () => {
  it("declares every command with its options, -s/--stack where it acts on a stack", () => {
    const program = buildProgram({ exit: () => undefined });
    const names = program.commands.map((c) => c.name());
    for (const name of ["rig", "rehearse", "audit", "release", "promote", "rollback", "status", "validate", "config", "bench"]) assert.ok(names.includes(name), name);
    for (const name of ["rehearse", "audit", "release", "rollback", "status", "validate"]) {
      const c = program.commands.find((x) => x.name() === name)!;
      assert.ok(c.options.some((o) => o.short === "-s" && o.long === "--stack"), `${name} -s/--stack`);
      assert.ok(c.options.some((o) => o.long === "--json"), `${name} --json`);
    }
  });

  it("wraps every command's description at the help width only, not also where its source line ended", () => {
    const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
    for (const c of all(buildProgram({ exit: () => undefined }))) {
      const help = c.helpInformation({ error: false });
      if (!c.description()) continue;
      const description = help.split("\n\n")[1];
      const lines = description.split("\n");
      lines.slice(0, -1).forEach((line, i) => {
        const next = lines[i + 1].trimStart().split(" ")[0];
        if (/^[\s*]|^- |^\d+\. /.test(lines[i + 1])) return;
        assert.ok(line.length + 1 + next.length > 80, `${c.name()}: "${line}" broke before "${next}", which fits on it`);
      });
    }
  });

  it("answers bad input with one line, a hint and exit status 2", async () => {
    for (const argv of [
      ["release", "--image", A],
      ["release", "-s", "staging", "--image", A],
      ["release", "--stack", "testprod"],
      ["promote", "--force"],
      ["promote", "--reason", "why"],
      ["status", "--stack", "prod", "--verbose"],
      ["validate"],
      ["validate", "-s", "staging"],
      ["bench", "switch", "--canary", "10,7"],
      ["bench", "switch", "--canary", "nothing"],
      ["no-such-command"],
    ]) {
      const r = await run(argv);
      assert.equal(r.code, 2, argv.join(" "));
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 2, `${argv.join(" ")}: ${r.stderr}`);
      assert.match(lines[0], /^wepppy-cicd( [a-z-]+)?: /);
      assert.match(lines[1], /see: wepppy-cicd help|one of dev, testprod, prod/);
    }
  });

  it("gives JSON on error too with --json: {ok: false, error, hint}", async () => {
    const r = await run(["release", "-s", "staging", "--image", A, "--json"]);
    assert.equal(r.code, 2);
    const body = JSON.parse(r.stdout);
    assert.equal(body.ok, false);
    assert.match(body.error, /staging/);
    assert.ok(body.hint);
  });

  it("prints its version and help for a command", async () => {
    const v = await run(["--version"]);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    const h = await run(["help", "rollback"]);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /--to <release-or-time>/);
  });

  it("refuses a prod release with one JSON object and exit status 1, before opening any stack", async () => {
    const r = await run(["release", "--stack", "prod", "--image", `${REPO}:sha-0123456789ab`, "--json"]);
    assert.equal(r.code, 1);
    const result = JSON.parse(r.stdout);
    assert.equal(result.ok, false);
    assert.equal(result.changed, false);
    assert.match(result.error, /promote/);
    assert.doesNotMatch(r.stderr, /opening/);
  });

  it("says that the Pulumi CLI is missing and suggests --rig", async function () {
    if (spawnSync("pulumi", ["version"]).status === 0) this.skip();
    const r = await run(["release", "--stack", "testprod", "--image", `${REPO}:sha-0123456789ab`, "--json"]);
    assert.equal(r.code, 1);
    assert.match(JSON.parse(r.stdout).error, /Pulumi CLI is not installed.*--rig/);
  });
});
