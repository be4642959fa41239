import { Command } from "commander";
import { syncConfig } from "../ops/sync";
import { backend } from "./backend";
import { printJson, progress, stackName } from "./io";
import type { Cli } from "./main";

export function registerConfig(program: Command, cli: Cli): void {
  const config = program.command("config").summary("a stack's config in this checkout: config sync");
  config
    .command("sync")
    .summary("restore what the newest succeeded update ran into this checkout's stack file")
    .description(
      `With the file backend a stack's config lives in the checkout's stack file, and a CI job's
checkout is fresh: what the last release, promotion or rollback wrote (image.tag, image.digest,
release.*) is in the update history only. This writes those leaves of the newest succeeded
update into Pulumi.<stack>.yaml, leaf by leaf (pulumi config refresh would take the newest
update whatever its result, and every key). Run it before a plain pulumi preview or up.`,
    )
    .requiredOption("-s, --stack <env>", "dev, testprod or prod")
    .option("--rig", "the rig's stand-in (its backend; this checkout's stack file)")
    .option("--json", "print one JSON object: stack, from, changed")
    .action(async (opts: { stack: string; rig?: boolean; json?: boolean }) => {
      const stack = stackName(opts.stack);
      const result = await syncConfig(await backend(Boolean(opts.rig), progress).open(stack), progress);
      if (opts.json) printJson({ ok: true, ...result });
      else console.log(result.from ? `${stack}: ${result.changed.length ? `restored ${result.changed.join(", ")}` : "already in sync"} (from the update of ${result.from})` : `${stack}: no succeeded update yet`);
      cli.exit(0);
    });
}
