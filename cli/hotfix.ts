import { Command } from "commander";
import { hotfix } from "../ops/hotfix";
import { backend, currentActor } from "./backend";
import { UsageError, progress } from "./io";
import type { Cli } from "./main";
import { reported } from "./report";

export function registerHotfix(program: Command, cli: Cli): void {
  program
    .command("hotfix")
    .summary("put an image testprod has not run on prod, audited, with a release record")
    .description(
      `Emergency hotfix (spec, Playbook 4): sets prod's image.hotfix (repository, tag, reason) and a
release record prod-YYYYMMDD-HHMMSS / YYYY.MM.PATCH, and runs prod's update: pre-deploy backup,
gate and (blue/green) switch and analysis window as for any release, without testprod's
evidence. The result (--json) names the reason and the checks skipped (prod's smoke test among
them when health.skipSmoke is set); record-release --from
it puts both in the GitHub Release. The next promote replaces the hotfix. When the update fails
the config is put back. Exit status 1 when it fails or is refused (nothing changed).`,
    )
    .requiredOption("--image <ref>", "<repository>:sha-<commit>, the tag CI publishes for a commit")
    .requiredOption("--reason <text>", "why testprod is bypassed (plain text, no quotes, backslashes, $ or backticks): prod's audit log and the release record")
    .option("--rig", "run against the rig instead of the Pulumi stacks")
    .option("--json", "print one JSON object (as promote --json, with hotfix: reason, skippedChecks)")
    .action(async (opts: { image: string; reason: string; rig?: boolean; json?: boolean }) => {
      if (!opts.reason.trim()) throw new UsageError("--reason must say why testprod is bypassed");
      const b = backend(Boolean(opts.rig), progress);
      cli.exit(
        await reported("hotfix", "prod", Boolean(opts.json), async () => {
          progress(`opening prod (${b.rig ? "rig" : "Pulumi stack"}) ...`);
          return hotfix({ stack: await b.open("prod"), image: opts.image, reason: opts.reason, actor: currentActor(), now: new Date(), log: progress });
        }),
      );
    });
}
