import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { requireTool } from "../support/tools";

/*
 * Every shell script the project ships or runs (host side, runner host, rig images, set-up,
 * CI) passes shellcheck, and none of them, nor the shell the TypeScript builds, writes or
 * reads JSON by printf, echo, sed or awk: a tool that does not parse JSON gets it wrong on the
 * first escaped quote or second field on a line (architecture-review.md).
 */

const ROOT = path.resolve(__dirname, "..", "..");

function tracked(ctx: Mocha.Context): string[] {
  requireTool(ctx, "git");
  return execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" })
    .split("\0")
    .filter((f) => f !== "" && fs.existsSync(path.join(ROOT, f)));
}

function shellScripts(files: string[]): string[] {
  return files.filter((f) => {
    const head = fs.readFileSync(path.join(ROOT, f), "utf8").slice(0, 64);
    return /^#!\s*\/(usr\/)?bin\/(env )?(ba)?sh\b/.test(head);
  });
}

// A JSON object or array literal built by a formatter, or a JSON key matched by a text tool.
const JSON_BY_TEXT_TOOL = /\b(printf|echo)\b[^\n]*['"]\\?[{[]+\\*"[A-Za-z]|\b(sed|awk|grep)\b[^\n]*\\*"[A-Za-z_]+\\*"(\s|\[\[:space:\]\][*+]?)*:/;

describe("the project's shell", () => {
  it("finds the shell scripts by their first line: the host's, the runner host's, the rig images', set-up and CI", function () {
    const found = shellScripts(tracked(this));
    for (const f of ["host/wepppy-deploy.sh", "host/wepppy-root.sh", "render/runner/wepppy-runner.sh", "rig/images/host/rig-host-init", "scripts/setup.sh", ".ci/run"]) {
      assert.ok(found.includes(f), `${f} is not found as a shell script`);
    }
  });

  it("every shell script passes shellcheck (warnings and errors)", function () {
    requireTool(this, "shellcheck");
    const scripts = shellScripts(tracked(this));
    const r = (() => {
      try {
        execFileSync("shellcheck", ["-S", "warning", ...scripts], { cwd: ROOT, stdio: "pipe", encoding: "utf8" });
        return "";
      } catch (err) {
        return String((err as { stdout?: string }).stdout ?? err);
      }
    })();
    assert.equal(r, "", r);
  });

  it("the check below sees JSON built by printf or matched by sed (it can fail)", () => {
    assert.match(`printf '{"name":"%s"}' "$n"`, JSON_BY_TEXT_TOOL);
    assert.match(`sed -n 's/.*"agentName"[[:space:]]*:.*/x/p'`, JSON_BY_TEXT_TOOL);
    assert.match(`printf '[{\\"a\\":1}]'`, JSON_BY_TEXT_TOOL);
    assert.doesNotMatch(`printf 'runner\\t%s\\n' "$name"`, JSON_BY_TEXT_TOOL);
  });

  it("no script, and no shell the TypeScript builds, writes or reads JSON by printf, echo, sed, awk or grep", function () {
    const files = tracked(this).filter((f) => !f.startsWith("test/") && (/\.(ts|sh)$/.test(f) || shellScripts([f]).length === 1));
    const hits: string[] = [];
    for (const f of files) {
      fs.readFileSync(path.join(ROOT, f), "utf8")
        .split("\n")
        .forEach((line, i) => {
          if (JSON_BY_TEXT_TOOL.test(line)) hits.push(`${f}:${i + 1}: ${line.trim().slice(0, 160)}`);
        });
    }
    assert.deepEqual(hits, []);
  });
});
