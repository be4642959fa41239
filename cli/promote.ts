import { Command } from "commander";
import { drillCommand } from "../render/hostCommands";
import { readAuditEntries } from "../ops/hostQueries";
import { runRemote } from "../ops/ssh";
import { promote } from "../ops/promote";
import { backend, currentActor } from "./backend";
import { UsageError, progress } from "./io";
import type { Cli } from "./main";
import { reported } from "./report";

export function registerPromote(program: Command, cli: Cli): void {
  program
    .command("promote")
    .summary("promote testprod's validated live image to prod")
    .description(
      `Sets prod's image.digest to the digest testprod has live (as its host reported it), with a
release record prod-YYYYMMDD-HHMMSS / YYYY.MM.PATCH, and runs prod's update; on blue/green
the host puts it on the colour not serving, gates it and switches. Refused, naming what is
missing, unless testprod's audit log has the evidence for that digest (every suite in prod's
promotion.suites passed within promotion.windowHours, a complete soak of promotion.soakHours
under promotion.maxErrorPercent and maxAppErrors) and prod's has a passed restore drill
within backup.drillHours (one is run on prod's host when the newest is older) and no
rollback of that digest. When the update fails the config is put back. Exit status 1 when
it fails or is refused.`,
    )
    .option("--force", "promote without that evidence; needs --reason")
    .option("--reason <text>", "why (plain text, no quotes, backslashes, $ or backticks): it goes into release.note and prod's audit log")
    .option("--rig", "run against the rig instead of the Pulumi stacks")
    .option("--identity <file>", "private key for testprod's and prod's hosts (default: ~/.ssh/id_ed25519, else the ssh-agent; not with --rig)")
    .option("--json", "print one JSON object (as release --json)")
    .action(async (opts: { force?: boolean; reason?: string; rig?: boolean; identity?: string; json?: boolean }) => {
      if (opts.force && !opts.reason) throw new UsageError("--force needs --reason TEXT (it is recorded in prod's audit log)");
      if (opts.reason && !opts.force) throw new UsageError("--reason goes with --force");
      const b = backend(Boolean(opts.rig), progress);
      cli.exit(
        await reported("promote", "prod", Boolean(opts.json), async () => {
          progress(`opening prod (${b.rig ? "rig" : "Pulumi stack"}) ...`);
          return promote({
            prod: await b.open("prod"),
            source: (stack) => b.open(stack),
            validations: async (_digest, stack) => {
              progress(`reading ${stack}'s audit log over SSH ...`);
              return readAuditEntries(await b.host(stack, opts.identity), 2000);
            },
            targetAudit: async () => {
              progress("reading prod's audit log over SSH (restore drills, rollbacks) ...");
              return readAuditEntries(await b.host("prod", opts.identity), 2000);
            },
            drill: async () => {
              const access = await b.host("prod", opts.identity);
              const r = await runRemote(access.connection, drillCommand(access.layout), undefined, (line) => progress(`  prod: ${line.replace(/^\[wepppy-deploy\] /, "")}`));
              if (r.code !== 0) progress(`the drill on prod failed (exit ${r.code}): it is recorded in prod's audit log`);
            },
            force: Boolean(opts.force),
            reason: opts.reason,
            actor: currentActor(),
            now: new Date(),
            log: progress,
          });
        }),
      );
    });
}
