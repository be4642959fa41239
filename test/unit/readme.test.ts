import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REFERENCE_BEGIN, REFERENCE_END, renderConfigReference } from "../../config/reference";
import { PROJECT_ROOT } from "../../config/paths";
import { SETUP_COMMAND } from "../support/tools";

const readme = fs.readFileSync(path.join(PROJECT_ROOT, "README.md"), "utf8");

/** Shell lines of the fenced blocks under one heading of the README. */
function commandsUnder(heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has no "## ${heading}" section`);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split("\n")).filter((l) => l.trim() !== "");
}

describe("README", () => {
  it("has the config reference generated from the current schema (run `npm run docs`)", () => {
    const begin = readme.indexOf(REFERENCE_BEGIN) + REFERENCE_BEGIN.length;
    const end = readme.indexOf(REFERENCE_END);
    assert.equal(readme.slice(begin, end).trim(), renderConfigReference().trim());
  });

  it("gives quick-start commands that .ci/run runs", () => {
    const ci = fs.readFileSync(path.join(PROJECT_ROOT, ".ci/run"), "utf8");
    const commands = commandsUnder("Quick start");
    assert.equal(commands.length, 2, "the quick start gives two commands: set-up plus tests, and the main job");
    assert.ok(commands[0].startsWith(`${SETUP_COMMAND} && `), `the first command starts with the set-up a missing tool's test names (${SETUP_COMMAND})`);
    assert.match(commands[0], /npm test/);
    assert.match(commands[0], /npm run test:rig/);
    assert.match(commands[1], /wepppy-cicd rehearse/);
    for (const command of commands) {
      assert.ok(ci.split("\n").some((line) => line.trim().startsWith(command.trim())), `.ci/run does not run "${command}"`);
    }
  });

  it("has .ci/run fail, and stop, when a test tier fails", () => {
    // npm and npx stand-ins on PATH: `npm test` fails, everything else succeeds; each call is logged.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "ci-run-"));
    const log = path.join(bin, "calls");
    try {
      for (const tool of ["npm", "npx"]) {
        fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> '${log}'\n[ "$*" = "test" ] && exit 1\nexit 0\n`, { mode: 0o755 });
      }
      const r = spawnSync("bash", [path.join(PROJECT_ROOT, ".ci/run")], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      const calls = fs.readFileSync(log, "utf8").trim().split("\n");
      assert.notEqual(r.status, 0, `.ci/run exited 0 after a failing unit tier; it ran: ${calls.join("; ")}`);
      assert.deepEqual(calls, ["npm run setup", "npm test", "npx wepppy-cicd rig down"]);
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });
});
