import { Command } from "commander";
import { rehearse } from "../harness/rehearsal/rehearse";
import { UsageError, collect, parseSets, printJson, progress, stackName } from "./io";
import type { Cli } from "./main";

export function registerRehearse(program: Command, cli: Cli): void {
  program
    .command("rehearse")
    .summary("run a stack's `pulumi up` against the rig (stand-in engine, real hosts)")
    .argument("[stack]", "dev, testprod or prod (or -s)")
    .description(
      `Runs what \`pulumi up -s <stack>\` would run, on the rig: the stack file of this working tree
with the rig's coordinates set on top in memory, through the stand-in engine (Pulumi's and
@pulumi/command's semantics, the rig's backend for state and history), over SSH to the rig's
hosts. Only what changed since the last update runs. Brings the rig up if it is down.
Exit status 1 when the update fails.`,
    )
    .option("-s, --stack <env>", "the stack")
    .option("--set <section.key=value>", "set a config value, like pulumi config set --path (repeatable)", collect, [])
    .option("--publish <build>", "first publish stand-in build B (rig-a, rig-b, rig-never-healthy, ...) under the stack's image tag, as CI's main workflow publishes a commit")
    .option("--compose-source <dir>", "deploy the compose files of DIR, another wepppy release's docker/ directory (an older layout), instead of wepppy's reference copy")
    .option("--json", "print one JSON object: stack, ok, url, image, digest, steps, hostCommandsRun")
    .action(async (positional: string | undefined, opts: { stack?: string; set: string[]; publish?: string; composeSource?: string; json?: boolean }) => {
      if (positional && opts.stack && positional !== opts.stack) throw new UsageError(`two stacks given: ${positional} and ${opts.stack}`);
      const stack = stackName(positional ?? opts.stack);
      const result = await rehearse({ stack, set: parseSets(opts.set), publish: opts.publish, composeSource: opts.composeSource, log: progress });
      if (opts.json) printJson(result);
      else {
        for (const s of result.steps) {
          const mark = s.skipped ? "-" : s.ok ? "ok" : "FAILED";
          console.log(`${mark.padEnd(6)} ${s.host.padEnd(10)} ${s.op.padEnd(8)} ${s.name.padEnd(40)} ${String(s.seconds).padStart(6)} s${s.detail ? `  ${s.detail.split("\n")[0]}` : ""}`);
        }
        console.log(`${result.ok ? "ok" : "FAILED"}: ${result.stack} serves ${result.image || "nothing"} at ${result.url}; ${result.hostCommandsRun} host command(s) run`);
        if (result.error) console.log(result.error);
      }
      cli.exit(result.ok ? 0 : 1);
    });
}
