import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../config/paths";

/*
 * The tree is laid out by role. What `pulumi up` loads (program, render, config), the host
 * side and the operator core (ops) never reach into the rig, the harness, the CLI, the
 * benchmarks or the tests: those choose their adapters themselves.
 */
const PRODUCTION = ["program", "render", "config", "host", "ops", "policy"];
const FORBIDDEN = ["rig", "harness", "cli", "bench", "test", "scripts"];

function trackedTs(): string[] {
  return execFileSync("git", ["ls-files", "*.ts"], { cwd: PROJECT_ROOT, encoding: "utf8" }).trim().split("\n").filter(Boolean);
}

function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8");
  const specs = [...text.matchAll(/(?:from\s+|require\(|import\()\s*["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]);
  return specs.map((s) => path.relative(PROJECT_ROOT, path.resolve(PROJECT_ROOT, path.dirname(file), s)));
}

describe("source tree by role", () => {
  it("production code imports neither the rig, the harness, the CLI, the benchmarks nor the tests", () => {
    const bad: string[] = [];
    for (const file of trackedTs().filter((f) => PRODUCTION.includes(f.split("/")[0]))) {
      for (const target of importsOf(file)) {
        if (FORBIDDEN.includes(target.split("/")[0])) bad.push(`${file} -> ${target}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it("names source files in one style (camelCase, no dashes)", () => {
    const dashed = trackedTs().filter((f) => /-/.test(path.basename(f)));
    assert.deepEqual(dashed, []);
  });

  it("finds an import that breaks the rule (the check can fail)", () => {
    const probe = "ops/zzLayoutProbe.ts";
    fs.writeFileSync(path.join(PROJECT_ROOT, probe), 'import { x } from "../rig/config";\n');
    try {
      assert.deepEqual(importsOf(probe), ["rig/config"]);
    } finally {
      fs.rmSync(path.join(PROJECT_ROOT, probe));
    }
  });
});
