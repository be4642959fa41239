import { Command } from "commander";
import { checkRelease, release } from "../ops/release";
import { backend, currentActor } from "./backend";
import { progress, stackName } from "./io";
import type { Cli } from "./main";
import { reported } from "./report";

export function registerRelease(program: Command, cli: Cli): void {
  program
    .command("release")
    .summary("put a published commit image live on a stack (blue/green: the host picks the colour)")
    .description(
      `Sets the stack's image.tag (and its release record) and runs the update (pulumi up): the
program pins the tag to its digest; on a blue/green stack the host puts it on the colour not
serving, gates it and switches. When the update fails the config is put back. prod is
refused: use promote. An image that is already the stack's release changes nothing (exit 0).
Exit status 1 when the release fails or is refused (nothing changed).`,
    )
    .requiredOption("-s, --stack <env>", "testprod (dev builds on its host; prod: see promote)")
    .requiredOption("--image <ref>", "<repository>:sha-<commit>, the tag CI publishes for a commit")
    .option("--rig", "run against the rig: its stand-in engine, backend and hosts (brings it up if down)")
    .option("--json", "print one JSON object: action, stack, ok, changed, summary, live, image, digest, release, keys, update, restored, notes, warnings, error")
    .action(async (opts: { stack: string; image: string; rig?: boolean; json?: boolean }) => {
      const stack = stackName(opts.stack);
      const b = backend(Boolean(opts.rig), progress);
      cli.exit(
        await reported("release", stack, Boolean(opts.json), async () => {
          checkRelease(stack, opts.image);
          progress(`opening ${stack} (${b.rig ? "rig" : "Pulumi stack"}) ...`);
          return release({ stack: await b.open(stack), image: opts.image, resolveDigest: b.resolveDigest, actor: currentActor(), now: new Date(), log: progress });
        }),
      );
    });
}
