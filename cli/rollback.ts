import { Command } from "commander";
import { rollback } from "../ops/rollback";
import { backend, currentActor } from "./backend";
import { progress, stackName } from "./io";
import type { Cli } from "./main";
import { reported } from "./report";

export function registerRollback(program: Command, cli: Cli): void {
  program
    .command("rollback")
    .summary("go back to an earlier succeeded update of a stack (blue/green: a switch while warm)")
    .description(
      `Re-applies what an earlier succeeded update said must be live (its image: a tag, or prod's
digest) and runs the update: the newest succeeded update older than the newest one that ran
another image, or the one --to names by its release id or start time (the file backend
numbers no update; see \`wepppy-cicd status\`). Secrets and everything else stay as they are.
On blue/green the host switches to a colour that still runs the image, else starts it on the
colour not serving and gates it first. When the update fails the config is put back.`,
    )
    .requiredOption("-s, --stack <env>", "testprod or prod")
    .option("--to <release-or-time>", "the update to go back to: a release id (e.g. prod-20261201-101500) or a start time (ISO, a prefix is enough)")
    .option("--rig", "run against the rig instead of the Pulumi stack")
    .option("--json", "print one JSON object (as release --json)")
    .action(async (opts: { stack: string; to?: string; rig?: boolean; json?: boolean }) => {
      const stack = stackName(opts.stack);
      const b = backend(Boolean(opts.rig), progress);
      cli.exit(
        await reported("rollback", stack, Boolean(opts.json), async () => {
          progress(`opening ${stack} (${b.rig ? "rig" : "Pulumi stack"}) ...`);
          return rollback({
            stack: await b.open(stack),
            to: opts.to,
            actor: currentActor(),
            now: new Date(),
            log: progress,
          });
        }),
      );
    });
}
