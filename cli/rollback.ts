import { readHostStatus, warmthFromStatus } from "../ops/hostQueries";
import { rollback } from "../ops/rollback";
import { backend, currentActor } from "./backend";
import { Subcommand, UsageError, progress } from "./command";
import { parseOptions, reported, requireStack } from "./release";

const usage = `usage: wepppy-cicd rollback --stack <env> [--to <version>] [--rig] [--identity FILE] [--json]

Goes back to an earlier update of the stack: the newest succeeded update that ran another
image than the current one, or update --to N (a version from its history). Its config is
re-applied, with the stack's current secrets (history keeps none), a new release.id
rollback-to-N-YYYYMMDD-HHMMSS, and \`pulumi up\` runs. On a blue/green stack the earlier image
goes live on the colour that still has it; the host is asked whether that colour still runs
it (a switch) or must start it again (up to health.tries x health.intervalSeconds for the
gate, plus the pull). When the update fails the config is put back.

  --stack S       dev, testprod or prod
  --to N          the update to go back to (see \`wepppy-cicd status\` or \`pulumi stack history\`)
  --rig           run against the rig instead of the Pulumi stack
  --identity F    private key for the host (default ~/.ssh/id_ed25519; not with the rig)
  --json          print one JSON object (as release --json)

Exit status is 1 when the rollback fails or is refused (nothing changed).`;

export const rollbackCommand: Subcommand = {
  name: "rollback",
  summary: "go back to an earlier update of a stack (blue/green: a switch while warm)",
  usage,
  async run(argv) {
    const values = parseOptions(argv, {
      stack: { type: "string" },
      to: { type: "string" },
      rig: { type: "boolean" },
      identity: { type: "string" },
      json: { type: "boolean" },
    });
    const stack = requireStack(values.stack);
    let to: number | undefined;
    if (values.to !== undefined) {
      to = Number(values.to);
      if (!Number.isInteger(to) || to < 1) throw new UsageError(`--to expects an update version (a positive whole number), got "${values.to}"`);
    }
    const b = backend(Boolean(values.rig));
    const identity = values.identity as string | undefined;
    return reported("rollback", stack, Boolean(values.json), async () => {
      progress(`opening ${stack} (${b.rig ? "rig" : "Pulumi stack"}) ...`);
      return rollback({
        stack: await b.open(stack),
        to,
        warmth: async (colour, image) => {
          progress(`asking ${stack}'s host whether ${colour} still runs the image ...`);
          return warmthFromStatus(await readHostStatus(b.host(stack, identity)), colour, image);
        },
        sourceDir: b.sourceDir,
        actor: currentActor(),
        now: new Date(),
        log: progress,
      });
    });
  },
};
