import { Command } from "commander";
import { policyCheck } from "../harness/policyCheck";
import { printJson, progress } from "./io";
import type { Cli } from "./main";

export function registerPolicy(program: Command, cli: Cli): void {
  const policy = program.command("policy").summary("the quality gates (policy/): policy check");
  policy
    .command("check")
    .summary("judge every stack's graph with the quality gates, offline (no credential needed)")
    .description(
      `Evaluates dev, testprod and prod from their committed stack files under the mock engine,
updated and previewed, with placeholders for the operator's secrets, and runs the policy pack
on each graph (policy/policy-config.json sets each gate's enforcement). What a pull request
runs; deploy and drift jobs run the same pack with pulumi preview/up --policy-pack. Exit 1
when a mandatory gate is violated.`,
    )
    .option("--source-dir <dir>", "wepppy's docker/ directory (default: each stack file's compose.sourceDir, ../wepppy/docker)")
    .option("--json", "print {ok, stacks: [{stack, preview, violations}]}")
    .action(async (opts: { sourceDir?: string; json?: boolean }) => {
      const result = await policyCheck({ sourceDir: opts.sourceDir, log: progress });
      if (opts.json) printJson(result);
      else {
        for (const s of result.stacks) {
          for (const v of s.violations) console.log(`${v.enforcementLevel.padEnd(9)} ${s.stack}${s.preview ? " (preview)" : ""}  ${v.policy}: ${v.message}`);
        }
        console.log(`${result.ok ? "ok" : "FAILED"}: ${result.stacks.reduce((n, s) => n + s.violations.length, 0)} violation(s) in ${result.stacks.length} graphs`);
      }
      cli.exit(result.ok ? 0 : 1);
    });
}
