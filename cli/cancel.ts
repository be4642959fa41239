import { Command } from "commander";
import { cancel } from "../ops/cancel";
import { readHostStatus } from "../ops/hostQueries";
import { backend } from "./backend";
import { printJson, progress, stackName } from "./io";
import type { Cli } from "./main";

export function registerCancel(program: Command, cli: Cli): void {
  program
    .command("cancel")
    .summary("remove the update lock a killed CLI left (pulumi cancel) and say what the host is doing")
    .description(
      `After a CI job or a shell running an update was killed, the state backend keeps the
stack's lock and refuses every later update ("the stack is currently locked"). This removes
it, as pulumi cancel does, and asks the host what it is doing: its agent finishes or undoes
the deploy by itself, and the next update attaches to it instead of starting another. Only
when no update is running any more.`,
    )
    .requiredOption("-s, --stack <env>", "dev, testprod or prod")
    .option("--rig", "the rig's stand-in backend instead of the Pulumi stack")
    .option("--identity <file>", "private key for the host (not with --rig)")
    .option("--json", "print one JSON object: stack, ok, summary, host, notes")
    .action(async (opts: { stack: string; rig?: boolean; identity?: string; json?: boolean }) => {
      const stack = stackName(opts.stack);
      const b = backend(Boolean(opts.rig), progress);
      const result = await cancel({ stack: await b.open(stack), hostStatus: async () => readHostStatus(await b.host(stack, opts.identity)), log: progress });
      if (opts.json) printJson(result);
      else {
        console.log(`ok: ${result.summary}`);
        for (const n of result.notes) console.log(`  ${n}`);
        if (result.host && "error" in result.host) console.log(`  host: ${result.host.error}`);
      }
      cli.exit(0);
    });
}
