import { Command } from "commander";
import { readAuditEntries } from "../ops/hostQueries";
import { backend } from "./backend";
import { UsageError, printJson, progress, stackName, wholeNumber } from "./io";
import type { Cli } from "./main";

export function registerAudit(program: Command, cli: Cli): void {
  program
    .command("audit")
    .summary("print a stack's audit log from its host")
    .argument("[stack]", "dev, testprod or prod (or -s)")
    .description(
      `Prints the audit log kept on the stack's host: every deploy, backup, restore, rollback,
refusal and failure, with time, who, image digest, result and duration. The host is the
stack file's (pinned host key; your key with --identity, else ~/.ssh/id_ed25519 or the
ssh-agent), or with --rig the rig's.`,
    )
    .option("-s, --stack <env>", "the stack")
    .option("-n <lines>", "entries to show", "50")
    .option("--rig", "the rig's host for the stack")
    .option("--identity <file>", "private key for the host")
    .option("--json", "print the entries as a JSON list")
    .action(async (positional: string | undefined, opts: { stack?: string; n: string; rig?: boolean; identity?: string; json?: boolean }) => {
      if (positional && opts.stack && positional !== opts.stack) throw new UsageError(`two stacks given: ${positional} and ${opts.stack}`);
      const stack = stackName(positional ?? opts.stack);
      const lines = wholeNumber("-n", opts.n, 50, 1, 100000);
      const access = await backend(Boolean(opts.rig), progress).host(stack, opts.identity);
      progress(`reading the audit log on ${access.connection.host} (via ${access.via})`);
      const entries = await readAuditEntries(access, lines);
      if (opts.json) printJson(entries);
      else {
        for (const e of entries) {
          const digest = String(e.digest ?? "").slice(7, 19);
          console.log([e.time, String(e.who).padEnd(8), String(e.action).padEnd(10), String(e.result).padEnd(8), `${e.seconds}s`.padStart(6), digest.padEnd(12), e.detail].join("  "));
        }
        if (entries.length === 0) console.log("(the audit log is empty)");
      }
      cli.exit(0);
    });
}
